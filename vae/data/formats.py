"""The dataset file formats: IDX (MNIST, Fashion-MNIST), Frey Face's MATLAB file and
scikit-learn's bundled digits. Each reader returns plain uint8 numpy arrays (or raises
``ValueError`` saying what is wrong with the file); building a :class:`~vae.data.registry.Dataset`
from them is the registry's job. Heavy imports (scipy, scikit-learn) are lazy.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

FREY_SHAPE = (28, 20)

_IDX_MAGIC = {0x0801: 1, 0x0803: 3}  # labels: 1 dim, images: 3 dims; 0x08 = uint8


def read_idx(source: str | os.PathLike | bytes) -> np.ndarray:
    """Parse an IDX file (gzipped or raw; the gzip magic is detected) into a uint8 array.

    Labels files (magic 0x00000801) give ``(N,)``, image files (0x00000803) ``(N, H, W)``.
    Raises ``ValueError`` on a bad gzip stream, a bad header or a payload of the wrong length.
    """
    what = "IDX bytes" if isinstance(source, bytes | bytearray) else str(source)
    raw = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{what}: corrupt gzip stream ({e})") from e
    if len(raw) < 4:
        raise ValueError(f"{what}: too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(
            f"{what}: bad IDX magic 0x{magic:08x}; expected 0x00000801 (uint8 labels) "
            "or 0x00000803 (uint8 images)"
        )
    ndim = _IDX_MAGIC[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{what}: truncated IDX header ({len(raw)} of {header} bytes)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise ValueError(
            f"{what}: payload is {len(raw) - header} bytes but the header {dims} "
            f"needs {expected} (truncated or corrupt file)"
        )
    # copy(): frombuffer over bytes is read-only, and torch.from_numpy wants a writable array.
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_frey_mat(path: str | os.PathLike) -> np.ndarray:
    """Frey Face's ``frey_rawface.mat`` -> uint8 frames ``(N, 28, 20)`` in video order.

    Raises ``ValueError`` (or ``OSError``) for a file that is not the expected one.
    """
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        ff = scipy.io.loadmat(path)["ff"]
    except (KeyError, TypeError, MatReadError) as e:
        raise ValueError(f"not a MATLAB file with an 'ff' array ({e})") from e
    if ff.dtype != np.uint8 or ff.ndim != 2 or ff.shape[0] != FREY_SHAPE[0] * FREY_SHAPE[1]:
        raise ValueError(f"expected a 560 x N uint8 'ff' array, got {ff.dtype} {ff.shape}")
    return np.ascontiguousarray(ff.T.reshape(-1, *FREY_SHAPE))  # columns are frames, row-major


def read_sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits: uint8 images ``(N, 8, 8)`` in 0..255 and int64 labels ``(N,)``."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixels are counts 0..16 (of a 4x4 block each); rescale to the usual 0..255.
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)
