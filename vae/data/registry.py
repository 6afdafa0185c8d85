"""The datasets: one :data:`DATASETS` entry per dataset is the one place that says everything
about it (title, image shape, likelihood, files and their checksums, mirrors, label names,
how an upload is preprocessed for its models, default training epochs, and its loader).

Images are kept as uint8 tensors ``(N, C, H, W)`` with values 0..255 (4x smaller than float32);
convert a batch with :func:`to_float` and, for a Bernoulli decoder, :func:`binarize` it.

Data files are looked up in :func:`~vae.data.download.data_dirs` with the layout
``<dir>/mnist/<file>.gz``, ``<dir>/fashion-mnist/<file>.gz``, ``<dir>/frey/frey_rawface.mat``.
Missing files are downloaded (SHA-256 verified, written atomically) unless ``download=False``.
Nothing here runs at import time; the heavy imports (scikit-learn, scipy, Pillow) are lazy.

Adding a dataset: one :class:`DatasetInfo` entry below plus its loader (a function
``(info, paths) -> Dataset``, usually a few lines around a reader in :mod:`vae.data.formats`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from vae.data import formats
from vae.data.download import (
    ENV_VAR,
    DatasetUnavailable,
    can_write,
    data_dirs,
    download_file,
    find_file,
    writable_dir,
)

DIGIT_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))
FASHION_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FREY_FRAMES_PER_BUCKET = 400


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


def split_indices(n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed split: a permutation from ``default_rng(0)``; the first ``n_test`` are the test set."""
    perm = np.random.default_rng(0).permutation(n)
    return perm[n_test:], perm[:n_test]


def from_arrays(
    name: str, images: np.ndarray, labels: np.ndarray, n_test: int,
    label_names: Sequence[str], likelihood: str = "bernoulli",
) -> Dataset:  # fmt: skip
    """A :class:`Dataset` from uint8 ``(N, C, H, W)`` images and int64 ``(N,)`` labels, split
    with :func:`split_indices`."""
    train, test = split_indices(len(images), n_test)
    return Dataset(
        name=name,
        train_x=torch.from_numpy(images[train]),
        train_y=torch.from_numpy(labels[train]),
        test_x=torch.from_numpy(images[test]),
        test_y=torch.from_numpy(labels[test]),
        label_names=tuple(label_names),
        likelihood=likelihood,
    )


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


Loader = Callable[["DatasetInfo", Sequence[Path]], Dataset]


@dataclass(frozen=True)
class DatasetInfo:
    """Everything about one dataset, shown before loading and used to load it.

    ``loader(info, paths)`` builds the :class:`Dataset` from ``files`` (found or downloaded,
    in this order); it raises ``ValueError``/``OSError`` for a corrupt file. ``upload_style``:
    how a user's image is preprocessed for a model of this dataset (a
    :data:`vae.data.upload.STYLES` name). ``default_epochs``: the Train page's default.
    ``mirrors``: base URLs; a file's URL is base + filename.
    """

    name: str
    title: str
    image_shape: tuple[int, int, int]
    likelihood: str
    description: str
    loader: Loader
    upload_style: str
    default_epochs: int
    label_names: tuple[str, ...]
    files: tuple[DataFile, ...] = ()
    mirrors: tuple[str, ...] = ()


# Settings for datasets that are not in the registry (a user's zip of images).
CUSTOM_UPLOAD_STYLE = "generic"
CUSTOM_DEFAULT_EPOCHS = 30


def upload_style_for(dataset: str) -> str:
    """The :func:`vae.data.upload.preprocess_upload` style for a model trained on ``dataset``."""
    info = DATASETS.get(dataset)
    return info.upload_style if info is not None else CUSTOM_UPLOAD_STYLE


def default_epochs_for(dataset: str) -> int:
    """The Train page's default number of epochs for ``dataset`` (a user's zip: 30)."""
    info = DATASETS.get(dataset)
    return info.default_epochs if info is not None else CUSTOM_DEFAULT_EPOCHS


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


# --------------------------------------------------------------------------- loaders


def _load_digits(info: DatasetInfo, paths: Sequence[Path]) -> Dataset:
    images, labels = formats.read_sklearn_digits()
    return from_arrays(info.name, images[:, None], labels, 360, info.label_names, info.likelihood)


def _load_idx(info: DatasetInfo, paths: Sequence[Path]) -> Dataset:
    """Four IDX files, in the order train images, train labels, test images, test labels."""
    arrays = []
    for path, kind in zip(paths, ("images", "labels", "images", "labels"), strict=True):
        a = formats.read_idx(path)
        if kind == "images" and a.shape[1:] != info.image_shape[1:]:
            raise ValueError(f"{path}: expected {info.image_shape[1:]} images, got {a.shape[1:]}")
        if kind == "labels" and (a.ndim != 1 or (a.size and a.max() >= len(info.label_names))):
            raise ValueError(f"{path}: expected a labels file with values 0..9")
        arrays.append(a)
    for i in (0, 2):  # (images, labels) of the train and of the test split
        if len(arrays[i]) != len(arrays[i + 1]):
            raise ValueError(
                f"{paths[i + 1]}: {len(arrays[i + 1])} labels for {len(arrays[i])} images in "
                f"{paths[i]}"
            )
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


def _load_frey(info: DatasetInfo, paths: Sequence[Path]) -> Dataset:
    try:
        frames = formats.read_frey_mat(paths[0])
    except ValueError as e:
        raise ValueError(f"{paths[0]}: {e}") from e
    n = len(frames)
    time_bucket = np.arange(n, dtype=np.int64) // FREY_FRAMES_PER_BUCKET
    return from_arrays(
        info.name, frames[:, None], time_bucket, 265, _frey_names(n), info.likelihood
    )


_IDX_NAMES = (  # the order _load_idx expects
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits",
        title="Digits 8x8 (scikit-learn)",
        image_shape=(1, 8, 8),
        likelihood="bernoulli",
        description="1,797 tiny 8x8 handwritten digits bundled with scikit-learn; no download, "
        "trains in seconds. Fixed split: 1,437 train / 360 test.",
        loader=_load_digits,
        upload_style="digit",
        default_epochs=30,
        label_names=DIGIT_NAMES,
    ),
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST",
        image_shape=(1, 28, 28),
        likelihood="bernoulli",
        description="70,000 28x28 handwritten digits (LeCun, Cortes & Burges; CC BY-SA 3.0). "
        "Official split: 60,000 train / 10,000 test.",
        loader=_load_idx,
        upload_style="digit",
        default_epochs=10,
        label_names=DIGIT_NAMES,
        files=_files(*(f"mnist/{fn}" for fn in _IDX_NAMES)),
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
        loader=_load_idx,
        upload_style="fashion",
        default_epochs=10,
        label_names=FASHION_NAMES,
        files=_files(*(f"fashion-mnist/{fn}" for fn in _IDX_NAMES)),
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
        loader=_load_frey,
        upload_style="face",
        default_epochs=40,
        label_names=_frey_names(1965),
        files=_files("frey/frey_rawface.mat"),
        mirrors=("https://cs.nyu.edu/~roweis/data/",),
    ),
}


def _info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None


# --------------------------------------------------------------------------- loading


def dataset_available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """True if every file of ``name`` is already on disk (never downloads); digits: always."""
    dirs = data_dirs(data_dir)
    return all(find_file(f.path, dirs) is not None for f in _info(name).files)


def _missing_message(info: DatasetInfo, missing: Sequence[DataFile], dirs: Sequence[Path]) -> str:
    target = next((d for d in dirs if can_write(d)), dirs[0])
    lines = [
        f"{info.title}: missing data file(s): {', '.join(f.path for f in missing)}.",
        f"Looked in: {', '.join(str(d) for d in dirs)}.",
        "To provide them by hand, save each file as " + ", ".join(str(target / f.path) for f in missing),
        f"(or set the environment variable {ENV_VAR} to a folder with the layout "
        f"<dir>/{info.files[0].path}), or load with download=True to fetch them from "
        + ", ".join(info.mirrors) + ".",
    ]  # fmt: skip
    return "\n".join(lines)


def _corrupt(info: DatasetInfo, err: Exception) -> DatasetUnavailable:
    """``err`` names the file (every loader's messages start with the file's path)."""
    layout = info.files[0].path if info.files else info.name
    return DatasetUnavailable(
        f"{info.title}: a data file is corrupt or not the expected file ({err}). "
        f"Delete it so that it is downloaded again, or replace it by hand with the original "
        f"(see {ENV_VAR} and the data folder layout <dir>/{layout})."
    )


@functools.lru_cache(maxsize=5)  # the four registered datasets and one spare
def _load_files(name: str, files: tuple[tuple[str, int, int], ...]) -> Dataset:
    """Parse the files of ``name``; keyed by (resolved path, size, mtime) so a replaced or
    re-downloaded file is read again rather than served stale from the cache."""
    info = DATASETS[name]
    paths = [Path(p) for p, _, _ in files]
    try:
        return info.loader(info, paths)
    except (ValueError, OSError) as e:
        raise _corrupt(info, e) from e


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
    dirs = data_dirs(data_dir)
    found = {f.path: find_file(f.path, dirs) for f in info.files}
    missing = [f for f in info.files if found[f.path] is None]
    if missing and not download:
        raise DatasetUnavailable(_missing_message(info, missing, dirs))
    if missing:
        target = writable_dir(dirs)
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
    "from_arrays",
    "load_dataset",
    "split_indices",
    "to_float",
    "default_epochs_for",
    "upload_style_for",
]
