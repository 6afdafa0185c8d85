"""The lecture in a real browser, as a class sees it on a projector.

* No KaTeX formula on any page overflows its column at 1400x900 and 1920x1080, with the
  bundled 2-D model (``mnist_2d``) and the 32-D one (``mnist_32``): each ``.katex-display``'s
  ``scrollWidth`` against its ``clientWidth`` (KaTeX's struts make fitting formulas differ by
  ~2 px, so 10 px of slack).
* "Animate ε" plays: the decoded image changes between frames while it plays (an image trace
  that is not redrawn per frame shows an empty panel).
* On a 390x844 phone, on every page, a formula wider than the screen scrolls inside its own
  box, which ends on the screen (none is cut at the edge).
* Screenshots of the six lecture pages at 1400x900, 1920x1080 and 390x844 with both models
  land in ``tests/e2e/screenshots/`` (looked at by a person, not asserted).

One server per model (its ``default.txt`` names it), the bundled checkpoints copied in.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from bench.harness import REPO, find_shared_data
from bench.harness.browser import IDLE, RunTracker
from bench.harness.server import Server, app_env, start_server
from tests.e2e.conftest import (
    NAV_LINK,
    RUN_TIMEOUT_MS,
    SCREENSHOTS,
    act,
    assert_no_error,
    screenshot,
    set_checked,
    wait_rerun,
)
from tests.e2e.lesson_screens import SPLIT_WORDS_JS

MODELS = ("mnist_2d", "mnist_32")
COPIED = ("mnist_2d", "mnist_32", "mnist_ae_2d", "mnist_noisy_ae_2d", "digits_2d")
LECTURE = {
    "noise": "Noise ε: the reparameterization trick",
    "gradients": "Gradient estimators",
    "ae_vs_vae": "Autoencoder vs VAE",
    "elbo": "ELBO vs log p(x)",
    "generation": "Infinite mixture: generation",
    "interpolation": "Interpolation",
}
DESKTOP = ((1400, 900), (1920, 1080))
PHONE = (390, 844)
SLACK_PX = 10

pytestmark = pytest.mark.skipif(
    not all((REPO / "checkpoints" / f"{n}.pt").exists() for n in COPIED) or find_shared_data() is None,
    reason="needs the bundled MNIST checkpoints and the MNIST data",
)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def servers(browser_available: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """One server per model in ``MODELS``, each with that model as its default."""
    out: dict[str, Server] = {}
    try:
        for name in MODELS:
            root = tmp_path_factory.mktemp(f"lecture_{name}")
            ckpts = root / "checkpoints"
            ckpts.mkdir()
            for n in COPIED:
                shutil.copy2(REPO / "checkpoints" / f"{n}.pt", ckpts / f"{n}.pt")
            (ckpts / "default.txt").write_text(name + "\n")
            out[name] = start_server(root / "streamlit.log", env=app_env(ckpts, find_shared_data()))
        yield out
    finally:
        for s in out.values():
            s.stop()


@contextlib.contextmanager
def opened(browser, server: Server, size: tuple[int, int]) -> Iterator[object]:
    """A fresh session at ``size`` on the app's home page, idle."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.set_default_timeout(RUN_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.vae_runs = RunTracker()
        page.vae_runs.attach(page)
        page.goto(server.url + "/")
        wait_rerun(page, 0)
        yield page
    finally:
        context.close()


def goto(page, server: Server, title: str) -> None:
    """Open a page by its sidebar link (on a phone the sidebar is a drawer: open it first).

    The app folds the drawer away after every page-link click on a narrow screen
    (pages/_lib/navigation.py), so it is reopened before each one. A folded sidebar is still
    in the DOM, translated off-screen, and Playwright's ``is_visible`` ignores the viewport:
    the sidebar's own ``data-collapsed`` says whether it is open."""
    link = page.locator(f'{NAV_LINK}:has(span[label="{title}"])')
    if page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true":
        page.locator('[data-testid="stExpandSidebarButton"]').click()
        page.locator('[data-testid="stSidebar"][data-collapsed="false"]').wait_for()
    act(page, link.click)
    page.wait_for_selector(IDLE)
    page.wait_for_timeout(600)  # KaTeX and plotly lay out after the run


def expand_all(page) -> None:
    """Open every closed expander, so that the formulas inside are laid out too."""
    closed = page.locator('[data-testid="stExpander"] details:not([open]) > summary')
    for _ in range(20):  # the list shrinks as they open: always click the first one left
        if closed.count() == 0:
            break
        closed.first.click()
        page.wait_for_timeout(150)
    page.wait_for_timeout(400)


OVERFLOW_JS = """slack => Array.from(document.querySelectorAll('.katex-display'))
  .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + slack)
  .map(e => ({tex: (e.querySelector('annotation') || {}).textContent || e.textContent,
              scroll: e.scrollWidth, client: e.clientWidth}))"""


def overflowing(page) -> list[dict]:
    """KaTeX display formulas wider than their box (visible ones only)."""
    return page.evaluate(OVERFLOW_JS, SLACK_PX)


def all_titles(page) -> list[str]:
    return [e.get_attribute("label") for e in page.locator(f"{NAV_LINK} span[label]").element_handles()]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("size", DESKTOP, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("model", MODELS)
def test_no_formula_overflows_its_column(browser, servers, model, size):
    server = servers[model]
    clipped = {}
    with opened(browser, server, size) as page:
        for title in all_titles(page):
            goto(page, server, title)
            assert_no_error(page, title)
            expand_all(page)
            bad = overflowing(page)
            if bad:
                clipped[title] = [(b["tex"][:80], b["scroll"], b["client"]) for b in bad]
            key = next((k for k, t in LECTURE.items() if t == title), None)
            if key:
                screenshot(page, f"lecture-{key}-{model}-{size[0]}x{size[1]}")
    assert not clipped, f"formulas wider than their column ({model}, {size}): {clipped}"


# On a phone a formula may be wider than the screen: it must scroll inside its own box, a box
# that ends on the screen (not clipped at the edge, not making the whole page scroll sideways).
PHONE_JS = """slack => Array.from(document.querySelectorAll('.katex-display'))
  .filter(e => e.offsetParent !== null)
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + slack
               || (e.scrollWidth > e.clientWidth + slack && !['auto', 'scroll'].includes(getComputedStyle(e).overflowX)))
  .map(e => ({tex: (e.querySelector('annotation') || {}).textContent || e.textContent,
              right: e.getBoundingClientRect().right, scroll: e.scrollWidth, client: e.clientWidth}))"""


@pytest.mark.parametrize("model", MODELS)
def test_every_page_on_a_phone(browser, servers, model):
    """390x844, every page: no error, no formula cut at the screen's edge (a wide one scrolls
    in its own box), no heading word broken over two lines, and screenshots (looked at by a person, not asserted)."""
    server = servers[model]
    clipped = {}
    with opened(browser, server, PHONE) as page:
        for title in all_titles(page):
            goto(page, server, title)
            assert_no_error(page, title)
            bad = page.evaluate(PHONE_JS, SLACK_PX)
            if bad:
                clipped[title] = [(b["tex"][:80], b["right"], b["scroll"], b["client"]) for b in bad]
            split = page.evaluate(SPLIT_WORDS_JS)
            if split:
                clipped[f"{title}: words split in a heading"] = split
            key = next((k for k, t in LECTURE.items() if t == title), None)
            if key:
                screenshot(page, f"lecture-{key}-{model}-{PHONE[0]}x{PHONE[1]}")
    assert not clipped, f"formulas cut on a phone ({model}): {clipped}"


def _panel(page, chart) -> np.ndarray:
    """The animation's right half (the decode(t) panel) as grey pixels."""
    box = chart.bounding_box()
    png = page.screenshot(clip={"x": box["x"] + box["width"] * 0.62, "y": box["y"] + 40,
                                "width": box["width"] * 0.36, "height": box["height"] * 0.5})  # fmt: skip
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)


def _drawn(panel: np.ndarray) -> bool:
    """A decoded MNIST digit is mostly black background with a bright stroke; an empty
    panel is the plot's white background."""
    return float(np.mean(panel < 60)) > 0.3 and float(panel.max()) > 150


@pytest.mark.parametrize("model", MODELS)
def test_animate_eps_redraws_the_image_while_playing(browser, servers, model):
    server = servers[model]
    with opened(browser, server, DESKTOP[0]) as page:
        goto(page, server, LECTURE["noise"])
        toggle = page.locator('[data-testid="stCheckbox"]:has-text("Animate ε") input')
        set_checked(page, toggle)
        chart = page.locator(".st-key-noise-animation .js-plotly-plot")
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        still = _panel(page, chart)
        assert _drawn(still), "the decoded image is not drawn before playing"
        chart.locator(".updatemenu-button").first.click()  # ▶ play
        frames = []
        for k in range(4):
            page.wait_for_timeout(600)
            frames.append(_panel(page, chart))
            Image.fromarray(frames[-1].astype(np.uint8)).save(SCREENSHOTS / f"lecture-noise-panel-{model}-{k}.png")
        screenshot(page, f"lecture-noise-animation-playing-{model}")
    for k, f in enumerate(frames):
        assert _drawn(f), f"the decoded image is blank while playing (frame {k})"
    diffs = [float(np.abs(a - b).mean()) for a, b in zip(frames, frames[1:], strict=False)]
    assert max(diffs) > 1.0, f"the decoded image does not change while playing: {diffs}"
