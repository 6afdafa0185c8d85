"""Box / lasso selections on the Latent map (pages/_lib/map_selection.py) and the 3-D view
(vae.app.projection.view_3d, pages/_lib/map_3d.py)."""

from __future__ import annotations

import numpy as np

from pages._lib import map_selection
from vae.app import projection


def test_selected_rows_follow_each_points_trace_and_index():
    rows_by_trace = [np.array([10, 3, 7]), np.array([5, 1])]
    state = {"selection": {
        "points": [
            {"curve_number": 1, "point_index": 1},  # -> 1
            {"curve_number": 0, "point_index": 2},  # -> 7
            {"curve_number": 0, "point_number": 0},  # older key -> 10
            {"curve_number": 2, "point_index": 0},  # another trace (the star): ignored
            {"curve_number": 0, "point_index": 9},  # out of range: ignored
            {"curve_number": 1, "point_index": 1},  # repeated
            "junk",
        ],
        "lasso": [{"x": [0, 1, 1], "y": [0, 0, 1]}],
    }}  # fmt: skip
    assert map_selection.is_region(state)
    assert map_selection.selected_rows(state, rows_by_trace).tolist() == [1, 7, 10]
    click = {"selection": {"points": [{"curve_number": 0, "point_index": 0}], "box": [], "lasso": []}}
    assert not map_selection.is_region(click)
    for bad in (None, {}, {"selection": None}, {"selection": {"points": None, "box": [{}]}}):
        assert map_selection.selected_rows(bad, rows_by_trace).tolist() == []


def test_view_3d_is_the_latent_itself_or_its_first_three_principal_components():
    rng = np.random.default_rng(0)
    mu3 = rng.standard_normal((50, 3))
    xyz, explained = projection.view_3d(mu3)
    assert explained is None
    np.testing.assert_allclose(xyz, mu3, atol=1e-6)
    xyz2, _ = projection.view_3d(mu3[:, :2])
    np.testing.assert_allclose(xyz2[:, 2], 0.0)

    from sklearn.decomposition import PCA

    mu = rng.standard_normal((400, 8)) * np.array([5, 4, 3, 1, 1, 0.5, 0.5, 0.2])
    xyz, explained = projection.view_3d(mu)
    ref = PCA(3).fit(mu)
    want = ref.transform(mu)
    # Same axes up to sign (ours: each axis's largest loading positive, sklearn's rule too).
    for j in range(3):
        sign = np.sign(want[:, j] @ xyz[:, j])
        np.testing.assert_allclose(xyz[:, j], sign * want[:, j], atol=1e-4)
    np.testing.assert_allclose(explained, ref.explained_variance_ratio_, rtol=1e-6)


def test_3d_hover_data_carries_projected_means_as_float16_by_test_number():
    """The 3-D view's hover image: a 3-D latent sends no means (the point is the mean); a
    larger one sends every test image's mean, float16 little-endian, row-major."""
    import base64

    from pages._lib import map_3d

    rng = np.random.default_rng(1)
    assert map_3d.hover_data("k3", rng.standard_normal((20, 3)))["means"] is None
    mu = rng.standard_normal((20, 7)).astype(np.float32) * 3
    data = map_3d.hover_data("k7", mu)
    got = np.frombuffer(base64.b64decode(data["means"]), dtype="<f2").reshape(20, 7)
    np.testing.assert_allclose(got, mu, rtol=1e-3, atol=1e-3)
    assert got[13, 4] == np.float16(mu[13, 4])  # row 13 = test image 13
