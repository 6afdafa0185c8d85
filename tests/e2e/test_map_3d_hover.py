"""The Latent map's 3-D view in Chromium: hovering a point with the real mouse paints that
point's decoded mean beside the chart (decoded in the browser), for the bundled 3-D MNIST model
(the point is the mean) and the 32-D model projected to 3 principal components (the means travel
as float16). The painted image equals decode(m) computed here with torch from the test image."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.harness import REPO
from bench.harness.server import Server, app_env, start_server

from .conftest import act, assert_no_error, canvas_pixels, open_page, screenshot
from .test_latent_map import _choose_model, _open, _test_images

pytestmark = pytest.mark.e2e

ROOT = "[data-testid=vae-live-hover3d]"
MODELS = ("mnist_3d", "mnist_32")


@pytest.fixture(scope="module")
def hover_page(shared_data: Path, browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    data = shared_data  # the conftest fixture: skips on a user's machine, fails in CI
    folder = tmp_path_factory.mktemp("hover_app") / "checkpoints"
    folder.mkdir()
    for m in MODELS:
        shutil.copy2(REPO / "checkpoints" / f"{m}.pt", folder / f"{m}.pt")
    (folder / "default.txt").write_text("mnist_3d\n")
    server: Server = start_server(folder.parent / "streamlit.log", env=app_env(folder, data))
    context, page = _open(browser, server.url, {"width": 1400, "height": 1000})
    yield page
    context.close()
    server.stop()


def _decoded_mean(model_name: str, row: int) -> np.ndarray:
    """decode(m(x)) of MNIST test image ``row``, with torch: ``(28, 28)`` in [0, 1]."""
    import torch

    from vae.core.checkpoints import load_checkpoint

    model = load_checkpoint(REPO / "checkpoints" / f"{model_name}.pt").build_model().eval()
    x = torch.from_numpy(_test_images()[row : row + 1, None]).float() / 255.0
    with torch.no_grad():
        return torch.sigmoid(model.decode(model.encode(x)[0]))[0, 0].numpy()


def _hover_until_painted(page) -> int:  # noqa: ANN001
    """Sweep the real mouse over the 3-D chart until a point is hovered and painted; returns
    its test number (checked against Plotly's own hover label)."""
    # Generous: with a second CI run beside this one (and its 20-browser first-minute test)
    # the WebGL chart and the weights' round trip took over the default 60 s.
    page.wait_for_selector(f'{ROOT}[data-ready="true"][data-hooked="true"]', timeout=180_000)
    box = page.locator("[data-testid=stPlotlyChart] .js-plotly-plot").first.bounding_box()
    before = page.locator(ROOT).get_attribute("data-hovered")
    for fy in np.linspace(0.35, 0.75, 9):
        for fx in np.linspace(0.3, 0.7, 9):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.wait_for_timeout(60)
            hovered = page.locator(ROOT).get_attribute("data-hovered")
            label = page.locator("[data-testid=stPlotlyChart] .hovertext")
            if hovered and hovered != before and label.count():
                m = re.search(r"test image #(\d+)", label.first.text_content())
                if m and m.group(1) == hovered:
                    return int(hovered)
    screenshot(page, "FAILED-3d-hover")
    diag = page.evaluate(
        "() => ({webgl: !!document.createElement('canvas').getContext('webgl'),"
        " gl: document.querySelectorAll('[data-testid=stPlotlyChart] canvas').length})"
    )  # fmt: skip
    raise AssertionError(f"no point of the 3-D chart was hovered and painted: {diag}, {hovered=}, {label.count()=}")


def _check_hover(page, model_name: str, tol: float, shot: str) -> None:  # noqa: ANN001
    row = _hover_until_painted(page)
    canvas = page.locator(f"{ROOT} canvas[data-testid=vae-live-canvas]").element_handle()
    rgba = np.array(canvas_pixels(canvas), dtype=float).reshape(28, 28, 4)
    want = _decoded_mean(model_name, row)
    assert np.abs(rgba[..., 0] / 255.0 - want).max() <= tol, np.abs(rgba[..., 0] / 255.0 - want).max()
    assert f"test image #{row} (" in page.locator(f"{ROOT} [data-testid=vae-hover-caption]").inner_text()
    assert_no_error(page)
    screenshot(page, shot)


def test_hover_paints_the_points_decoded_mean(hover_page) -> None:  # noqa: ANN001
    page = hover_page
    open_page(page, "Latent map")
    assert page.get_by_role("radiogroup").get_by_label(re.compile("3-D")).is_checked()
    _check_hover(page, "mnist_3d", 2.5 / 255, "map-3d-hover-mnist_3d")

    _choose_model(page, "mnist_32")  # the view chosen (3-D) is kept across models
    if not page.get_by_role("radiogroup").get_by_label(re.compile("3-D")).is_checked():
        act(page, page.locator("[data-testid=stRadio] label", has_text="3-D").click)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')]"
        ".some(gd => JSON.stringify(gd.layout.scene || {}).includes('PC 3'))"
    )  # fmt: skip
    _check_hover(page, "mnist_32", 4 / 255, "map-3d-hover-mnist_32-pca")
