"""What a user waits for, measured in a real browser (Playwright + Chromium):

1. ``streamlit run app.py`` -> the Home page rendered (its model card shown);
2. pressing **Train** on the Train page -> the first epoch's curves drawn, on ``digits`` and on
   ``mnist`` (latent 2, the page's defaults otherwise); each training is then stopped (the
   finished epoch is saved to a temporary folder, never to the repo).

Usage::

    VAE_DATA_DIR=/work/shared/data python bench/app_timings.py [--port 8799]
        [--checkpoints DIR] [--screenshots DIR] [--datasets digits mnist]

``--checkpoints``: the models the server starts with (copied to a temp folder; default: the
usable ones in the repo's ``checkpoints/``; with none, the app trains its quick-start model
first and the Home time includes that). The Train page polls its job every 0.75 s, so the
curves figure includes up to that much polling delay.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from _common import REPO  # puts the repo root on sys.path

from bench.harness.browser import IDLE, launch_chromium
from bench.harness.server import start_server


def _copy_checkpoints(src: Path | None, dest: Path) -> list[str]:
    """Copy the usable checkpoints (and default.txt) of ``src`` into ``dest``."""
    from vae.core.checkpoints import list_checkpoints

    src = src or REPO / "checkpoints"
    names = []
    for e in list_checkpoints(src):
        if e.ok and e.bundled:
            shutil.copy2(e.path, dest / e.path.name)
            names.append(e.name)
    if (src / "default.txt").exists():
        shutil.copy2(src / "default.txt", dest / "default.txt")
    return names


def _idle(page, timeout: float = 120_000) -> None:
    page.wait_for_timeout(250)
    page.wait_for_selector(IDLE, timeout=timeout)


def _train(page, base: str, dataset: str, shots: Path | None) -> dict[str, float]:
    page.goto(base + "/train")
    page.get_by_text("Save as").wait_for(timeout=120_000)
    _idle(page)
    page.get_by_test_id("stSelectbox").filter(has_text="Dataset").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(dataset)}\b", re.I)).first.click()
    _idle(page)
    name = page.get_by_label("Model name", exact=True).and_(page.get_by_test_id("stTextInputField"))
    name.fill(f"bench-{dataset}-{int(time.time())}")
    name.press("Enter")
    _idle(page)
    button = page.get_by_test_id("stBaseButton-primary").filter(has_text="Train")
    button.wait_for()
    t0 = time.perf_counter()
    button.click()
    # The first epoch's curves: the first Plotly chart on the Train page, drawn.
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=300_000)
    t_curves = time.perf_counter() - t0
    if shots is not None:
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / f"train_{dataset}.png"), full_page=True)
    stop = page.get_by_role("button", name=re.compile("Stop"))
    if stop.count():
        stop.first.click()
    page.get_by_text(re.compile("is trained|nothing was saved|did not finish")).first.wait_for(timeout=300_000)
    return {"curves": t_curves, "finished": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--checkpoints", type=Path, default=None)
    ap.add_argument("--screenshots", type=Path, default=None)
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist"])
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{args.port}"
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vae-bench-") as tmp, sync_playwright() as pw:
        folder = Path(tmp) / "checkpoints"
        folder.mkdir()
        models = _copy_checkpoints(args.checkpoints, folder)
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1440, "height": 2000})
        t0 = time.perf_counter()
        server = start_server(Path(tmp) / "streamlit.log", env={"VAE_CHECKPOINT_DIR": str(folder)},
                              port=args.port)  # fmt: skip
        try:
            t_health = time.perf_counter() - t0
            page.goto(base)
            page.get_by_text("Model loaded:").wait_for(timeout=300_000)
            t_home = time.perf_counter() - t0
            _idle(page)
            if args.screenshots:
                page.screenshot(path=str(args.screenshots / "home.png"), full_page=True)
            print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
            print(f"models at start: {', '.join(models) or 'none (the app trains its quick-start model)'}")
            print(f"streamlit run -> server healthy:        {t_health:6.1f} s")
            print(f"streamlit run -> Home rendered:         {t_home:6.1f} s")
            for ds in args.datasets:
                r = _train(page, base, ds, args.screenshots)
                print(f"Train pressed -> first curves, {ds:<7}: {r['curves']:6.1f} s"
                      f"   (stopped and saved after {r['finished']:.1f} s)")  # fmt: skip
        finally:
            browser.close()
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
