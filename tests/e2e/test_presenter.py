"""Presenter mode in a real browser: the sidebar switch enlarges text, images and the live
decoder's latent chips by its factor, stays on across pages, and clips nothing: no KaTeX formula
wider than its box and no page wider than the window, at 1400×900 and 1920×1080, with the
bundled 32-D model (the widest vectors) on the noise page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from bench.harness import REPO

from .conftest import act, assert_no_error, choose_model, open_page, screenshot, wait_idle

pytestmark = pytest.mark.e2e

SCALE = 1.25  # pages/_lib/presenter.css: 20 px root over the theme's 16 px
# Display formulas keep their size below 1700 px and grow by 1.1 from there (presenter.css).
FORMULA_SCALE = {1400: 1.0, 1920: 1.1}
SIZES = ({"width": 1400, "height": 900}, {"width": 1920, "height": 1080})
SWITCH = '[data-testid=stSidebar] label:has-text("Presenter mode")'
NOISE = "Noise ε: the reparameterization trick"
KATEX_SLACK_PX = 10  # KaTeX's struts make a fitting formula up to ~2 px "wider"

# Sizes of what a student reads on the page, and everything that is wider than its box.
MEASURE = """() => {
  const px = e => e ? parseFloat(getComputedStyle(e).fontSize) : null;
  const main = document.querySelector('[data-testid=stMain]');
  // The body text's size: the most common among st.markdown's paragraphs, leaving out widget
  // labels and st.caption (smaller on purpose: a page with many captions would otherwise
  // measure the caption size with presenter off and the body size with it on).
  const body = () => {
    const n = new Map();
    for (const p of main.querySelectorAll('[data-testid=stMarkdown] p')) {
      if (p.closest('[data-testid=stCaptionContainer]')) continue;
      n.set(px(p), (n.get(px(p)) || 0) + 1);
    }
    return [...n.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0][0];
  };
  // The image picker's 72 px thumbnail, always the same image: the first fixed-width image
  // found varied with what had been drawn (CI compared a 150 px image with the thumbnail). The
  // noise page's 150 px images sit in columns narrower than 1.25 x 150 at 1400 px: capped.
  const fixedImg = [...main.querySelectorAll('[data-testid=stImageContainer] img')]
    .find(i => /width: 72px/.test(i.getAttribute('style') || ''));
  return {
    text: body(),
    title: px(main.querySelector('h1')),
    formula: px(main.querySelector('.katex-display > .katex')),
    image: fixedImg ? fixedImg.getBoundingClientRect().width : null,
    clipped: [...main.querySelectorAll('.katex-display')]
      .filter(e => e.scrollWidth - e.clientWidth > SLACK)
      .map(e => `${e.scrollWidth - e.clientWidth}px: ${e.textContent.slice(0, 50)}`),
    pageOver: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    mainOver: main.scrollWidth - main.clientWidth,
    // Sidebar page names running past the link's box (cut at the sidebar's edge).
    navCut: [...document.querySelectorAll('[data-testid=stSidebarNavLink]')]
      .filter(a => a.scrollWidth > a.clientWidth + 1).map(a => a.textContent),
  };
}""".replace("SLACK", str(KATEX_SLACK_PX))

FIXED_IMG_LOADED = """() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stImageContainer] img')]
  .some(i => /width: 72px/.test(i.getAttribute('style') || '') && i.complete && i.naturalWidth > 0)"""

# The live decoder (components v2, in a shadow root that Playwright's CSS selectors pierce).
CHIPS = """() => {
  const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot && e.shadowRoot.querySelector('.vae-live'));
  const root = host.shadowRoot, live = root.querySelector('.vae-live');
  const box = live.getBoundingClientRect();
  const chip = root.querySelector('.vae-chip');
  const outside = [...root.querySelectorAll('.vae-row, .vae-chip, canvas, .vae-vector')]
    .filter(e => e.getBoundingClientRect().width > 0)
    .filter(e => e.getBoundingClientRect().right > box.right + 1).length;
  return {chip: parseFloat(getComputedStyle(chip).fontSize), liveOver: live.scrollWidth - live.clientWidth, outside};
}"""


def _presenter(page, on: bool) -> None:
    switch = page.get_by_role("switch", name="Presenter mode")
    if switch.is_checked() != on:
        act(page, page.locator(SWITCH).click)
    assert switch.is_checked() == on


def _choose_model(page, name: str) -> None:  # noqa: ANN001
    choose_model(page, name)


def _assert_fits(m: dict, where: str) -> None:
    assert not m["clipped"], f"{where}: formulas clipped: {m['clipped']}"
    assert m["pageOver"] <= 0 and m["mainOver"] <= 0, f"{where}: page wider than the window: {m}"
    assert not m["navCut"], f"{where}: sidebar page names cut: {m['navCut']}"


@pytest.fixture
def mnist_32(app_server) -> Iterator[str]:
    """The bundled 32-D model beside the server's models for this test (the picker rescans
    the folder, ``tests/e2e/conftest.py``'s ``app_server``)."""
    src = REPO / "checkpoints" / "mnist_32.pt"
    if not src.exists():
        pytest.skip("checkpoints/mnist_32.pt is not in the repo")
    dst = app_server.log.parent / "checkpoints" / src.name
    shutil.copy2(src, dst)
    yield "mnist_32"
    dst.unlink()


def test_presenter_mode_enlarges_without_clipping(mnist_32, page) -> None:  # noqa: ANN001
    # mnist_32 first: the file must be there before the page lists the models.
    page.set_viewport_size(SIZES[0])
    _choose_model(page, mnist_32)
    open_page(page, NOISE)
    # The picker's thumbnail (width=72) can arrive after the run is idle on a busy machine:
    # measure once it is laid out, not before.
    page.wait_for_function(FIXED_IMG_LOADED)
    off = page.evaluate(MEASURE)
    _assert_fits(off, "noise page, presenter off, 1400x900")
    _presenter(page, True)
    on = page.evaluate(MEASURE)
    screenshot(page, "presenter-noise-mnist_32-1400")
    assert on["text"] / off["text"] == pytest.approx(SCALE, abs=0.01), (off, on)
    assert on["title"] / off["title"] == pytest.approx(SCALE, abs=0.02), (off, on)
    assert on["formula"] / off["formula"] == pytest.approx(FORMULA_SCALE[1400], abs=0.02), (off, on)
    assert on["image"] / off["image"] == pytest.approx(SCALE, abs=0.03), (off, on)
    _assert_fits(on, "noise page, presenter on, 1400x900")
    page.set_viewport_size(SIZES[1])
    wait_idle(page)
    page.wait_for_timeout(300)
    wide = page.evaluate(MEASURE)
    assert wide["formula"] / off["formula"] == pytest.approx(FORMULA_SCALE[1920], abs=0.02), wide
    _assert_fits(wide, "noise page, presenter on, 1920x1080")
    screenshot(page, "presenter-noise-mnist_32-1920")

    # Another page, the same session: still on, and the lesson page fits too.
    open_page(page, "Lesson: 45 minutes")
    assert page.get_by_role("switch", name="Presenter mode").is_checked()
    for size in SIZES:
        page.set_viewport_size(size)
        page.wait_for_timeout(300)
        m = page.evaluate(MEASURE)
        assert m["text"] == pytest.approx(16 * SCALE), m
        _assert_fits(m, f"lesson page, presenter on, {size}")
    assert_no_error(page)


def test_presenter_mode_enlarges_the_live_chips(page) -> None:  # noqa: ANN001
    page.set_viewport_size(SIZES[0])
    open_page(page, "Latent sliders")
    page.wait_for_selector('[data-testid=vae-live-sliders][data-ready="true"]')
    off = page.evaluate(CHIPS)
    _presenter(page, True)
    page.wait_for_selector('[data-testid=vae-live-sliders][data-ready="true"]')
    on = page.evaluate(CHIPS)
    screenshot(page, "presenter-sliders-1400")
    # At least the factor: the component's own wide-screen rule (live.css, container of
    # 1000 px or more) may add to it once presenter mode's narrower margins widen the row.
    assert on["chip"] / off["chip"] >= SCALE - 0.02, (off, on)
    for size in SIZES:
        page.set_viewport_size(size)
        page.wait_for_timeout(300)
        m = page.evaluate(CHIPS)
        assert m["liveOver"] <= 0 and m["outside"] == 0, f"live decoder overflows at {size}: {m}"
        _assert_fits(page.evaluate(MEASURE), f"sliders page, presenter on, {size}")
    assert_no_error(page)
