"""Small hostile zips, built in memory for the tests and the bench (never stored in the repo);
the standard library at module level, Pillow inside the functions that draw images.

Each builder returns the zip's bytes (a few KB). ``raw_zip`` writes the zip format by hand so
that a header can lie: an entry's declared size, its compressed size, the name flags, the
end-of-central-directory record.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def png(size: tuple[int, int], colour=0, mode: str = "L") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return buf.getvalue()


def strip_png(w: int, h: int, mode: str = "L") -> bytes:
    """A ``w`` x ``h`` black image with a white bar along its middle (so padding it to a
    square and resizing it is visible in the result)."""
    from PIL import Image

    im = Image.new(mode, (w, h), 0)
    bar = (0, h // 3, w, max(h // 3 + 1, 2 * h // 3))
    im.paste(255 if mode == "L" else (255, 255, 255), bar)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def deflate(data_or_size: bytes | int, chunk: int = 1 << 20) -> tuple[bytes, int, int]:
    """Raw deflate of ``data`` (or of that many zero bytes, streamed): (stream, crc, size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, crc, n = [], 0, 0
    if isinstance(data_or_size, int):
        zero = bytes(chunk)
        left = data_or_size
        while left > 0:
            piece = zero[: min(chunk, left)]
            out.append(c.compress(piece))
            crc, n, left = zlib.crc32(piece, crc), n + len(piece), left - len(piece)
    else:
        out.append(c.compress(data_or_size))
        crc, n = zlib.crc32(data_or_size), len(data_or_size)
    out.append(c.flush())
    return b"".join(out), crc, n


def raw_zip(entries: list[dict], cd_size_delta: int = 0) -> bytes:
    """A zip from ``entries``: dicts with ``name`` (bytes), ``data`` (the stored bytes, already
    compressed), ``method`` (0 stored, 8 deflate, 14 LZMA...), ``crc``, ``size`` (declared
    uncompressed size), optional ``csize`` (declared compressed size) and ``flags``."""
    body, central = io.BytesIO(), io.BytesIO()
    for e in entries:
        offset = body.tell()
        csize = e.get("csize", len(e["data"]))
        fields = (20, e.get("flags", 0), e["method"], 0, 0x21, e["crc"], csize, e["size"])
        body.write(struct.pack("<4s5HIIIHH", b"PK\x03\x04", *fields, len(e["name"]), 0))
        body.write(e["name"] + e["data"])
        central.write(struct.pack("<4s6HIIIHHHHHII", b"PK\x01\x02", 20, *fields,
                                  len(e["name"]), 0, 0, 0, 0, 0, offset))  # fmt: skip
        central.write(e["name"])
    cd = central.getvalue()
    n, size = len(entries), len(cd) + cd_size_delta
    eocd = struct.pack("<4s4HIIH", b"PK\x05\x06", 0, 0, n, n, size, body.tell(), 0)
    return body.getvalue() + cd + eocd


def entry(name: str, data: bytes) -> dict:
    stream, crc, n = deflate(data)
    return {"name": name.encode(), "data": stream, "method": 8, "crc": crc, "size": n}


def good_entries(n: int = 2) -> list[dict]:
    return [entry(f"ok/{i}.png", png((8, 8), 40 * i)) for i in range(n)]


def pad_bomb(n: int = 3, w: int = 20000, h: int = 20, mode: str = "L") -> bytes:
    """``n`` strips of w x h (each ~1 KB) plus two ordinary images: padded to a square first,
    each strip would be a w x w image (400 megapixels for 20000 x 20)."""
    strip = strip_png(w, h, mode)
    return raw_zip(good_entries() + [entry(f"strips/{i}.png", strip) for i in range(n)])


def lying_entry(actual: int = 300_000_000, declared: int = 1000) -> bytes:
    """An entry that declares ``declared`` bytes but inflates to ``actual`` zero bytes."""
    stream, crc, _ = deflate(actual)
    liar = {"name": b"ok/liar.png", "data": stream, "method": 8, "crc": crc, "size": declared}
    return raw_zip(good_entries() + [liar])


def corrupt_lzma(n: int = 3) -> bytes:
    """Entries compressed with LZMA whose compressed bytes are damaged."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_LZMA) as zf:
        for i in range(n):
            zf.writestr(f"cats/{i}.png", png((64, 64), 10 * i))
    raw = bytearray(buf.getvalue())
    for i in range(n):  # flip bytes inside each entry's compressed data
        start = raw.index(f"cats/{i}.png".encode()) + len(f"cats/{i}.png") + 12
        for k in range(start, start + 40):
            raw[k] ^= 0xA5
    return bytes(raw)


def past_end_of_file() -> bytes:
    """Stored entries whose declared sizes run far past the end of the file."""
    entries = []
    for i in range(3):
        data = png((8, 8), 40 * i)
        entries.append({"name": f"ok/{i}.png".encode(), "data": data, "method": 0,
                        "crc": zlib.crc32(data), "size": 10**7, "csize": 10**7})  # fmt: skip
    return raw_zip(entries)


def bad_end_record() -> bytes:
    """A zip whose end-of-central-directory record gives a wrong directory size."""
    return raw_zip(good_entries(3), cd_size_delta=1000)


def non_utf8_names() -> bytes:
    """Names flagged as UTF-8 (bit 11) that are not valid UTF-8."""
    entries = good_entries(3)
    for i, e in enumerate(entries):
        e["name"] = b"ok/\xff\xfe" + bytes([48 + i]) + b".png"
        e["flags"] = 0x800
    return raw_zip(entries)


FAILURES = {  # zip -> what the message must say (and it must not quote an exception)
    "corrupt LZMA entries": (corrupt_lzma, "LZMA"),
    "entries past the end of the file": (past_end_of_file, "damaged or cut off"),
    "a bad end-of-directory record": (bad_end_record, "not a readable zip"),
    "names that are not UTF-8": (non_utf8_names, "not valid UTF-8"),
}
