"""Screenshots of the Lesson page and the six lecture pages, presenter mode off and on, at the three
review sizes, with the bundled mnist_2d and mnist_32 (``tests/e2e/screenshots/lesson-*.png``).

    python -m tests.e2e.lesson_screens [--url http://127.0.0.1:8501] [--pages lesson,noise,elbo] [--modes normal]
        [--models mnist_32] [--sizes 1920x1080]

Without ``--url`` it starts ``streamlit run app.py`` on the repo's ``checkpoints/`` (stopped by
its PID afterwards, ``bench.harness.server``). Prints, per shot, the main text's font size and any overflow: KaTeX
formulas wider than their box (scrollWidth - clientWidth > 10 px, the struts' slack) and the
page wider than the window.
"""

from __future__ import annotations

import argparse
import json

from bench.harness import REPO, find_shared_data
from bench.harness.browser import IDLE, launch_chromium
from bench.harness.server import app_env, running_server
from tests.e2e.conftest import SCREENSHOTS

SIZES = ((1400, 900), (1920, 1080), (390, 844))
MODELS = ("mnist_2d", "mnist_32")
TITLES = {
    "lesson": "Lesson: 45 minutes",
    "noise": "Noise ε: the reparameterization trick",
    "elbo": "ELBO vs log p(x)",
    "sliders": "Latent sliders",
    "gradients": "Gradient estimators",
    "ae_vs_vae": "Autoencoder vs VAE",
    "generation": "Infinite mixture: generation",
    "interpolation": "Interpolation",
}
TIMEOUT_MS = 120_000
LESSON_STEP = "4 · ELBO"  # the Lesson page is shot at this step

# Measured in the page: the main text's size and what overflows.
MEASURE = """() => {
  const p = document.querySelector('[data-testid=stMain] [data-testid=stMarkdownContainer] p');
  const over = [...document.querySelectorAll('.katex-display')]
    .map(e => ({w: e.scrollWidth - e.clientWidth, tex: e.textContent.slice(0, 40)}))
    .filter(o => o.w > 10);
  const main = document.querySelector('[data-testid=stMain]');
  const pick = document.querySelector('[data-testid=stSidebar] [data-testid=stSelectbox] input');
  return {model: pick ? pick.value : null, font: p ? getComputedStyle(p).fontSize : null, katexOver: over,
          pageOver: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          mainOver: main ? main.scrollWidth - main.clientWidth : null};
}"""


# A heading word broken across two lines ("reparameterizatio|n" under a 2.75rem title on a
# 390 px phone): a word whose characters sit on more than one line box.
SPLIT_WORDS_JS = """() => [...document.querySelectorAll('[data-testid=stMain] :is(h1, h2, h3)')].flatMap(h => {
  const out = [], walk = document.createTreeWalker(h, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    for (const m of n.data.matchAll(/\\S+/g)) {
      const r = document.createRange();
      r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
      if (new Set([...r.getClientRects()].map(b => Math.round(b.top))).size > 1) out.push(m[0]);
    }
  }
  return out;
})"""


def settle(page) -> None:
    page.wait_for_timeout(600)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    page.wait_for_timeout(600)
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


def open_sidebar(page) -> None:
    """On a phone the sidebar starts folded away."""
    button = page.locator("[data-testid=stExpandSidebarButton]")
    if button.count() and button.is_visible():
        button.click()
        page.wait_for_timeout(500)


def close_sidebar(page) -> None:
    if page.viewport_size["width"] < 700:
        button = page.locator("[data-testid=stSidebarCollapseButton] button")
        if button.count() and button.first.is_visible():
            button.first.click()
            page.wait_for_timeout(500)


def go(page, name: str) -> None:
    """Open a page through the sidebar navigation (a reload would start a new session)."""
    open_sidebar(page)
    page.locator(f'[data-testid=stSidebarNavLink]:has(span[label="{TITLES[name]}"])').click()
    settle(page)
    close_sidebar(page)


def set_presenter(page, on: bool) -> None:
    """Flip the sidebar's Presenter mode switch to ``on``."""
    open_sidebar(page)
    toggle = page.get_by_role("switch", name="Presenter mode")
    if toggle.is_checked() != on:
        page.locator('[data-testid=stSidebar] label:has-text("Presenter mode")').click()
        settle(page)


def choose_model(page, name: str) -> None:
    """Pick ``name`` in the sidebar's model picker and check that it is the one shown. The name
    is typed first: with nine models the drop-down draws only the options in view."""
    open_sidebar(page)
    box = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").first
    box.click()
    page.keyboard.type(name)
    page.get_by_role("option").filter(has_text=f"{name} (").first.click()
    settle(page)
    shown = box.locator("input").input_value()  # a react-aria combobox: the choice is its value
    if f"{name} (" not in shown:
        raise RuntimeError(f"the model picker shows {shown!r}, not {name}")


def shoot(
    url: str, pages: list[str], modes: tuple[bool, ...] = (False, True), models=MODELS, sizes=SIZES
) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        for model in models:
            for w, h in sizes:
                ctx = browser.new_context(viewport={"width": w, "height": h})
                ctx.set_default_timeout(TIMEOUT_MS)
                page = ctx.new_page()
                page.goto(url + "/")
                settle(page)
                choose_model(page, model)
                if "lesson" in pages:  # show a beat with questions, not the setup step
                    go(page, "lesson")
                    page.locator("[data-testid=stButtonGroup] button", has_text=LESSON_STEP).click()
                    settle(page)
                for on in modes:
                    set_presenter(page, on)
                    for name in pages:
                        go(page, name)
                        tag = f"lesson-{name}-{model}-{w}x{h}-{'presenter' if on else 'normal'}"
                        page.screenshot(path=str(SCREENSHOTS / f"{tag}.png"))
                        # The whole page: a window as tall as the content (same width, same layout).
                        full = page.evaluate(
                            "() => document.querySelector('[data-testid=stMain]').scrollHeight"
                        )
                        page.set_viewport_size({"width": w, "height": min(int(full), 6000)})
                        page.wait_for_timeout(400)
                        page.screenshot(path=str(SCREENSHOTS / f"{tag}-full.png"))
                        measured = {**page.evaluate(MEASURE), "splitWords": page.evaluate(SPLIT_WORDS_JS)}
                        print(tag, json.dumps(measured, ensure_ascii=False), flush=True)
                        page.set_viewport_size({"width": w, "height": h})
                ctx.close()
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running app; default: start one on checkpoints/")
    ap.add_argument("--pages", default="lesson,noise,elbo", help=f"among {sorted(TITLES)}")
    ap.add_argument("--modes", default="normal,presenter", help="normal, presenter or both")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--sizes", default="", help="e.g. 1920x1080 (default: the three review sizes)")
    args = ap.parse_args()
    pages = args.pages.split(",")
    modes = tuple(m == "presenter" for m in args.modes.split(","))
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")] if args.sizes else SIZES
    run = dict(modes=modes, models=args.models.split(","), sizes=sizes)
    if args.url:
        shoot(args.url.rstrip("/"), pages, **run)
        return
    with running_server(env=app_env(REPO / "checkpoints", find_shared_data())) as server:
        shoot(server.url, pages, **run)


if __name__ == "__main__":
    main()
