"""Interpolation page: a straight line or a great circle (slerp) between two images' codes,
decoded. Images out are ``(n, C, H, W)`` in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from vae.app.inference import decode
from vae.core.model import VAE
from vae.lecture.common import ArrayLike, posterior_params, vec


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
    a, b = vec(t_a), vec(t_b)
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
    and its decoded ``images (n_steps, C, H, W)``."""

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
    mu_a, _ = posterior_params(model, x_a)
    mu_b, _ = posterior_params(model, x_b)
    path = latent_path(mu_a.double(), mu_b.double(), n_steps, method)
    images = decode(model, torch.as_tensor(path))
    return Interpolation(
        alphas=np.linspace(0.0, 1.0, int(n_steps)),
        t=path,
        images=images,
        method=method,
    )
