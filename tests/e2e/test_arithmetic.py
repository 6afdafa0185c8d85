"""Latent arithmetic in a real browser: dragging α repaints decode(m + α v) before the mouse
is released (no rerun meanwhile), and the release reaches Python."""

from __future__ import annotations

import re

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


def test_box_selection_with_the_mouse_on_the_latent_map(page) -> None:  # noqa: ANN001
    """Box select on the map with the real mouse: the page lists exactly the points inside the
    dragged rectangle (counted by label, as Plotly drew them), and saves them as a group the
    Latent arithmetic page offers. Default model: digits_2d (360 test points)."""
    from bench.harness.plot_points import POINTS_JS

    from .conftest import act_in_fragment

    open_page(page, "Latent map")
    page.wait_for_function(f"({POINTS_JS})() && ({POINTS_JS})().length > 0")
    act_in_fragment(page, lambda: page.get_by_role("radio", name="Box select").click())
    points = page.evaluate(POINTS_JS)
    px = sorted(p["px"] for p in points)
    py = sorted(p["py"] for p in points)
    x0, x1 = px[len(px) // 5], px[3 * len(px) // 5]
    y0, y1 = py[len(py) // 4], py[3 * len(py) // 4]
    edge = 2.0  # points this close to the rectangle's edges may fall either way
    sure = [p for p in points if x0 + edge < p["px"] < x1 - edge and y0 + edge < p["py"] < y1 - edge]
    maybe = [p for p in points if x0 - edge <= p["px"] <= x1 + edge and y0 - edge <= p["py"] <= y1 + edge]
    assert len(sure) >= 5

    def drag() -> None:
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
        page.mouse.move(x1, y1, steps=5)
        page.mouse.up()

    act_in_fragment(page, drag)
    head = page.locator("[data-testid=stMain] h3", has_text="Your selection").inner_text()
    count = int(head.split(":")[1].split()[0].replace(",", ""))
    assert len(sure) <= count <= len(maybe), (count, len(sure), len(maybe))
    # The labels counted: each trace is one label; the sure points' labels are a lower bound.
    # (the data grid's code loads with the first table on the page: wait for it to draw)
    page.locator("[data-testid=stDataFrame]").first.wait_for(state="visible")
    act_in_fragment(page, lambda: page.get_by_role("button", name="Save as group A").click())
    assert_no_error(page)
    screenshot(page, "map-box-selection")
    open_page(page, "Latent arithmetic")
    page.get_by_test_id("stSelectbox").filter(has_text="Group A").click()
    option = page.get_by_role("option", name=re.compile(r"^selection A \((\d+) images\)"))
    assert int(re.search(r"\((\d+) images", option.inner_text()).group(1)) == count
