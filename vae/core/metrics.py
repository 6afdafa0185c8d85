"""Quality figures stored in checkpoints and printed by ``vae.evaluate`` / ``bench/quality.py``."""

from __future__ import annotations

import torch

from vae.core.fit import evaluate, prepare_images
from vae.core.losses import iwae_log_likelihood
from vae.core.model import VAE
from vae.data.registry import Dataset


@torch.no_grad()
def active_units(model: VAE, x: torch.Tensor, threshold: float = 0.01, batch: int = 1000) -> int:
    """Latent dims whose posterior mean varies across data: Cov_x(E_q[t]) > threshold
    (Burda et al.'s definition). Fewer than two images carry no variance: 0 active."""
    if x.shape[0] < 2:
        return 0
    mus = torch.cat([model.encode(x[i : i + batch])[0] for i in range(0, x.shape[0], batch)])
    return int((mus.var(dim=0) > threshold).sum().item())


@torch.no_grad()
def iw_log_px(
    model: VAE, x: torch.Tensor, k: int, batch: int = 50, seed: int = 0
) -> float:
    """Mean importance-sampled log p(x) over ``x`` with ``k`` samples per image."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    vals = [
        iwae_log_likelihood(model, x[i : i + batch], k=k, chunk=min(k, 500), generator=gen)
        for i in range(0, x.shape[0], batch)
    ]
    return torch.cat(vals).mean().item()


def summarize(
    model: VAE,
    dataset: Dataset,
    binarized: bool,
    iw_k: int = 100,
    iw_n: int | None = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Test ELBO / recon / KL on the whole test split, IS log p(x) on its first ``iw_n``
    images, and active units. Binarized models are scored on a fixed binarization."""
    model.eval()
    device = next(model.parameters()).device
    _, test = prepare_images(dataset, device, binarized, seed)
    ev = evaluate(model, test)
    sub = test if iw_n is None else test[:iw_n]
    return {
        "test_elbo": round(ev["elbo"], 3),
        "test_recon": round(ev["recon"], 3),
        "test_kl": round(ev["kl"], 3),
        "log_px": round(iw_log_px(model, sub, iw_k, seed=seed), 3),
        "log_px_k": int(iw_k),
        "log_px_n": int(sub.shape[0]),
        "active_units": active_units(model, test),
        "binarized_test": bool(binarized),
    }
