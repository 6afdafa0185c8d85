"""A :class:`~vae.data.registry.Dataset` from a user's own images: a zip (path or bytes) or a
folder, one sub-folder per class.

The files are untrusted (on a shared classroom server a zip comes from any student), so every
cost is bounded before it is paid, and every failure becomes a message a student can act on:

* Zip entries are read in chunks through a counter: at most ``max_entry_bytes`` per entry and
  ``max_bytes`` in all, counted on the bytes actually produced, since the sizes in a zip's
  headers can lie. Only the usual Deflate and stored entries are read: zipfile hands a whole
  LZMA or BZIP2 chunk to the decompressor with no output limit, so those could inflate
  without bound before any counter sees the result.
* Each image goes through the one safe decoder, :func:`vae.data.images.decode` (allowed
  formats, ``max_pixels`` checked from the header), and its size is checked again with
  :func:`~vae.data.images.check_pixels` before every pad or resize. A long strip is reduced
  *before* it is padded to a square, so the square is never bigger than ``4 * max(size)``
  on a side (padding a 20000x20 strip first would make a 400-megapixel image).
* The whole build has a budget: ``max_total_pixels`` decoded pixels in all (counted from the
  headers before decoding) and ``max_cpu_seconds`` of this thread's CPU time; ``should_stop``
  is polled between files so that a Stop button or a closed tab ends the build.
* Memory: the source, one entry and one decoded image (at most ``max_pixels``) at a time, plus
  the kept images at their final size (5000 x 3 x 32 x 32 bytes is 15 MB).
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from vae.data.images import (
    FORMATS_TEXT,
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    TooManyPixels,
    check_pixels,
    decode,
    match_channels,
    resize,
    to_array,
    to_uint8,
)
from vae.data.registry import Dataset, from_arrays

MAX_FILES = 5000  # more files are subsampled (a fixed subset)
MAX_BYTES = 200_000_000  # uncompressed bytes read in all (zip-bomb guard)
MAX_ENTRY_BYTES = 32 * 2**20  # uncompressed bytes read from one file
MAX_TOTAL_PIXELS = 500_000_000  # decoded pixels in all: about 15 s of decoding on one core
MAX_CPU_SECONDS = 60.0  # CPU time of the building thread
SQUARE_FACTOR = 4  # a strip is reduced to 4x the target's long side before it is padded
_CHUNK = 1 << 16
_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_METHODS = {zipfile.ZIP_BZIP2: "BZIP2", zipfile.ZIP_LZMA: "LZMA"}

# Why files were skipped, as the message lists them (``Counter`` keys).
DAMAGED = "damaged or cut off in the zip"
ENCRYPTED = "password-protected"
TOO_BIG = f"larger than {MAX_ENTRY_BYTES // 2**20} MB unpacked"
TOO_MANY_PIXELS = "too many pixels"
NOT_IMAGE = f"not {FORMATS_TEXT} images, or damaged ones"


class ImageFolderError(ValueError):
    """A zip or folder we cannot build a dataset from; ``str(err)`` is a message for the user."""


class BuildStopped(Exception):
    """``should_stop`` said so: the user pressed Stop or closed the tab."""


class _Budget:
    """The running totals of one build, checked before each piece of work."""

    def __init__(
        self, max_bytes: int, max_total_pixels: int | None, max_cpu_seconds: float | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:  # fmt: skip
        self.bytes_left = max_bytes
        self.max_bytes = max_bytes
        self.pixels_left = max_total_pixels
        self.max_total_pixels = max_total_pixels
        self.cpu_deadline = (
            None if max_cpu_seconds is None else time.thread_time() + max_cpu_seconds
        )
        self.max_cpu_seconds = max_cpu_seconds
        self.should_stop = should_stop

    def tick(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise BuildStopped("stopped while reading the images")
        if self.cpu_deadline is not None and time.thread_time() >= self.cpu_deadline:
            raise ImageFolderError(
                f"Reading these images took more than {self.max_cpu_seconds:g} s of computing "
                "time, the limit that keeps the server quick for everyone. Please use fewer or "
                "smaller images (a few hundred of about 100x100 pixels are plenty)."
            )

    def spend_bytes(self, n: int, what: str) -> None:
        self.bytes_left -= n
        if self.bytes_left < 0:
            raise ImageFolderError(_too_many_bytes(what, self.max_bytes))

    def spend_pixels(self, n: int) -> None:
        if self.pixels_left is None:
            return
        self.pixels_left -= n
        if self.pixels_left < 0:
            raise ImageFolderError(
                f"These images hold more than {self.max_total_pixels / 1e6:.0f} megapixels in "
                "all, the limit that keeps the server quick for everyone. Please use fewer or "
                "smaller images (a few hundred of about 100x100 pixels are plenty)."
            )


# --------------------------------------------------------------------------- reading files


def _too_many_bytes(what: str, max_bytes: int) -> str:
    return (
        f"The {what} holds more than {max_bytes} bytes ({max_bytes / 1e6:g} MB) of files once "
        "unpacked, the limit for a dataset. Please use fewer or smaller images."
    )


def _skip(parts: Sequence[str]) -> bool:
    # Hidden files, macOS resource forks (._x, __MACOSX/) and Thumbs.db are never images.
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or parts[-1] == "Thumbs.db"


def _subsample(items: list, max_files: int) -> list:
    """At most ``max_files`` items: a fixed random subset (so every class keeps its share)."""
    if len(items) <= max_files:
        return items
    keep = np.sort(np.random.default_rng(0).choice(len(items), size=max_files, replace=False))
    return [items[i] for i in keep]


def _open_zip(source: str | os.PathLike | bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(
            io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
        )
    except UnicodeDecodeError:
        raise ImageFolderError(
            "This zip is damaged: its file names are marked as UTF-8 text but are not valid "
            "UTF-8. "
            "Please create the zip again (e.g. right-click the folder, Compress / Send to "
            "compressed folder) and upload that."
        ) from None
    # Untrusted bytes: zipfile raises BadZipFile, OSError, ValueError, EOFError, struct.error...
    except Exception:
        raise ImageFolderError(
            "This is not a readable zip file: its table of contents (the end of the file) is "
            "missing or damaged. Please create the zip again and upload that."
        ) from None


def _read_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, max_entry_bytes: int, budget: _Budget
) -> bytes | str:
    """The bytes of one entry, or why it was skipped. Reads in chunks and counts what comes
    out: the sizes in the headers are not trusted."""
    if info.compress_type not in _READABLE:
        method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
        return f"compressed with {method}, which is not supported (use the usual Deflate)"
    if info.flag_bits & 0x1:
        return ENCRYPTED
    chunks, n = [], 0
    try:
        with zf.open(info) as f:
            while chunk := f.read(_CHUNK):
                n += len(chunk)
                budget.spend_bytes(len(chunk), "zip")
                if n > max_entry_bytes:
                    return TOO_BIG
                chunks.append(chunk)
    except ImageFolderError:
        raise
    except Exception:  # BadZipFile (bad CRC, truncated header), EOFError, zlib.error...
        return DAMAGED
    return b"".join(chunks)


def _entries(
    source: str | os.PathLike | bytes, max_files: int, max_entry_bytes: int, budget: _Budget,
    skipped: Counter,
) -> Iterator[tuple[tuple[str, ...], bytes]]:  # fmt: skip
    """Yield ``(path parts, file bytes)`` for the candidate files of a zip or a directory;
    files that cannot be read are counted in ``skipped`` by reason."""
    if isinstance(source, bytes | bytearray) or zipfile.is_zipfile(source):
        with _open_zip(source) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            items = [(PurePosixPath(i.filename).parts, i) for i in infos]
            items = _subsample([it for it in items if it[0] and not _skip(it[0])], max_files)
            # An honest zip that is too big is refused before anything is read; a dishonest
            # one is stopped by the counters in _read_entry.
            if sum(i.file_size for _, i in items) > budget.max_bytes:
                raise ImageFolderError(_too_many_bytes("zip", budget.max_bytes))
            for parts, i in items:
                budget.tick()
                data = _read_entry(zf, i, max_entry_bytes, budget)
                if isinstance(data, str):
                    skipped[data] += 1
                else:
                    yield parts, data
        return
    root = Path(source)
    if not root.is_dir():
        raise ImageFolderError(f"{root} is neither a zip file nor a directory")
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    items = [(p.relative_to(root).parts, p) for p in paths]
    items = _subsample([it for it in items if not _skip(it[0])], max_files)
    for parts, p in items:
        budget.tick()
        size = p.stat().st_size
        budget.spend_bytes(size, "folder")
        if size > max_entry_bytes:
            skipped[TOO_BIG] += 1
            continue
        yield parts, p.read_bytes()


# --------------------------------------------------------------------------- one image


def _reduce(x: np.ndarray, long_side: int) -> np.ndarray:
    """Box-average ``(H, W, C)`` so that its longer side is at most ``long_side``."""
    h, w = x.shape[:2]
    if max(h, w) <= long_side:
        return x
    s = long_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    chans = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(x[..., i])).resize(size, Image.Resampling.BOX)
        )
        for i in range(x.shape[2])
    ]
    return np.stack(chans, axis=2).astype(np.float32, copy=False)


def image_to_array(
    data: bytes, size: tuple[int, int], channels: int, max_pixels: int = MAX_PIXELS,
    budget: _Budget | None = None,
) -> np.ndarray:  # fmt: skip
    """One image file -> uint8 ``(C, H, W)``: EXIF-rotated, transparency on white, grey or RGB,
    padded to a square with its border's median colour (the aspect is kept without bars of a
    colour that is not the background) and resized to ``size = (H, W)`` with Lanczos.

    Raises :class:`~vae.data.images.UploadError` for a file that is not a usable image.
    """
    steps: list[str] = []
    spend = budget.spend_pixels if budget is not None else None
    im, _, _ = decode(data, steps, max_pixels=max_pixels, max_bytes=None, before_decode=spend)
    x, alpha = to_array(im, steps)
    del im
    if alpha is not None:  # transparent areas become white, as they are displayed
        a = alpha.astype(np.float32)[..., None] * np.float32(1 / 255)
        x = x * a + (1 - a)
    x = match_channels(x, channels, steps)
    x = _reduce(x, SQUARE_FACTOR * max(size))
    h, w = x.shape[:2]
    if w != h:
        side = max(w, h)
        check_pixels(side, side, max_pixels)
        border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
        square = np.empty((side, side, x.shape[2]), np.float32)
        square[:] = np.median(border, axis=0)
        top, left = (side - h) // 2, (side - w) // 2
        square[top : top + h, left : left + w] = x
        x = square
    check_pixels(size[1], size[0], max_pixels)
    out = to_uint8(resize(x, (size[1], size[0])))
    return np.ascontiguousarray(out.transpose(2, 0, 1))


# --------------------------------------------------------------------------- the dataset


def _classes(parts_list: list[tuple[str, ...]]) -> list[str]:
    """Each file's class: its first sub-folder, ignoring folders that wrap everything
    (``upload/cats/a.png`` -> ``cats``); files at the top level are ``"images"``."""
    while all(len(p) >= 3 for p in parts_list) and len({p[0] for p in parts_list}) == 1:
        parts_list = [p[1:] for p in parts_list]
    return [p[0] if len(p) >= 2 else "images" for p in parts_list]


def list_zip(data: bytes, max_files: int = MAX_FILES) -> dict[str, int]:
    """``{class name: number of files}`` of a zip, from its table of contents only (nothing
    is unpacked or decoded: cheap enough for a page run). Raises :class:`ImageFolderError`
    for a zip that cannot be opened or is over ``MAX_UPLOAD_BYTES``."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageFolderError(
            f"The zip is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB. "
            "Please upload fewer or smaller images."
        )
    with _open_zip(data) as zf:
        parts = [PurePosixPath(i.filename).parts for i in zf.infolist() if not i.is_dir()]
    parts = _subsample([p for p in parts if p and not _skip(p)], max_files)
    return dict(sorted(Counter(_classes(parts)).items()))


def _skipped_text(skipped: Counter) -> str:
    if not skipped:
        return ""
    return " Skipped: " + "; ".join(f"{n} {why}" for why, n in skipped.most_common()) + "."


def load_image_folder(
    source: str | os.PathLike | bytes,
    size: tuple[int, int] = (28, 28),
    channels: int = 1,
    max_files: int = MAX_FILES,
    *,
    name: str = "custom",
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
    max_total_pixels: int | None = MAX_TOTAL_PIXELS,
    max_cpu_seconds: float | None = MAX_CPU_SECONDS,
    should_stop: Callable[[], bool] | None = None,
) -> Dataset:
    """A :class:`Dataset` from the user's images: a zip (path or bytes) or a directory.

    The label of a file is its first sub-folder (a single folder wrapping everything is
    ignored); files at the top level form the class ``"images"``. Each image is prepared by
    :func:`image_to_array`. Files that are not images, damaged, or over a per-file limit are
    skipped (and counted in the message if too few remain); more than ``max_files`` files are
    subsampled (fixed seed). Split: 10% test (at least 1), from ``default_rng(0)``.

    Raises :class:`ImageFolderError` (a ``ValueError`` whose text is for the user) for an
    unreadable zip, a build over budget (``max_bytes`` read, ``max_total_pixels`` decoded,
    ``max_cpu_seconds`` of CPU; None = no limit) or fewer than 2 usable images, and
    :class:`BuildStopped` once ``should_stop()`` returns True.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    size = (int(size[0]), int(size[1]))
    budget = _Budget(max_bytes, max_total_pixels, max_cpu_seconds, should_stop)
    skipped: Counter = Counter()
    decoded = []
    for parts, data in _entries(source, max_files, max_entry_bytes, budget, skipped):
        try:
            decoded.append((parts, image_to_array(data, size, channels, max_pixels, budget)))
        except TooManyPixels:
            skipped[TOO_MANY_PIXELS] += 1
        except ImageFolderError:
            raise
        except Exception:  # UploadError, or anything else an untrusted file provokes
            skipped[NOT_IMAGE] += 1
        budget.tick()
    if len(decoded) < 2:
        raise ImageFolderError(
            f"Found {len(decoded)} usable image(s); need at least 2 ({FORMATS_TEXT} files, "
            "optionally in one sub-folder per class)." + _skipped_text(skipped)
        )
    classes = _classes([p for p, _ in decoded])
    label_names = tuple(sorted(set(classes)))
    labels = np.array([label_names.index(c) for c in classes], dtype=np.int64)
    images = np.stack([a for _, a in decoded])
    return from_arrays(name, images, labels, max(1, round(0.1 * len(images))), label_names)


@dataclass(frozen=True, eq=False)  # eq=False: compare by identity, not by the zip's bytes
class ImageZip:
    """A user's zip of images, read into a :class:`Dataset` later by :meth:`build`, where the
    reading can be stopped (inside a training job, so that Stop and a closed tab end it)."""

    data: bytes
    size: tuple[int, int]
    channels: int
    name: str = "custom"

    def build(self, should_stop: Callable[[], bool] | None = None) -> Dataset:
        return load_image_folder(
            self.data, self.size, self.channels, name=self.name, should_stop=should_stop
        )


__all__ = [
    "BuildStopped",
    "ImageFolderError",
    "ImageZip",
    "image_to_array",
    "list_zip",
    "load_image_folder",
]
