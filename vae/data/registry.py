"""Datasets for the app: 8x8 digits (bundled), MNIST, Fashion-MNIST, Frey Face, and user images.

Images are kept as uint8 tensors ``(N, C, H, W)`` with values 0..255 (4x smaller than float32);
convert a batch with :func:`to_float` and, for a Bernoulli decoder, :func:`binarize` it.

Data files are looked up in :func:`data_dirs` (an explicit ``data_dir``; else ``$VAE_DATA_DIR``
then the per-user cache ``$XDG_CACHE_HOME/vae-latent-explorer``) with the layout
``<dir>/mnist/<file>.gz``, ``<dir>/fashion-mnist/<file>.gz``, ``<dir>/frey/frey_rawface.mat``.
Missing files are downloaded (SHA-256 verified, written atomically) unless ``download=False``.
Nothing here runs at import time; the heavy imports (scikit-learn, scipy, Pillow) are lazy.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import io
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

ENV_VAR = "VAE_DATA_DIR"
CACHE_SUBDIR = "vae-latent-explorer"

DIGIT_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))
FASHION_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FREY_FRAMES_PER_BUCKET = 400


class DatasetUnavailable(Exception):
    """A dataset's files are missing, corrupt or could not be downloaded; the message says
    which files, where they were looked for, and where to put them by hand."""


# --------------------------------------------------------------------------- the Dataset


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no truth value; compare by identity
class Dataset:
    """A train/test split. ``*_x``: uint8 ``(N, C, H, W)`` in 0..255; ``*_y``: int64 ``(N,)``
    indexing ``label_names``. ``likelihood``: ``"bernoulli"`` or ``"gaussian"``.

    Instances are shared by the in-process cache: do not modify the tensors in place.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    label_names: tuple[str, ...]
    likelihood: str = "bernoulli"

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_names", tuple(str(n) for n in self.label_names))
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise ValueError(
                    f"{split}_x must be uint8 (N, C, H, W), got {x.dtype} {tuple(x.shape)}"
                )
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(
                    f"{split}_y must be int64 ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}"
                )
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(self.label_names)):
                raise ValueError(f"{split}_y has labels outside 0..{len(self.label_names) - 1}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError("train and test images differ in shape")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(
                f"likelihood must be 'bernoulli' or 'gaussian', got {self.likelihood!r}"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:  # the default repr would print every pixel
        return (
            f"Dataset(name={self.name!r}, train={len(self.train_x)}, test={len(self.test_x)}, "
            f"image_shape={self.image_shape}, classes={len(self.label_names)}, "
            f"likelihood={self.likelihood!r})"
        )


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float32 in [0, 1], same shape and device."""
    if x.dtype != torch.uint8:
        # Refusing other dtypes catches double scaling (a float batch divided by 255 again).
        raise TypeError(f"to_float expects uint8 images, got {x.dtype}")
    return x.to(torch.float32).div_(255.0)


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel ~ Bernoulli(x), x float in [0, 1]; same shape/device/dtype.

    ``generator`` should live on ``x``'s device; if it does not, the uniforms are drawn on the
    generator's device and moved, so a CPU generator still works (more slowly) for a GPU batch.
    """
    if generator is None or generator.device == x.device:
        return torch.bernoulli(x, generator=generator)
    u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return (u.to(x.device) < x).to(x.dtype)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: ``path`` relative to a data dir (POSIX), its SHA-256 and size."""

    path: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class DatasetInfo:
    """What the app shows before loading. ``mirrors``: base URLs; a file's URL is base + filename."""

    name: str
    title: str
    image_shape: tuple[int, int, int]
    likelihood: str
    description: str
    files: tuple[DataFile, ...] = ()
    label_names: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()


# SHA-256 and size of the files the datasets' authors published (see shared/data/README.md).
# fmt: off
_CHECKSUMS: dict[str, tuple[str, int]] = {
    "mnist/train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    "mnist/train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    "mnist/t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    "mnist/t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    "fashion-mnist/train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
    "fashion-mnist/train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
    "fashion-mnist/t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
    "fashion-mnist/t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    "frey/frey_rawface.mat": ("265a83a23adb081755cd3de375509828e690324d1d60f076b8ecebc840d59c64", 1100584),
}
# fmt: on
_IDX_NAMES = (  # the order _load_idx_dataset expects
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _frey_names(n: int) -> tuple[str, ...]:
    step = FREY_FRAMES_PER_BUCKET
    return tuple(f"frames {i}-{min(i + step, n) - 1}" for i in range(0, n, step))


def _files(*paths: str) -> tuple[DataFile, ...]:
    return tuple(DataFile(p, *_CHECKSUMS[p]) for p in paths)


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits",
        title="Digits 8x8 (scikit-learn)",
        image_shape=(1, 8, 8),
        likelihood="bernoulli",
        description="1,797 tiny 8x8 handwritten digits bundled with scikit-learn; no download, "
        "trains in seconds. Fixed split: 1,437 train / 360 test.",
        label_names=DIGIT_NAMES,
    ),
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST",
        image_shape=(1, 28, 28),
        likelihood="bernoulli",
        description="70,000 28x28 handwritten digits (LeCun, Cortes & Burges; CC BY-SA 3.0). "
        "Official split: 60,000 train / 10,000 test.",
        files=_files(*(f"mnist/{fn}" for fn in _IDX_NAMES)),
        label_names=DIGIT_NAMES,
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST",
        image_shape=(1, 28, 28),
        likelihood="bernoulli",
        description="70,000 28x28 greyscale photos of clothing in 10 classes (Zalando, MIT "
        "licence). Official split: 60,000 train / 10,000 test.",
        files=_files(*(f"fashion-mnist/{fn}" for fn in _IDX_NAMES)),
        label_names=FASHION_NAMES,
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
    "frey": DatasetInfo(
        name="frey",
        title="Frey Face",
        image_shape=(1, 28, 20),
        likelihood="gaussian",
        description="1,965 28x20 frames of Brendan Frey's face from one video (the dataset of "
        "Kingma & Welling's VAE paper). Labels are time buckets of 400 frames. "
        "Fixed split: 1,700 train / 265 test.",
        files=_files("frey/frey_rawface.mat"),
        label_names=_frey_names(1965),
        mirrors=("https://cs.nyu.edu/~roweis/data/",),
    ),
}


def _info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None


# --------------------------------------------------------------------------- where files live


def data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for data files, in order (first existing file wins).

    An explicit ``data_dir`` is the only one searched (so callers and tests get exactly what
    they asked for). Otherwise ``$VAE_DATA_DIR`` (if set) and then the per-user cache
    ``$XDG_CACHE_HOME/vae-latent-explorer`` (default ``~/.cache/vae-latent-explorer``).
    Downloads go to the first of these that is writable.
    """
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser())
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    cache_root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    dirs.append(cache_root / CACHE_SUBDIR)
    return dirs


def _find(f: DataFile, dirs: Sequence[Path]) -> Path | None:
    for d in dirs:
        p = d / f.path
        if p.is_file():
            return p
    return None


def _can_write(d: Path) -> bool:
    """Whether ``d`` is, or could be created as, a writable directory (creates nothing)."""
    while not d.exists():
        if d.parent == d:
            return False
        d = d.parent
    return d.is_dir() and os.access(d, os.W_OK | os.X_OK)


def _writable_dir(dirs: Sequence[Path]) -> Path | None:
    """The first of ``dirs`` that is writable, created if needed; None if there is none."""
    for d in dirs:
        if not _can_write(d):
            continue
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        return d
    return None


def dataset_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """True if every file of ``name`` is already on disk (never downloads); digits: always."""
    dirs = data_dirs(data_dir)
    return all(_find(f, dirs) is not None for f in _info(name).files)


def _missing_message(info: DatasetInfo, missing: Sequence[DataFile], dirs: Sequence[Path]) -> str:
    target = next((d for d in dirs if _can_write(d)), dirs[0])
    lines = [
        f"{info.title}: missing data file(s): {', '.join(f.path for f in missing)}.",
        f"Looked in: {', '.join(str(d) for d in dirs)}.",
        "To provide them by hand, save each file as " + ", ".join(str(target / f.path) for f in missing),
        f"(or set the environment variable {ENV_VAR} to a folder with the layout "
        f"<dir>/{info.files[0].path}), or load with download=True to fetch them from "
        + ", ".join(info.mirrors) + ".",
    ]  # fmt: skip
    return "\n".join(lines)


# --------------------------------------------------------------------------- downloading


def _fetch(url: str, dest: Path, sha256: str, timeout: float, max_bytes: int | None) -> None:
    """Stream ``url`` into a temp file beside ``dest``, check it, then rename it into place."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        # The temp file lives in dest's directory so os.replace is an atomic rename.
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest, n = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                while chunk := resp.read(1 << 16):
                    n += len(chunk)
                    if max_bytes is not None and n > max_bytes:
                        raise ValueError(f"more than the expected {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != n:
                # http.client returns a cut-off body without an error: say so plainly.
                raise ValueError(f"transfer cut short: {n} of {length} bytes")
            if digest.hexdigest() != sha256:
                raise ValueError(f"SHA-256 mismatch ({n} bytes, got {digest.hexdigest()})")
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a shared cache should be readable
            os.replace(tmp, dest)
        except BaseException:
            # Any failure, Ctrl-C included: never leave a half-written file in the cache.
            tmp.unlink(missing_ok=True)
            raise


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    sha256: str,
    timeout: float = 30,
    *,
    max_bytes: int | None = None,
) -> Path:
    """Download to ``dest`` from the first of ``urls`` that serves a file with this SHA-256.

    Each mirror is streamed into a temp file in ``dest``'s directory, verified, and moved into
    place with ``os.replace``; a failed try leaves nothing behind. ``max_bytes`` stops a
    runaway transfer. Raises :class:`DatasetUnavailable` once every mirror has failed.
    """
    dest = Path(dest)
    sha256 = sha256.lower()
    errors: list[str] = []
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        errors.append(f"cannot create {dest.parent}: {e}")
        urls = []
    for url in urls:
        try:
            _fetch(url, dest, sha256, timeout, max_bytes)
            return dest
        except urllib.error.HTTPError as e:
            e.close()
            errors.append(f"{url}: HTTP {e.code} {e.reason}")
        # OSError covers URLError, timeouts and disk errors; HTTPException a broken response;
        # ValueError a bad URL, an oversized or a tampered file.
        except (OSError, http.client.HTTPException, ValueError) as e:
            errors.append(f"{url}: {e}")
    tried = "\n".join(f"  - {e}" for e in errors) or "  (no URLs given)"
    raise DatasetUnavailable(
        f"Could not download {dest.name}. Tried:\n{tried}\n"
        f"Download it by hand (SHA-256 {sha256}) and save it as {dest}, or set the "
        f"environment variable {ENV_VAR} to a folder that already holds it."
    )


# --------------------------------------------------------------------------- parsing


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


def _corrupt(path: Path, info: DatasetInfo, err: Exception) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{info.title}: the file {path} is corrupt or not the expected file ({err}). "
        f"Delete it so that it is downloaded again, or replace it by hand with the original "
        f"(see {ENV_VAR} and the data folder layout <dir>/{info.files[0].path})."
    )


def _load_idx_dataset(info: DatasetInfo, paths: Sequence[Path]) -> Dataset:
    arrays = []
    for path, kind in zip(paths, ("images", "labels", "images", "labels"), strict=True):
        try:
            a = read_idx(path)
            if kind == "images" and a.shape[1:] != info.image_shape[1:]:
                raise ValueError(f"expected {info.image_shape[1:]} images, got {a.shape[1:]}")
            if kind == "labels" and (a.ndim != 1 or (a.size and a.max() >= len(info.label_names))):
                raise ValueError("expected a labels file with values 0..9")
        except (ValueError, OSError) as e:
            raise _corrupt(path, info, e) from e
        arrays.append(a)
    for (x, y), (px, py) in zip((arrays[0:2], arrays[2:4]), (paths[0:2], paths[2:4]), strict=True):
        if len(x) != len(y):
            raise _corrupt(py, info, ValueError(f"{len(y)} labels for {len(x)} images in {px}"))
    tx, ty, vx, vy = arrays
    return Dataset(
        name=info.name,
        train_x=torch.from_numpy(tx).unsqueeze(1),
        train_y=torch.from_numpy(ty.astype(np.int64)),
        test_x=torch.from_numpy(vx).unsqueeze(1),
        test_y=torch.from_numpy(vy.astype(np.int64)),
        label_names=info.label_names,
        likelihood=info.likelihood,
    )


def _split(n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed split: a permutation from ``default_rng(0)``; the first ``n_test`` are the test set."""
    perm = np.random.default_rng(0).permutation(n)
    return perm[n_test:], perm[:n_test]


def _load_frey(info: DatasetInfo, path: Path) -> Dataset:
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        ff = scipy.io.loadmat(path)["ff"]
        if ff.dtype != np.uint8 or ff.ndim != 2 or ff.shape[0] != 28 * 20:
            raise ValueError(f"expected a 560 x N uint8 'ff' array, got {ff.dtype} {ff.shape}")
    except (ValueError, OSError, KeyError, TypeError, MatReadError) as e:
        raise _corrupt(path, info, e) from e
    frames = np.ascontiguousarray(ff.T.reshape(-1, 28, 20))  # columns are frames, row-major
    n = len(frames)
    time_bucket = np.arange(n, dtype=np.int64) // FREY_FRAMES_PER_BUCKET
    train, test = _split(n, 265)
    return Dataset(
        name=info.name,
        train_x=torch.from_numpy(frames[train]).unsqueeze(1),
        train_y=torch.from_numpy(time_bucket[train]),
        test_x=torch.from_numpy(frames[test]).unsqueeze(1),
        test_y=torch.from_numpy(time_bucket[test]),
        label_names=_frey_names(n),
        likelihood=info.likelihood,
    )


@functools.lru_cache(maxsize=1)
def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixels are counts 0..16 (of a 4x4 block each); rescale to the usual 0..255.
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    train, test = _split(len(images), 360)
    return Dataset(
        name="digits",
        train_x=torch.from_numpy(images[train]).unsqueeze(1),
        train_y=torch.from_numpy(labels[train]),
        test_x=torch.from_numpy(images[test]).unsqueeze(1),
        test_y=torch.from_numpy(labels[test]),
        label_names=DIGIT_NAMES,
        likelihood="bernoulli",
    )


@functools.lru_cache(maxsize=4)
def _load_files(name: str, files: tuple[tuple[str, int, int], ...]) -> Dataset:
    """Parse the files of ``name``; keyed by (resolved path, size, mtime) so a replaced or
    re-downloaded file is read again rather than served stale from the cache."""
    info = DATASETS[name]
    paths = [Path(p) for p, _, _ in files]
    if name == "frey":
        return _load_frey(info, paths[0])
    return _load_idx_dataset(info, paths)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    *,
    mirrors: Mapping[str, Sequence[str]] | None = None,
    timeout: float = 30,
) -> Dataset:
    """Load ``name`` (a key of :data:`DATASETS`), downloading missing files unless told not to.

    ``mirrors`` overrides the base URLs per dataset, e.g. ``{"mnist": ["http://host/"]}``
    (a file's URL is base + filename). Repeated loads of the same files return the same
    cached :class:`Dataset`. Raises :class:`DatasetUnavailable` if files are missing
    (``download=False``), cannot be downloaded, or are corrupt; ``ValueError`` for an unknown name.
    """
    info = _info(name)
    if name == "digits":
        return _load_digits()
    dirs = data_dirs(data_dir)
    found = {f.path: _find(f, dirs) for f in info.files}
    missing = [f for f in info.files if found[f.path] is None]
    if missing and not download:
        raise DatasetUnavailable(_missing_message(info, missing, dirs))
    if missing:
        target = _writable_dir(dirs)
        if target is None:
            raise DatasetUnavailable(
                _missing_message(info, missing, dirs) + "\nNone of these folders is writable."
            )
        bases = list((mirrors or {}).get(name, info.mirrors))
        for f in missing:
            urls = [b.rstrip("/") + "/" + f.filename for b in bases]
            found[f.path] = download_file(
                urls, target / f.path, f.sha256, timeout, max_bytes=f.size
            )
    key = []
    for f in info.files:
        p = found[f.path].resolve()  # type: ignore[union-attr]
        st = p.stat()
        key.append((str(p), st.st_size, st.st_mtime_ns))
    return _load_files(name, tuple(key))


# --------------------------------------------------------------------------- user images


_MAX_BYTES = 200_000_000  # total uncompressed bytes read from an upload (zip-bomb guard)
_MAX_PIXELS = 40_000_000  # per image, checked from the header before decoding


def _skip(parts: Sequence[str]) -> bool:
    # Hidden files, macOS resource forks (._x, __MACOSX/) and Thumbs.db are never images.
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or parts[-1] == "Thumbs.db"


def _entries(
    source: str | os.PathLike | bytes, max_files: int, max_bytes: int
) -> Iterator[tuple[tuple[str, ...], bytes]]:
    """Yield ``(path parts, file bytes)`` for the candidate files of a zip or a directory."""
    if isinstance(source, bytes | bytearray) or zipfile.is_zipfile(source):
        try:
            zf = zipfile.ZipFile(
                io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
            )
        except (zipfile.BadZipFile, OSError) as e:
            raise ValueError(f"not a readable zip file ({e})") from e
        with zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            items = [(PurePosixPath(i.filename).parts, i) for i in infos]
            items = _subsample([it for it in items if not _skip(it[0])], max_files)
            # zipfile stops each entry at its declared size (and then fails the CRC check), so
            # the declared sizes bound what is decompressed: check them before reading any.
            if sum(i.file_size for _, i in items) > max_bytes:
                raise ValueError(f"the zip would unpack to more than {max_bytes} bytes")
            for parts, i in items:
                try:
                    data = zf.read(i)
                except (zipfile.BadZipFile, OSError, zlib.error, NotImplementedError, RuntimeError):
                    continue  # corrupt, encrypted or unsupported entry: not usable
                yield parts, data
        return
    root = Path(source)
    if not root.is_dir():
        raise ValueError(f"{root} is neither a zip file nor a directory")
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    items = [(p.relative_to(root).parts, p) for p in paths]
    items = _subsample([it for it in items if not _skip(it[0])], max_files)
    budget = max_bytes
    for parts, p in items:
        budget -= p.stat().st_size
        if budget < 0:
            raise ValueError(f"the folder holds more than {max_bytes} bytes of files")
        yield parts, p.read_bytes()


def _subsample(items: list, max_files: int) -> list:
    """At most ``max_files`` items: a fixed random subset (so every class keeps its share)."""
    if len(items) <= max_files:
        return items
    keep = np.sort(np.random.default_rng(0).choice(len(items), size=max_files, replace=False))
    return [items[i] for i in keep]


def _decode(data: bytes, size: tuple[int, int], mode: str, max_pixels: int) -> np.ndarray | None:
    """One file -> uint8 ``(H, W)`` or ``(H, W, 3)``; None if it is not a usable image."""
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > max_pixels:
                return None  # checked from the header, before the pixels are decoded
            # JPEG only: decode at a reduced scale that is still >= twice the target size.
            img.draft(mode, (2 * max(size), 2 * max(size)))
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                # Transparent areas become white, as they are displayed, not black.
                rgba = img.convert("RGBA")
                img = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img.alpha_composite(rgba)
            img = img.convert(mode)
            w, h = img.size
            if w != h:
                # Pad to a square with the border's median colour, so the aspect is kept
                # without drawing bars of a colour that is not the background.
                a = np.asarray(img).reshape(h, w, -1)
                border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
                fill = tuple(int(v) for v in np.median(border, axis=0))
                side = max(w, h)
                square = Image.new(mode, (side, side), fill[0] if mode == "L" else fill)
                square.paste(img, ((side - w) // 2, (side - h) // 2))
                img = square
            img = img.resize((size[1], size[0]), Image.Resampling.LANCZOS)
            return np.asarray(img, dtype=np.uint8)
    # Untrusted files: Pillow's decoders raise many kinds of error on broken input, and any
    # of them just means "not a usable image".
    except Exception:
        return None


def load_image_folder(
    source: str | os.PathLike | bytes,
    size: tuple[int, int] = (28, 28),
    channels: int = 1,
    max_files: int = 5000,
    *,
    name: str = "custom",
    max_bytes: int = _MAX_BYTES,
    max_pixels: int = _MAX_PIXELS,
) -> Dataset:
    """A :class:`Dataset` from the user's images: a zip (path or bytes) or a directory.

    The label of a file is its first sub-folder (a single folder wrapping everything is
    ignored); files at the top level form the class ``"images"``. Each image is EXIF-rotated,
    converted to grey (``channels=1``) or RGB (3), padded to a square and resized to
    ``size = (H, W)`` with LANCZOS. Files that are not images, or larger than ``max_pixels``,
    are skipped; more than ``max_files`` files are subsampled (fixed seed); more than
    ``max_bytes`` of data raises. Split: 10% test (at least 1), from ``default_rng(0)``.
    Raises ``ValueError`` if fewer than 2 usable images are found.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    size = (int(size[0]), int(size[1]))
    mode = "L" if channels == 1 else "RGB"
    decoded = []
    for parts, data in _entries(source, max_files, max_bytes):
        arr = _decode(data, size, mode, max_pixels)
        if arr is not None:
            decoded.append((parts, arr))
    if len(decoded) < 2:
        raise ValueError(
            f"found {len(decoded)} usable image(s); need at least 2 (PNG, JPEG, GIF, BMP, ... "
            "files, optionally in one sub-folder per class)"
        )
    parts_list = [p for p, _ in decoded]
    # Strip folders that wrap everything (e.g. "upload/cats/a.png" -> "cats/a.png").
    while all(len(p) >= 3 for p in parts_list) and len({p[0] for p in parts_list}) == 1:
        parts_list = [p[1:] for p in parts_list]
    classes = [p[0] if len(p) >= 2 else "images" for p in parts_list]
    label_names = tuple(sorted(set(classes)))
    labels = np.array([label_names.index(c) for c in classes], dtype=np.int64)
    images = np.stack([a for _, a in decoded])
    images = images[:, None] if channels == 1 else images.transpose(0, 3, 1, 2)
    images = np.ascontiguousarray(images)
    n_test = max(1, round(0.1 * len(images)))
    train, test = _split(len(images), n_test)
    return Dataset(
        name=name,
        train_x=torch.from_numpy(images[train]),
        train_y=torch.from_numpy(labels[train]),
        test_x=torch.from_numpy(images[test]),
        test_y=torch.from_numpy(labels[test]),
        label_names=label_names,
        likelihood="bernoulli",
    )


__all__ = [
    "DATASETS",
    "DataFile",
    "Dataset",
    "DatasetInfo",
    "DatasetUnavailable",
    "ENV_VAR",
    "binarize",
    "data_dirs",
    "dataset_available",
    "download_file",
    "load_dataset",
    "load_image_folder",
    "read_idx",
    "to_float",
]
