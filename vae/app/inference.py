"""Inference helpers for the UI: numpy in, numpy out, no gradients, models never mutated.

Images are float32 arrays ``(N, C, H, W)`` in [0, 1] (``(C, H, W)`` for one image); latents
are ``(N, D)``. The model passed in is shared by every user of the app: nothing here changes
its mode, its parameters or any global random state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae.core.losses import kl_standard_normal
from vae.core.model import VAE


def _tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    return t.float()


def _device(model: VAE) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def encode(model: VAE, x: np.ndarray | torch.Tensor, batch: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """``x (N, C, H, W)`` uint8 or float -> ``(mu, logvar)`` each ``(N, D)`` float32."""
    xt = _tensor(x)
    mus, logvars = [], []
    for i in range(0, xt.shape[0], batch):
        mu, logvar = model.encode(xt[i : i + batch].to(_device(model)))
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    return torch.cat(mus).numpy(), torch.cat(logvars).numpy()


@torch.inference_mode()
def decode(model: VAE, z: np.ndarray | torch.Tensor, batch: int = 1000) -> np.ndarray:
    """Latents ``(N, D)`` -> image means ``(N, C, H, W)`` in [0, 1]."""
    zt = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(-1, model.latent_dim)
    out = [
        torch.sigmoid(model.decode(zt[i : i + batch].to(_device(model)))).float().cpu()
        for i in range(0, zt.shape[0], batch)
    ]
    return torch.cat(out).numpy() if out else np.zeros((0, *model.config.image_shape), np.float32)


@dataclass(frozen=True)
class Reconstruction:
    """One image through the model: q(t|x) = N(mu, diag(std^2)), its mean decoded, samples."""

    mu: np.ndarray  # (D,)
    std: np.ndarray  # (D,)
    recon: np.ndarray  # (C, H, W): decode(mu)
    samples: np.ndarray  # (n, C, H, W): decode(mu + std * eps)
    elbo: float  # one-sample-averaged ELBO estimate, nats
    kl: float  # KL(q(t|x) || N(0, I)), nats


@torch.inference_mode()
def reconstruct(model: VAE, x: np.ndarray, n_samples: int = 8, seed: int = 0) -> Reconstruction:
    """Encode one image ``x (C, H, W)``, decode its mean and ``n_samples`` draws from q(t|x)."""
    from vae.core.losses import reconstruction_nll

    xt = _tensor(x).reshape(1, *model.config.image_shape).to(_device(model))
    mu, logvar = model.encode(xt)
    std = torch.exp(0.5 * logvar)
    gen = torch.Generator(device=xt.device).manual_seed(seed)
    eps = torch.randn((max(n_samples, 1), mu.shape[1]), generator=gen, device=xt.device)
    t = mu + std * eps
    logits = model.decode(t)
    recon_mean = torch.sigmoid(model.decode(mu))[0]
    nll = reconstruction_nll(
        logits.float(), xt.expand(t.shape[0], *xt.shape[1:]).float(), model.config.likelihood, model.dec_logvar
    )
    kl = kl_standard_normal(mu, logvar)[0]
    return Reconstruction(
        mu=mu[0].cpu().numpy(),
        std=std[0].cpu().numpy(),
        recon=recon_mean.cpu().numpy(),
        samples=torch.sigmoid(logits[:n_samples]).cpu().numpy(),
        elbo=float(-(nll.mean() + kl)),
        kl=float(kl),
    )


@torch.inference_mode()
def prior_samples(model: VAE, n: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """``n`` images decoded from t ~ N(0, temperature^2 I): ``(n, C, H, W)``."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn((n, model.latent_dim), generator=gen) * temperature
    return decode(model, z)


def kl_per_dim(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Average KL(q || N(0, 1)) per latent dimension over a dataset: ``(N, D) -> (D,)``.

    Dimensions with near-zero average KL are inactive (the decoder ignores them).
    """
    return 0.5 * np.mean(mu**2 + np.exp(logvar) - 1.0 - logvar, axis=0)


def project_2d(
    mu: np.ndarray, method: str = "pca", seed: int = 0, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """Project latent means ``(N, D)`` to 2-D for plotting.

    Returns ``(xy, index)``: ``xy (M, 2)`` and the row of ``mu`` each point came from
    (t-SNE runs on a random sample of ``max_points``; PCA and D = 2 keep every point).
    """
    n, d = mu.shape
    if d == 1:
        return np.stack([mu[:, 0], np.zeros(n, mu.dtype)], axis=1), np.arange(n)
    if d == 2 or method == "none":
        return mu[:, :2].copy(), np.arange(n)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(mu).astype(np.float32), np.arange(n)
    if method == "tsne":
        from sklearn.manifold import TSNE

        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(n, size=min(n, max_points), replace=False))
        perplexity = float(min(30, max(5, (len(idx) - 1) // 4)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(mu[idx])
        return xy.astype(np.float32), idx
    raise ValueError(f"unknown projection {method!r}")


@torch.inference_mode()
def manifold(model: VAE, n: int = 15, dims: tuple[int, int] = (0, 1), base: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decoded images over an ``n x n`` grid at the prior's quantiles (Kingma & Welling Fig. 4).

    The grid points are Phi^-1(linspace(0.05, 0.95, n)) along ``dims``; other dims at ``base``
    (default 0). Returns ``(images (n, n, C, H, W), coords (n,))``; row 0 is the top, i.e.
    the largest value of ``dims[1]``.
    """
    q = torch.special.ndtri(torch.linspace(0.05, 0.95, n))
    z = torch.zeros((n, n, model.latent_dim)) if base is None else torch.as_tensor(base, dtype=torch.float32).expand(n, n, model.latent_dim).clone()
    gy, gx = torch.meshgrid(q.flip(0), q, indexing="ij")
    z[..., dims[0]] = gx
    z[..., dims[1]] = gy
    images = decode(model, z.reshape(-1, model.latent_dim))
    return images.reshape(n, n, *images.shape[1:]), q.numpy()


def limit_threads(max_threads: int = 2) -> int:
    """Cap torch's intra-op threads for a server: on a small machine, torch's thread pool
    competes with the web server and browser for the same cores (measured: a 20x20 grid
    decode went from 60-110 ms to about 21 ms with one thread on 2 cores). Returns the count."""
    import os

    n = max(1, min(max_threads, (os.cpu_count() or 2) // 2))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _first_two(a: np.ndarray) -> np.ndarray:
    """The first two columns (a 1-D latent gets a zero second coordinate)."""
    return a[:, :2].copy() if a.shape[1] >= 2 else np.concatenate([a, np.zeros_like(a)], axis=1)


def project_2d_with(
    mu: np.ndarray, points: np.ndarray, method: str = "pca", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Project ``mu (N, D)`` to 2-D as ``project_2d`` does, and ``points (M, D)`` into the same
    plane (e.g. an uploaded image's mean on the test set's map). PCA or ``"none"`` only:
    t-SNE has no way to place new points."""
    mu, points = np.asarray(mu, np.float32), np.asarray(points, np.float32).reshape(-1, mu.shape[1])
    if mu.shape[1] <= 2 or method == "none":
        return _first_two(mu), _first_two(points)
    if method != "pca":
        raise ValueError(f"cannot place new points with {method!r}; use 'pca'")
    from sklearn.decomposition import PCA

    # The same estimator and seed as project_2d, so both pages draw the same picture.
    pca = PCA(n_components=2, random_state=seed).fit(mu)
    return pca.transform(mu).astype(np.float32), pca.transform(points).astype(np.float32)
