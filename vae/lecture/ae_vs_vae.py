"""Autoencoder vs VAE page: three twins that differ in one switch each (a plain autoencoder,
the same with noise, a VAE = noise + KL), and numbers on what only the VAE can do: generate.

Each twin's prior samples, a grid over its own code range and walks between codes are scored
by a small digit classifier (``vae.app.classifier``): how many look like a digit, and whether
the mix of digits matches the data's. Images are ``(n, C, H, W)`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vae.app.classifier import DigitClassifier
from vae.app.inference import decode, encode, prior_draws
from vae.core.losses import kl_standard_normal, reconstruction_nll
from vae.core.model import VAE
from vae.lecture.common import ArrayLike, generator, param, randn
from vae.lecture.interpolation import latent_path

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
    ``prior_images (n, C, H, W)`` their decodings (``vae.app.inference.prior_draws``);
    ``recon_images (k, C, H, W)``: decode(m) of the images at ``recon_index``."""

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
    ``n_prior`` prior samples (``prior_draws``, same seed for every twin, so the three
    decoders see the same codes) and reconstruct the images at ``recon_index``."""
    p = param(model)
    x = torch.as_tensor(np.asarray(images))
    x = (x.float() / 255.0 if x.dtype == torch.uint8 else x.float()).to(p.device, p.dtype)
    if x.dim() != 4 or tuple(x.shape[1:]) != tuple(model.config.image_shape):
        raise ValueError(f"expected images (N, {model.config.image_shape}), got {tuple(x.shape)}")
    gen = generator(seed, p.device)
    mus, recon, kl = [], 0.0, 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], 1000):
            xb = x[i : i + 1000]
            mu, logvar = model.encode(xb)
            std = torch.zeros_like(mu) if model.config.variant == "ae" else torch.exp(0.5 * logvar)
            t = mu + std * randn(tuple(mu.shape), gen, mu)
            nll = reconstruction_nll(model.decode(t), xb, model.config.likelihood, model.dec_logvar)
            recon += float(nll.sum())
            kl += float(kl_standard_normal(mu, logvar).sum())
            mus.append(mu)
        mu_all = torch.cat(mus)
        idx = torch.as_tensor([int(i) for i in recon_index], dtype=torch.long)
    recon_images = decode(model, mu_all[idx])
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


# ----------------------------------------------------------------------- scoring generation

CONFIDENT = 0.8  # kNN vote share above which a sample "looks like a digit"
PRIOR_95 = {1: 3.841, 2: 5.991}  # chi-square 95% quantiles: |t|^2 below it = inside N(0, I)'s 95%


@dataclass(frozen=True, eq=False)
class SampleScore:
    """A set of generated images through the classifier. ``labels, confidence (n,)``;
    ``digit_like``: share with confidence >= ``CONFIDENT``; ``class_share (K,)``: share of
    the images the classifier puts in each class; ``class_gap``: total variation distance
    between ``class_share`` and the data's class mix (0: the same mix, 1: disjoint)."""

    labels: np.ndarray
    confidence: np.ndarray
    digit_like: float
    class_share: np.ndarray
    class_gap: float


def score_samples(classifier: DigitClassifier, images: np.ndarray, data_share: np.ndarray) -> SampleScore:
    """Classify ``images (n, C, H, W)`` and compare their class mix with ``data_share (K,)``."""
    labels, conf = classifier.classify(images)
    k = len(data_share)
    share = np.bincount(labels, minlength=k)[:k] / max(len(labels), 1)
    return SampleScore(
        labels=labels,
        confidence=conf,
        digit_like=float(np.mean(conf >= CONFIDENT)) if len(conf) else 0.0,
        class_share=share,
        class_gap=float(0.5 * np.abs(share - np.asarray(data_share, dtype=float)).sum()),
    )


@dataclass(frozen=True, eq=False)
class CodeGrid:
    """``images (n*n, C, H, W)``: decodings of an ``n x n`` grid spanning the model's own
    codes, row-major with row 0 at the top (largest t2); ``t1, t2 (n,)`` the grid's axes
    (``t2`` from top to bottom)."""

    images: np.ndarray
    t1: np.ndarray
    t2: np.ndarray


def code_range_grid(model: VAE, mu: np.ndarray, n: int = 10, tail: float = 0.01) -> CodeGrid:
    """Decode a grid over the box holding the codes ``mu (N, 2)`` (their ``tail`` and
    ``1 - tail`` quantiles per axis): where this model's encoder actually puts images."""
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[1] != 2:
        raise ValueError(f"a code-range grid needs 2-D codes (N, 2), got {mu.shape}")
    lo, hi = np.quantile(mu, tail, axis=0), np.quantile(mu, 1 - tail, axis=0)
    t1, t2 = np.linspace(lo[0], hi[0], int(n)), np.linspace(hi[1], lo[1], int(n))
    z = np.stack(np.meshgrid(t1, t2), axis=-1).reshape(-1, 2)  # row-major, top row first
    return CodeGrid(images=decode(model, z), t1=t1, t2=t2)


def code_walk(model: VAE, t_a: ArrayLike, t_b: ArrayLike, n_steps: int) -> np.ndarray:
    """The straight line from code ``t_a`` to ``t_b`` decoded: ``(n_steps, C, H, W)``."""
    return decode(model, latent_path(t_a, t_b, n_steps))


def code_walks(model: VAE, mu: np.ndarray, labels: np.ndarray, n_pairs: int, n_steps: int, seed: int = 0) -> np.ndarray:
    """Straight walks between the codes of ``n_pairs`` random pairs of test images of
    different classes: decoded ``(n_pairs, n_steps, C, H, W)`` (ends included)."""
    if len(set(np.asarray(labels).tolist())) < 2:
        raise ValueError("walks between classes need test images of at least two classes")
    rng = np.random.default_rng(seed)
    walks = []
    while len(walks) < n_pairs:
        i, j = rng.choice(len(mu), size=2, replace=False)
        if labels[i] != labels[j]:
            walks.append(code_walk(model, mu[i], mu[j], n_steps))
    return np.stack(walks)


@dataclass(frozen=True, eq=False)
class TwinScores:
    """How well one twin generates, by the digit classifier. ``prior``: its decoded prior
    samples; ``grid``: the ``CodeGrid`` over its own code range; ``walk``: the inner steps
    of walks between test codes of different classes. ``inside_prior``: share of the test
    codes inside N(0, I)'s 95% region (where prior samples land)."""

    variant: str
    prior: SampleScore
    grid: SampleScore
    walk: SampleScore
    inside_prior: float


def twin_scores(
    model: VAE,
    classifier: DigitClassifier,
    images: np.ndarray,
    labels: np.ndarray,
    n_prior: int = 400,
    grid_n: int = 10,
    n_walks: int = 40,
    walk_steps: int = 7,
    seed: int = 0,
) -> TwinScores:
    """Score one twin (2-D latent) on test ``images (N, C, H, W)`` with ``labels (N,)``;
    the data's class mix is that of ``labels``."""
    k = len(classifier.label_names)
    data_share = np.bincount(np.asarray(labels), minlength=k)[:k] / len(labels)
    mu, _ = encode(model, images)
    prior = prior_draws(model, n_prior, seed=seed)
    grid = code_range_grid(model, mu, grid_n)
    walks = code_walks(model, mu, np.asarray(labels), n_walks, walk_steps, seed=seed)
    inner = walks[:, 1:-1].reshape(-1, *walks.shape[2:])  # the ends are reconstructions
    d = mu.shape[1]
    inside = float(np.mean((mu**2).sum(1) <= PRIOR_95.get(d, np.inf)))
    return TwinScores(
        variant=model.config.variant,
        prior=score_samples(classifier, prior.images, data_share),
        grid=score_samples(classifier, grid.images, data_share),
        walk=score_samples(classifier, inner, data_share),
        inside_prior=inside,
    )
