"""Nearest neighbours (vae/app/neighbours.py) against a brute-force float64 search."""

from __future__ import annotations

import numpy as np
import pytest

from vae.app import neighbours as nb


def _brute(points: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distance in float64, sorted by (distance, index)."""
    x = points.reshape(len(points), -1)
    x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
    idx, dist = [], []
    for v in np.asarray(q, np.float64).reshape(-1, x.shape[1]):
        d = np.sqrt(((x - v) ** 2).sum(axis=1))
        order = sorted(range(len(d)), key=lambda i: (d[i], i))[:k]
        idx.append(order)
        dist.append(d[order])
    return np.asarray(idx), np.asarray(dist)


def _digit_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 (n, 1, 28, 28) images with low-rank structure (like MNIST) plus noise, clipped."""
    protos = rng.random((10, 6, 784))
    coef = rng.standard_normal((n, 6))
    x = np.einsum("nk,nkp->np", coef, protos[rng.integers(0, 10, n)]) * 60 + 80
    x += rng.normal(0, 25, x.shape)
    return np.clip(x, 0, 255).astype(np.uint8).reshape(n, 1, 28, 28)


def _check(points, queries, k=5):
    index = nb.build_index(points)
    got = nb.query(index, queries, k=k)
    want_i, want_d = _brute(points, queries, k)
    np.testing.assert_array_equal(got.index, want_i)
    np.testing.assert_allclose(got.distance, want_d, atol=1e-5, rtol=0)
    return index


def test_pixel_space_equals_brute_force():
    rng = np.random.default_rng(0)
    pts = _digit_like(3000, rng)
    # Queries: fresh images, blurred/"generated" ones, and exact training images (distance 0).
    fresh = _digit_like(20, rng).reshape(20, -1) / 255.0
    blurry = np.clip(fresh * 0.5 + 0.2, 0, 1)
    copies = pts[[5, 17, 2999]].reshape(3, -1) / 255.0
    index = _check(pts, np.concatenate([fresh, blurry, copies]))
    assert index.basis is not None  # 784 > DIRECT_MAX_DIM: the lower-bound search ran
    hit = nb.query(index, pts[17].astype(np.float64) / 255.0, k=1)
    assert hit.index[0, 0] == 17 and hit.distance[0, 0] < 1e-6


def test_pixel_space_duplicates_keep_the_lower_index():
    rng = np.random.default_rng(1)
    pts = _digit_like(1500, rng)
    pts[900] = pts[40]  # a duplicate training image: tie, the lower index first
    got = nb.query(nb.build_index(pts), pts[40].reshape(-1) / 255.0, k=3)
    assert got.index[0, :2].tolist() == [40, 900]


def test_queries_far_from_the_data_still_exact():
    """A query whose bound is weak (far from every point) needs many chunks: still exact."""
    rng = np.random.default_rng(2)
    pts = _digit_like(2500, rng)
    _check(pts, rng.random((5, 784)))


@pytest.mark.parametrize("d", [2, 3, 32])
def test_latent_space_equals_brute_force(d):
    rng = np.random.default_rng(d)
    means = rng.standard_normal((5000, d)).astype(np.float32)
    q = np.concatenate([rng.standard_normal((20, d)) * 1.5, means[[3, 4000]].astype(np.float64)])
    index = _check(means, q)
    assert index.basis is None


def test_colour_images_and_small_sets():
    rng = np.random.default_rng(3)
    pts = rng.integers(0, 256, (700, 3, 16, 16), dtype=np.uint8)  # folder-trained colour
    _check(pts, rng.random((6, 3, 16, 16)))
    few = rng.standard_normal((3, 4)).astype(np.float32)  # fewer points than k
    got = nb.query(nb.build_index(few), np.zeros(4), k=5)
    assert got.index.shape == (1, 3)
    np.testing.assert_allclose(got.distance[0], np.sort(np.linalg.norm(few, axis=1)), atol=1e-6)


def test_small_chunks_walk_the_bound_order(monkeypatch):
    """With 16-point chunks the search must go through many chunks in bound order and stop
    only when no later bound can win (a bound above the true distance would stop too early)."""
    monkeypatch.setattr(nb, "CHUNK", 16)
    rng = np.random.default_rng(4)
    pts = _digit_like(1200, rng)
    _check(pts, np.concatenate([_digit_like(8, rng).reshape(8, -1) / 255.0, rng.random((4, 784))]))
    monkeypatch.setattr(nb, "CHUNK", 2)  # fewer than k per chunk
    _check(pts, _digit_like(4, rng).reshape(4, -1) / 255.0)


def test_pca_bounds_are_lower_bounds_and_tight():
    """The bound never exceeds the true distance (else the search could stop too early), and
    is close to it on digit-like data (else it would prune nothing)."""
    rng = np.random.default_rng(6)
    pts = _digit_like(2000, rng)
    index = nb.build_index(pts)
    x = pts.reshape(len(pts), -1).astype(np.float64) / 255.0
    for v in np.concatenate([_digit_like(5, rng).reshape(5, -1) / 255.0, rng.random((2, 784))]):
        true = np.sqrt(((x - v) ** 2).sum(axis=1))
        lb = nb.lower_bounds(index, v)
        assert (lb <= true).all()
        assert np.median(lb / true) > 0.8


def test_latent_near_ties_are_rescored_exactly():
    """Ten codes within 1e-3 of the query: float32's ||x||^2 - 2 x.q + ||q||^2 cannot order
    them (its error ~1e-6 is their whole spread); the exact re-scoring must."""
    rng = np.random.default_rng(5)
    d = 32
    means = rng.standard_normal((4000, d))
    q = means[0].copy()
    means[1:11] = q + rng.standard_normal((10, d)) * 2e-4
    _check(means.astype(np.float32), q[None])
