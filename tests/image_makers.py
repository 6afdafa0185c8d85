"""Image files made on the fly for the upload tests and the upload corpus: a drawn "7", bars,
photos of ink on paper, and PNG decompression bombs (a lying header, a real 1000:1 file)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageChops, ImageDraw


def encode(im: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    """``im`` saved as ``fmt`` (PIL format name), as bytes."""
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def seven(size: tuple[int, int], ink: int = 0, paper: int = 255, width: int = 0) -> Image.Image:
    """A hand-drawn-looking "7" (greyscale), scaled to ``size`` = (w, h)."""
    w, h = size
    im = Image.new("L", size, paper)
    d = ImageDraw.Draw(im)
    lw = width or max(1, min(w, h) // 12)
    d.line([(0.3 * w, 0.22 * h), (0.7 * w, 0.2 * h)], fill=ink, width=lw)
    d.line([(0.7 * w, 0.2 * h), (0.45 * w, 0.8 * h)], fill=ink, width=lw)
    d.line([(0.45 * w, 0.5 * h), (0.65 * w, 0.5 * h)], fill=ink, width=lw)
    return im


def bar(size: tuple[int, int], horizontal: bool) -> Image.Image:
    """A dark bar on white: horizontal or vertical (for orientation and frame checks)."""
    w, h = size
    im = Image.new("L", size, 255)
    box = (
        (0.15 * w, 0.4 * h, 0.85 * w, 0.6 * h)
        if horizontal
        else (0.4 * w, 0.15 * h, 0.6 * w, 0.85 * h)
    )
    ImageDraw.Draw(im).rectangle(box, fill=0)
    return im


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_header_bomb(w: int, h: int) -> bytes:
    """A PNG whose IHDR (valid CRC) declares w x h 8-bit grey pixels, with a token IDAT."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_uniform_bomb(side: int) -> bytes:
    """A real, complete all-black PNG of side x side, compressed about 1000:1."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    block = b"\x00" * ((side + 1) * 500)  # 500 rows of (filter byte + pixels)
    parts = [comp.compress(block) for _ in range(side // 500)]
    parts.append(comp.compress(b"\x00" * ((side + 1) * (side % 500))))
    parts.append(comp.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def noisy_digit(size: tuple[int, int], seed: int) -> Image.Image:
    """A digit with noise everywhere: compresses badly, so truncation cuts pixel data."""
    rng = np.random.default_rng(seed)
    a = np.asarray(seven(size), dtype=np.float64) * 0.7 + rng.normal(40, 25, size[::-1])
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def paper_photo(size: tuple[int, int], seed: int) -> Image.Image:
    """Pencil on paper under uneven light: light grey noisy paper, grey strokes, RGB."""
    w, h = size
    rng = np.random.default_rng(seed)
    light = np.linspace(0.85, 1.0, w)[None, :] * np.linspace(0.9, 1.0, h)[:, None]
    paper = 205 * light + rng.normal(0, 6, (h, w))
    strokes = np.asarray(seven(size, width=max(2, min(w, h) // 40)), dtype=np.float64) / 255
    a = paper * strokes + (1 - strokes) * (80 + rng.normal(0, 10, (h, w)))
    g = np.clip(a, 0, 255).astype(np.uint8)
    # A warm cast, as under room light.
    rgb = np.stack([g, np.clip(g * 0.97, 0, 255), np.clip(g * 0.9, 0, 255)], axis=2)
    return Image.fromarray(rgb.astype(np.uint8))


def big_photo(size: tuple[int, int]) -> Image.Image:
    """A 'phone photo': lit paper gradient, sensor noise, a big drawn digit, colour cast."""
    grad = Image.linear_gradient("L").rotate(90).resize(size, Image.Resampling.BILINEAR)
    paper = grad.point(lambda v: 150 + v * 80 // 255)
    noisy = ImageChops.add(paper, Image.effect_noise(size, 4), scale=1.0, offset=-128)
    ink = seven(size, width=min(size) // 30)
    g = ImageChops.darker(noisy, ink.point(lambda v: 60 if v < 128 else 255))
    return Image.merge(
        "RGB", (g, g.point(lambda v: v * 96 // 100), g.point(lambda v: v * 88 // 100))
    )
