"""Plumbing shared by the lecture modules: one image in, the posterior's parameters, the
model's log-likelihood as a function of t, seeded noise. No lecture maths here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from vae.core.losses import LOG_2PI, reconstruction_nll
from vae.core.model import VAE

LogLik = Callable[[torch.Tensor], torch.Tensor]
"""``log_lik(t (n, D)) -> (n,)``; rows must be independent (row i depends on t[i] only)."""

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]

CHUNK = 4096  # decodes per forward pass


def param(model: VAE) -> torch.Tensor:
    """Any parameter of ``model``: its dtype and device are the model's."""
    return next(model.parameters())


def generator(seed: int, device: torch.device) -> torch.Generator:
    """A local generator: the global RNG is never touched."""
    return torch.Generator(device=device).manual_seed(int(seed))


def randn(shape: tuple[int, ...], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise with ``like``'s dtype and device."""
    return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)


def as_image_batch(model: VAE, x: ArrayLike) -> torch.Tensor:
    """One image as numpy/tensor ``(H, W)``, ``(C, H, W)``, ``(H, W, C)`` or ``(1, C, H, W)``
    -> tensor ``(1, C, H, W)`` with the model's dtype and device (uint8 is divided by 255)."""
    c, h, w = model.config.image_shape
    p = param(model)
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


def posterior_params(model: VAE, x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``mu, logvar`` of q(t|x) for one image, each ``(D,)``, detached."""
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


def log_lik_chunked(log_lik: LogLik, t: torch.Tensor) -> torch.Tensor:
    """``log_lik`` over many codes ``t (n, D)``, ``CHUNK`` rows per call: ``(n,)``."""
    return torch.cat([log_lik(t[i : i + CHUNK]) for i in range(0, t.shape[0], CHUNK)])


def log_prior(t: torch.Tensor) -> torch.Tensor:
    """log N(t; 0, I) summed over the last dim."""
    return -0.5 * (LOG_2PI + t.pow(2)).sum(dim=-1)


def vec(v: ArrayLike, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Anything vector-like as a flat detached tensor of ``dtype``."""
    if isinstance(v, torch.Tensor):
        return v.detach().to(dtype).reshape(-1)
    return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype).reshape(-1)
