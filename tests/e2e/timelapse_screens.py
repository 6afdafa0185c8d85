"""Screenshots of the pages of issue 16 (Watch it learn, Compare models) at the three review
sizes (``tests/e2e/screenshots/tl-*.png``).

    python -m tests.e2e.timelapse_screens [--url URL] [--models mnist_2d,mnist_32] [--pages learn,compare]
"""

from __future__ import annotations

import argparse
import contextlib
import json

from bench.harness import REPO, find_shared_data
from bench.harness.browser import launch_chromium
from bench.harness.server import app_env, running_server
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.explore_screens import MEASURE, _session
from tests.e2e.lesson_screens import SIZES, open_sidebar, settle

TITLES = {"learn": "Watch it learn", "compare": "Compare models", "map": "Latent map", "train": "Train a model"}


def shoot(url: str, models: list[str], pages: list[str], ready: str = "") -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        for model in models:
            for w, h in SIZES:
                ctx, page = _session(browser, url, model, (w, h))
                for name in pages:
                    page.set_viewport_size({"width": w, "height": h})
                    open_sidebar(page)
                    page.locator(f'[data-testid=stSidebarNavLink]:has(span[label="{TITLES[name]}"])').click()
                    settle(page)
                    if name == "compare" and ready:  # a ready comparison's button, e.g. "β = 0.5 / 1 / 4"
                        page.get_by_role("button", name=ready).click()
                        settle(page)
                    page.wait_for_timeout(1500)  # plotly draws after the run
                    toggle = page.get_by_text("Stacked layout (for phones)")
                    if w < 700 and toggle.count():  # a phone's browser starts stacked (its user agent)
                        toggle.first.click()
                        settle(page)
                        page.wait_for_timeout(1500)
                    tag = f"tl-{name}-{'ready-' if name == 'compare' and ready else ''}{model}-{w}x{h}"
                    print(tag, json.dumps(page.evaluate(MEASURE), ensure_ascii=False), flush=True)
                    # Streamlit scrolls inside stMain: grow the window to the content to see it all.
                    tall = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
                    page.set_viewport_size({"width": w, "height": max(h, min(int(tall), 5000))})
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(SCREENSHOTS / f"{tag}.png"))
                ctx.close()
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running app; default: start one on checkpoints/")
    ap.add_argument("--models", default="mnist_2d,mnist_32")
    ap.add_argument("--pages", default="learn,compare")
    ap.add_argument("--ready", default="", help='Compare: click this ready comparison, e.g. "β = 0.5 / 1 / 4"')
    ap.add_argument("--sizes", default="", help="e.g. 1400x900 (default: the three review sizes)")
    args = ap.parse_args()
    global SIZES
    if args.sizes:
        SIZES = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    with contextlib.ExitStack() as stack:
        env = app_env(REPO / "checkpoints", find_shared_data())
        url = args.url or stack.enter_context(running_server(env=env)).url
        shoot(url.rstrip("/"), args.models.split(","), args.pages.split(","), args.ready)


if __name__ == "__main__":
    main()
