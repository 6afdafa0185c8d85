"""Models side by side on the same test images: latent maps made comparable, reconstructions
of the same images, samples from the same prior codes, KL per dimension and the metrics.

Two trainings of the same model find latent spaces that differ by a rotation or reflection
at least (the prior N(0, I) is rotation invariant), so maps of models with the same latent
size are aligned to the first model's by an orthogonal Procrustes fit: the orthogonal R
minimising ||(A - mean A) R - (B - mean B)||_F (Schönemann 1966: R = U V^T, where
U S V^T is the SVD of (A - mean A)^T (B - mean B)). R is a rotation or reflection only: no
stretching, so distances within each map are its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae.app import inference
from vae.core.model import VAE

N_RECON = 8
N_PRIOR = 16


def orthogonal_procrustes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The orthogonal ``R (D, D)`` minimising ``||a @ R - b||_F`` for ``a, b (N, D)`` (no
    centring here; ``align`` centres)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two (N, D) arrays of one shape, got {a.shape} and {b.shape}")
    u, _, vt = np.linalg.svd(a.T @ b)
    return u @ vt


def align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``points (N, D)`` rotated/reflected onto ``reference (N, D)`` (the same images' codes
    under another model), both centred: ``(points - mean) @ R + reference mean``."""
    p, r = np.asarray(points, np.float64), np.asarray(reference, np.float64)
    pm, rm = p.mean(0), r.mean(0)
    return (p - pm) @ orthogonal_procrustes(p - pm, r - rm) + rm


def at_epoch(history: list[dict], epoch: int) -> dict | None:
    """The training-history row of ``epoch`` (1-based; test ELBO and KL after that epoch), or
    None: how a longer-trained model stood when a shorter-trained one stopped."""
    return next((h for h in history if h.get("epoch") == epoch), None)


@dataclass(frozen=True, eq=False)
class ModelView:
    """One model on the shared images: ``xy (N, 2)`` its map (aligned when ``aligned``),
    ``recon (N_RECON, C, H, W)``, ``samples (N_PRIOR, C, H, W)`` decoded from the shared prior
    codes, ``kl (D,)`` mean KL per dimension on the shared images (nats)."""

    xy: np.ndarray
    recon: np.ndarray
    samples: np.ndarray
    kl: np.ndarray


@dataclass(frozen=True, eq=False)
class Comparison:
    views: list[ModelView]
    how: str  # how the maps were made comparable, for the caption
    same_codes: bool  # samples decoded from literally the same codes (same latent size)


def compare(models: list[VAE], images: np.ndarray, seed: int = 0) -> Comparison:
    """``models`` on the same ``images (N, C, H, W)`` (uint8 or float in [0, 1]); the first is
    the reference that the others' maps are aligned to."""
    encoded = [inference.encode(m, images) for m in models]
    dims = {m.latent_dim for m in models}
    same = len(dims) == 1
    d = dims.pop() if same else None
    mus = [mu.astype(np.float64) for mu, _ in encoded]
    if same:
        mus = [mus[0]] + [align(mu, mus[0]) for mu in mus[1:]]
        proj = inference.pca_projection(mus[0])  # the identity for 2-D
        xys = [proj.apply(mu) for mu in mus]
        how = (
            f"Maps aligned to {'the first model' if len(models) > 1 else 'itself'} by an orthogonal Procrustes "
            "fit (a rotation or reflection of each latent space: nothing is stretched)"
            + ("" if d <= 2 else f", then one PCA of the first model's {d}-D means for all")
        )
    else:
        xys = [inference.pca_projection(mu).apply(mu) for mu in mus]
        how = "Latent sizes differ, so the maps are not aligned: each shows its own axes (PCA above 2-D)"
    gen = np.random.default_rng(seed)
    shared_codes = gen.standard_normal((N_PRIOR, d)) if same else None
    views = []
    for m, (mu, logvar), xy in zip(models, encoded, xys, strict=True):
        codes = shared_codes if same else np.random.default_rng(seed).standard_normal((N_PRIOR, m.latent_dim))
        views.append(ModelView(
            xy=xy.astype(np.float32), recon=inference.decode(m, mu[:N_RECON]),
            samples=inference.decode(m, codes), kl=inference.kl_per_dim(mu, logvar),
        ))  # fmt: skip
    return Comparison(views=views, how=how, same_codes=same)
