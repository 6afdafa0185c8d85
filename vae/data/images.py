"""The one safe decoder for every image that comes from a user: single uploads
(:mod:`vae.data.upload`) and the files of an image zip or folder (:mod:`vae.data.folders`).

Safety limits (module constants, checked in this order, all before any pixel is decoded):

* ``MAX_UPLOAD_BYTES`` (10 MiB): the largest file accepted. The uploader widgets let slightly
  larger files through (``server.maxUploadSize = 11`` in ``.streamlit/config.toml``: with 10,
  Streamlit refused a file of exactly 10 MiB, see there) and this limit, checked here, is the
  one users get a message about.
* Only ``ALLOWED_FORMATS`` are tried (``Image.open(formats=...)``): no EPS/PDF (Ghostscript),
  no exotic plugins reachable from a renamed file. ``FILE_EXTENSIONS`` are the matching file
  name endings, for upload widgets.
* ``max_pixels`` (default ``MAX_PIXELS``, 40 megapixels) is compared with the size declared in
  the header (``Image.open`` is lazy), so a decompression bomb is refused in microseconds.
  Pillow's own global ``Image.MAX_IMAGE_PIXELS`` is left alone; its ``DecompressionBombError``
  (for > 179 MP) is turned into the same message, and the check here still holds if someone
  disables it. Callers that pad or enlarge an image afterwards check the result with
  :func:`check_pixels` before doing it.
* Every accepted image is fully decoded (``load()``); a truncated file is an error because
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays at Pillow's default ``False`` (never set here).
* Big images are decoded small: JPEGs with ``draft`` (DCT scaling, 1/2..1/8), the rest
  box-averaged to about ``WORK_PIXELS`` before any float array is made. Measured here: a
  6000x4000 JPEG takes about 0.3 s and 70 MB of peak RSS. Other formats must be decoded
  whole, so the worst case is a 40 MP RGBA PNG: about 2 s and 350 MB (a palette one: 200 MB).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the README's "at most 10 MiB"
MAX_PIXELS = 40_000_000  # declared width x height; a 48 MP phone photo must be resized first
WORK_PIXELS = 2_000_000  # images are processed at about this size (targets are <= 64 px)
# Multi-picture JPEGs from phones (MPO) open through the JPEG plugin; "MPO" is no opener ID.
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
FILE_EXTENSIONS: tuple[str, ...] = ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff")
FORMATS_TEXT = "PNG, JPEG, GIF, BMP, WebP or TIFF"
LANCZOS = Image.Resampling.LANCZOS


class UploadError(ValueError):
    """A file we cannot or will not use; ``str(err)`` is a message for the user."""


class TooManyPixels(UploadError):
    """The image (as declared, or once padded or resized) is over the pixel limit."""


_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_ORIENTATION = 0x0112
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_TRANSPOSE: dict[int, tuple[Image.Transpose, str]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, "mirrored"),
    3: (Image.Transpose.ROTATE_180, "rotated 180 degrees"),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, "flipped"),
    5: (Image.Transpose.TRANSPOSE, "transposed"),
    6: (Image.Transpose.ROTATE_270, "rotated 90 degrees clockwise"),
    7: (Image.Transpose.TRANSVERSE, "transversed"),
    8: (Image.Transpose.ROTATE_90, "rotated 90 degrees anticlockwise"),
}


def _mb(n: int) -> str:
    """Megabytes as Streamlit counts them, rounded up (10 MB + 1 byte shows as 10.1 MB)."""
    return f"{math.ceil(n / 2**20 * 10) / 10:g} MB"


def _please() -> str:
    return f"Please upload a {FORMATS_TEXT} image."


def _unreadable(data: bytes) -> str:
    """Why Pillow could not identify ``data``, in the user's terms."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head:
        return (
            "SVG (vector) images aren't supported. Please export the drawing as PNG, "
            f"or upload a {FORMATS_TEXT} image."
        )
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]:
        return f"This file is a web page (HTML), not an image. {_please()}"
    if head.startswith(b"%pdf"):
        return f"PDF files aren't supported. {_please()}"
    if data[4:8] == b"ftyp":
        return (
            "HEIC/HEIF/AVIF photos aren't supported. Please export the photo as JPEG "
            f"(or upload a {FORMATS_TEXT} image)."
        )
    for magic, name in _MAGICS:
        if data.startswith(magic):
            return f"The file looks like a {name} image but is damaged or incomplete. {_please()}"
    sample = data[:2048]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and sum(ch.isprintable() or ch.isspace() for ch in text) >= 0.95 * len(text):
        return f"This file contains text, not an image. {_please()}"
    return f"This file isn't an image in a supported format. {_please()}"


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int = MAX_PIXELS) -> str:
    limit = f"the limit is {max_pixels / 1e6:.3g} megapixels"
    if size is None:
        what = "The image declares an enormous size"
    else:
        what = (
            f"The image is {size[0]} x {size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels)"
        )
    return f"{what}; {limit}. Please resize it and upload it again."


def check_pixels(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raise :class:`UploadError` unless a ``width`` x ``height`` image is within
    ``max_pixels``: call it before every step that makes an image (padding, resizing)."""
    if width < 1 or height < 1 or width * height > max_pixels:
        raise TooManyPixels(_too_many_pixels((width, height), max_pixels))


def decode(
    data: bytes,
    steps: list[str],
    *,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int | None = MAX_UPLOAD_BYTES,
    before_decode: Callable[[int], None] | None = None,
) -> tuple[Image.Image, str, tuple[int, int]]:
    """Open, check, fully decode (first frame), reduce to ~WORK_PIXELS and EXIF-rotate.

    Returns the image (modes L, LA, RGB, RGBA, I;16, I or F), the format and the upright
    full-resolution ``(width, height)``. Appends what it did, in words, to ``steps``. Raises
    :class:`UploadError` (a message for the user) for anything it refuses.

    ``max_bytes``: the largest file (None: the caller has bounded it). ``before_decode`` is
    called with the declared pixel count once the header has passed the checks, before the
    pixels are decoded (a caller's running budget; it may raise to refuse).
    """
    if not data:
        raise UploadError(f"The file is empty (0 bytes). {_please()}")
    if max_bytes is not None and len(data) > max_bytes:
        raise UploadError(
            f"The file is {_mb(len(data))}; the limit is {_mb(max_bytes)}. "
            "Please upload a smaller image."
        )
    try:
        im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        raise TooManyPixels(_too_many_pixels(None, max_pixels)) from None
    except Exception as exc:  # Pillow raises many exception types for malformed headers
        raise UploadError(_unreadable(data)) from exc
    fmt = im.format or "image"
    damaged = (
        f"The {fmt} file is damaged or incomplete (it could not be fully decoded). "
        "Please re-save or re-export it and upload it again."
    )
    w0, h0 = im.size
    if w0 < 1 or h0 < 1:
        raise UploadError(damaged)
    check_pixels(w0, h0, max_pixels)  # the header's claim, before any pixel is decoded
    if before_decode is not None:
        before_decode(w0 * h0)
    try:
        # GIF/APNG/WebP/TIFF/MPO: looks at the second frame's header only, decodes nothing.
        animated = bool(getattr(im, "is_animated", False))
        im.seek(0)
    except Exception:  # a broken later frame: frame 0 is still judged by load() below
        animated = False
        with contextlib.suppress(Exception):
            im.seek(0)
    if animated:
        steps.append("animated or multi-page: first frame used")
    if fmt in ("JPEG", "MPO"):
        _draft(im, steps)
    try:
        im.load()  # the one full decode: truncated or corrupt data raises here
    except Image.DecompressionBombError:
        raise TooManyPixels(_too_many_pixels((w0, h0), max_pixels)) from None
    except Exception as exc:  # truncated data, bad compression streams...
        raise UploadError(damaged) from exc
    orientation = _orientation(im)  # after load(): PNG's getexif() would decode to find eXIf
    try:
        if im.mode in ("1", "P", "PA"):  # resizing these would pick pixels, not average them
            im = _normalise_mode(im, steps)
        im = _normalise_mode(_shrink(im, steps), steps)
    except UploadError:
        raise
    except Exception as exc:  # e.g. a palette that does not match the data
        raise UploadError(damaged) from exc
    if orientation in _TRANSPOSE:
        method, what = _TRANSPOSE[orientation]
        im = im.transpose(method)
        steps.append(f"EXIF rotated (orientation {orientation}: {what})")
    size = (h0, w0) if orientation in (5, 6, 7, 8) else (w0, h0)
    return im, fmt, size


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION, 1))
    except Exception:  # an unreadable EXIF block only costs the rotation
        return 1


def _shrink(im: Image.Image, steps: list[str]) -> Image.Image:
    """Box-average down to about ``WORK_PIXELS`` (before any float copy is made)."""
    n = im.width * im.height
    if n <= WORK_PIXELS:
        return im
    f = math.sqrt(n / WORK_PIXELS)
    new = (max(1, math.ceil(im.width / f)), max(1, math.ceil(im.height / f)))
    try:
        out = im.resize(new, Image.Resampling.BOX)
    except ValueError:  # a mode resize does not handle (e.g. I;16B): convert first
        out = _normalise_mode(im, steps).resize(new, Image.Resampling.BOX)
    steps.append(f"reduced to {new[0]}x{new[1]} for processing")
    return out


def _draft(im: Image.Image, steps: list[str]) -> None:
    """Let libjpeg decode a big JPEG at 1/2, 1/4 or 1/8 size (no larger than needed)."""
    w0, h0 = im.size
    s = math.ceil(math.sqrt(w0 * h0 / WORK_PIXELS))  # libjpeg rounds down to 2, 4 or 8
    if s < 2:
        return
    try:
        im.draft(None, (max(1, w0 // s), max(1, h0 // s)))
    except Exception:  # drafting is an optimisation only
        return
    if im.size != (w0, h0):
        steps.append(f"JPEG decoded at {im.size[0]}x{im.size[1]} (DCT scaling, for speed)")


def _normalise_mode(im: Image.Image, steps: list[str]) -> Image.Image:
    """Reduce Pillow's many modes to L, LA, RGB, RGBA, I;16, I or F."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F", "I;16"):
        return im
    if mode.startswith("I;16"):  # other byte orders: widen to 32-bit (values unchanged)
        return im.convert("I")
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        return im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    if mode == "La":
        return im.convert("LA")
    if mode == "RGBa":
        return im.convert("RGBA")
    try:
        out = im.convert("RGB")
    except Exception as exc:
        raise UploadError(
            f"Images in colour mode {mode} aren't supported. Please save the image as RGB or "
            "greyscale PNG or JPEG and upload it again."
        ) from exc
    if mode != "RGBX":
        steps.append(f"converted from {mode} to RGB")
    return out


def to_array(im: Image.Image, steps: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """``(H, W, 1 or 3)`` float32 in [0, 1] and the alpha channel (``None`` if opaque)."""
    mode = im.mode
    if mode in ("I;16", "I", "F"):
        a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
        # 16-bit data fills 0..65535; 32-bit int or float files may hold 8-bit or 0..1 values.
        if mode == "I;16" or (mode == "I" and lo >= 0 and 255 < hi <= 65535):
            a = a / 65535.0
            steps.append("16-bit greyscale scaled to 0..1")
        elif lo >= 0 and hi <= (1.0 if mode == "F" else 255.0):
            a = a / (1.0 if mode == "F" else 255.0)
        elif mode == "F" and lo >= 0 and hi <= 255.0:
            a = a / 255.0
        else:  # anything else (negative, beyond 16 bits): map min..max to 0..1
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
            kind = "32-bit" if mode == "I" else "floating-point"
            steps.append(f"{kind} greyscale rescaled from {lo:g}..{hi:g} to 0..1")
        return a.astype(np.float32)[..., None], None
    arr = np.asarray(im)
    if arr.ndim == 2:
        arr = arr[..., None]
    alpha = None
    if mode in ("LA", "RGBA"):
        arr, alpha = arr[..., :-1], arr[..., -1]
        if alpha.min() == 255:
            alpha = None
    return arr.astype(np.float32) * np.float32(1 / 255), alpha


def lum(x: np.ndarray) -> np.ndarray:
    """Luma (ITU-R 601, as Pillow's ``convert("L")``) of ``(H, W, 1 or 3)``."""
    if x.shape[2] == 1:
        return x[..., 0]
    return x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_uint8(a: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 (NaN -> 0)."""
    out = np.clip(a * 255 + 0.5, 0, 255)
    return np.nan_to_num(out, nan=0.0, copy=False).astype(np.uint8)


def match_channels(x: np.ndarray, c: int, steps: list[str]) -> np.ndarray:
    if c == 1 and x.shape[2] == 3:
        steps.append("converted to greyscale")
        return lum(x)[..., None]
    if c == 3 and x.shape[2] == 1:
        return np.repeat(x, 3, axis=2)
    return x


def resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W, C)`` float32 to ``size`` = (w, h), Lanczos per channel in 32-bit float."""
    if (x.shape[1], x.shape[0]) == size:
        return x
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(x[..., i])).resize(size, LANCZOS))
        for i in range(x.shape[2])
    ]
    return np.clip(np.stack(chans, axis=2), 0.0, 1.0).astype(np.float32, copy=False)
