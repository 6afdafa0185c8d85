"""A tiny training started from the Train page finishes in a real browser, draws its curves,
and the new model can be picked in the sidebar."""

from __future__ import annotations

import re
import uuid

import pytest

from .conftest import act, assert_no_error, open_page, screenshot

pytestmark = pytest.mark.e2e

TRAIN_TIMEOUT_MS = 120_000  # 2 epochs of digits take seconds; the machine is shared


def _slider(page, label: str):  # noqa: ANN001, ANN202
    return page.locator("[data-testid=stSlider]").filter(has_text=label).get_by_role("slider")


def test_two_epoch_digits_training_finishes_and_is_selectable(page) -> None:  # noqa: ANN001
    open_page(page, "Train a model")
    main = page.locator("[data-testid=stMain]")
    dataset = main.locator("[data-testid=stSelectbox]").filter(has_text="Dataset")
    assert dataset.get_by_role("combobox").input_value().startswith("Digits")

    epochs = _slider(page, "Epochs")
    epochs.focus()
    act(page, lambda: page.keyboard.press("Home"))  # 1 epoch
    act(page, lambda: page.keyboard.press("ArrowRight"))  # 2 epochs
    assert epochs.input_value() == "2"
    assert page.locator("[data-testid=stSlider]").filter(has_text="Epochs").get_by_test_id("stSliderThumbValue").inner_text() == "2"

    name = f"e2e-{uuid.uuid4().hex[:8]}"
    box = main.get_by_role("textbox", name="Model name")
    box.fill(name)
    act(page, lambda: box.press("Enter"))
    act(page, main.get_by_role("button", name=re.compile(r"^\S*\s*Train$")).click)

    # The job runs in a thread; a fragment polls it, then a full run announces the result.
    done = main.get_by_text(f"Model {name} is trained")
    done.wait_for(timeout=TRAIN_TIMEOUT_MS)
    assert "2 / 2" in main.locator("[data-testid=stMetric]").filter(has_text="Epochs").inner_text()
    curves = main.locator("[data-testid=stPlotlyChart]").first
    curves.scroll_into_view_if_needed()
    curves.locator(".scatterlayer .trace").first.wait_for()
    titles = curves.locator(".annotation-text").all_text_contents()
    assert any("ELBO" in t for t in titles) and any("KL" in t for t in titles), titles
    # The train/test legend covers no subplot title.
    legend = curves.locator(".legend").bounding_box()
    for title in curves.locator(".annotation").all():
        box = title.bounding_box()
        apart = (
            legend["y"] + legend["height"] <= box["y"] or box["y"] + box["height"] <= legend["y"]
            or legend["x"] + legend["width"] <= box["x"] or box["x"] + box["width"] <= legend["x"]
        )  # fmt: skip
        assert apart, f"the legend {legend} overlaps the subplot title {title.inner_text()!r} {box}"
    # Two epochs: each of the 6 curves (3 panels x train/test) has 2 markers.
    markers = curves.locator(".scatterlayer .trace .points path.point").count()
    assert markers == 12, f"{markers} curve markers for 2 epochs x 6 curves"
    assert_no_error(page, "Train page")
    screenshot(page, "train-finished")

    # The sidebar picker has selected it, and lists it among the models.
    picker = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]")
    assert picker.get_by_role("combobox").input_value().startswith(f"{name} (digits, 2-D")
    picker.get_by_role("button", name="Open").click()
    page.get_by_role("option").first.wait_for()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    assert any(o.startswith(f"{name} (digits, 2-D · yours)") for o in options), options
    assert any(o.startswith("digits_2d") for o in options), options
    open_page(page, "Home")
    assert main.locator("h3", has_text=f"Model loaded: {name}").count() == 1
