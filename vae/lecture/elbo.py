"""ELBO page: log p(x) = ELBO + KL(q(t|x) || p(t|x)), the EM view of a VAE, for one image.

Importance-sampled log p(x) for growing k against the ELBO, and (2-D latent) the exact
posterior on a grid beside q. Log densities in nats per image, as ``vae.core.losses``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vae.core.losses import iwae_log_likelihood, kl_standard_normal, log_normal
from vae.core.model import VAE
from vae.lecture.common import (
    CHUNK,
    ArrayLike,
    as_image_batch,
    generator,
    log_lik_chunked,
    log_prior,
    model_log_lik,
    posterior_params,
    randn,
)


@dataclass(frozen=True, eq=False)
class ElboVsLogpx:
    """One image, nats. ``elbo = recon - kl`` with ``recon`` = MC E_q log p(x|t)
    (``recon_se`` its standard error) and ``kl`` = analytic KL(q || p(t)).
    ``ks (K,)``: IS sample counts; ``log_px (K,)``: IS estimates of log p(x) (mean over
    ``repeats`` runs, ``log_px_se`` their standard error); ``gap = log_px - elbo`` (K,)
    estimates KL(q(t|x) || p(t|x)) from below; ``posterior_kl`` = the gap at the largest k."""

    elbo: float
    recon: float
    recon_se: float
    kl: float
    ks: np.ndarray
    log_px: np.ndarray
    log_px_se: np.ndarray
    gap: np.ndarray
    posterior_kl: float


def elbo_vs_logpx(
    model: VAE,
    x: ArrayLike,
    ks: Sequence[int] = (1, 10, 100, 1000),
    seed: int = 0,
    n_elbo: int = 2000,
    repeats: int = 1,
) -> ElboVsLogpx:
    """ELBO (analytic KL + MC recon with ``n_elbo`` samples) and importance-sampled log p(x)
    (``vae.core.losses.iwae_log_likelihood``) for growing k, for one image.

    IS estimates grow with k (on average) towards log p(x) from below; at k = 1 they equal
    the ELBO in expectation. ``repeats`` independent IS runs per k are averaged.
    """
    xb = as_image_batch(model, x)
    gen = generator(seed, xb.device)
    ks_arr = np.asarray([int(k) for k in ks], dtype=np.int64)
    if ks_arr.size == 0 or ks_arr.min() < 1 or int(repeats) < 1:
        raise ValueError("ks must be >= 1 and repeats >= 1")
    with torch.no_grad():
        mu, logvar = model.encode(xb)
        kl = float(kl_standard_normal(mu.double(), logvar.double())[0])
        eps = randn((int(n_elbo), mu.shape[1]), gen, mu)
        t = mu + torch.exp(0.5 * logvar) * eps
        ll = log_lik_chunked(model_log_lik(model, xb), t).double()
        recon = float(ll.mean())
        recon_se = float(ll.std() / math.sqrt(ll.numel())) if ll.numel() > 1 else float("nan")
        reps = int(repeats)
        xr = xb.expand(reps, *xb.shape[1:])
        est = []
        for k in ks_arr:
            chunk = max(1, min(int(k), CHUNK // reps))
            est.append(
                iwae_log_likelihood(model, xr, k=int(k), chunk=chunk, generator=gen).double()
            )
        vals = torch.stack(est)  # (K, repeats)
    log_px = vals.mean(1).numpy()
    se = (vals.std(1) / math.sqrt(reps)).numpy() if reps > 1 else np.full(len(ks_arr), np.nan)
    elbo = recon - kl
    return ElboVsLogpx(
        elbo=elbo,
        recon=recon,
        recon_se=recon_se,
        kl=kl,
        ks=ks_arr,
        log_px=log_px,
        log_px_se=se,
        gap=log_px - elbo,
        posterior_kl=float(log_px[int(np.argmax(ks_arr))] - elbo),
    )


@dataclass(frozen=True, eq=False)
class GridPosterior:
    """The exact posterior of a 2-D latent model on an ``n x n`` grid.

    ``t0, t1 (n,)``: grid axes (latent dims 0 and 1). Every ``(n, n)`` array is indexed
    ``[i, j]`` = at ``(t0[j], t1[i])`` (rows = t1), so ``imshow(a, origin="lower",
    extent=extent)`` draws it. ``log_joint`` = log p(x|t) + log p(t); ``posterior`` = p(t|x)
    (``posterior.sum() * cell_area == 1``); ``q_density`` = q(t|x); ``prior`` = p(t).
    ``log_px``: log p(x) by numerical integration; ``posterior_kl``: KL(q || p(t|x)) on the
    grid; ``elbo`` = log_px - posterior_kl. ``mu, std (2,)``: q's parameters;
    ``posterior_mean (2,)`` the grid posterior's mean.
    """

    t0: np.ndarray
    t1: np.ndarray
    extent: tuple[float, float, float, float]
    cell_area: float
    log_joint: np.ndarray
    posterior: np.ndarray
    q_density: np.ndarray
    prior: np.ndarray
    log_px: float
    posterior_kl: float
    elbo: float
    mu: np.ndarray
    std: np.ndarray
    posterior_mean: np.ndarray


def grid_posterior(
    model: VAE,
    x: ArrayLike,
    extent: tuple[float, float, float, float] | None = None,
    n: int = 121,
    prior_radius: float = 3.0,
    q_radius: float = 4.0,
) -> GridPosterior:
    """log p(x|t) + log p(t) on a grid of t for a model with a 2-D latent.

    ``extent = (t0_min, t0_max, t1_min, t1_max)``; by default each axis spans both q's
    mean +- ``q_radius`` s and the prior's +- ``prior_radius``. Integrals are Riemann sums
    (sum * cell area), accurate while the cell is small next to the posterior's width.
    """
    if model.latent_dim != 2:
        raise ValueError(f"grid_posterior needs a 2-D latent, the model has {model.latent_dim}")
    if int(n) < 2:
        raise ValueError("n must be >= 2")
    n = int(n)
    mu, logvar = posterior_params(model, x)
    std = torch.exp(0.5 * logvar)
    if extent is None:
        lo = torch.minimum(mu - q_radius * std, torch.full_like(mu, -prior_radius))
        hi = torch.maximum(mu + q_radius * std, torch.full_like(mu, prior_radius))
        extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    ext = (float(extent[0]), float(extent[1]), float(extent[2]), float(extent[3]))
    if not (ext[1] > ext[0] and ext[3] > ext[2]):
        raise ValueError(f"bad extent {ext}")
    t0 = torch.linspace(ext[0], ext[1], n, dtype=torch.float64)
    t1 = torch.linspace(ext[2], ext[3], n, dtype=torch.float64)
    area = float((t0[1] - t0[0]) * (t1[1] - t1[0]))
    g1, g0 = torch.meshgrid(t1, t0, indexing="ij")  # [i, j] = (t0[j], t1[i])
    pts = torch.stack([g0.reshape(-1), g1.reshape(-1)], dim=1)
    with torch.no_grad():
        tm = pts.to(dtype=mu.dtype, device=mu.device)
        ll = log_lik_chunked(model_log_lik(model, x), tm).double().cpu()
    log_p_t = log_prior(pts)
    log_joint = ll + log_p_t
    log_px = torch.logsumexp(log_joint, 0) + math.log(area)
    log_post = log_joint - log_px
    log_q = log_normal(pts, mu.double().cpu(), logvar.double().cpu())
    # KL(q || p(t|x)) with q renormalised on the grid (robust when q is cut by the extent).
    wq = torch.softmax(log_q, 0)
    log_q_grid = log_q - (torch.logsumexp(log_q, 0) + math.log(area))
    kl = float((wq * (log_q_grid - log_post)).sum())
    post = torch.exp(log_post)
    post_mean = (post[:, None] * pts).sum(0) * area

    def grid(v: torch.Tensor) -> np.ndarray:
        return v.reshape(n, n).numpy()

    return GridPosterior(
        t0=t0.numpy(),
        t1=t1.numpy(),
        extent=ext,
        cell_area=area,
        log_joint=grid(log_joint),
        posterior=grid(post),
        q_density=grid(torch.exp(log_q)),
        prior=grid(torch.exp(log_p_t)),
        log_px=float(log_px),
        posterior_kl=kl,
        elbo=float(log_px) - kl,
        mu=mu.double().cpu().numpy(),
        std=std.double().cpu().numpy(),
        posterior_mean=post_mean.numpy(),
    )


def focused_grid_posterior(
    model: VAE,
    x: ArrayLike,
    n: int = 101,
    coarse_n: int = 61,
    q_radius: float = 4.0,
    rel_mass: float = 1e-4,
) -> GridPosterior:
    """``grid_posterior`` on a grid fitted to where the posterior lives.

    A trained encoder is often confident (s ~ 0.02 on MNIST) while the default extent spans
    the prior's +-3: a 101-point grid then puts q in a few cells and the Riemann sums are
    wrong. So: a coarse pass over the default extent finds the cells holding posterior
    density above ``rel_mass`` of its peak; the fine grid covers those cells (padded by
    one coarse cell) and q's mean +- ``q_radius`` s, as a square so both axes share a scale.
    """
    coarse = grid_posterior(model, x, n=coarse_n)
    rows, cols = np.nonzero(coarse.posterior >= rel_mass * coarse.posterior.max())
    step0 = coarse.t0[1] - coarse.t0[0]
    step1 = coarse.t1[1] - coarse.t1[0]
    lo = np.array([coarse.t0[cols.min()] - step0, coarse.t1[rows.min()] - step1])
    hi = np.array([coarse.t0[cols.max()] + step0, coarse.t1[rows.max()] + step1])
    lo = np.minimum(lo, coarse.mu - q_radius * coarse.std)
    hi = np.maximum(hi, coarse.mu + q_radius * coarse.std)
    centre, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2
    extent = (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)
    return grid_posterior(model, x, extent=extent, n=n)
