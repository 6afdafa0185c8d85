"""A corpus of good, odd and hostile upload files, generated on the fly, and a runner for it.

``make_corpus(dir)`` writes the files and returns :class:`CorpusCase` records;
``run_case(case, image_shape, style)`` runs one through ``vae.data.upload.preprocess_upload`` and
judges it (valid output or a clear ``UploadError``, expected outcome, traced memory,
case-specific checks; the time is reported, and only the script's table flags slow runs). ``tests/test_upload_corpus.py`` runs it under pytest; for a table::

    python -m tests.upload_corpus        # or: python tests/upload_corpus.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.image_makers import (  # noqa: E402
    bar,
    big_photo,
    encode,
    noisy_digit,
    paper_photo,
    png_header_bomb,
    png_uniform_bomb,
    seven,
)
from vae.data.images import MAX_UPLOAD_BYTES  # noqa: E402
from vae.data.upload import Preprocessed, UploadError, preprocess_upload  # noqa: E402

Shape = tuple[int, int, int]
Result = Preprocessed | UploadError
# A case-specific check: an explanation of what is wrong, or None. It may ignore shapes or
# styles where it does not apply.
Check = Callable[[Result, Shape, str], str | None]

# (image_shape, style) pairs every case is run with: MNIST, Fashion-MNIST, sklearn digits,
# Frey Face (H != W) and a colour model.
SHAPES: tuple[tuple[Shape, str], ...] = (
    ((1, 28, 28), "digit"),
    ((1, 28, 28), "fashion"),
    ((1, 8, 8), "digit"),
    ((1, 28, 20), "face"),
    ((3, 32, 32), "generic"),
)
DEFAULT_MAX_SECONDS = 3.0  # generous: 2 shared cores, tracemalloc on
MAX_TRACED_BYTES = 300 * 2**20


@dataclass(frozen=True)
class CorpusCase:
    name: str
    path: Path
    expect: Literal["ok", "error"]
    note: str
    check: Check | None = None
    max_seconds: float = DEFAULT_MAX_SECONDS


@dataclass
class Outcome:
    """One run. ``status``: ``ok`` (valid array), ``error`` (UploadError with a message) or
    ``failed`` (anything else: another exception or an invalid array)."""

    case: str
    shape: Shape
    style: str
    status: Literal["ok", "error", "failed"]
    seconds: float
    peak_bytes: int
    file_bytes: int
    message: str = ""
    size: tuple[int, int] | None = None
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- checks


def _arr(r: Result) -> np.ndarray | None:
    return r.model_input.mean(axis=0) if isinstance(r, Preprocessed) else None


def _extent(a: np.ndarray) -> tuple[int, int]:
    """(height, width) of what differs from the border colour."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    mask = np.abs(a - np.median(border)) > 0.25
    if not mask.any():
        return 0, 0
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _wide(r: Result, shape: Shape, style: str) -> str | None:
    a = _arr(r)
    if a is None:
        return None
    h, w = _extent(a)
    return None if w > h else f"expected a horizontal bar (first frame), content is {w}x{h}"


def _exif(r: Result, shape: Shape, style: str) -> str | None:
    if not isinstance(r, Preprocessed):
        return None
    if r.size != (30, 60):
        return f"size should be the upright (30, 60), got {r.size}"
    if not any("EXIF rotated" in s for s in r.steps):
        return f"no 'EXIF rotated' step in {r.steps}"
    h, w = _extent(r.model_input.mean(axis=0))
    return None if h > w else f"expected a vertical bar after rotation, content is {w}x{h}"


def _not_blank(r: Result, shape: Shape, style: str) -> str | None:
    if isinstance(r, Preprocessed) and (r.blank or float(r.model_input.max()) < 0.5):
        return f"expected visible content, got blank={r.blank} max={r.model_input.max():.2f}"
    return None


def _blank(r: Result, shape: Shape, style: str) -> str | None:
    if isinstance(r, Preprocessed) and not r.blank:
        return "expected blank=True"
    return None


def _all(*checks: Check) -> Check:
    def check(r: Result, shape: Shape, style: str) -> str | None:
        for c in checks:
            why = c(r, shape, style)
            if why:
                return why
        return None

    return check


def _step(text: str, present: bool = True, styles: tuple[str, ...] = ()) -> Check:
    def check(r: Result, shape: Shape, style: str) -> str | None:
        if not isinstance(r, Preprocessed) or (styles and style not in styles):
            return None
        found = any(text in s for s in r.steps)
        if found != present:
            return f"step containing {text!r} {'missing' if present else 'unexpected'}: {r.steps}"
        return None

    return check


def _message(*words: str) -> Check:
    def check(r: Result, shape: Shape, style: str) -> str | None:
        if isinstance(r, UploadError) and not all(w.lower() in str(r).lower() for w in words):
            return f"message should mention {words}: {r}"
        return None

    return check


def _paper_to_black(r: Result, shape: Shape, style: str) -> str | None:
    """A pencil photo for an MNIST-sized digit model: strokes near 1, paper exactly 0."""
    if not isinstance(r, Preprocessed) or style != "digit" or shape[1] < 16:
        return None
    a = r.model_input[0]
    if a.max() < 0.95 or (a == 0).mean() < 0.6:
        return f"strokes max {a.max():.2f} (want >= 0.95), zero fraction {(a == 0).mean():.2f}"
    return None


def _grey_level(lo: float, hi: float) -> Check:
    """For the photo-like styles: the mean level survives (16/32-bit scaling, not clipping)."""

    def check(r: Result, shape: Shape, style: str) -> str | None:
        if not isinstance(r, Preprocessed) or style not in ("face", "generic"):
            return None
        m = float(r.model_input.mean())
        return None if lo <= m <= hi else f"mean level {m:.2f} outside {lo}..{hi}"

    return check


def _format(name: str) -> Check:
    def check(r: Result, shape: Shape, style: str) -> str | None:
        if isinstance(r, Preprocessed) and r.format != name:
            return f"format should be {name}, got {r.format}"
        return None

    return check


# --------------------------------------------------------------------------- the corpus


def _cases() -> list[tuple[str, str, str, Callable[[], bytes], Check | None, float]]:
    """(file name, expect, note, make bytes, check, max seconds), in table order."""
    s = DEFAULT_MAX_SECONDS
    digit = seven((120, 160))

    def exif_jpeg() -> bytes:
        exif = Image.Exif()
        exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
        return encode(bar((60, 30), horizontal=True), "JPEG", exif=exif, quality=95)

    def gif_anim() -> bytes:
        frames = [bar((40, 40), True), bar((40, 40), False)]
        return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)

    def palette_transparent() -> bytes:
        im = seven((100, 100)).point(lambda v: 1 if v < 128 else 0).convert("P")
        im.putpalette([255, 255, 255, 0, 0, 0])
        return encode(im, "PNG", transparency=0)

    def rgba_strokes() -> bytes:
        # Transparent pixels are (0, 0, 0, 0): a naive convert("L") makes the page black.
        a = 255 - np.asarray(seven((100, 100)))
        rgba = np.zeros((100, 100, 4), np.uint8)
        rgba[..., :3] = 20
        rgba[..., 3] = a
        return encode(Image.fromarray(rgba), "PNG")

    def la_mode() -> bytes:
        a = 255 - np.asarray(seven((90, 90)))
        return encode(Image.fromarray(np.stack([np.full_like(a, 30), a], axis=2)), "PNG")

    def gray16() -> bytes:
        a = np.where(np.asarray(seven((100, 100))) < 128, 5000, 60000).astype(np.uint16)
        return encode(Image.fromarray(a), "PNG")

    def i_mode() -> bytes:
        a = np.where(np.asarray(seven((100, 100))) < 128, 3000, 50000).astype(np.int32)
        return encode(Image.fromarray(a), "TIFF")

    def strip() -> bytes:
        im = Image.new("L", (20000, 20), 255)
        ImageDraw.Draw(im).rectangle((9990, 3, 10005, 16), fill=0)
        ImageDraw.Draw(im).line((9985, 10, 10012, 10), fill=0, width=3)
        return encode(im, "PNG")

    def thin() -> bytes:
        im = Image.new("L", (2, 4000), 255)
        ImageDraw.Draw(im).line((0, 1000, 1, 3000), fill=0, width=1)
        return encode(im, "PNG")

    def mnist_like() -> bytes:
        return encode(seven((28, 28), ink=255, paper=0, width=3), "PNG")

    def big_png() -> bytes:
        return encode(seven((6000, 6000), width=200), "PNG", compress_level=1)

    return [
        ("empty.png", "error", "zero bytes", lambda: b"", _message("empty"), s),
        ("truncated.png", "error", "PNG cut in the pixel data",
         lambda: (d := encode(noisy_digit((128, 128), 1), "PNG"))[: len(d) * 6 // 10],
         _message("damaged or incomplete"), s),
        ("truncated.jpg", "error", "JPEG cut in half",
         lambda: (d := encode(noisy_digit((256, 256), 2), "JPEG", quality=90))[: len(d) // 2],
         _message("damaged or incomplete"), s),
        ("text.png", "error", "plain text named .png",
         lambda: b"This is not an image, just some notes.\n" * 20, _message("text"), s),
        ("page.png", "error", "HTML named .png",
         lambda: b"<!DOCTYPE html>\n<html><body><img src='x.png'></body></html>\n",
         _message("HTML"), s),
        ("drawing.svg", "error", "SVG (vector)",
         lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="28" '
         b'height="28"><path d="M5 5 L20 20" stroke="black"/></svg>\n',
         _message("SVG", "PNG"), s),
        ("document.png", "error", "PDF named .png",
         lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", _message("PDF"), s),
        ("png_signature_garbage.png", "error", "PNG signature, then random bytes",
         lambda: b"\x89PNG\r\n\x1a\n" + np.random.default_rng(3).bytes(3000),
         _message("damaged"), s),
        ("bomb_header.png", "error", "IHDR declares 100000x100000 (valid CRC), tiny file",
         lambda: png_header_bomb(100_000, 100_000), _message("megapixels"), 1.0),
        ("bomb_7000x7000.png", "error", "real all-black 49 MP PNG, ~1000:1 compressed",
         lambda: png_uniform_bomb(7000), _message("megapixels"), 1.0),
        ("too_big.png", "error", f"{MAX_UPLOAD_BYTES + 1} bytes (limit + 1)",
         lambda: b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES - 7), _message("limit"), 1.0),
        ("one_pixel.png", "ok", "1x1 grey", lambda: encode(Image.new("L", (1, 1), 128), "PNG"),
         _blank, s),
        ("all_white.png", "ok", "uniform white",
         lambda: encode(Image.new("RGB", (64, 64), "white"), "PNG"), _blank, s),
        ("all_black.png", "ok", "uniform black",
         lambda: encode(Image.new("L", (64, 64), 0), "PNG"), _blank, s),
        ("strip_20000x20.png", "ok", "20000x20 strip, a mark in the middle: cropped to it",
         strip, _not_blank, s),
        ("thin_2x4000.png", "ok", "2x4000 with a line", thin, None, s),
        ("gray16.png", "ok", "16-bit grey (I;16): paper 60000, ink 5000",
         gray16, _all(_step("16-bit"), _grey_level(0.6, 0.95)), s),
        ("i_mode.tif", "ok", "32-bit int (I) TIFF: paper 50000, ink 3000",
         i_mode, _all(_step("16-bit"), _grey_level(0.5, 0.8)), s),
        ("bilevel.png", "ok", "1-bit (mode 1)",
         lambda: encode(digit.convert("1"), "PNG"), _not_blank, s),
        ("la_mode.png", "ok", "LA: transparent background, dark strokes",
         la_mode, _all(_step("flattened onto white"), _not_blank), s),
        ("rgba_strokes.png", "ok", "RGBA: transparent (0,0,0,0) background, dark strokes",
         rgba_strokes, _all(_step("flattened onto white"), _not_blank), s),
        ("palette_transparent.png", "ok", "P with tRNS: transparent index 0",
         palette_transparent, _all(_step("transparency"), _not_blank), s),
        ("cmyk.jpg", "ok", "CMYK JPEG",
         lambda: encode(digit.convert("CMYK"), "JPEG"), _not_blank, s),
        ("animated.gif", "ok", "2 frames: horizontal bar, then vertical bar",
         gif_anim, _all(_step("first frame"), _wide), s),
        ("exif_rotated.jpg", "ok", "stored 60x30 horizontal bar, EXIF Orientation=6",
         exif_jpeg, _exif, s),
        ("digit.gif", "ok", "static GIF", lambda: encode(digit, "GIF"), _not_blank, s),
        ("digit.bmp", "ok", "BMP (RGB)", lambda: encode(digit.convert("RGB"), "BMP"),
         _not_blank, s),
        ("digit.webp", "ok", "lossy WebP",
         lambda: encode(digit.convert("RGB"), "WEBP", quality=80), _not_blank, s),
        ("digit.tif", "ok", "TIFF (deflate)",
         lambda: encode(digit, "TIFF", compression="tiff_adobe_deflate"), _not_blank, s),
        ("jpeg_named.png", "ok", "a JPEG named .png",
         lambda: encode(digit.convert("RGB"), "JPEG"), _format("JPEG"), s),
        ("mnist_like.png", "ok", "white digit on black (no inversion)",
         mnist_like, _all(_step("inverted", present=False, styles=("digit", "fashion")),
                          _not_blank), s),
        ("paper_photo.jpg", "ok", "pencil on noisy grey paper, uneven light, 900x1200",
         lambda: encode(paper_photo((900, 1200), 4), "JPEG", quality=85),
         _all(_step("contrast stretched", styles=("digit",)), _paper_to_black, _not_blank), s),
        ("photo_6000x4000.jpg", "ok", "24 MP photo-like JPEG (gradient, noise, digit)",
         lambda: encode(big_photo((6000, 4000)), "JPEG", quality=85),
         _all(_step("DCT scaling"), _not_blank), 2.0),
        ("large_6000x6000.png", "ok", "36 MP PNG (under the 40 MP limit)",
         big_png, _all(_step("reduced"), _not_blank), s),
    ]  # fmt: skip


CASE_NAMES: tuple[str, ...] = tuple(c[0] for c in _cases())


def make_corpus(directory: Path | str) -> list[CorpusCase]:
    """Write every corpus file into ``directory`` and describe it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, expect, note, make, check, max_s in _cases():
        path = directory / name
        path.write_bytes(make())
        out.append(CorpusCase(name, path, expect, note, check, max_s))  # type: ignore[arg-type]
    return out


# --------------------------------------------------------------------------- running


def _valid(r: Preprocessed, shape: Shape) -> list[str]:
    a = r.model_input
    problems = []
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != shape:
        return [f"model_input {getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}"]
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        problems.append(f"values outside [0, 1]: {a.min()}..{a.max()}")
    o = r.original
    if not isinstance(o, Image.Image) or o.mode != "RGB" or max(o.size) > 512:
        problems.append(f"original is not an RGB thumbnail <= 512 px: {o}")
    if not r.steps or not all(isinstance(s, str) and s for s in r.steps):
        problems.append(f"steps should be non-empty strings: {r.steps}")
    return problems


def run_case(case: CorpusCase, shape: Shape, style: str, time_limit: bool = False) -> Outcome:
    """Run one case; never raises (a failure is recorded in the outcome). The time is always
    recorded; ``time_limit`` (the script's report, not the tests: wall time on shared cores
    is noise) also flags a run slower than the case's ``max_seconds``."""
    data = case.path.read_bytes()
    result: Result | None = None
    other: BaseException | None = None
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = preprocess_upload(data, shape, style=style)  # type: ignore[arg-type]
    except UploadError as e:
        result = e
    except Exception as e:  # anything else is exactly what this corpus hunts for
        other = e
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    o = Outcome(case.name, shape, style, "failed", seconds, peak, len(data))
    if other is not None:
        o.message = f"{type(other).__name__}: {other}"
        o.problems.append(f"unexpected {o.message}")
        return o
    assert result is not None
    if isinstance(result, UploadError):
        o.message = str(result)
        o.status = "error"
        bad = ("Traceback", 'File "', str(case.path.parent), "site-packages")
        if not o.message.strip() or any(b in o.message for b in bad):
            o.status = "failed"
            o.problems.append(f"unclear message: {o.message!r}")
    else:
        o.size = result.size
        o.problems += _valid(result, shape)
        o.status = "failed" if o.problems else "ok"
    if o.status != "failed" and o.status != case.expect:
        o.problems.append(f"expected {case.expect}, got {o.status}: {o.message}")
    if time_limit and seconds > case.max_seconds:
        o.problems.append(f"took {seconds:.2f} s (limit {case.max_seconds} s)")
    if peak > MAX_TRACED_BYTES:
        o.problems.append(f"traced memory peak {peak / 2**20:.0f} MB")
    if case.check is not None:
        why = case.check(result, shape, style)
        if why:
            o.problems.append(why)
    return o


def run_all(cases: list[CorpusCase], time_limit: bool = False) -> list[Outcome]:
    return [run_case(c, shape, style, time_limit) for c in cases for shape, style in SHAPES]


def summarize(outcomes: list[Outcome]) -> str:
    """One line: counts, the slowest run and the largest image handled."""
    files = {o.case for o in outcomes}
    n_ok = sum(o.status == "ok" for o in outcomes)
    n_err = sum(o.status == "error" for o in outcomes)
    n_failed = sum(o.status == "failed" for o in outcomes)
    n_problems = sum(bool(o.problems) for o in outcomes)
    line = (
        f"upload corpus: {len(files)} files x {len(SHAPES)} shapes = {len(outcomes)} runs: "
        f"{n_ok} handled ok, {n_err} clear errors, {n_failed} failed, "
        f"{n_problems} with problems"
    )
    if outcomes:
        slow = max(outcomes, key=lambda o: o.seconds)
        peak = max(outcomes, key=lambda o: o.peak_bytes)
        line += (
            f"; slowest {slow.case} {slow.seconds:.2f} s; "
            f"peak traced memory {peak.peak_bytes / 2**20:.0f} MB ({peak.case})"
        )
    handled = [o for o in outcomes if o.status == "ok" and o.size]
    if handled:
        big = max(handled, key=lambda o: (o.size[0] * o.size[1], o.file_bytes))  # type: ignore[index]
        fat = max(handled, key=lambda o: o.file_bytes)
        line += (
            f"; largest handled {big.case} ({big.size[0]}x{big.size[1]}), "  # type: ignore[index]
            f"heaviest {fat.case} ({fat.file_bytes / 2**20:.1f} MB)"
        )
    return line


def table(cases: list[CorpusCase], outcomes: list[Outcome]) -> str:
    """A Markdown table: one row per file, the worst run of its shapes."""
    rows = [
        "| file | bytes | expect | result | max s | traced MB | note / message |",
        "| --- | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for c in cases:
        mine = [o for o in outcomes if o.case == c.name]
        statuses = sorted({o.status for o in mine})
        if any(o.problems for o in mine):
            statuses.append("PROBLEM")
        msg = next((o.message for o in mine if o.message), "")
        text = c.note + (f" -> {msg}" if msg else "")
        problems = [f"{o.shape}/{o.style}: {p}" for o in mine for p in o.problems]
        if problems:
            text += " !! " + "; ".join(problems)
        rows.append(
            f"| {c.name} | {mine[0].file_bytes:,} | {c.expect} | {'+'.join(statuses)} | "
            f"{max(o.seconds for o in mine):.3f} | "
            f"{max(o.peak_bytes for o in mine) / 2**20:.1f} | {text} |"
        )
    return "\n".join(rows)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cases = make_corpus(tmp)
        made = time.perf_counter() - t0
        outcomes = run_all(cases, time_limit=True)
    print(table(cases, outcomes))
    print()
    print(
        f"(corpus generated in {made:.1f} s; shapes/styles: "
        + ", ".join(f"{s}/{st}" for s, st in SHAPES)
        + ")"
    )
    print(summarize(outcomes))
    return 1 if any(o.problems for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
