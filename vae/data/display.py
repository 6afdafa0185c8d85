"""Arrays to pictures: render float images in [0, 1] crisply and tile batches into grids.

Every array that crosses from ``vae`` to the pages is ``(N, C, H, W)`` / ``(C, H, W)`` float in
[0, 1]; these two helpers are how the pages turn them into something ``st.image`` shows.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from vae.data.images import to_uint8


def to_display(arr: np.ndarray, scale: int = 1) -> Image.Image:
    """Render a ``(C, H, W)`` (C = 1 or 3) or ``(H, W)`` float image in [0, 1] as a PIL image
    (``L`` or ``RGB``), upscaled ``scale`` times with NEAREST so that pixels stay crisp."""
    if hasattr(arr, "detach"):  # a torch tensor
        arr = arr.detach().cpu().numpy()
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    elif a.ndim != 2:
        raise ValueError(f"expected (C, H, W) with C in (1, 3) or (H, W), got {a.shape}")
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    u8 = to_uint8(a)
    im = Image.fromarray(u8)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    return im


def tile_images(arr: np.ndarray, ncols: int, pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """Lay out ``(N, C, H, W)`` or ``(N, H, W)`` images in a grid of ``ncols`` columns.

    Returns ``(C, H', W')`` (or ``(H', W')``) with ``pad`` pixels of ``pad_value`` between
    tiles (none around); empty cells of the last row are ``pad_value`` too.
    """
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    a = np.asarray(arr, dtype=np.float32)
    squeeze = a.ndim == 3
    if squeeze:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, C, H, W) or (N, H, W) array, got {a.shape}")
    pad = max(0, int(pad))
    n, c, h, w = a.shape
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    out = np.full(
        (c, nrows * (h + pad) - pad, ncols * (w + pad) - pad), pad_value, dtype=np.float32
    )
    for i in range(n):
        r, q = divmod(i, ncols)
        out[:, r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = a[i]
    return out[0] if squeeze else out
