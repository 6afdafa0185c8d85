"""A tiny training started from the Train page finishes in a real browser, draws its curves,
and the new model can be picked in the sidebar."""

from __future__ import annotations

import re
import uuid

import pytest

from bench.harness import find_shared_data

from .conftest import act, assert_no_error, open_page, screenshot, wait_idle

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


CURVES = 6  # 3 panels x train/test, one marker per finished epoch each
# Markers per trace of the first curves chart (a fragment rerun can briefly leave a second,
# stale chart in the DOM, so never count across charts).
TRACE_POINTS = """() => {
  const chart = document.querySelector('[data-testid=stMain] [data-testid=stPlotlyChart]');
  if (!chart) return [];
  return [...chart.querySelectorAll('.scatterlayer .trace')].map(
    (t) => t.querySelectorAll('.points path.point').length);
}"""


def _epochs_drawn(page) -> int:  # noqa: ANN001
    """Epochs the curves show: every one of the 6 traces has one marker per epoch."""
    counts = page.evaluate(TRACE_POINTS)
    assert len(counts) == CURVES and len(set(counts)) == 1, counts
    return counts[0]


def test_curves_grow_while_training_and_stop_saves_the_last_finished_epoch(page, app_checkpoints) -> None:  # noqa: ANN001
    """100 epochs of MNIST (far more than the test waits for): the live curves gain points
    while the Stop button is still there, then Stop ends it mid-run. The page says the last
    finished epoch was saved, and the file on disk holds exactly the epochs the page shows,
    with the page's figures. No clock: every wait is for something the page shows."""
    from vae.core.checkpoints import load_checkpoint

    data = find_shared_data()
    if data is None:
        pytest.skip("needs the verified MNIST files ($VAE_DATA_DIR or ../shared/data)")
    open_page(page, "Train a model")
    main = page.locator("[data-testid=stMain]")
    # MNIST, not the 8x8 digits: a fast CI machine ran 100 epochs of digits in about 5 s, so
    # the run was over before the test could press Stop. An MNIST epoch takes seconds.
    dataset = main.locator("[data-testid=stSelectbox]").filter(has_text="Dataset")
    dataset.get_by_role("combobox").click()
    act(page, page.get_by_role("option", name=re.compile(r"^MNIST( ·|$)")).click)
    epochs = _slider(page, "Epochs")
    epochs.focus()
    act(page, lambda: page.keyboard.press("End"))
    assert epochs.input_value() == "100"
    name = f"e2e-stop-{uuid.uuid4().hex[:8]}"
    box = main.get_by_role("textbox", name="Model name")
    box.fill(name)
    act(page, lambda: box.press("Enter"))
    act(page, main.get_by_role("button", name=re.compile(r"^\S*\s*Train$")).click)

    stop = main.get_by_role("button", name=re.compile(r"Stop$"))
    stop.wait_for(timeout=TRAIN_TIMEOUT_MS)
    # Live updates: the curves appear after epoch 1, then gain a point per epoch, all while
    # the training is still running (the Stop button is there, nothing announced yet).
    page.wait_for_function(f"({TRACE_POINTS})().length === {CURVES}", timeout=TRAIN_TIMEOUT_MS)
    first = _epochs_drawn(page)
    page.wait_for_function(f"(({TRACE_POINTS})()[0] || 0) > {first}", timeout=TRAIN_TIMEOUT_MS)
    grown = _epochs_drawn(page)
    assert grown > first >= 1, (first, grown)
    assert stop.is_visible() and main.get_by_text(f"Model {name} is trained").count() == 0
    progress = main.locator("[data-testid=stProgress]").inner_text()
    running_epoch = int(re.search(r"Epoch (\d+) / 100", progress).group(1))
    assert running_epoch >= grown

    stop.click()
    done = main.get_by_text(f"Model {name} is trained (stopped early; the last finished epoch was saved)")
    done.wait_for(timeout=TRAIN_TIMEOUT_MS)
    wait_idle(page)
    shown = main.locator("[data-testid=stMetric]").filter(has_text="Epochs").inner_text()
    saved_epochs = int(re.search(r"(\d+) / 100", shown).group(1))
    assert grown <= saved_epochs < 100, shown
    assert _epochs_drawn(page) == saved_epochs  # the saved model's curves: every epoch it has

    path = app_checkpoints / "user" / f"{name}.pt"
    ckpt = load_checkpoint(path)
    assert [h["epoch"] for h in ckpt.history] == list(range(1, saved_epochs + 1))
    assert ckpt.meta.get("stopped_early") is True, ckpt.meta
    # The saved weights are those the last finished epoch was scored with (not the weights
    # of the interrupted one): re-scoring them as fit scored that epoch gives its figure.
    import torch

    from vae.core.fit import TrainConfig, evaluate, prepare_images
    from vae.data.registry import load_dataset

    tc = TrainConfig.from_dict(ckpt.train_config)
    _, test = prepare_images(load_dataset("mnist", data, download=False), torch.device("cpu"), tc.binarize, tc.seed)
    rescored = evaluate(ckpt.build_model(), test, tc.eval_batch_size, seed=tc.seed + 2)["elbo"]
    assert rescored == pytest.approx(ckpt.history[-1]["test_elbo"], abs=1e-4)
    elbo = main.locator("[data-testid=stMetric]").filter(has_text="Test ELBO").inner_text()
    assert f"{ckpt.metrics['test_elbo']:.2f}" in elbo.replace("−", "-"), (elbo, ckpt.metrics)
    assert_no_error(page, "Train page after Stop")
    screenshot(page, "train-stopped")
