"""Nearest neighbours: "is this generated image new, or a copy of a training image?"

An index holds N reference vectors (training images flattened to pixels in [0, 1], or their
posterior means m(x) in latent space) as a float32 matrix. Short vectors (latents) are searched
with one matrix product, ||x - q||^2 = ||x||^2 - 2 x.q + ||q||^2, and the best ``SHORTLIST``
re-scored exactly. Long vectors (pixels: 60,000 x 784 floats = 188 MB, about 30 ms per full
pass on this machine, memory bound) are first compared in a ``RANK``-dimensional PCA basis,
which gives every point a LOWER BOUND on its distance:

    ||x - q||^2 = ||U'(x - q)||^2 + ||r(x) - r(q)||^2 >= ||U'(x - q)||^2 + (|r(x)| - |r(q)|)^2

(r = the part outside the basis). Points are then scored exactly in order of their bound until
the next bound exceeds the k-th best exact distance: the result is exact, and most points are
never read in full. Either way the returned indices and distances equal a brute-force float64
search's over the stored float32 points (ties broken by the lower index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K = 5
SHORTLIST = 64  # candidates re-scored exactly by a direct search: far beyond float32's error
RANK = 48  # PCA components of the lower bound (pixel indexes)
DIRECT_MAX_DIM = 128  # vectors up to this long are searched directly
BASIS_SAMPLE = 4000  # points the PCA basis is fitted on (any basis keeps the bound valid)
CHUNK = 512  # points scored exactly per step of the bound search


@dataclass(frozen=True, eq=False)
class NeighbourIndex:
    """``points (N, P)`` float32 and ``sq_norms (N,)``; for long vectors also the PCA
    ``centre (P,)``, ``basis (P, R)``, ``coords (N, R)`` and residual norms ``resid (N,)``."""

    points: np.ndarray
    sq_norms: np.ndarray
    centre: np.ndarray | None = None
    basis: np.ndarray | None = None
    coords: np.ndarray | None = None
    resid: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        parts = (self.points, self.sq_norms, self.centre, self.basis, self.coords, self.resid)
        return int(sum(a.nbytes for a in parts if a is not None))

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True)
class Neighbours:
    """The ``k`` nearest reference points of each query: ``index (Q, k)`` int64 rows of the
    index, ``distance (Q, k)`` float64 Euclidean distances, nearest first."""

    index: np.ndarray
    distance: np.ndarray


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def build_index(vectors: np.ndarray, *, seed: int = 0) -> NeighbourIndex:
    """``vectors (N, ...)``: uint8 images (scaled to [0, 1]) or float vectors, flattened."""
    x = np.asarray(vectors)
    x = x.reshape(x.shape[0], -1)
    if x.dtype == np.uint8:
        pts = x.astype(np.float32)
        pts *= np.float32(1 / 255)
    else:
        pts = x.astype(np.float32)
    sq = np.einsum("ij,ij->i", pts, pts)
    n, p = pts.shape
    if p <= DIRECT_MAX_DIM or n <= CHUNK:
        return NeighbourIndex(_frozen(pts), _frozen(sq))
    rng = np.random.default_rng(seed)
    sample = pts[rng.choice(n, min(n, BASIS_SAMPLE), replace=False)].astype(np.float64)
    centre = sample.mean(axis=0)
    c = sample - centre
    _, vecs = np.linalg.eigh(c.T @ c)  # ascending eigenvalues: the last columns matter most
    basis = vecs[:, ::-1][:, : min(RANK, p)].astype(np.float32)  # (P, R), orthonormal
    centre32 = centre.astype(np.float32)
    coords = (pts - centre32) @ basis
    c_sq = sq - 2.0 * (pts @ centre32) + np.float32(centre32 @ centre32)
    resid = np.sqrt(np.maximum(c_sq - np.einsum("ij,ij->i", coords, coords), 0.0))
    return NeighbourIndex(
        _frozen(pts), _frozen(sq), _frozen(centre32), _frozen(basis), _frozen(coords),
        _frozen(resid.astype(np.float32)),
    )  # fmt: skip


def _exact(idx: NeighbourIndex, rows: np.ndarray, v: np.ndarray) -> np.ndarray:
    diff = idx.points[rows].astype(np.float64) - v
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _best(rows: np.ndarray, dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((rows, dist))[:k]  # by distance, then by index
    return rows[order], dist[order]


def _direct(idx: NeighbourIndex, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(idx)
    m = min(max(SHORTLIST, k), n)
    approx = idx.sq_norms - 2.0 * (idx.points @ v.astype(np.float32))
    cand = np.argpartition(approx, m - 1)[:m] if m < n else np.arange(n)
    return _best(cand, _exact(idx, cand, v), k)


def lower_bounds(idx: NeighbourIndex, v: np.ndarray) -> np.ndarray:
    """``(N,)`` lower bounds on the distances from ``v (P,)`` float64 to every point of a
    PCA index (see the module docstring)."""
    v32 = v.astype(np.float32)
    qc = (v32 - idx.centre) @ idx.basis
    q_sq = float(((v - idx.centre) ** 2).sum())
    q_res = np.sqrt(max(q_sq - float(qc.astype(np.float64) @ qc), 0.0))
    diff = idx.coords - qc
    lb = np.einsum("ij,ij->i", diff, diff) + (idx.resid - np.float32(q_res)) ** 2
    # float32 rounding could push a bound slightly above the true distance: shave it.
    return np.sqrt(np.maximum(lb, 0.0)) * (1 - 1e-4) - 1e-4


def _bounded(idx: NeighbourIndex, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    lb = lower_bounds(idx, v)
    # Usually the first chunk settles it: order only the CHUNK smallest bounds (a full sort
    # of 60,000 bounds would cost more than the whole search), all of them only if needed.
    first = np.argpartition(lb, CHUNK - 1)[:CHUNK] if len(lb) > CHUNK else np.arange(len(lb))
    rows, dist = _best(first, _exact(idx, first, v), k)
    if len(first) == len(lb) or (len(dist) >= k and lb[first].max() >= dist[k - 1]):
        return rows, dist  # every point outside `first` has a bound >= its largest
    rest = np.setdiff1d(np.arange(len(lb)), first, assume_unique=True)
    order = rest[np.argsort(lb[rest], kind="stable")]
    for start in range(0, len(order), CHUNK):
        if len(dist) >= k and lb[order[start]] > dist[k - 1]:
            break  # no later point can beat the k-th best
        chunk = order[start : start + CHUNK]
        rows, dist = _best(np.concatenate([rows, chunk]), np.concatenate([dist, _exact(idx, chunk, v)]), k)
    return rows, dist


def query(idx: NeighbourIndex, q: np.ndarray, k: int = K) -> Neighbours:
    """The ``k`` nearest points to each query ``q (P,)`` or ``(Q, P)`` (or images ``(C, H, W)``
    / ``(Q, C, H, W)``, floats in the index's units: pixels in [0, 1])."""
    p = idx.points.shape[1]
    qs = np.asarray(q, dtype=np.float64).reshape(-1, p)
    k = min(int(k), len(idx))
    search = _direct if idx.basis is None else _bounded
    found = [search(idx, v, k) for v in qs]
    return Neighbours(
        np.asarray([r for r, _ in found], np.int64).reshape(len(qs), k),
        np.asarray([d for _, d in found], np.float64).reshape(len(qs), k),
    )
