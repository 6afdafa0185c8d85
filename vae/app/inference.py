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
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        x = x.copy()  # a shared read-only array (the app's test split): torch warns on those
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
    """Latents ``(N, D)`` -> image means sigmoid(decode(z)) ``(N, C, H, W)`` float32 in [0, 1].

    ``z`` is cast to the model's dtype and device (a float64 model decodes in float64)."""
    p = next(model.parameters())
    zt = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z)
    zt = zt.detach().to(device=p.device, dtype=p.dtype).reshape(-1, model.latent_dim)
    out = [
        torch.sigmoid(model.decode(zt[i : i + batch])).float().cpu()
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


@dataclass(frozen=True, eq=False)
class PriorDraws:
    """``t (n, D)`` = temperature * eps with eps ~ N(0, I), and ``images (n, C, H, W)`` =
    sigmoid(decode(t)): new images from the model, with the code each came from."""

    t: np.ndarray
    images: np.ndarray


def prior_draws(model: VAE, n: int, *, temperature: float = 1.0, seed: int = 0) -> PriorDraws:
    """Sample ``n`` codes from N(0, temperature^2 I) (a local generator seeded by ``seed``)
    and decode them. ``temperature`` 0 gives decode(0) ``n`` times."""
    p = next(model.parameters())
    gen = torch.Generator(device=p.device).manual_seed(int(seed))
    eps = torch.randn((int(n), model.latent_dim), generator=gen, device=p.device, dtype=p.dtype)
    t = float(temperature) * eps
    return PriorDraws(t=t.cpu().numpy(), images=decode(model, t))


def kl_per_dim(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Average KL(q || N(0, 1)) per latent dimension over a dataset: ``(N, D) -> (D,)``.

    Dimensions with near-zero average KL are inactive (the decoder ignores them).
    """
    return 0.5 * np.mean(mu**2 + np.exp(logvar) - 1.0 - logvar, axis=0)


@dataclass(frozen=True, eq=False)
class Projection2D:
    """A fitted linear map to 2-D: ``apply(points (N, D)) = (points - mean) @ components.T``.
    For D <= 2 it is the identity on the first two coordinates (padded with 0 for D = 1).
    ``explained (2,)``: fraction of the variance along each axis."""

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        return (p - self.mean) @ self.components.T


def pca_projection(points: np.ndarray) -> Projection2D:
    """PCA of ``points (N, D)`` to 2-D, kept so that other points (an upload, a latent path)
    land on the same axes as the data. Each axis's sign is fixed so that its largest loading
    is positive (scikit-learn's rule), so the picture does not flip between runs."""
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"expected at least two points (N, D), got {x.shape}")
    d = x.shape[1]
    if d <= 2:
        var = x.var(0)
        total = float(var.sum()) or 1.0
        expl = np.array([var[i] / total if i < d else 0.0 for i in range(2)])
        return Projection2D(mean=np.zeros(d), components=np.eye(2, d), explained=expl)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    total = float(var.sum()) or 1.0
    return Projection2D(mean=mean, components=comps, explained=var[:2] / total)


def manifold(
    model: VAE,
    n: int = 15,
    dims: tuple[int, int] = (0, 1),
    base: np.ndarray | None = None,
    quantiles: tuple[float, float] = (0.05, 0.95),
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded images over an ``n x n`` grid at the prior's quantiles (Kingma & Welling Fig. 4).

    The grid points are ``coords = Phi^-1(linspace(q_lo, q_hi, n))`` along ``dims``; the other
    dims at ``base`` (default 0). Returns ``(images (n, n, C, H, W), coords (n,))``: tile
    (row i, col j) has t[dims[0]] = coords[j] and t[dims[1]] = coords[n-1-i] (row 0 is the
    top, the largest value of ``dims[1]``, like a plot).
    """
    d = model.latent_dim
    i0, i1 = (int(v) for v in dims)
    if d < 2 or i0 == i1 or not (0 <= i0 < d and 0 <= i1 < d):
        raise ValueError(f"dims must be two distinct latent dims of {d}, got {dims}")
    if not 0 < quantiles[0] < quantiles[1] < 1:
        raise ValueError("quantiles must satisfy 0 < lo < hi < 1")
    n = int(n)
    q = torch.special.ndtri(torch.linspace(quantiles[0], quantiles[1], n, dtype=torch.float64))
    b = np.zeros(d) if base is None else np.asarray(base, dtype=np.float64).reshape(-1)
    if b.shape[0] != d:
        raise ValueError(f"base must have {d} entries")
    z = torch.as_tensor(b).repeat(n, n, 1)  # (n, n, D)
    gy, gx = torch.meshgrid(q.flip(0), q, indexing="ij")
    z[..., i0] = gx
    z[..., i1] = gy
    images = decode(model, z.reshape(-1, d))
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


@torch.inference_mode()
def elbo_per_image(
    model: VAE, x: np.ndarray | torch.Tensor, n_samples: int = 8, seed: int = 0, batch: int = 500,
    eps: torch.Tensor | None = None,
) -> np.ndarray:
    """ELBO of each image of ``x (N, C, H, W)``, nats: ``(N,)``. The reconstruction term is
    averaged over ``n_samples`` draws t ~ q(t|x) (or the given ``eps (n_samples, N, D)``), the
    KL is exact; the same estimator as ``reconstruct``'s, so an upload can be placed among
    the test images."""
    from vae.core.losses import reconstruction_nll

    xt = _tensor(x)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, xt.shape[0], batch):
        xb = xt[i : i + batch].to(_device(model))
        mu, logvar = model.encode(xb)
        e = eps[:, i : i + batch] if eps is not None else torch.randn((n_samples, *mu.shape), generator=gen)
        e = e.to(mu.device, mu.dtype)
        t = mu + torch.exp(0.5 * logvar) * e  # (S, B, D)
        logits = model.decode(t.reshape(-1, mu.shape[1]))
        xs = xb.expand(e.shape[0], *xb.shape).reshape(-1, *xb.shape[1:])
        nll = reconstruction_nll(logits.float(), xs.float(), model.config.likelihood, model.dec_logvar)
        out.append(-(nll.reshape(e.shape[0], -1).mean(0) + kl_standard_normal(mu, logvar)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)
