"""Turn an uploaded image file into a model input, preprocessed the way each dataset was made.

Public API: :func:`preprocess_upload` (bytes -> :class:`Preprocessed`), :class:`UploadError`
(a user-facing message for a file we refuse), :func:`to_display` and :func:`tile_images`.
No Streamlit here and nothing runs at import time.

Safety limits (module constants, checked in this order, all before any pixel is decoded):

* ``MAX_UPLOAD_BYTES`` (10 MiB) equals ``server.maxUploadSize = 10`` in
  ``.streamlit/config.toml`` (Streamlit counts megabytes as 2**20 bytes) and is checked again
  here so that callers other than the uploader widget get the same limit.
* Only ``ALLOWED_FORMATS`` are tried (``Image.open(formats=...)``): no EPS/PDF (Ghostscript),
  no exotic plugins reachable from a renamed file.
* ``MAX_PIXELS`` (40 megapixels) is compared with the size declared in the header
  (``Image.open`` is lazy), so a decompression bomb is refused in microseconds. Pillow's own
  global ``Image.MAX_IMAGE_PIXELS`` is left alone; its ``DecompressionBombError`` (for > 179 MP)
  is turned into the same message, and the check here still holds if someone disables it.
* Every accepted image is fully decoded (``load()``); a truncated file is an error because
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays at Pillow's default ``False`` (never set here).
* Big images are decoded small: JPEGs with ``draft`` (DCT scaling, 1/2..1/8), the rest reduced
  by an integer box filter to about ``WORK_PIXELS`` before any float array is made, so a
  6000x4000 photo takes a fraction of a second and tens of MB.

Choices: a blank (single-colour) image is *not* an error: it yields an empty input
(zeros for ``digit``/``fashion``, the flat colour for ``face``/``generic``), ``blank=True`` and a
step note. Extreme aspect ratios are accepted: ``digit``/``fashion`` crop to the content and
scale it to fit (a 20000x20 strip with a mark in it works); ``face``/``generic`` crop the centre.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

Style = Literal["digit", "fashion", "face", "generic"]
STYLES: tuple[str, ...] = ("digit", "fashion", "face", "generic")

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # = server.maxUploadSize (MB of 2**20) in config.toml
MAX_PIXELS = 40_000_000  # declared width x height; a 48 MP phone photo must be resized first
WORK_PIXELS = 2_000_000  # images are processed at about this size (targets are <= 64 px)
DISPLAY_MAX = 512  # longest side of Preprocessed.original
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "MPO", "GIF", "BMP", "WEBP", "TIFF")
FORMATS_TEXT = "PNG, JPEG, GIF, BMP, WebP or TIFF"

BLANK_CONTRAST = 8 / 255  # max - min below this: a single flat colour, nothing to find
CONTENT_FRACTION = 0.05  # digit: pixels above 5% of the brightest are content
FASHION_TRIM = 0.05  # fashion: Fashion-MNIST trimmed edges within 5% of the corner colour
MNIST_BOX = 20 / 28  # MNIST: digit fitted into 20x20, then placed in 28x28
SMALL_TARGET = 12  # digit targets this small (8x8) follow scikit-learn's digits instead
_LANCZOS = Image.Resampling.LANCZOS


class UploadError(ValueError):
    """A file we cannot or will not use; ``str(err)`` is a message for the user."""


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

    * ``digit``: invert if the border is light (median of the border pixels > 0.5); contrast
      stretch (background level + 3 noise sigmas -> 0, 95th percentile of the ink -> 1) so a
      pencil photo becomes white strokes on black; crop to content. For MNIST-like sizes: fit
      into 20x20 (x H/28) keeping aspect, paste into HxW with the centre of mass at the centre
      (as MNIST was made). For tiny targets (8x8, scikit-learn digits): fit into a 32x32
      canvas with a 1 px margin, 4x4 block average, brightest block -> 1.
    * ``fashion``: invert if the border is light; trim edges within 5% of the background;
      subtract the background; fit the longest side to the frame and centre it (no centre of
      mass, no stretch), as Fashion-MNIST was made.
    * ``face`` (Frey Face) and ``generic``: no inversion, no content crop: crop the centre to
      the target's aspect ratio and resize.

    Raises :class:`UploadError` (a user-facing message) for an empty, too large, unsupported,
    corrupt or truncated file; ``ValueError`` for a bad ``image_shape`` or ``style``.
    """
