"""Turn an uploaded image file into a model input, preprocessed the way each dataset was made.

Public API: :func:`preprocess_upload` (bytes -> :class:`Preprocessed`) and :class:`UploadError`
(a user-facing message for a file we refuse).
No Streamlit here and nothing runs at import time.

Decoding (size, format and pixel limits, EXIF, modes) is :func:`vae.data.images.decode`,
shared with image zips; this module is what happens after: the per-dataset styles.

Choices: a blank (single-colour) image is *not* an error: it yields an empty input
(zeros for ``digit``/``fashion``, the flat colour for ``face``/``generic``), ``blank=True`` and a
step note. Extreme aspect ratios are accepted: ``digit``/``fashion`` crop to the content and
scale it to fit (a 20000x20 strip with a mark in it works); ``face``/``generic`` crop the centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from vae.data.images import LANCZOS, UploadError, decode, match_channels, to_array, to_uint8
from vae.data.images import lum as _lum
from vae.data.images import resize as _resize

Style = Literal["digit", "fashion", "face", "generic"]
STYLES: tuple[str, ...] = ("digit", "fashion", "face", "generic")

DISPLAY_MAX = 512  # longest side of Preprocessed.original

BLANK_CONTRAST = 8 / 255  # max - min below this: a single flat colour, nothing to find
CONTENT_FRACTION = 0.05  # digit: pixels above 5% of the brightest are content
FASHION_TRIM = 0.05  # fashion: Fashion-MNIST trimmed edges within 5% of the corner colour
MNIST_BOX = 20 / 28  # MNIST: digit fitted into 20x20, then placed in 28x28
# Stroke width / digit size, measured at 64 px: MNIST's median is 0.12 and 99.5% of its
# digits are above 0.067. Pen strokes in a phone photo are often 0.02-0.05, which would fade
# to grey specks at 20 px, so strokes thinner than STROKE_MIN are thickened to STROKE_TARGET.
STROKE_MIN = 0.06
STROKE_TARGET = 0.12
STROKE_MEASURE = 64  # px: measure on a smoothed copy so that noisy edges don't look thin
SMALL_TARGET = 12  # digit targets this small (8x8) follow scikit-learn's digits instead


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value
class Preprocessed:
    """An upload ready for the model.

    ``original``: RGB thumbnail (longest side <= ``DISPLAY_MAX``), upright, alpha flattened.
    ``model_input``: float32 ``(C, H, W)`` in [0, 1]. ``steps``: what was done, in order, in
    words. ``size``: the image's ``(width, height)`` as displayed (after EXIF rotation).
    ``format``: Pillow's format name (``"PNG"``, ``"JPEG"``...). ``blank``: the upload was a
    single flat colour, so ``model_input`` is empty.
    """

    original: Image.Image
    model_input: np.ndarray
    steps: tuple[str, ...]
    size: tuple[int, int]
    format: str
    blank: bool = False


# --------------------------------------------------------------------------- public API


def preprocess_upload(
    data: bytes, image_shape: tuple[int, int, int], *, style: Style = "digit"
) -> Preprocessed:
    """Decode ``data`` safely and preprocess it for a model of ``image_shape`` = (C, H, W).

    Common to every style: first frame of an animation; EXIF orientation; 16/32-bit grey
    scaled to [0, 1]; CMYK/palette converted; transparency flattened onto white for dark ink
    (black for light ink); grey (C == 1) or RGB (C == 3). Then, per ``style``:

    * ``digit``: invert if the border is light (median of the border pixels > 0.5); even out
      uneven lighting (photos of paper); contrast stretch (background + 3 noise sigmas -> 0,
      95th percentile of the ink -> 1) so a pencil photo becomes white strokes on black; crop
      to content; thicken strokes much thinner than MNIST's. For MNIST-like sizes: fit into
      20x20 (x H/28) keeping aspect, paste into HxW with the centre of mass at the centre (as
      MNIST was made; MNIST's own mean centre of mass is pixel (14, 14)). For tiny targets
      (8x8, scikit-learn digits): fit into a 32x32 bitmap with a 1 px margin, average 4x4
      blocks, brightest block -> 1.
    * ``fashion``: invert if the border is light; trim edges within 5% of the background;
      subtract the background; fit the longest side to the frame and centre it (no centre of
      mass, no stretch), as Fashion-MNIST was made.
    * ``face`` (Frey Face) and ``generic``: no inversion, no content crop: crop the centre to
      the target's aspect ratio and resize.

    ``data`` may also be a file-like object with ``getvalue()`` (Streamlit's UploadedFile).
    Raises :class:`UploadError` (a user-facing message) for an empty, too large, unsupported,
    corrupt or truncated file; ``ValueError`` for a bad ``image_shape`` or ``style``.
    """
    c, h, w = _check_shape(image_shape)
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    steps: list[str] = []
    if hasattr(data, "getvalue"):
        data = data.getvalue()
    im, fmt, size = decode(bytes(data), steps)
    x, alpha = to_array(im, steps)
    del im
    x = _flatten_alpha(x, alpha, steps)
    original = _thumbnail(x)
    x = match_channels(x, c, steps)
    lum = _lum(x)
    out: np.ndarray | None
    flat = float(lum.max() - lum.min()) < BLANK_CONTRAST
    if flat:
        out = None
    elif style == "digit":
        out = _digit(x, lum, (h, w), steps)
    elif style == "fashion":
        out = _fashion(x, lum, (h, w), steps)
    else:
        out = _centre_crop_resize(x, (h, w), steps)
    blank = out is None
    if out is None:
        # Nothing to find: an empty (black) input for the ink-on-black datasets; the flat
        # colour itself for photo-like datasets.
        why = "the image is one flat colour" if flat else "nothing stands out from the background"
        if style in ("digit", "fashion"):
            out = np.zeros((h, w, c), np.float32)
            steps.append(f"blank: {why}, so the input is empty (all black)")
        else:
            out = np.broadcast_to(x.mean(axis=(0, 1), dtype=np.float32), (h, w, c))
            steps.append(f"blank: {why}")
    model_input = np.clip(np.nan_to_num(out.transpose(2, 0, 1), nan=0.0), 0.0, 1.0)
    model_input = np.ascontiguousarray(model_input, dtype=np.float32)
    return Preprocessed(original, model_input, tuple(steps), size, fmt, blank)


# --------------------------------------------------------------------------- decoding


def _check_shape(image_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}") from None
    if c not in (1, 3) or not (1 <= h <= 4096 and 1 <= w <= 4096):
        raise ValueError(f"image_shape must be (1 or 3, H, W), got {image_shape!r}")
    return c, h, w


def _flatten_alpha(x: np.ndarray, alpha: np.ndarray | None, steps: list[str]) -> np.ndarray:
    """Composite onto the background that makes the visible marks stand out: white behind
    dark ink, black behind light ink (so that inversion is then decided as for any image)."""
    if alpha is None:
        return x
    a = alpha.astype(np.float32)[..., None] * np.float32(1 / 255)
    weight = float(a.sum())
    ink = float((_lum(x) * a[..., 0]).sum()) / weight if weight > 1e-6 else 0.0
    bg = 1.0 if ink < 0.5 else 0.0
    steps.append(f"transparency flattened onto {'white' if bg else 'black'}")
    return x * a + np.float32(bg) * (1 - a)


def _thumbnail(x: np.ndarray) -> Image.Image:
    u8 = to_uint8(x)
    im = Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8).convert("RGB")
    im.thumbnail((DISPLAY_MAX, DISPLAY_MAX), LANCZOS)
    return im


# --------------------------------------------------------------------------- geometry


def _fit(x: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """Resize keeping the aspect ratio so that ``x`` fits in ``box`` = (h, w), touching it."""
    bh, bw = box
    ch, cw = x.shape[:2]
    s = min(bh / ch, bw / cw)
    nh = min(bh, max(1, round(ch * s)))
    nw = min(bw, max(1, round(cw * s)))
    return _resize(x, (nw, nh))


def _border(lum: np.ndarray) -> np.ndarray:
    """The outer ring of pixels (2% of the shorter side, at least 1 px)."""
    k = max(1, min(lum.shape) // 50)
    return np.concatenate(
        [lum[:k].ravel(), lum[-k:].ravel(), lum[:, :k].ravel(), lum[:, -k:].ravel()]
    )


def _invert_if_light(
    x: np.ndarray, lum: np.ndarray, steps: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    m = float(np.median(_border(lum)))
    if m > 0.5:
        steps.append(f"inverted: light background (border median {m:.2f})")
        return 1.0 - x, 1.0 - lum
    return x, lum


def _despeckle(mask: np.ndarray) -> np.ndarray:
    """Drop isolated pixels (fewer than 2 of 8 neighbours set) so that sensor noise or JPEG
    specks far from the drawing do not stretch its bounding box; lines 1 px wide survive.
    Small images are left alone: there a single pixel may be part of the drawing."""
    if min(mask.shape) < 64:
        return mask
    p = np.pad(mask, 1).astype(np.uint8)
    n = (
        p[:-2, :-2] + p[:-2, 1:-1] + p[:-2, 2:] + p[1:-1, :-2]
        + p[1:-1, 2:] + p[2:, :-2] + p[2:, 1:-1] + p[2:, 2:]
    )  # fmt: skip
    kept = mask & (n >= 2)
    return kept if kept.any() else mask


def _bbox(mask: np.ndarray) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _crop(x: np.ndarray, box: tuple[slice, slice], steps: list[str]) -> np.ndarray:
    out = x[box]
    if out.shape[:2] != x.shape[:2]:
        steps.append(f"cropped to content: {out.shape[1]}x{out.shape[0]} px")
    return out


def _paste(y: np.ndarray, hw: tuple[int, int], top: int, left: int) -> np.ndarray:
    out = np.zeros((*hw, y.shape[2]), np.float32)
    out[top : top + y.shape[0], left : left + y.shape[1]] = y
    return out


# --------------------------------------------------------------------------- styles


def _digit(
    x: np.ndarray, lum: np.ndarray, hw: tuple[int, int], steps: list[str]
) -> np.ndarray | None:
    x, lum = _invert_if_light(x, lum, steps)
    x, lum = _even_out_background(x, lum, steps)
    # Contrast stretch: the background level plus 3 robust noise sigmas (from the border,
    # median/MAD so strokes touching the edge don't matter) goes to 0, the 95th percentile of
    # the ink to 1. Clean images are unchanged; pencil on grey paper becomes white on black.
    b = _border(lum)
    bg = float(np.median(b))
    sigma = 1.4826 * float(np.median(np.abs(b - bg)))
    lo = bg + 3 * sigma
    ink = lum[lum > lo]
    if ink.size == 0:
        return None
    hi = float(np.percentile(ink, 95))
    if hi - lo < BLANK_CONTRAST or hi < bg + 5 * sigma:
        return None  # nothing stands out from the background noise
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    lum = np.clip((lum - lo) / (hi - lo), 0.0, 1.0)
    if lo > 0.02 or hi < 0.98:
        steps.append(
            f"contrast stretched: {lo:.2f}..{hi:.2f} -> 0..1 (background black, strokes white)"
        )
    box = _bbox(_despeckle(lum > CONTENT_FRACTION * float(lum.max())))
    if box is None:
        return None
    x = _thicken_strokes(_crop(x, box, steps), steps)
    if max(hw) <= SMALL_TARGET:
        return _small_digit(x, hw, steps)
    return _mnist_digit(x, hw, steps)


def _even_out_background(
    x: np.ndarray, lum: np.ndarray, steps: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Subtract uneven lighting (a photo of paper): a white top-hat at coarse scale.

    The background is the median of cells of ~1/24 of the long side, opened (min then max)
    over 5x5 cells so that strokes narrower than ~20% of the image drop out. It is subtracted
    only when it varies along the image border, i.e. when the lighting is uneven: clean
    drawings (and big shapes inside them) are left alone.
    """
    h, w = lum.shape
    if min(h, w) < 64:
        return x, lum
    cell = max(2, round(max(h, w) / 24))
    gh, gw = -(-h // cell), -(-w // cell)
    padded = np.pad(lum, ((0, gh * cell - h), (0, gw * cell - w)), mode="edge")
    cells = padded.reshape(gh, cell, gw, cell).transpose(0, 2, 1, 3).reshape(gh, gw, -1)
    bg = _max_filter(-_max_filter(-np.median(cells, axis=2), 5, pad="edge"), 5, pad="edge")
    ring = np.concatenate([bg[0], bg[-1], bg[:, 0], bg[:, -1]])
    if float(ring.max() - ring.min()) < 2 * BLANK_CONTRAST:
        return x, lum
    full = Image.fromarray(bg.astype(np.float32)).resize(
        (gw * cell, gh * cell), Image.Resampling.BILINEAR
    )
    bg_full = np.asarray(full, dtype=np.float32)[:h, :w]
    steps.append(
        f"uneven lighting evened out (background {float(bg.min()):.2f}..{float(bg.max()):.2f} "
        "subtracted)"
    )
    # Not clipped: the contrast stretch that follows needs the paper noise on both sides of 0.
    return x - bg_full[..., None], lum - bg_full


def _max_filter(a: np.ndarray, size: int, pad: str = "constant") -> np.ndarray:
    """Grey dilation of a 2-D (or (H, W, C)) array by a ``size`` x ``size`` square, centred;
    O(log size) passes per axis (window doubling)."""
    if size <= 1:
        return a
    lo, hi = (size - 1) // 2, size // 2
    widths = ((lo, hi), (lo, hi)) + ((0, 0),) * (a.ndim - 2)
    out = np.pad(a, widths, mode=pad)  # type: ignore[call-overload]
    for axis in (0, 1):
        m = np.moveaxis(out, axis, 0)
        span = 1
        while span < size:
            step = min(span, size - span)
            nxt = m.copy()
            nxt[:-step] = np.maximum(m[:-step], m[step:])
            m, span = nxt, span + step
        out = np.moveaxis(m, 0, axis)
    return out[: a.shape[0], : a.shape[1]]


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a mask: 2 * area / boundary length (a stroke of width t and
    length L has area t*L and 2L boundary pixels). Saturates at about 2 px."""
    p = np.pad(mask, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    boundary = int((mask & ~inner).sum())
    return 2.0 * int(mask.sum()) / max(1, boundary)


def _thicken_strokes(x: np.ndarray, steps: list[str]) -> np.ndarray:
    """Dilate strokes thinner than ``STROKE_MIN`` of the digit's size to ``STROKE_TARGET``
    (MNIST's pen strokes scanned small are thick; a fine pen photographed large is not)."""
    long = max(x.shape[:2])
    if long < 16:  # too small to tell (MNIST itself stays as it is)
        return x
    small = _fit(x, (STROKE_MEASURE, STROKE_MEASURE)) if long > STROKE_MEASURE else x
    mask = _lum(small) > 0.5
    if not mask.any():
        return x
    rel = _stroke_width(mask) / max(small.shape[:2])
    if rel >= STROKE_MIN:
        return x
    # Thicken at about 128 px: max-pooling down to there is itself a dilation (strokes keep
    # full intensity, unlike an area resize) and makes the dilation below cheap.
    f = long // 128
    if f >= 2:
        h, w = x.shape[:2]
        x = np.pad(x, ((0, -h % f), (0, -w % f), (0, 0)))
        x = x.reshape(x.shape[0] // f, f, x.shape[1] // f, f, -1).max(axis=(1, 3))
        long = max(x.shape[:2])
    t = min(rel * long, STROKE_TARGET * long)
    size = math.ceil((STROKE_TARGET * long - t) / (1 - STROKE_TARGET)) + 1
    x = _max_filter(np.pad(x, ((size, size), (size, size), (0, 0))), size)
    box = _bbox(_lum(x) > CONTENT_FRACTION)
    x = x[box] if box is not None else x
    steps.append(
        f"thin strokes thickened: {rel:.0%} -> about {STROKE_TARGET:.0%} of the digit's size "
        "(as MNIST's)"
    )
    return x


def _mnist_digit(x: np.ndarray, hw: tuple[int, int], steps: list[str]) -> np.ndarray:
    """MNIST: fit into a 20x20 box keeping the aspect ratio, then place in 28x28 so that the
    centre of mass lands on the centre (pixel index 14, as measured on MNIST itself)."""
    h, w = hw
    bh, bw = max(1, round(h * MNIST_BOX)), max(1, round(w * MNIST_BOX))
    y = _fit(x, (bh, bw))
    nh, nw = y.shape[:2]
    lum = _lum(y)
    mass = float(lum.sum())
    if mass > 0:
        cy = float(lum.sum(axis=1) @ np.arange(nh)) / mass
        cx = float(lum.sum(axis=0) @ np.arange(nw)) / mass
    else:
        cy, cx = (nh - 1) / 2, (nw - 1) / 2
    top, left = math.floor(h / 2 - cy + 0.5), math.floor(w / 2 - cx + 0.5)
    # Keep all of the digit in the frame even if that leaves the mass slightly off-centre.
    top_c, left_c = min(max(top, 0), h - nh), min(max(left, 0), w - nw)
    note = " (shift limited to keep it in the frame)" if (top_c, left_c) != (top, left) else ""
    steps.append(
        f"padded to square, resized to {nw}x{nh} (fits {bw}x{bh}) and centred by mass "
        f"in {w}x{h}{note}"
    )
    return _paste(y, hw, top_c, left_c)


def _small_digit(x: np.ndarray, hw: tuple[int, int], steps: list[str]) -> np.ndarray:
    """scikit-learn digits: 32x32 bitmaps counted in 4x4 blocks. Fit into 4H x 4W with a 1 px
    margin, centre, average the blocks, then scale so the brightest block is 1 (98% of the
    dataset's images reach the maximum count of 16)."""
    h, w = hw
    f = 4
    y = _fit(x, (max(1, f * h - 2), max(1, f * w - 2)))
    nh, nw = y.shape[:2]
    big = _paste(y, (f * h, f * w), (f * h - nh) // 2, (f * w - nw) // 2)
    out = big.reshape(h, f, w, f, big.shape[2]).mean(axis=(1, 3))
    m = float(out.max())
    if m > 0:
        out = out / m
    steps.append(
        f"padded to square, resized to {nw}x{nh} in a {f * w}x{f * h} bitmap, averaged in "
        f"{f}x{f} blocks to {w}x{h}, brightest block set to 1 (as scikit-learn digits)"
    )
    return out


def _fashion(
    x: np.ndarray, lum: np.ndarray, hw: tuple[int, int], steps: list[str]
) -> np.ndarray | None:
    """Fashion-MNIST: trim edges close to the background colour, fit the longest side to the
    frame, centre, negate (here: invert when the background is light)."""
    x, lum = _invert_if_light(x, lum, steps)
    bg = float(np.median(_border(lum)))
    box = _bbox(_despeckle(np.abs(lum - bg) > FASHION_TRIM))
    if box is None:
        return None
    x = _crop(x, box, steps)
    if 1 / 255 < bg < 0.25:  # an off-white photo background: make it the dataset's black
        x = np.clip((x - bg) / (1 - bg), 0.0, 1.0)
        steps.append(f"background level {bg:.2f} set to 0")
    h, w = hw
    y = _fit(x, hw)
    nh, nw = y.shape[:2]
    steps.append(f"resized to {nw}x{nh} and padded to {w}x{h}, centred")
    return _paste(y, hw, (h - nh) // 2, (w - nw) // 2)


def _centre_crop_resize(x: np.ndarray, hw: tuple[int, int], steps: list[str]) -> np.ndarray:
    """Faces and photos: no inversion, no content crop; the centre at the target's aspect."""
    h, w = hw
    ih, iw = x.shape[:2]
    if iw * h > ih * w:  # too wide
        cw = min(iw, max(1, round(ih * w / h)))
        x = x[:, (iw - cw) // 2 : (iw - cw) // 2 + cw]
    elif iw * h < ih * w:  # too tall
        ch = min(ih, max(1, round(iw * h / w)))
        x = x[(ih - ch) // 2 : (ih - ch) // 2 + ch]
    if x.shape[:2] != (ih, iw):
        steps.append(f"cropped the centre to {x.shape[1]}x{x.shape[0]} ({w}:{h})")
    if x.shape[:2] != (h, w):
        steps.append(f"resized to {w}x{h}")
    return _resize(x, (w, h))


__all__ = ["STYLES", "Preprocessed", "Style", "UploadError", "preprocess_upload"]
