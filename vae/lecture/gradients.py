"""Gradient estimators page: grad_phi E_q log p(x|t) by the reparameterization trick

    grad_phi E_q log p(x|t, w) = E_p(eps) grad_phi log p(x | g(eps, x, phi), w)

against the score-function (REINFORCE) estimator E_q [log p(x|t) grad_phi log q(t|x, phi)].

phi = (m, log s^2): gradients are w.r.t. ``mu`` and ``logvar`` of q for one image, as leaf
tensors, concatenated as ``[d/dmu (D), d/dlogvar (D)]`` -> ``(2D,)``. The shared model is
never mutated: no ``.grad`` written on its parameters, no mode change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vae.core.model import VAE
from vae.lecture.common import (
    CHUNK,
    ArrayLike,
    LogLik,
    generator,
    log_lik_chunked,
    model_log_lik,
    posterior_params,
    randn,
    vec,
)


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
        for i in range(0, eps.shape[0], CHUNK):
            e = eps[i : i + CHUNK]
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
        f = log_lik_chunked(log_lik, t)
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
        return v.detach().reshape(-1) if isinstance(v, torch.Tensor) else vec(v)

    return one(mu), one(logvar)


def reparam_gradients(
    log_lik: LogLik, mu: ArrayLike, logvar: ArrayLike, n: int, seed: int = 0
) -> np.ndarray:
    """Reparameterization estimates of grad_phi E_q log_lik(t), one per sample: ``(n, 2D)``.

    Row i = grad_{mu, logvar} log_lik(eps_i * exp(logvar/2) + mu), eps_i ~ N(0, I).
    Generic over ``log_lik(t (n, D)) -> (n,)`` (the model or ``GaussianToy.log_lik``).
    """
    m, lv = _prep_phi(mu, logvar)
    eps = randn((int(n), m.shape[0]), generator(seed, m.device), m)
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
    eps = randn((int(n), m.shape[0]), generator(seed, m.device), m)
    f, score = _score_terms(log_lik, m, lv, eps)
    return _loo_estimates(f, score, baseline).cpu().numpy()


def reparam_gradient_samples(model: VAE, x: ArrayLike, n: int, seed: int = 0) -> np.ndarray:
    """Reparameterization gradient estimates of grad_{mu, logvar} E_q log p(x|t) for one
    image: ``(n, 2D)`` (``[:, :D]`` w.r.t. mu, ``[:, D:]`` w.r.t. logvar)."""
    mu, logvar = posterior_params(model, x)
    eps = randn((int(n), mu.shape[0]), generator(seed, mu.device), mu)
    return _reparam_grads(model_log_lik(model, x), mu, logvar, eps)[0].cpu().numpy()


def score_function_gradient_samples(
    model: VAE, x: ArrayLike, n: int, seed: int = 0, baseline: bool = False
) -> np.ndarray:
    """Score-function estimates of the same gradient for one image: ``(n, 2D)``.

    ``baseline``: leave-one-out mean of log p(x|t) as a control variate (see
    ``score_function_gradients``).
    """
    mu, logvar = posterior_params(model, x)
    eps = randn((int(n), mu.shape[0]), generator(seed, mu.device), mu)
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
    gen = generator(seed, m.device)
    idx = torch.as_tensor(sizes - 1)
    ns = torch.as_tensor(sizes, dtype=torch.float64)[None, :, None]
    r_chunk = max(1, CHUNK // n_max)
    rep_est, sf_est = [], []
    for r0 in range(0, repeats, r_chunk):
        r = min(r_chunk, repeats - r0)
        eps = randn((r * n_max, d), gen, m)
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
    mu, logvar = posterior_params(model, x)
    return variance_curve(
        model_log_lik(model, x), mu, logvar, sample_sizes, repeats, seed, baseline
    )
