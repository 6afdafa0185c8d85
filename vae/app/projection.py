"""2-D views of latent means for the maps: the latent plane itself, LDA, PCA or t-SNE, and a
way to put new points (an uploaded image, a test image outside a t-SNE sample) on the same view.

``mu`` is ``(N, D)`` float (posterior means of test images), ``labels`` ``(N,)`` int. t-SNE is
slow (about a minute for 2,000 points on a small server), so bundled models ship theirs as a
small ``<checkpoint>.tsne.npz`` beside the checkpoint, made once with::

    python -m vae.app.projection checkpoints/mnist_32.pt

The file names the SHA-256 of the checkpoint it belongs to; a mismatch is ignored (recomputed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

METHODS = ("latent", "lda", "pca", "tsne")
TSNE_SAMPLE = 2000  # points t-SNE runs on when computed live (precomputed files hold more)
NEIGHBOURS = 10  # t-SNE cannot map new points: they go to the mean of this many neighbours


@dataclass(frozen=True, eq=False)
class Projection:
    """Map coordinates ``xy (M, 2)`` of rows ``rows (M,)`` of ``mu``; linear views also keep
    ``xy = (mu - mean) @ weights`` (``mean (D,)``, ``weights (D, 2)``) to place new points."""

    method: str
    xy: np.ndarray
    rows: np.ndarray
    mean: np.ndarray | None = None
    weights: np.ndarray | None = None

    @property
    def exact(self) -> bool:
        """Whether ``place`` is exact (a formula) rather than a nearest-neighbour estimate."""
        return self.method != "tsne"

    def place(self, points: np.ndarray, mu: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
        """``points (P, D)`` -> ``(P, 2)`` on this view. t-SNE: the mean position of the ``k``
        mapped rows of ``mu (N, D)`` nearest in latent space (an estimate: say so on screen)."""
        p = np.asarray(points, np.float64).reshape(-1, np.asarray(mu).shape[1])
        if self.method == "latent":
            return _first_two(p).astype(np.float32)
        if self.weights is not None:
            return ((p - self.mean) @ self.weights).astype(np.float32)
        ref = np.asarray(mu, np.float64)[self.rows]
        d2 = (p**2).sum(1)[:, None] - 2 * p @ ref.T + (ref**2).sum(1)[None, :]
        near = np.argsort(d2, axis=1)[:, : min(k, len(self.rows))]
        return self.xy[near].mean(axis=1).astype(np.float32)


def _first_two(a: np.ndarray) -> np.ndarray:
    """The first two columns (a 1-D latent gets a zero second coordinate)."""
    return a[:, :2].copy() if a.shape[1] >= 2 else np.concatenate([a, np.zeros_like(a)], axis=1)


def available(d: int, n_classes: int) -> tuple[str, ...]:
    """The views that make sense for a ``d``-D latent with ``n_classes`` labels, default first."""
    if d <= 2:
        return ("latent",)
    return (("lda",) if n_classes >= 3 else ()) + ("pca", "tsne")


def preload() -> None:
    """Import the scikit-learn estimators behind the LDA and t-SNE views (about 1.4 s on a
    2-core machine, most of a 32-D model's first map). Safe from any thread: Python's import
    lock makes a page importing them meanwhile wait for this import, not start another."""
    import sklearn.discriminant_analysis  # noqa: F401
    import sklearn.manifold  # noqa: F401


def project(
    mu: np.ndarray, labels: np.ndarray | None = None, method: str = "pca", seed: int = 0,
    max_points: int | None = None,
) -> Projection:
    """``mu (N, D)`` on a 2-D view. ``"lda"`` needs ``labels`` (3+ classes); ``"tsne"`` runs on a
    random sample of ``max_points`` rows (default ``TSNE_SAMPLE``; ``rows`` says which)."""
    mu = np.asarray(mu, np.float64)
    n, d = mu.shape
    every = np.arange(n)
    if d <= 2 or method == "latent":
        return Projection("latent", _first_two(mu).astype(np.float32), every)
    if method == "pca":
        from vae.app.inference import pca_projection  # the one PCA every page draws

        pca = pca_projection(mu)
        return _linear("pca", mu, pca.mean, pca.components.T)
    if method == "lda":
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        if labels is None or len(np.unique(labels)) < 3:
            raise ValueError("LDA needs labels with at least 3 classes")
        lda = LinearDiscriminantAnalysis(n_components=2, solver="svd").fit(mu, labels)
        # svd solver: transform(X) = (X - xbar_) @ scalings_, first n_components columns.
        return _linear("lda", mu, lda.xbar_, lda.scalings_[:, :2])
    if method == "tsne":
        from sklearn.manifold import TSNE

        max_points = TSNE_SAMPLE if max_points is None else max_points
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
        perplexity = float(min(30, max(5, (len(idx) - 1) // 4)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu[idx])
        return Projection("tsne", xy.astype(np.float32), idx)
    raise ValueError(f"unknown projection {method!r}")


def _linear(method: str, mu: np.ndarray, mean: np.ndarray, weights: np.ndarray) -> Projection:
    mean, weights = np.asarray(mean, np.float64), np.asarray(weights, np.float64)
    return Projection(method, ((mu - mean) @ weights).astype(np.float32), np.arange(len(mu)), mean, weights)


# --------------------------------------------------------------------------- precomputed t-SNE


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tsne_path(checkpoint: str | Path) -> Path:
    """Where a checkpoint's precomputed t-SNE lives: ``mnist_32.pt`` -> ``mnist_32.tsne.npz``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + ".tsne.npz")


def save_tsne(path: str | Path, proj: Projection, sha256: str, n_points: int) -> None:
    np.savez_compressed(
        path, xy=proj.xy.astype(np.float32), rows=proj.rows.astype(np.int32),
        sha256=np.array(sha256), n_points=np.array(n_points),
    )  # fmt: skip


def load_tsne(path: str | Path, sha256: str, n_points: int) -> Projection | None:
    """The precomputed t-SNE of ``path`` if it belongs to the checkpoint with ``sha256`` and to a
    test split of ``n_points`` images; else None (missing, stale or unreadable)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["sha256"]) != sha256 or int(f["n_points"]) != n_points:
                return None
            xy, rows = f["xy"].astype(np.float32), f["rows"].astype(np.int64)
    except (OSError, KeyError, ValueError):
        return None
    if xy.shape != (len(rows), 2) or (len(rows) and (rows.min() < 0 or rows.max() >= n_points)):
        return None
    return Projection("tsne", xy, rows)


def view_3d(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``mu (N, D)`` in 3-D: the means themselves for D <= 3 (zeros pad a missing axis), else
    their first three principal components (each axis's largest loading positive, so the
    picture does not flip). Returns ``xyz (N, 3)`` and the share of variance per axis (None
    when no projection was made)."""
    x = np.asarray(mu, np.float64)
    n, d = x.shape
    if d <= 3:
        return np.concatenate([x, np.zeros((n, 3 - d))], axis=1).astype(np.float32), None
    centred = x - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:3]
    signs = np.sign(comps[np.arange(3), np.abs(comps).argmax(1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    return (centred @ comps.T).astype(np.float32), var[:3] / (float(var.sum()) or 1.0)


def main(argv: list[str] | None = None) -> int:
    """Precompute a checkpoint's t-SNE over the first ``--points`` test images (the app's map)."""
    import argparse
    import time

    from vae.app.inference import encode
    from vae.core.checkpoints import load_checkpoint
    from vae.data.registry import load_dataset

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--points", type=int, default=5000, help="the app's map shows the first 5,000")
    args = ap.parse_args(argv)
    ckpt = load_checkpoint(args.checkpoint)
    data = load_dataset(ckpt.dataset)
    x = data.test_x[: args.points]
    mu, _ = encode(ckpt.build_model(), x)
    t0 = time.perf_counter()
    proj = project(mu, method="tsne", max_points=len(mu))
    out = tsne_path(args.checkpoint)
    save_tsne(out, proj, file_sha256(args.checkpoint), len(mu))
    print(f"{out}: t-SNE of {len(mu):,} points in {time.perf_counter() - t0:.0f} s, {out.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
