"""Latent arithmetic in a real browser: dragging α repaints decode(m + α v) before the mouse
is released (no rerun meanwhile), and the release reaches Python."""

from __future__ import annotations

import pytest

from .conftest import act, assert_no_error, canvas_pixels, open_page, screenshot, started

pytestmark = pytest.mark.e2e

ROOT = "[data-testid=vae-live-direction]"


def test_alpha_drag_repaints_before_release(page) -> None:  # noqa: ANN001
    open_page(page, "Latent arithmetic")
    page.wait_for_selector(f'{ROOT}[data-ready="true"]')
    canvas = page.locator(f"{ROOT} canvas[data-testid=vae-live-canvas]")
    handle = canvas.element_handle()
    decodes0 = int(canvas.get_attribute("data-decode-count") or 0)
    before = canvas_pixels(handle)
    runs_before = started(page)

    box = page.locator("input[data-testid=vae-alpha]").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)  # the thumb sits at α = 0
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=4)
    during = canvas_pixels(handle)
    page.mouse.move(box["x"] + box["width"] * 0.95, y, steps=4)
    later = canvas_pixels(handle)
    assert during != before, "the image did not change while dragging α"
    assert later != during, "the image stopped following the drag"
    assert int(canvas.get_attribute("data-decode-count")) >= decodes0 + 3
    assert started(page) == runs_before, "Python reran before the slider was released"
    alpha = float(page.locator(ROOT).get_attribute("data-alpha"))
    assert alpha > 1.5, f"dragged to 95% of a ±3 slider, got α = {alpha}"

    act(page, page.mouse.up)
    shown = page.locator("[data-testid=stMarkdown]", has_text="At the released").first.inner_text()
    assert f"α = {alpha:+.2f}" in shown.replace("−", "-")
    assert_no_error(page)
    screenshot(page, "arithmetic-after-drag")
