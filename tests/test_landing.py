"""The Your image page's charts (``pages/_lib/landing.py``): built without Plotly's validation
for speed, so here every figure is built again WITH it (a misspelt or invalid property raises),
and the values are checked against brute-force counts and the inputs."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from pages._lib import landing
from pages._lib.display import PALETTE


def _validated(fig: go.Figure) -> dict:
    """The figure as Plotly's validating constructor reads it (raises on any invalid property)."""
    return go.Figure(fig.to_dict()).to_dict()


def _bars(fig: go.Figure) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    bar = fig.data[0]
    return np.asarray(bar.x), np.asarray(bar.y), float(bar.width), np.asarray(bar.customdata)


@pytest.mark.parametrize("elbo", [-120.0, -95.5, -20.0])  # left of, among, right of the test ELBOs
def test_histogram_counts_every_test_image_once_in_its_bin(elbo: float) -> None:
    rng = np.random.default_rng(0)
    test_elbo = rng.normal(-100.0, 8.0, size=5000).clip(-118, -60)
    fig = landing.elbo_histogram(test_elbo, elbo, "your image")
    assert _validated(fig)["data"][0]["type"] == "bar"
    x, y, width, edges = _bars(fig)
    assert len(x) == landing.BINS and y.sum() == len(test_elbo)
    # Brute force: each bar's count is the number of test ELBOs between its edges (the last
    # bin includes its right edge), and its centre is midway.
    for k, (a, b) in enumerate(edges.astype(np.float64)):
        inside = (test_elbo >= a) & ((test_elbo < b) if k < len(edges) - 1 else (test_elbo <= b + 1e-3))
        assert abs(int(inside.sum()) - int(y[k])) <= 1, (k, a, b)  # float32 edges: a tie may move
        assert x[k] == pytest.approx((a + b) / 2, abs=1e-3)
        assert width == pytest.approx(b - a, rel=1e-4)
    # The range spans the test ELBOs and this image's, so its line is on the axis.
    assert edges[0, 0] <= min(elbo, test_elbo.min()) + 1e-3 and edges[-1, 1] >= max(elbo, test_elbo.max()) - 1e-3
    layout = fig.to_dict()["layout"]
    (line,) = layout["shapes"]
    assert line["x0"] == line["x1"] == elbo and (line["yref"], line["y0"], line["y1"]) == ("paper", 0, 1)
    (note,) = layout["annotations"]
    assert note["x"] == elbo and note["text"] == "your image"
    assert "5,000 test images" in layout["xaxis"]["title"]["text"]


def test_histogram_of_identical_values_has_a_width() -> None:
    fig = landing.elbo_histogram(np.full(10, -50.0), -50.0, "this image")
    x, y, width, _ = _bars(fig)
    assert y.sum() == 10 and width > 0 and np.isfinite(x).all()
    _validated(fig)


@pytest.mark.parametrize("equal_aspect", [True, False])
def test_map_has_each_class_in_its_colour_and_the_star(equal_aspect: bool) -> None:
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(300, 2))
    labels = rng.integers(0, 4, size=300)
    labels[labels == 2] = 3  # class 2 absent: no empty trace for it
    names = ["zero", "one", "two", "<b>three</b>"]
    star = np.array([0.25, -1.5])
    fig = landing.landing_map(xy, labels, names, star, "your image", ("LD 1", "LD 2"), equal_aspect)
    d = _validated(fig)
    traces = d["data"]
    assert [t["name"] for t in traces[:-1]] == ["zero", "one", "&lt;b&gt;three&lt;/b&gt;"]
    for t, k in zip(traces[:-1], (0, 1, 3), strict=True):
        got = np.stack([np.asarray(fig.data[traces.index(t)].x), np.asarray(fig.data[traces.index(t)].y)], 1)
        np.testing.assert_allclose(got, xy[labels == k], rtol=1e-6, atol=1e-6)  # float32
        assert t["marker"]["color"] == PALETTE[k] and t["type"] == "scattergl"
    last = traces[-1]
    assert (last["name"], last["marker"]["symbol"], list(last["x"]), list(last["y"])) == ("your image", "star", [0.25], [-1.5])
    assert last["type"] == "scattergl"  # the points' layer, drawn last: on top of them
    assert (d["layout"]["xaxis"]["title"]["text"], d["layout"]["yaxis"]["title"]["text"]) == ("LD 1", "LD 2")
    assert (d["layout"]["yaxis"].get("scaleanchor") == "x") is equal_aspect
    # A square plane narrows its plot instead of padding its range; the legend sits under the
    # map, where on a 390 px phone it no longer takes a third of the width (screenshots).
    for axis in ("xaxis", "yaxis"):
        assert (d["layout"][axis].get("constrain") == "domain") is equal_aspect
    legend = d["layout"]["legend"]
    assert legend["orientation"] == "h" and legend["y"] < 0 and legend["yanchor"] == "top"


def test_figures_are_built_without_validation() -> None:
    """The speed this module exists for: the figures skip Plotly's validation (if a refactor
    brings it back, the per-upload cost returns)."""
    fig = landing.landing_map(np.zeros((4, 2)), np.array([0, 1, 0, 1]), ["a", "b"], np.zeros(2), "s", ("x", "y"), False)
    assert fig._validate is False
