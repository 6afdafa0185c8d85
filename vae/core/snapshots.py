"""Snapshots while training: how the latent space forms, epoch by epoch.

At log-spaced epochs (``snapshot_epochs``: 1, 2, 3, 5, 8, 13, ... plus the last) a
``SnapshotRecorder`` (a ``fit`` ``on_epoch_end`` callback) encodes the same fixed test images,
decodes the same prior codes and an ``n x n`` manifold grid, and keeps them compactly: posterior
means as float16, decoded images as uint8, with the epoch's test ELBO, reconstruction and KL.
``Snapshots.to_payload()`` is what a checkpoint stores (plain tensors, lists and numbers, so
``torch.load(weights_only=True)`` reads it); ``Snapshots.from_payload`` reads it back (after
``vae.core.checkpoint_checks.check_snapshots``).

The recorder has its own generators: turning snapshots on changes nothing in the training.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vae.core.model import VAE
from vae.data.registry import Dataset, to_float

MAX_SNAPSHOTS = 16
N_IMAGES = 2000
N_PRIOR = 16
GRID = 8
QUANTILES = (0.05, 0.95)  # the manifold grid spans the prior's 5%..95% quantiles
STAT_KEYS = ("test_elbo", "test_recon", "test_kl", "train_elbo", "train_kl")


def snapshot_epochs(total: int, max_count: int = MAX_SNAPSHOTS) -> list[int]:
    """Log-spaced epochs (Fibonacci: 1, 2, 3, 5, 8, 13, ...) below ``total``, plus ``total``;
    at most ``max_count`` (evenly thinned, keeping the first and the last)."""
    if total < 1:
        return []
    fib, a, b = [], 1, 2
    while a < total:
        fib.append(a)
        a, b = b, a + b
    epochs = fib + [total]
    if len(epochs) > max_count >= 2:
        keep = np.unique(np.round(np.linspace(0, len(epochs) - 1, max_count)).astype(int))
        epochs = [epochs[i] for i in keep]
    return epochs


def _grid_codes(latent_dim: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(codes (n*n, D), coords (n,))``: the prior's quantiles along dims 0 and 1 (others 0),
    row-major with row 0 at the top (largest t2), like ``vae.app.inference.manifold``."""
    coords = torch.special.ndtri(torch.linspace(*QUANTILES, n, dtype=torch.float64)).numpy()
    codes = np.zeros((n, n, latent_dim), np.float32)
    codes[..., 0] = coords[None, :]
    if latent_dim > 1:
        codes[..., 1] = coords[::-1, None]
    return codes.reshape(n * n, latent_dim), coords


@dataclass(frozen=True, eq=False)
class Snapshots:
    """S snapshots of one run. ``indices (N,)`` test images (of the dataset's test split) with
    ``labels (N,)``; ``mu (S, N, D)`` float16 posterior means; ``prior_t (P, D)`` the fixed
    prior codes and ``prior (S, P, C, H, W)`` uint8 their decodings; ``grid_coords (G,)`` and
    ``manifold (S, G, G, C, H, W)`` uint8 the decoded grid (dims 0 and 1, others 0);
    ``stats``: one dict per snapshot with ``epoch`` and ``STAT_KEYS`` in nats."""

    epochs: list[int]
    indices: np.ndarray
    labels: np.ndarray
    mu: np.ndarray
    prior_t: np.ndarray
    prior: np.ndarray
    grid_coords: np.ndarray
    manifold: np.ndarray
    stats: list[dict[str, float]]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_payload(self) -> dict[str, Any]:
        """What a checkpoint stores (weights_only-safe)."""
        return {
            "epochs": [int(e) for e in self.epochs],
            "indices": torch.as_tensor(self.indices, dtype=torch.int64).clone(),
            "labels": torch.as_tensor(self.labels, dtype=torch.int64).clone(),
            "mu": torch.as_tensor(self.mu, dtype=torch.float16).clone(),
            "prior_t": torch.as_tensor(self.prior_t, dtype=torch.float32).clone(),
            "prior": torch.as_tensor(self.prior, dtype=torch.uint8).clone(),
            "grid_coords": torch.as_tensor(self.grid_coords, dtype=torch.float32).clone(),
            "manifold": torch.as_tensor(self.manifold, dtype=torch.uint8).clone(),
            "stats": [{k: int(v) if k == "epoch" else float(v) for k, v in s.items()} for s in self.stats],
        }

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> Snapshots:
        """The inverse of ``to_payload`` (numpy arrays); ``d`` must be checked already."""
        return cls(
            epochs=[int(e) for e in d["epochs"]],
            **{k: d[k].numpy() for k in ("indices", "labels", "mu", "prior_t", "prior", "grid_coords", "manifold")},
            stats=[dict(s) for s in d["stats"]],
        )


def _bytes(images: torch.Tensor) -> np.ndarray:
    """Float images in [0, 1] -> uint8, rounded."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


class SnapshotRecorder:
    """``fit``'s ``on_epoch_end`` (or part of it): records a snapshot at each of ``epochs``.

    Thread-safe: ``result()`` may be read from another thread while training runs (the app's
    Train page shows the time-lapse growing)."""

    def __init__(
        self, dataset: Dataset, epochs: list[int], *, latent_dim: int, seed: int = 0,
        n_images: int = N_IMAGES, n_prior: int = N_PRIOR, grid: int = GRID,
    ) -> None:  # fmt: skip
        self.epochs = sorted(set(int(e) for e in epochs))
        n_test = len(dataset.test_x)
        gen = torch.Generator().manual_seed(seed)
        self.indices = torch.randperm(n_test, generator=gen)[: min(n_images, n_test)].sort().values
        self.labels = torch.as_tensor(dataset.test_y)[self.indices].long()
        self.images = to_float(dataset.test_x[self.indices])
        self.prior_t = torch.randn((n_prior, latent_dim), generator=gen)
        grid_t, self.grid_coords = _grid_codes(latent_dim, grid)
        self.grid_t = torch.from_numpy(grid_t)
        self.grid = grid
        self._lock = threading.Lock()
        self._frames: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, dict[str, float]]] = []
        self._result: Snapshots | None = None  # result() of the frames so far, kept until the next

    @torch.no_grad()
    def __call__(self, stats: Any, model: VAE) -> None:
        """Record ``stats.epoch`` if it is one of ``self.epochs`` (``model`` in eval mode)."""
        if stats.epoch not in self.epochs:
            return
        p = next(model.parameters())
        mu = torch.cat([model.encode(self.images[i : i + 1000].to(p.device))[0].float() for i in range(0, len(self.images), 1000)])
        prior = torch.sigmoid(model.decode(self.prior_t.to(p.device, p.dtype)).float())
        grid = torch.sigmoid(model.decode(self.grid_t.to(p.device, p.dtype)).float())
        figures = {"epoch": int(stats.epoch), **{k: float(getattr(stats, k)) for k in STAT_KEYS}}
        frame = (
            int(stats.epoch),
            mu.to(torch.float16).cpu().numpy(),
            _bytes(prior),
            _bytes(grid).reshape(self.grid, self.grid, *grid.shape[1:]),
            figures,
        )
        with self._lock:
            self._frames.append(frame)

    def result(self) -> Snapshots | None:
        """The snapshots recorded so far (None before the first); the same object until the
        next snapshot is recorded (a page polling a training job asks often)."""
        with self._lock:
            frames = list(self._frames)
            cached = self._result
        if not frames:
            return None
        if cached is not None and len(cached) == len(frames):
            return cached
        result = Snapshots(
            epochs=[f[0] for f in frames],
            indices=self.indices.numpy(),
            labels=self.labels.numpy(),
            mu=np.stack([f[1] for f in frames]),
            prior_t=self.prior_t.numpy(),
            prior=np.stack([f[2] for f in frames]),
            grid_coords=self.grid_coords.astype(np.float32),
            manifold=np.stack([f[3] for f in frames]),
            stats=[f[4] for f in frames],
        )
        with self._lock:
            self._result = result
        return result


def chain(*callbacks: Any) -> Any:
    """One ``on_epoch_end`` calling each of ``callbacks`` (Nones skipped) in order."""
    found = [c for c in callbacks if c is not None]

    def on_epoch_end(stats: Any, model: VAE) -> None:
        for c in found:
            c(stats, model)

    return on_epoch_end if found else None
