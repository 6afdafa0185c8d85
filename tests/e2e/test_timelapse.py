"""Watch it learn in Chromium: the time-lapse of the bundled digits model (trained with
snapshots) plays and scrubs in the browser without a single Streamlit rerun."""

from __future__ import annotations

import pytest

from .conftest import assert_no_error, open_page, runs, screenshot, started

pytestmark = pytest.mark.e2e

PLOT = "[data-testid=stMain] .js-plotly-plot"
# The first class's x coordinates as plotly holds them (a base64 array in the figure's data).
FIRST_X = f"() => JSON.stringify(document.querySelector('{PLOT}').data[0].x)"


def _label(page) -> str:
    return page.locator(f"{PLOT} .slider-label").first.text_content().strip()


def _wait_label(page, want: str) -> None:
    for _ in range(100):
        if _label(page) == want:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"slider shows {_label(page)!r}, not {want!r}")


def _wait_x_change(page, old: str, timeout_s: float = 10.0) -> str:
    """The first class's x once it differs from ``old``: Plotly moves the slider's label at the
    click and applies the frame's data a moment later (in a CI run beside another, after the
    label was read). If the data never changes within ``timeout_s``, ``old`` is returned and
    the caller's assertion fails."""
    for _ in range(int(timeout_s / 0.05)):
        now = page.evaluate(FIRST_X)
        if now != old:
            return now
        page.wait_for_timeout(50)
    return page.evaluate(FIRST_X)


def test_scrubbing_and_playing_cause_no_rerun(page):
    open_page(page, "Watch it learn")
    assert_no_error(page, "Watch it learn")
    page.locator(PLOT).first.wait_for()
    _wait_label(page, "Epoch 150")
    last_x = page.evaluate(FIRST_X)
    full, any_run = runs(page), started(page)

    rail = page.locator(f"{PLOT} .slider-rail-touch-rect").first.bounding_box()
    y = rail["y"] + rail["height"] / 2
    page.mouse.click(rail["x"] + 3, y)  # the first step: epoch 1
    _wait_label(page, "Epoch 1")
    first_x = _wait_x_change(page, last_x)
    assert first_x != last_x  # the same dots, drawn where epoch 1 put them

    page.mouse.move(rail["x"] + 3, y)  # drag along the rail: scrubbing
    page.mouse.down()
    page.mouse.move(rail["x"] + rail["width"] * 0.45, y, steps=8)
    page.mouse.up()
    middle = _label(page)
    assert middle not in ("Epoch 1", "Epoch 150"), middle

    page.locator(f"{PLOT} .updatemenu-button", has_text="Play").first.click()
    page.wait_for_timeout(2500)
    played = _label(page)
    assert played != middle  # it moved on by itself
    page.locator(f"{PLOT} .updatemenu-button", has_text="Pause").first.click()
    screenshot(page, "timelapse-after-play")

    page.wait_for_timeout(1000)  # a rerun would have started by now
    assert (runs(page), started(page)) == (full, any_run), "scrubbing or playing reran the script"
    assert_no_error(page, "Watch it learn after playing")
