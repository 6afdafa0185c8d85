"""The objective, in one convention: nats per image.

Every per-image quantity is summed over pixels and latent dimensions; batch figures are the
mean over the batch. The ELBO is  E_q log p(x|t) - KL(q(t|x) || p(t)),  the loss is
recon + beta * KL = -ELBO when beta = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vae.core.model import VAE

LOG_2PI = math.log(2 * math.pi)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per image: ``(B, D) -> (B,)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reconstruction_nll(
    logits: torch.Tensor,
    x: torch.Tensor,
    likelihood: str = "bernoulli",
    dec_logvar: torch.Tensor | None = None,
) -> torch.Tensor:
    """-log p(x|t) per image: ``(B, C, H, W) -> (B,)``.

    Bernoulli: summed binary cross-entropy with logits (x may be grey, the usual convention).
    Gaussian: mean sigmoid(logits), per-pixel variance exp(dec_logvar).
    """
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif likelihood == "gaussian":
        if dec_logvar is None:
            raise ValueError("the Gaussian likelihood needs dec_logvar")
        mean = torch.sigmoid(logits)
        nll = 0.5 * (LOG_2PI + dec_logvar + (x - mean).pow(2) * torch.exp(-dec_logvar))
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    return nll.flatten(1).sum(dim=1)


def log_normal(t: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(t; mu, diag(exp(logvar))) summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (t - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


@dataclass(frozen=True)
class ElboTerms:
    """Batch means, in nats per image. ``loss`` is what the optimiser minimises."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        return -(self.recon + self.kl)


def elbo_terms(
    model: VAE,
    x: torch.Tensor,
    beta: float = 1.0,
    eps: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> ElboTerms:
    """One-sample ELBO of ``x (B, C, H, W)``.

    The KL is always reported; it enters the loss only for ``variant="vae"`` (weighted by
    ``beta``), as the plain and noisy autoencoders have no prior to match.
    """
    mu, logvar = model.encode(x)
    if eps is None and generator is not None:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    t = model.reparameterize(mu, logvar, eps)
    logits = model.decode(t)
    recon = reconstruction_nll(logits.float(), x.float(), model.config.likelihood, model.dec_logvar)
    kl = kl_standard_normal(mu.float(), logvar.float())
    weight = beta if model.config.variant == "vae" else 0.0
    return ElboTerms(loss=(recon + weight * kl).mean(), recon=recon.mean(), kl=kl.mean())


@torch.no_grad()
def iwae_log_likelihood(
    model: VAE,
    x: torch.Tensor,
    k: int = 1000,
    chunk: int = 250,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) per image (the IWAE bound), ``(B,)`` nats.

    log p(x) >= log (1/k) sum_i p(x|t_i) p(t_i) / q(t_i|x),  t_i ~ q(t|x); it grows with k
    and equals the ELBO in expectation at k = 1. Samples are drawn ``chunk`` at a time per
    image and combined with a running logsumexp, so memory stays at ``B * chunk`` decodes.
    """
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    b, d = mu.shape
    total = torch.full((b,), -math.inf, device=x.device)
    done = 0
    while done < k:
        n = min(chunk, k - done)
        eps = torch.randn((n, b, d), generator=generator, device=x.device)
        t = mu + std * eps  # (n, B, D)
        logits = model.decode(t.reshape(n * b, d)).float()
        xr = x.unsqueeze(0).expand(n, *x.shape).reshape(n * b, *x.shape[1:]).float()
        log_px_t = -reconstruction_nll(logits, xr, model.config.likelihood, model.dec_logvar)
        log_px_t = log_px_t.reshape(n, b)
        log_pt = -0.5 * (LOG_2PI + t.pow(2)).sum(dim=-1)
        log_qt = log_normal(t, mu, logvar)
        total = torch.logaddexp(total, torch.logsumexp(log_px_t + log_pt - log_qt, dim=0))
        done += n
    return total - math.log(k)
