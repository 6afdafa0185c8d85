"""Numeric helpers behind the lecture pages (the pages are thin and call only these).

The lecture: the encoder gives q(t|x, phi) = N(m, diag(s^2)); sampling is rewritten as
t = g(eps, x, phi) = eps * s + m with eps ~ N(0, I), so that

    grad_phi E_q log p(x|t, w) = E_p(eps) grad_phi log p(x | g(eps, x, phi), w)

can be estimated by sampling eps (the reparameterization trick), against the score-function
(REINFORCE) estimator E_q [log p(x|t) grad_phi log q(t|x, phi)]. A VAE is an infinite
mixture of Gaussians p(x) = int p(x|t) p(t) dt, fitted by EM-like variational inference
with a Gaussian q: log p(x) = ELBO + KL(q(t|x) || p(t|x)).

Conventions:

* Images come in as numpy arrays or tensors, ``(H, W)`` (one channel), ``(C, H, W)`` or
  ``(1, C, H, W)``, floats in [0, 1] (``uint8`` is divided by 255). Images go out as numpy
  floats in [0, 1]: ``(n, H, W)`` for one channel, ``(n, H, W, C)`` otherwise
  (image = sigmoid(logits)).
* Page-facing functions return numpy arrays, floats or small frozen dataclasses.
* phi = (m, log s^2): gradients are w.r.t. ``mu`` and ``logvar`` of q for one image, as
  leaf tensors, concatenated as ``[d/dmu (D), d/dlogvar (D)]`` -> ``(2D,)``.
* All randomness comes from a local ``torch.Generator`` seeded by the ``seed`` argument; the
  global RNG is never touched.
* The model is shared by all users and is never mutated: no ``.train()``/``.eval()``, no
  ``requires_grad`` changes on its parameters, no ``.grad`` written.
* Log densities are in nats per image (summed over pixels and latent dims), as ``vae.core.losses``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from vae.core.losses import (
    LOG_2PI,
    iwae_log_likelihood,
    kl_standard_normal,
    log_normal,
    reconstruction_nll,
)
from vae.core.model import VAE

LogLik = Callable[[torch.Tensor], torch.Tensor]
"""``log_lik(t (n, D)) -> (n,)``; rows must be independent (row i depends on t[i] only)."""

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]

_CHUNK = 4096  # decodes per forward pass


# --------------------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------------------


def _param(model: VAE) -> torch.Tensor:
    return next(model.parameters())


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def _randn(shape: tuple[int, ...], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)


def as_image_batch(model: VAE, x: ArrayLike) -> torch.Tensor:
    """One image as numpy/tensor ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or ``(1, C, H, W)``
    -> tensor ``(1, C, H, W)`` with the model's dtype and device."""
    c, h, w = model.config.image_shape
    p = _param(model)
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.detach()
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    shape = tuple(t.shape)
    if shape == (h, w) and c == 1:
        t = t.reshape(1, 1, h, w)
    elif shape == (c, h, w):
        t = t.unsqueeze(0)
    elif shape == (h, w, c):
        t = t.permute(2, 0, 1).unsqueeze(0)
    elif shape != (1, c, h, w):
        raise ValueError(
            f"expected one image of shape {(c, h, w)} (or (H, W) / (H, W, C)), got {shape}"
        )
    return t.to(device=p.device, dtype=p.dtype)


def _to_images(logits: torch.Tensor) -> np.ndarray:
    """Logits ``(n, C, H, W)`` -> numpy images in [0, 1], ``(n, H, W)`` or ``(n, H, W, C)``."""
    img = torch.sigmoid(logits.detach()).float().cpu()
    img = img[:, 0] if img.shape[1] == 1 else img.permute(0, 2, 3, 1)
    return img.numpy()


def _decode(model: VAE, t: torch.Tensor) -> torch.Tensor:
    """Chunked ``decode``: ``t (n, D) -> logits (n, C, H, W)``."""
    return torch.cat([model.decode(t[i : i + _CHUNK]) for i in range(0, t.shape[0], _CHUNK)])


def _posterior_params(model: VAE, x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``mu, logvar`` of q(t|x), each ``(D,)``, detached."""
    with torch.no_grad():
        mu, logvar = model.encode(as_image_batch(model, x))
    return mu[0].detach(), logvar[0].detach()


def model_log_lik(model: VAE, x: ArrayLike) -> LogLik:
    """``log p(x|t)`` of one image as a callable ``t (n, D) -> (n,)`` (differentiable in t).

    Uses the model's likelihood (Bernoulli or Gaussian) exactly as ``vae.core.losses``.
    """
    xb = as_image_batch(model, x)

    def log_lik(t: torch.Tensor) -> torch.Tensor:
        logits = model.decode(t)
        xr = xb.expand(t.shape[0], *xb.shape[1:])
        return -reconstruction_nll(logits, xr, model.config.likelihood, model.dec_logvar)

    return log_lik


def _log_lik_chunked(log_lik: LogLik, t: torch.Tensor) -> torch.Tensor:
    return torch.cat([log_lik(t[i : i + _CHUNK]) for i in range(0, t.shape[0], _CHUNK)])


def _log_prior(t: torch.Tensor) -> torch.Tensor:
    """log N(t; 0, I) summed over the last dim."""
    return -0.5 * (LOG_2PI + t.pow(2)).sum(dim=-1)


def _vec(v: ArrayLike, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.detach().to(dtype).reshape(-1)
    return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype).reshape(-1)


# --------------------------------------------------------------------------------------
# Reparameterization demo
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NoiseSamples:
    """t = mu + std * eps for one image. ``mu, std (D,)``; ``eps, scaled_eps, t (n, D)``;
    ``images (n, H, W[, C])`` = sigmoid(decode(t)); ``mean_image`` = sigmoid(decode(mu))."""

    mu: np.ndarray
    std: np.ndarray
    eps: np.ndarray
    scaled_eps: np.ndarray
    t: np.ndarray
    images: np.ndarray
    mean_image: np.ndarray


def _sampling_params(model: VAE, x: ArrayLike, zero_std: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``mu, std`` of q(t|x) for the reparameterization demos; ``std`` is 0 with ``zero_std``
    or for a ``variant="ae"`` model."""
    mu, logvar = _posterior_params(model, x)
    std = torch.exp(0.5 * logvar)
    if zero_std or model.config.variant == "ae":
        std = torch.zeros_like(std)
    return mu, std


def _reparameterized(
    model: VAE, mu: torch.Tensor, std: torch.Tensor, eps: torch.Tensor
) -> NoiseSamples:
    """t = mu + eps * std for each row of ``eps``, decoded, with the decoded mean."""
    scaled = eps * std
    t = mu + scaled
    with torch.no_grad():
        images = _to_images(_decode(model, t))
        mean_image = _to_images(model.decode(mu[None]))[0]
    return NoiseSamples(
        mu=mu.cpu().numpy(),
        std=std.cpu().numpy(),
        eps=eps.cpu().numpy(),
        scaled_eps=scaled.cpu().numpy(),
        t=t.cpu().numpy(),
        images=images,
        mean_image=mean_image,
    )


def noise_samples(
    model: VAE, x: ArrayLike, n: int, seed: int = 0, zero_std: bool = False
) -> NoiseSamples:
    """Draw ``n`` codes t = eps * s + m from q(t|x) and decode them.

    ``zero_std=True`` (or a ``variant="ae"`` model) sets s = 0: the plain autoencoder's
    deterministic code t = m, so every row of ``t`` equals ``mu`` (``eps`` is still drawn,
    so the same seed shows the same noise being switched off).
    """
    mu, std = _sampling_params(model, x, zero_std)
    eps = _randn((int(n), mu.shape[0]), _generator(seed, mu.device), mu)
    return _reparameterized(model, mu, std, eps)


def eps_walk(d: int, n_frames: int, seed: int = 0, step: float | None = None) -> np.ndarray:
    """A smooth walk of eps for an animation: ``(n_frames, d)``.

    eps_k = cos(theta_k) a + sin(theta_k) b with a, b ~ N(0, I) independent and
    theta_k = k * step, so every frame is exactly N(0, I) (a great circle through Gaussian
    noise). ``step`` is radians per frame; the default 2 pi / n_frames makes a seamless loop.
    """
    gen = torch.Generator().manual_seed(int(seed))
    a = torch.randn(int(d), generator=gen, dtype=torch.float64)
    b = torch.randn(int(d), generator=gen, dtype=torch.float64)
    step = 2 * math.pi / max(int(n_frames), 1) if step is None else float(step)
    theta = torch.arange(int(n_frames), dtype=torch.float64)[:, None] * step
    return (torch.cos(theta) * a + torch.sin(theta) * b).numpy()


# --------------------------------------------------------------------------------------
# Gradient estimators of grad_phi E_q log p(x|t), phi = (mu, logvar)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GaussianToy:
    """The closed-form check: f(t) = -0.5 ||t - c||^2 with q = N(mu, diag(exp(logvar))).

    E_q f = -0.5 (||mu - c||^2 + sum exp(logvar)); its gradient is
    d/dmu = c - mu, d/dlogvar = -0.5 exp(logvar). Arrays ``(D,)``.
    """

    c: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray

    def log_lik(self, t: torch.Tensor) -> torch.Tensor:
        """``t (n, D) -> f(t) (n,)``."""
        c = torch.as_tensor(self.c, dtype=t.dtype, device=t.device)
        return -0.5 * (t - c).pow(2).sum(dim=-1)

    def expectation(self) -> float:
        """E_q f in closed form."""
        return float(-0.5 * (np.sum((self.mu - self.c) ** 2) + np.sum(np.exp(self.logvar))))

    def gradient(self) -> np.ndarray:
        """The exact gradient ``(2D,)`` = ``[c - mu, -0.5 exp(logvar)]``."""
        return np.concatenate([self.c - self.mu, -0.5 * np.exp(self.logvar)])


def gaussian_toy(d: int = 2, seed: int = 0, offset: float = 0.0) -> GaussianToy:
    """A random toy problem in ``d`` dims; ``offset`` moves c away from mu (|f| grows, which
    hurts the score-function estimator but not the reparameterization one)."""
    gen = torch.Generator().manual_seed(int(seed))
    mu = torch.randn(d, generator=gen, dtype=torch.float64)
    logvar = 0.5 * torch.randn(d, generator=gen, dtype=torch.float64)
    c = mu + torch.randn(d, generator=gen, dtype=torch.float64) + offset
    return GaussianToy(c=c.numpy(), mu=mu.numpy(), logvar=logvar.numpy())


def _reparam_grads(
    log_lik: LogLik, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample grad_phi log p(x | eps * s + m) ``(n, 2D)`` and the values
    f = log p(x|t) ``(n,)`` for ``eps (n, D)``.

    Each sample gets its own leaf copies of mu and logvar, so one backward pass of the sum
    gives all n per-sample gradients (rows of log_lik are independent).
    """
    grads, values = [], []
    with torch.enable_grad():
        for i in range(0, eps.shape[0], _CHUNK):
            e = eps[i : i + _CHUNK]
            m = mu.detach().expand_as(e).clone().requires_grad_(True)
            lv = logvar.detach().expand_as(e).clone().requires_grad_(True)
            f = log_lik(m + torch.exp(0.5 * lv) * e)
            gm, glv = torch.autograd.grad(f.sum(), (m, lv))
            grads.append(torch.cat([gm, glv], dim=1).detach())
            values.append(f.detach())
    return torch.cat(grads), torch.cat(values)


def _score(logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """grad_phi log q(t|x, phi) at t = m + s eps, ``(n, 2D)``: d/dm = (t - m)/s^2 = eps/s,
    d/dlogvar = 0.5 ((t - m)^2/s^2 - 1) = 0.5 (eps^2 - 1)."""
    return torch.cat([eps * torch.exp(-0.5 * logvar), 0.5 * (eps.pow(2) - 1.0)], dim=1)


def _score_terms(
    log_lik: LogLik, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``f = log p(x|t) (n,)`` and the score ``(n, 2D)`` at t = m + s eps (no autograd)."""
    t = mu + torch.exp(0.5 * logvar) * eps
    with torch.no_grad():
        f = _log_lik_chunked(log_lik, t)
    return f.detach(), _score(logvar, eps)


def _loo_estimates(f: torch.Tensor, score: torch.Tensor, baseline: bool) -> torch.Tensor:
    """Per-sample score-function estimates ``(n, 2D)``; with ``baseline`` subtract from each
    f_i the mean of the other n-1 values (independent of sample i, so still unbiased)."""
    n = f.shape[0]
    if baseline and n > 1:
        f = f - (f.sum() - f) / (n - 1)
    return f[:, None] * score


def _prep_phi(mu: ArrayLike, logvar: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors keep their dtype and device; anything else becomes float64 ``(D,)``."""

    def one(v: ArrayLike) -> torch.Tensor:
        return v.detach().reshape(-1) if isinstance(v, torch.Tensor) else _vec(v)

    return one(mu), one(logvar)


def reparam_gradients(
    log_lik: LogLik, mu: ArrayLike, logvar: ArrayLike, n: int, seed: int = 0
) -> np.ndarray:
    """Reparameterization estimates of grad_phi E_q log_lik(t), one per sample: ``(n, 2D)``.

    Row i = grad_{mu, logvar} log_lik(eps_i * exp(logvar/2) + mu), eps_i ~ N(0, I).
    Generic over ``log_lik(t (n, D)) -> (n,)`` (the model or ``GaussianToy.log_lik``).
    """
    m, lv = _prep_phi(mu, logvar)
    eps = _randn((int(n), m.shape[0]), _generator(seed, m.device), m)
    return _reparam_grads(log_lik, m, lv, eps)[0].cpu().numpy()


def score_function_gradients(
    log_lik: LogLik,
    mu: ArrayLike,
    logvar: ArrayLike,
    n: int,
    seed: int = 0,
    baseline: bool = False,
) -> np.ndarray:
    """Score-function (REINFORCE) estimates, one per sample: ``(n, 2D)``.

    Row i = log_lik(t_i) grad_phi log q(t_i | phi), t_i ~ q (same eps as
    ``reparam_gradients`` with the same seed). ``baseline=True`` uses log_lik(t_i) - b_i,
    b_i = mean of the other n-1 values (a leave-one-out control variate: unbiased, much lower
    variance when log_lik is far from 0; rows are then no longer independent).
    """
    m, lv = _prep_phi(mu, logvar)
    eps = _randn((int(n), m.shape[0]), _generator(seed, m.device), m)
    f, score = _score_terms(log_lik, m, lv, eps)
    return _loo_estimates(f, score, baseline).cpu().numpy()


def reparam_gradient_samples(model: VAE, x: ArrayLike, n: int, seed: int = 0) -> np.ndarray:
    """Reparameterization gradient estimates of grad_{mu, logvar} E_q log p(x|t) for one
    image: ``(n, 2D)`` (``[:, :D]`` w.r.t. mu, ``[:, D:]`` w.r.t. logvar)."""
    mu, logvar = _posterior_params(model, x)
    eps = _randn((int(n), mu.shape[0]), _generator(seed, mu.device), mu)
    return _reparam_grads(model_log_lik(model, x), mu, logvar, eps)[0].cpu().numpy()


def score_function_gradient_samples(
    model: VAE, x: ArrayLike, n: int, seed: int = 0, baseline: bool = False
) -> np.ndarray:
    """Score-function estimates of the same gradient for one image: ``(n, 2D)``.

    ``baseline``: leave-one-out mean of log p(x|t) as a control variate (see
    ``score_function_gradients``).
    """
    mu, logvar = _posterior_params(model, x)
    eps = _randn((int(n), mu.shape[0]), _generator(seed, mu.device), mu)
    f, score = _score_terms(model_log_lik(model, x), mu, logvar, eps)
    return _loo_estimates(f, score, baseline).cpu().numpy()


@dataclass(frozen=True, eq=False)
class VarianceCurve:
    """Both estimators' N-sample averages across ``repeats`` runs, for each N in
    ``sample_sizes (K,)``: ``*_mean (K, 2D)`` the mean estimate, ``*_var_coord (K, 2D)`` the
    per-coordinate variance, ``*_var (K,)`` its mean over coordinates (trace / 2D); the
    variance falls as 1/N for both, the score function's sits higher."""

    sample_sizes: np.ndarray
    reparam_mean: np.ndarray
    reparam_var: np.ndarray
    reparam_var_coord: np.ndarray
    score_mean: np.ndarray
    score_var: np.ndarray
    score_var_coord: np.ndarray
    baseline: bool


def variance_curve(
    log_lik: LogLik,
    mu: ArrayLike,
    logvar: ArrayLike,
    sample_sizes: Sequence[int] = (1, 10, 100, 1000),
    repeats: int = 100,
    seed: int = 0,
    baseline: bool = False,
) -> VarianceCurve:
    """``estimator_variance_curve`` for any ``log_lik(t (n, D)) -> (n,)``.

    Each repeat draws max(N) samples once; the N-sample estimate is the average of the
    first N (nested, so one set of decodes serves every N). Both estimators share the eps.
    With ``baseline``, the score function uses the leave-one-out mean of the N samples
    (none for N = 1).
    """
    sizes = np.asarray(sorted({int(s) for s in sample_sizes}), dtype=np.int64)
    if sizes.size == 0 or sizes[0] < 1 or int(repeats) < 2:
        raise ValueError("sample_sizes must be >= 1 and repeats >= 2")
    m, lv = _prep_phi(mu, logvar)
    d, n_max, repeats = m.shape[0], int(sizes[-1]), int(repeats)
    gen = _generator(seed, m.device)
    idx = torch.as_tensor(sizes - 1)
    ns = torch.as_tensor(sizes, dtype=torch.float64)[None, :, None]
    r_chunk = max(1, _CHUNK // n_max)
    rep_est, sf_est = [], []
    for r0 in range(0, repeats, r_chunk):
        r = min(r_chunk, repeats - r0)
        eps = _randn((r * n_max, d), gen, m)
        g, f = _reparam_grads(log_lik, m, lv, eps)  # one decode serves both estimators
        rep_est.append(g.double().reshape(r, n_max, 2 * d).cumsum(1)[:, idx] / ns)
        f = f.double().reshape(r, n_max, 1)
        score = _score(lv, eps).double().reshape(r, n_max, 2 * d)
        sum_fs = (f * score).cumsum(1)[:, idx]
        if baseline:
            sum_f, sum_s = f.cumsum(1)[:, idx], score.cumsum(1)[:, idx]
            # mean_i (f_i - mean_{j != i} f_j) s_i = (sum fs - sum f * sum s / N) / (N - 1)
            loo = (sum_fs - sum_f * sum_s / ns) / (ns - 1).clamp(min=1)
            sf_est.append(torch.where(ns > 1, loo, sum_fs / ns))
        else:
            sf_est.append(sum_fs / ns)
    rep, sf = torch.cat(rep_est), torch.cat(sf_est)  # (repeats, K, 2D)
    rv, sv = rep.var(dim=0), sf.var(dim=0)
    return VarianceCurve(
        sample_sizes=sizes,
        reparam_mean=rep.mean(0).numpy(),
        reparam_var=rv.mean(-1).numpy(),
        reparam_var_coord=rv.numpy(),
        score_mean=sf.mean(0).numpy(),
        score_var=sv.mean(-1).numpy(),
        score_var_coord=sv.numpy(),
        baseline=bool(baseline),
    )


def estimator_variance_curve(
    model: VAE,
    x: ArrayLike,
    sample_sizes: Sequence[int] = (1, 10, 100, 1000),
    repeats: int = 100,
    seed: int = 0,
    baseline: bool = False,
) -> VarianceCurve:
    """Variance of the N-sample gradient estimate vs N, reparameterization vs score
    function, for one image (feeds a log-log plot; see ``VarianceCurve``).

    Cost: ``repeats * max(sample_sizes)`` decodes plus one backward pass over them.
    """
    mu, logvar = _posterior_params(model, x)
    return variance_curve(
        model_log_lik(model, x), mu, logvar, sample_sizes, repeats, seed, baseline
    )


# --------------------------------------------------------------------------------------
# ELBO vs log p(x): the EM view
# --------------------------------------------------------------------------------------


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
    gen = _generator(seed, xb.device)
    ks_arr = np.asarray([int(k) for k in ks], dtype=np.int64)
    if ks_arr.size == 0 or ks_arr.min() < 1 or int(repeats) < 1:
        raise ValueError("ks must be >= 1 and repeats >= 1")
    with torch.no_grad():
        mu, logvar = model.encode(xb)
        kl = float(kl_standard_normal(mu.double(), logvar.double())[0])
        eps = _randn((int(n_elbo), mu.shape[1]), gen, mu)
        t = mu + torch.exp(0.5 * logvar) * eps
        ll = _log_lik_chunked(model_log_lik(model, xb), t).double()
        recon = float(ll.mean())
        recon_se = float(ll.std() / math.sqrt(ll.numel())) if ll.numel() > 1 else float("nan")
        reps = int(repeats)
        xr = xb.expand(reps, *xb.shape[1:])
        est = []
        for k in ks_arr:
            chunk = max(1, min(int(k), _CHUNK // reps))
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
    mu, logvar = _posterior_params(model, x)
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
        ll = _log_lik_chunked(model_log_lik(model, x), tm).double().cpu()
    log_prior = _log_prior(pts)
    log_joint = ll + log_prior
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
        prior=grid(torch.exp(log_prior)),
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


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def prior_samples(model: VAE, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """Decode t = temperature * eps, eps ~ N(0, I): images ``(n, H, W[, C])`` in [0, 1].

    ``temperature`` scales the prior's std (0 gives decode(0) n times).
    """
    p = _param(model)
    eps = _randn((int(n), model.latent_dim), _generator(seed, p.device), p)
    with torch.no_grad():
        return _to_images(_decode(model, float(temperature) * eps))


@dataclass(frozen=True, eq=False)
class PriorDraws:
    """``t (n, D)`` = temperature * eps, eps ~ N(0, I), and ``images (n, H, W[, C])`` =
    sigmoid(decode(t)): the same draws as ``prior_samples`` with the same arguments."""

    t: np.ndarray
    images: np.ndarray


def prior_draws(model: VAE, n: int, temperature: float = 1.0, seed: int = 0) -> PriorDraws:
    """``prior_samples`` that also returns the codes (to show where each sample came from:
    one component of the infinite mixture per code)."""
    p = _param(model)
    eps = _randn((int(n), model.latent_dim), _generator(seed, p.device), p)
    t = float(temperature) * eps
    with torch.no_grad():
        images = _to_images(_decode(model, t))
    return PriorDraws(t=t.cpu().numpy(), images=images)


@dataclass(frozen=True, eq=False)
class ManifoldGrid:
    """``image (n*H, n*W[, C])``: tile (row i, col j) decodes t with t[dims[0]] =
    ``coords[j]`` and t[dims[1]] = ``coords[n-1-i]`` (t[dims[1]] grows upwards, like a plot)
    and the other dims from ``base``. ``coords (n,)``: Phi^-1(linspace(q_lo, q_hi, n));
    ``latents (n, n, D)``: the code of each tile, same layout."""

    image: np.ndarray
    coords: np.ndarray
    latents: np.ndarray
    dims: tuple[int, int]


def manifold_grid(
    model: VAE,
    n: int = 20,
    dims: tuple[int, int] = (0, 1),
    base: ArrayLike | None = None,
    quantiles: tuple[float, float] = (0.05, 0.95),
) -> ManifoldGrid:
    """The learned manifold (Kingma & Welling, Fig. 4): decode a grid of two latent dims at
    the prior's quantiles t_i = Phi^-1(linspace(0.05, 0.95, n)), tiled into one image."""
    d = model.latent_dim
    i0, i1 = (int(v) for v in dims)
    if d < 2 or i0 == i1 or not (0 <= i0 < d and 0 <= i1 < d):
        raise ValueError(f"dims must be two distinct latent dims of {d}, got {dims}")
    if not 0 < quantiles[0] < quantiles[1] < 1:
        raise ValueError("quantiles must satisfy 0 < lo < hi < 1")
    p = _param(model)
    n = int(n)
    coords = torch.special.ndtri(torch.linspace(quantiles[0], quantiles[1], n, dtype=torch.float64))
    b = torch.zeros(d, dtype=torch.float64) if base is None else _vec(base)
    if b.shape[0] != d:
        raise ValueError(f"base must have {d} entries")
    lat = b.repeat(n, n, 1)  # (n, n, D)
    lat[:, :, i0] = coords[None, :]
    lat[:, :, i1] = coords.flip(0)[:, None]
    with torch.no_grad():
        imgs = _to_images(_decode(model, lat.reshape(n * n, d).to(p.device, p.dtype)))
    h, w = imgs.shape[1:3]
    tiled = imgs.reshape(n, n, h, w, *imgs.shape[3:]).swapaxes(1, 2)
    return ManifoldGrid(
        image=tiled.reshape(n * h, n * w, *imgs.shape[3:]),
        coords=coords.numpy(),
        latents=lat.numpy(),
        dims=(i0, i1),
    )


# --------------------------------------------------------------------------------------
# Interpolation
# --------------------------------------------------------------------------------------


def latent_path(
    t_a: ArrayLike,
    t_b: ArrayLike,
    n_steps: int,
    method: Literal["linear", "slerp"] = "linear",
) -> np.ndarray:
    """``(n_steps, D)`` from ``t_a`` to ``t_b`` (both ends included).

    ``"slerp"``: the direction moves along the great circle between t_a/|t_a| and t_b/|t_b|
    at constant angular speed while the norm goes linearly from |t_a| to |t_b|; it falls back
    to linear when the two are nearly parallel or antiparallel (or one is ~0).
    """
    a, b = _vec(t_a), _vec(t_b)
    if a.shape != b.shape:
        raise ValueError("t_a and t_b must have the same shape")
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    alpha = torch.linspace(0.0, 1.0, int(n_steps), dtype=torch.float64)[:, None]
    linear = (1 - alpha) * a + alpha * b
    if method == "linear":
        return linear.numpy()
    na, nb = a.norm(), b.norm()
    if min(float(na), float(nb)) < 1e-12:
        return linear.numpy()
    ua, ub = a / na, b / nb
    omega = torch.arccos(torch.clamp(ua @ ub, -1.0, 1.0))
    if float(torch.sin(omega)) < 1e-6:
        return linear.numpy()
    direction = (torch.sin((1 - alpha) * omega) * ua + torch.sin(alpha * omega) * ub) / torch.sin(
        omega
    )
    path = ((1 - alpha) * na + alpha * nb) * direction
    path[0], path[-1] = a, b  # exact endpoints
    return path.numpy()


@dataclass(frozen=True, eq=False)
class Interpolation:
    """``alphas (n_steps,)``, latent path ``t (n_steps, D)`` between the two encoder means
    and its decoded ``images (n_steps, H, W[, C])``."""

    alphas: np.ndarray
    t: np.ndarray
    images: np.ndarray
    method: str


def interpolate(
    model: VAE,
    x_a: ArrayLike,
    x_b: ArrayLike,
    n_steps: int = 10,
    method: Literal["linear", "slerp"] = "linear",
) -> Interpolation:
    """Encode both images (q's means), walk between them (``latent_path``) and decode."""
    mu_a, _ = _posterior_params(model, x_a)
    mu_b, _ = _posterior_params(model, x_b)
    path = latent_path(mu_a.double(), mu_b.double(), n_steps, method)
    with torch.no_grad():
        images = _to_images(_decode(model, torch.as_tensor(path).to(mu_a.device, mu_a.dtype)))
    return Interpolation(
        alphas=np.linspace(0.0, 1.0, int(n_steps)),
        t=path,
        images=images,
        method=method,
    )


# --------------------------------------------------------------------------------------
# Helpers for the lecture pages: an eps walk decoded, the AE / noisy AE / VAE twins, and a
# PCA that can project new points (a latent path) the same way as the test means
# --------------------------------------------------------------------------------------


def noise_walk(
    model: VAE, x: ArrayLike, n_frames: int, seed: int = 0, zero_std: bool = False
) -> NoiseSamples:
    """``noise_samples`` along a smooth ``eps_walk`` instead of independent draws: frame k
    is t_k = m + s * eps_k, each eps_k exactly N(0, I), consecutive ones close (an animation
    of the reparameterization trick). ``zero_std`` as in ``noise_samples``."""
    mu, std = _sampling_params(model, x, zero_std)
    eps = torch.as_tensor(eps_walk(mu.shape[0], n_frames, seed)).to(mu.device, mu.dtype)
    return _reparameterized(model, mu, std, eps)


TWIN_VARIANTS: tuple[str, ...] = ("ae", "noisy_ae", "vae")
"""The lecture's "a VAE is an autoencoder plus noise plus a KL term", one switch at a time."""


def train_twins(
    dataset,
    latent_dim: int = 2,
    hidden: tuple[int, ...] = (256, 128),
    epochs: int = 20,
    beta: float = 1.0,
    seed: int = 0,
    on_done: Callable[[str], None] | None = None,
) -> dict[str, VAE]:
    """Train a plain AE, a noisy AE and a VAE that differ only in ``variant`` (same data,
    architecture, optimiser, seed, hence the same initial weights) on a ``vae.data.registry.Dataset``.

    ``beta`` weighs the VAE's KL term (the two autoencoders have none). Models come back in
    eval mode with frozen parameters, ready to be shared read-only. ``on_done(variant)`` is
    called after each one (for a progress bar).
    """
    from vae.core.fit import TrainConfig, fit
    from vae.core.model import VAEConfig

    models: dict[str, VAE] = {}
    for variant in TWIN_VARIANTS:
        cfg = VAEConfig(
            image_shape=tuple(dataset.image_shape),
            latent_dim=int(latent_dim),
            hidden=tuple(hidden),
            likelihood=dataset.likelihood,
            variant=variant,
        )
        train = TrainConfig(
            epochs=int(epochs), batch_size=64, lr=2e-3, beta=float(beta), seed=int(seed)
        )
        model, _ = fit(cfg, train, dataset, device="cpu")
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        models[variant] = model
        if on_done is not None:
            on_done(variant)
    return models


@dataclass(frozen=True, eq=False)
class TwinView:
    """One twin on a set of test images. ``mu (N, D)``: the encoder means; ``recon`` and
    ``kl``: test means of -E_q log p(x|t) (one seeded sample; t = m for the plain AE) and of
    KL(q(t|x) || N(0, I)), nats; ``prior_t (n, D)``: codes drawn from N(0, I) and
    ``prior_images (n, H, W[, C])`` their decodings (``prior_draws``);
    ``recon_images (k, H, W[, C])``: decode(m) of the images at ``recon_index``."""

    variant: str
    mu: np.ndarray
    recon: float
    kl: float
    prior_t: np.ndarray
    prior_images: np.ndarray
    recon_images: np.ndarray


def twin_view(
    model: VAE,
    images: ArrayLike,
    recon_index: Sequence[int] = (),
    n_prior: int = 16,
    seed: int = 0,
) -> TwinView:
    """Encode ``images (N, C, H, W)`` (uint8 or float in [0, 1]), score them, decode
    ``n_prior`` prior samples (``prior_samples``, same seed for every twin, so the three
    decoders see the same codes) and reconstruct the images at ``recon_index``."""
    p = _param(model)
    x = torch.as_tensor(np.asarray(images))
    x = (x.float() / 255.0 if x.dtype == torch.uint8 else x.float()).to(p.device, p.dtype)
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(model.config.image_shape):
        raise ValueError(f"expected images (N, {model.config.image_shape}), got {tuple(x.shape)}")
    gen = _generator(seed, p.device)
    mus, recon, kl = [], 0.0, 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], 1000):
            xb = x[i : i + 1000]
            mu, logvar = model.encode(xb)
            std = torch.zeros_like(mu) if model.config.variant == "ae" else torch.exp(0.5 * logvar)
            t = mu + std * _randn(tuple(mu.shape), gen, mu)
            nll = reconstruction_nll(model.decode(t), xb, model.config.likelihood, model.dec_logvar)
            recon += float(nll.sum())
            kl += float(kl_standard_normal(mu, logvar).sum())
            mus.append(mu)
        mu_all = torch.cat(mus)
        idx = torch.as_tensor([int(i) for i in recon_index], dtype=torch.long)
        recon_images = _to_images(model.decode(mu_all[idx])) if len(idx) else np.zeros((0,))
    n = max(1, x.shape[0])
    prior = prior_draws(model, n_prior, seed=seed)
    return TwinView(
        variant=model.config.variant,
        mu=mu_all.float().cpu().numpy(),
        recon=recon / n,
        kl=kl / n,
        prior_t=prior.t,
        prior_images=prior.images,
        recon_images=recon_images,
    )


@dataclass(frozen=True, eq=False)
class Projection2D:
    """A fitted linear map to 2-D: ``apply(points (N, D)) = (points - mean) @ components.T``.
    For D <= 2 it is the identity on the first two coordinates (padded with 0 for D = 1).
    ``explained (2,)``: fraction of the variance along each axis."""

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray

    def apply(self, points: ArrayLike) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return (p - self.mean) @ self.components.T


def pca_projection(points: ArrayLike) -> Projection2D:
    """PCA of ``points (N, D)`` to 2-D, kept so that other points (a latent path) can be
    projected onto the same axes as the data. Signs are fixed (largest loading positive) so
    the picture does not flip between runs."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"expected at least two points (N, D), got {x.shape}")
    d = x.shape[1]
    if d <= 2:
        comps = np.eye(2, d)
        var = x.var(0) if x.shape[0] > 1 else np.zeros(d)
        total = float(var.sum()) or 1.0
        expl = np.array([var[i] / total if i < d else 0.0 for i in range(2)])
        return Projection2D(mean=np.zeros(d), components=comps, explained=expl)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    total = float(var.sum()) or 1.0
    return Projection2D(mean=mean, components=comps, explained=var[:2] / total)
