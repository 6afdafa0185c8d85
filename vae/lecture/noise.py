"""Noise page: the reparameterization trick t = m + s * eps for one image.

q(t|x, phi) = N(m, diag(s^2)); a draw is rewritten as t = g(eps, x, phi) = eps * s + m with
eps ~ N(0, I), so every random choice is in eps. Images out are ``(n, C, H, W)`` in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vae.app.inference import decode
from vae.core.model import VAE
from vae.lecture.common import ArrayLike, generator, posterior_params, randn


@dataclass(frozen=True, eq=False)
class NoiseSamples:
    """t = mu + std * eps for one image. ``mu, std (D,)``; ``eps, scaled_eps, t (n, D)``;
    ``images (n, C, H, W)`` = sigmoid(decode(t)); ``mean_image (C, H, W)`` = sigmoid(decode(mu))."""

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
    mu, logvar = posterior_params(model, x)
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
    images = decode(model, t)
    mean_image = decode(model, mu[None])[0]
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
    eps = randn((int(n), mu.shape[0]), generator(seed, mu.device), mu)
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
