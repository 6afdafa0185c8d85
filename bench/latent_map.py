"""The Latent map as a class waits for it, in a real browser (Playwright + Chromium):

1. render: the sidebar's "Latent map" link clicked -> the map drawn, the inspector's images
   loaded and the app idle; ``cold`` is the first session on a fresh server (it encodes the test
   set and projects it), ``warm`` a second session afterwards;
2. click: a real mouse click on a map point -> the inspector's heading names that point and its
   images are loaded (``idle``: the app has also finished the run). Clicked points are isolated
   ones (no other point within 6 px) spread over the map, and each click is checked: the
   inspector must show the clicked point's test image (``wrong`` counts those that did not);
3. ``--tsne``: the t-SNE view chosen -> drawn (32-D models only).

One fresh server per model (its default model set to it), 1400x1000 viewport. Usage::

    VAE_DATA_DIR=/work/shared/data python bench/latent_map.py [--models mnist_2d mnist_32]
        [--clicks 5] [--tsne] [--pause 3]

Figures are single runs on a shared machine: compare them as ratios, before against after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import REPO, data_dir  # puts the repo root on sys.path

from bench.harness.browser import launch_chromium
from bench.harness.plot_points import POINTS_JS, isolated
from bench.harness.server import app_env, start_server

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NAV = '[data-testid="stSidebarNavLink"]'

READY_JS = """
(n) => {
  const hs = [...document.querySelectorAll('[data-testid=stMain] h3')];
  if (!hs.some(h => n === null ? h.innerText.startsWith('Test image #') : h.innerText.startsWith('Test image #' + n + ':'))) return false;
  const gd = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd.querySelector('.legend')) return false;
  const imgs = [...document.querySelectorAll('[data-testid=stMain] [data-testid=stImage] img, [data-testid=stMain] [data-testid=stImageContainer] img')];
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}
"""


def _ready(page, n: int | None, timeout_ms: float = 300_000) -> None:
    page.wait_for_function(READY_JS, arg=n, timeout=timeout_ms, polling=20)


def _idle(page) -> None:
    page.wait_for_timeout(50)
    page.wait_for_selector(IDLE, timeout=300_000)


def _open_map(page, base: str, pause: float = 0.0) -> dict[str, float]:
    page.goto(base + "/")
    page.wait_for_selector(NAV, timeout=300_000)
    page.get_by_text("Model loaded:").wait_for(timeout=300_000)
    _idle(page)
    page.wait_for_timeout(pause * 1000)  # a reader on Home before the click (--pause)
    t0 = time.perf_counter()
    page.locator(f'{NAV}:has(span[label="Latent map"])').click()
    _ready(page, None)
    t_drawn = time.perf_counter() - t0
    _idle(page)
    return {"drawn": t_drawn, "idle": time.perf_counter() - t0}


def _clicks(page, k: int) -> tuple[list[float], list[float], int, int]:
    points = page.evaluate(POINTS_JS) or []
    targets = isolated(points, k)
    shown, idle, wrong = [], [], 0
    for p in targets:
        page.mouse.move(p["px"], p["py"])
        page.wait_for_timeout(300)
        t0 = time.perf_counter()
        page.mouse.click(p["px"], p["py"])
        try:
            _ready(page, int(p["cd"]), timeout_ms=60_000)
        except Exception:  # noqa: BLE001 - a wrong index never shows: count it, go on
            wrong += 1
            _idle(page)
            continue
        shown.append(time.perf_counter() - t0)
        _idle(page)
        idle.append(time.perf_counter() - t0)
        page.mouse.move(5, 5)
    return shown, idle, wrong, len(points)


def _tsne(page) -> float | None:
    radio = page.locator("[data-testid=stRadio] label", has_text="t-SNE")
    if not radio.count():
        return None
    t0 = time.perf_counter()
    radio.first.click()
    page.wait_for_timeout(100)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .xtitle')].some(e => e.textContent.includes('t-SNE'))",
        timeout=600_000,
    )  # fmt: skip
    _ready(page, None, 600_000)
    _idle(page)
    return time.perf_counter() - t0


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    return f"median {statistics.median(xs):5.2f} s  max {max(xs):5.2f} s  (n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["mnist_2d", "mnist_32"])
    ap.add_argument("--clicks", type=int, default=5)
    ap.add_argument("--tsne", action="store_true", help="also time switching to the t-SNE view")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds on Home before clicking the map (0: at once, the worst case)")
    args = ap.parse_args()
    os.environ.setdefault("VAE_DATA_DIR", str(data_dir()))
    from playwright.sync_api import sync_playwright

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            for name in args.models:
                with tempfile.TemporaryDirectory(prefix="vae-bench-map-") as tmp:
                    folder = Path(tmp) / "checkpoints"
                    folder.mkdir()
                    for f in (REPO / "checkpoints").glob("*"):
                        if f.is_file() and f.name != "default.txt":
                            shutil.copy2(f, folder / f.name)
                    (folder / "default.txt").write_text(name + "\n")
                    server = start_server(Path(tmp) / "log.txt", env=app_env(folder, Path(os.environ["VAE_DATA_DIR"])))
                    base = server.url
                    try:
                        for run in ("cold", "warm"):
                            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                            page = ctx.new_page()
                            r = _open_map(page, base, args.pause)
                            print(f"{name:<9} render {run}: map drawn {r['drawn']:5.2f} s, idle {r['idle']:5.2f} s")
                            if run == "warm":
                                shown, idle, wrong, n = _clicks(page, args.clicks)
                                print(f"{name:<9} click -> image shown: {_fmt(shown)}")
                                print(f"{name:<9} click -> app idle:    {_fmt(idle)}   wrong image: {wrong}, points on the map: {n}")
                                if args.tsne:
                                    t = _tsne(page)
                                    if t is not None:
                                        print(f"{name:<9} t-SNE chosen -> drawn: {t:5.2f} s")
                            ctx.close()
                    finally:
                        server.stop()
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
