"""The time-lapse of a training run, ready to draw: every snapshot's latent map on one set of
axes, and its prior samples and manifold as small PNG images (numpy and PIL, no torch).

For more than two latent dimensions every snapshot is projected with ONE projection, a PCA
fitted on the last snapshot's means, so that a point that moves on screen moved in the latent
space (a projection refitted per frame would spin and flip the picture).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np

from vae.app.inference import pca_projection
from vae.core.snapshots import Snapshots
from vae.data.display import tile_images, to_display


@dataclass(frozen=True, eq=False)
class Player:
    """``xy (S, N, 2)`` the points of each frame on shared axes; ``labels (N,)``; ``prior`` and
    ``manifold``: one PNG data URI per frame; ``stats``: the snapshot's figures (nats)."""

    epochs: list[int]
    xy: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    axis_names: tuple[str, str]
    projection: str
    prior: list[str]
    manifold: list[str]
    stats: list[dict[str, float]]


def png_uri(image: np.ndarray, scale: int = 1) -> str:
    """``(C, H, W)`` float in [0, 1] -> a ``data:image/png;base64,...`` URI (pixels kept crisp)."""
    buf = io.BytesIO()
    to_display(image, scale=scale).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _scale(side: int) -> int:
    """Upscale small tiles so a browser's smoothing cannot blur them (8x8 digits x4)."""
    return max(1, 32 // max(side, 1))


def build_player(snaps: Snapshots, prior_cols: int = 4) -> Player:
    """All frames of ``snaps``, projected once (see the module docstring)."""
    mu = snaps.mu.astype(np.float32)
    d = mu.shape[2]
    proj = pca_projection(mu[-1])
    xy = np.stack([proj.apply(m) for m in mu]).astype(np.float32)
    if d <= 2:
        names, how = ("t₁", "t₂"), "the two latent coordinates themselves"
    else:
        names = ("PC 1", "PC 2")
        how = (
            f"one PCA of the {d}-D means, fitted on the last snapshot (epoch {snaps.epochs[-1]}) "
            f"and applied to every epoch: {proj.explained.sum():.0%} of the last epoch's spread"
        )
    side = snaps.prior.shape[-1]
    g = snaps.manifold.shape[1]
    prior = [
        png_uri(tile_images(p / 255.0, prior_cols), _scale(side)) for p in snaps.prior
    ]
    manifold = [
        # Tiny 8x8 digits read better with a thin line between tiles.
        png_uri(tile_images(m.reshape(g * g, *m.shape[2:]) / 255.0, g, pad=int(side <= 12)), _scale(side))
        for m in snaps.manifold
    ]
    return Player(
        epochs=list(snaps.epochs), xy=xy, labels=snaps.labels, indices=snaps.indices,
        axis_names=names, projection=how, prior=prior, manifold=manifold, stats=list(snaps.stats),
    )  # fmt: skip
