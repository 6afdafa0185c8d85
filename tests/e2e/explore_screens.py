"""Screenshots of the explore pages (Home, Latent sliders, 2-D latent plane, Latent map, Your
image with an uploaded drawing, Draw it yourself with a drawn 7, Train) at the three review sizes with the bundled mnist_2d and
mnist_32 (``tests/e2e/screenshots/explore-*.png``).

    python -m tests.e2e.explore_screens [--url http://127.0.0.1:8501] [--pages map,image]

Without ``--url`` it starts ``streamlit run app.py`` on the repo's ``checkpoints/``. The sidebar
is NOT closed by hand after a page change: on the phone size it must close by itself. Prints,
per shot, whether the sidebar is open and what overflows (the page wider than the window,
select boxes and navigation labels cut with an ellipsis).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path

from bench.harness import REPO, find_shared_data
from bench.harness.browser import launch_chromium
from bench.harness.server import app_env, running_server
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.lesson_screens import SIZES, TIMEOUT_MS, choose_model, open_sidebar, settle

MODELS = ("mnist_2d", "mnist_32")
PAGES = ("home", "sliders", "plane", "map", "image", "arith", "draw", "train")
NAV = (
    "Home", "Latent sliders", "2-D latent plane", "Latent map", "Your image", "Latent arithmetic",
    "Draw it yourself", "Train a model",
)  # fmt: skip
TITLES = dict(zip(PAGES, NAV, strict=True))  # short name -> the sidebar's page title

MEASURE = """() => {
  const cut = els => [...els].filter(e => e.scrollWidth - e.clientWidth > 1).map(e => (e.value || e.textContent).slice(0, 40));
  const sidebar = document.querySelector('[data-testid=stSidebar]');
  return {
    sidebarOpen: sidebar ? sidebar.getAttribute('data-collapsed') === 'false' : null,
    pageOver: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    cutSelect: cut(document.querySelectorAll('[data-testid=stSelectbox] input')),
    model: (document.querySelector('[data-testid=stSidebar] [data-testid=stSelectbox] input') || {}).value,
    cutNav: cut(document.querySelectorAll('[data-testid=stSidebarNavLink]')),
  };
}"""


def go(page, name: str) -> None:
    open_sidebar(page)
    page.locator(f'[data-testid=stSidebarNavLink]:has(span[label="{TITLES[name]}"])').click()
    settle(page)


def upload(page) -> None:
    from tests.e2e.test_model_pages import _digit_png

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "my-seven.png"
        path.write_bytes(_digit_png())
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
        settle(page)


def draw_seven(page) -> None:  # noqa: ANN001
    """A 7 drawn with the mouse on the Draw page's pad (two strokes, one rerun each)."""
    page.wait_for_selector('[data-testid="vae-live-draw"][data-ready="true"]', timeout=TIMEOUT_MS)
    pad = page.locator('[data-testid="vae-draw-canvas"]')
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    for stroke in ([(0.25, 0.2), (0.75, 0.2), (0.42, 0.88)], [(0.35, 0.52), (0.68, 0.52)]):
        page.mouse.move(box["x"] + stroke[0][0] * box["width"], box["y"] + stroke[0][1] * box["height"])
        page.mouse.down()
        for fx, fy in stroke[1:]:
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=12)
        page.mouse.up()
        settle(page)


def _session(browser, url: str, model: str, size: tuple[int, int]):  # noqa: ANN001, ANN202
    """A fresh session at ``size`` on ``url`` with ``model`` chosen in the sidebar."""
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    page.goto(url + "/")
    settle(page)
    choose_model(page, model)
    return ctx, page


def shoot(url: str, pages: list[str], models=MODELS, sizes=SIZES) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        runs = [(m, s) for m in models for s in sizes]
        for model, (w, h) in runs:
            ctx, page = _session(browser, url, model, (w, h))
            for name in pages:
                go(page, name)
                if name == "image":
                    upload(page)
                if name == "draw":
                    draw_seven(page)
                tag = f"explore-{name}-{model}-{w}x{h}"
                measured = page.evaluate(MEASURE)
                page.screenshot(path=str(SCREENSHOTS / f"{tag}.png"))
                # The whole page: a window as tall as the content (same width, same layout).
                full = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
                page.set_viewport_size({"width": w, "height": min(int(full), 6000)})
                page.wait_for_timeout(400)
                page.screenshot(path=str(SCREENSHOTS / f"{tag}-full.png"))
                page.set_viewport_size({"width": w, "height": h})
                print(tag, json.dumps(measured, ensure_ascii=False), flush=True)
            ctx.close()
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running app; default: start one on checkpoints/")
    ap.add_argument("--pages", default=",".join(TITLES), help=f"among {sorted(TITLES)}")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--sizes", default="", help="e.g. 390x844 (default: the three review sizes)")
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")] if args.sizes else SIZES
    with contextlib.ExitStack() as stack:
        env = app_env(REPO / "checkpoints", find_shared_data())
        url = args.url or stack.enter_context(running_server(env=env)).url
        shoot(url.rstrip("/"), args.pages.split(","), args.models.split(","), sizes)


if __name__ == "__main__":
    main()
