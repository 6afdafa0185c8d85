"""What a checkpoint file may contain, checked before anything is built, cached or turned into
a string (``vae.core.checkpoints.load_checkpoint`` is the only caller).

A file is refused, with a short reason for users, when:

- the archive is not the plain ``torch.save`` zip: every record stored uncompressed, so the
  bytes a tensor needs are bytes of the file (a 1.4 MB file cannot inflate to a 1 GB tensor);
- its unpickled structure is not a tree of dicts, lists, strings, numbers and dense tensors:
  a container or tensor reached twice (a "billion laughs" of shared references), too deep,
  too many nodes, a huge string or integer, a strided view (stride 0 makes a 3 GB "tensor" of
  one value), or tensors adding up to more bytes than the file holds;
- its config asks for more than this app ever trains (``latent_dim = 10**6``), or its weights'
  names and shapes differ from the config's model (worked out on the ``meta`` device, which
  allocates nothing), or a weight is NaN or infinite;
- a stored metric is not a finite number, the image shape disagrees with its dataset, a
  stored test set disagrees with the image shape or labels, or stored training snapshots
  (``vae.core.snapshots``) disagree with the model or with each other.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections import deque
from collections.abc import Mapping
from typing import Any

import torch

from vae.core.model import VAE, VAEConfig

# Generous bounds: the largest model this app trains is far inside every one of them.
MAX_DEPTH = 12
MAX_NODES = 200_000
MAX_STR_CHARS = 20_000
MAX_TOTAL_CHARS = 2_000_000  # a string referenced 100,000 times would print as gigabytes
MAX_INT = 2**63
MAX_RECORDS = 10_000
MAX_IMAGE_SIDE = 512
MAX_LATENT_DIM = 1024
MAX_WIDTH = 16_384
MAX_LAYERS = 16
TENSOR_DTYPES = frozenset({
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool,
})  # fmt: skip
# Fields every checkpoint of this format has; their types are checked before use.
REQUIRED = ("format", "version", "model_config", "dataset", "state_dict")


class Refused(Exception):
    """The file breaks a rule; the message (short, no file contents) says which."""


def check_archive(raw: bytes) -> None:
    """``raw`` must be a zip written by ``torch.save``: every record stored, not compressed,
    and no record claiming more bytes than the file has."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise Refused("corrupt or truncated, or not a checkpoint at all (no complete torch.save archive)") from None
    if len(infos) > MAX_RECORDS:
        raise Refused(f"{len(infos)} records in the archive: not a checkpoint")
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise Refused("compressed records in the archive (torch.save never writes them)")
        total += info.file_size
    if total > len(raw):
        raise Refused("its records claim more bytes than the file holds")


def check_tree(payload: Any, file_bytes: int) -> None:
    """Walk the unpickled ``payload`` once, without recursion and without converting anything
    to a string, and refuse anything but a plain tree (see the module docstring)."""
    seen: set[int] = set()
    tensor_bytes = 0
    nodes = chars = 0
    # Breadth first: a value shared by reference shows up at the first level that repeats it.
    stack: deque[tuple[Any, int]] = deque([(payload, 0)])
    while stack:
        value, depth = stack.popleft()
        nodes += 1
        if nodes > MAX_NODES:
            raise Refused(f"more than {MAX_NODES:,} values: not a checkpoint of this app")
        if depth > MAX_DEPTH:
            raise Refused(f"nested more than {MAX_DEPTH} deep: not a checkpoint of this app")
        kind = type(value)
        if value is None or kind in (bool, float):
            continue
        if kind is int:
            if not -MAX_INT <= value <= MAX_INT:  # compares bits, never builds the digits
                raise Refused("an integer too large for any field of a checkpoint")
            continue
        if kind is str:
            chars += len(value)
            if len(value) > MAX_STR_CHARS or chars > MAX_TOTAL_CHARS:
                raise Refused("more text than any checkpoint of this app holds")
            continue
        # Empty containers cannot amplify anything (and () is one shared object in CPython).
        if isinstance(value, torch.Tensor) or (isinstance(value, (dict, list, tuple)) and value):
            if id(value) in seen:
                raise Refused("the same value stored twice by reference (a file built to explode in memory)")
            seen.add(id(value))
        if isinstance(value, dict):
            for k, v in value.items():
                if type(k) is not str or len(k) > 256:
                    raise Refused("a field name that is not short text")
                chars += len(k)
                stack.append((v, depth + 1))
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, torch.Tensor):
            tensor_bytes += _tensor_bytes(value)
            if tensor_bytes > file_bytes:
                raise Refused("its tensors hold more bytes than the file: not saved by this app")
        else:
            raise Refused(f"a value of type {kind.__name__[:40]}, which checkpoints never hold")


def _tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of a dense, contiguous, in-bounds CPU tensor; anything else is refused."""
    if type(t) is not torch.Tensor or t.layout != torch.strided or t.is_quantized or t.is_meta:
        raise Refused("a tensor that is not a plain dense tensor")
    if t.dtype not in TENSOR_DTYPES:
        raise Refused("a tensor of an unexpected number type")
    if not t.is_contiguous():
        raise Refused("a tensor view with unusual strides (it could pretend to be huge)")
    nbytes = t.numel() * t.element_size()
    if t.storage_offset() * t.element_size() + nbytes > t.untyped_storage().nbytes():
        raise Refused("a tensor larger than its storage")
    return nbytes


def _int(value: Any, lo: int, hi: int, what: str) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise Refused(f"model_config: {what} must be a whole number from {lo} to {hi}")
    return value


def _ints(value: Any, lo: int, hi: int, what: str, max_len: int = MAX_LAYERS) -> list[int]:
    if not isinstance(value, (list, tuple)) or len(value) > max_len:
        raise Refused(f"model_config: {what} must be a short list of whole numbers")
    return [_int(v, lo, hi, what) for v in value]


def check_config(raw: Any) -> VAEConfig:
    """The model config, with every size bounded BEFORE a model of it could be built."""
    if not isinstance(raw, Mapping):
        raise Refused("model_config is not a table of settings")
    shape = _ints(raw.get("image_shape"), 1, MAX_IMAGE_SIDE, "image_shape", max_len=3)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise Refused("model_config: image_shape must be (1 or 3 channels, height, width)")
    _int(raw.get("latent_dim"), 1, MAX_LATENT_DIM, "latent_dim")
    _ints(raw.get("hidden", []), 1, MAX_WIDTH, "hidden")
    _ints(raw.get("conv_channels", []), 1, MAX_WIDTH, "conv_channels")
    for key in ("architecture", "likelihood", "variant", "activation"):
        if key in raw and type(raw[key]) is not str:
            raise Refused(f"model_config: {key} is not text")
    try:
        return VAEConfig.from_dict(dict(raw))
    except (TypeError, ValueError) as e:
        raise Refused(f"model_config: {str(e)[:200]}") from None


def check_weights(config: VAEConfig, state_dict: Any) -> None:
    """Names, shapes and dtype of the weights equal those of ``config``'s model (built on the
    ``meta`` device: no memory), and every weight is finite."""
    if not isinstance(state_dict, Mapping):
        raise Refused("state_dict is not a table of tensors")
    with torch.device("meta"):
        expected = {k: (tuple(v.shape), v.dtype) for k, v in VAE(config).state_dict().items()}
    if set(state_dict) != set(expected):
        missing, extra = sorted(set(expected) - set(state_dict)), sorted(set(state_dict) - set(expected))
        raise Refused(
            "its contents do not match its config: "
            + (f"missing weights {missing[:3]}" if missing else f"unexpected weights {[k[:40] for k in extra[:3]]}")
        )
    for k, (shape, dtype) in expected.items():
        t = state_dict[k]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or t.dtype != dtype:
            raise Refused(f"its contents do not match its config: weight {k} should be {list(shape)}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise Refused(f"weight {k} holds NaN or infinite values (a diverged training?)")


def check_metrics(metrics: Any) -> None:
    """Stored metrics are finite numbers (pages format them as numbers)."""
    if not isinstance(metrics, Mapping):
        raise Refused("metrics is not a table of numbers")
    for k, v in metrics.items():
        if v is None:
            continue
        if type(v) not in (int, float, bool) or (type(v) is float and not math.isfinite(v)):
            raise Refused(f"metric {k[:40]} is not a finite number")


def check_image_shape(config: VAEConfig, stored: Any, dataset_shape: tuple[int, int, int] | None) -> None:
    """The stored image shape, the config's and the dataset's (when known) all agree."""
    if stored is not None and (not isinstance(stored, (list, tuple)) or list(stored) != list(config.image_shape)):
        raise Refused("its image shape disagrees with its model config")
    if dataset_shape is not None and tuple(dataset_shape) != config.image_shape:
        raise Refused(
            f"its images are {'x'.join(map(str, config.image_shape))} but its dataset's are "
            f"{'x'.join(map(str, dataset_shape))}"
        )


def check_test_set(config: VAEConfig, test: Any) -> None:
    """A user's test split stored in ``meta`` (``vae.data.kept_test_set.custom_test_set``): uint8 images
    ``(N, C, H, W)`` of the model's shape, labels ``(N,)`` indexing ``label_names``."""
    if not isinstance(test, Mapping):
        raise Refused("meta.test_set is not a table")
    images, labels, names = test.get("images"), test.get("labels"), test.get("label_names")
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise Refused("meta.test_set: images are not a (N, C, H, W) byte tensor")
    if tuple(images.shape[1:]) != config.image_shape or len(images) == 0:
        raise Refused("meta.test_set: its images disagree with the model's image shape")
    if not isinstance(names, (list, tuple)) or not names or not all(type(n) is str and len(n) <= 200 for n in names):
        raise Refused("meta.test_set: label_names is not a list of short names")
    if (
        not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int64, torch.int32)
        or tuple(labels.shape) != (len(images),)
        or int(labels.min()) < 0 or int(labels.max()) >= len(names)
    ):  # fmt: skip
        raise Refused("meta.test_set: labels do not match the images and label names")


MAX_SNAPSHOTS = 64
MAX_SNAPSHOT_IMAGES = 100_000


def _snap_tensor(snaps: Mapping, key: str, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    t = snaps.get(key)
    if not isinstance(t, torch.Tensor) or t.dtype != dtype or tuple(t.shape) != shape:
        raise Refused(f"snapshots: {key} should be {str(dtype).removeprefix('torch.')} {list(shape)}")
    return t


def check_snapshots(config: VAEConfig, snaps: Any) -> None:
    """Training snapshots (``vae.core.snapshots.Snapshots.to_payload``): S increasing epochs,
    every array's shape fits S, the model's latent size and image shape, numbers are finite."""
    if not isinstance(snaps, Mapping):
        raise Refused("snapshots is not a table")
    epochs = snaps.get("epochs")
    if (
        not isinstance(epochs, (list, tuple)) or not 0 < len(epochs) <= MAX_SNAPSHOTS
        or any(type(e) is not int or not 0 < e <= MAX_INT for e in epochs)
        or any(a >= b for a, b in zip(epochs, epochs[1:], strict=False))
    ):  # fmt: skip
        raise Refused(f"snapshots: epochs is not an increasing list of at most {MAX_SNAPSHOTS} epochs")
    s, d, image = len(epochs), config.latent_dim, config.image_shape
    indices = snaps.get("indices")
    if not isinstance(indices, torch.Tensor) or indices.dim() != 1 or not 0 < len(indices) <= MAX_SNAPSHOT_IMAGES:
        raise Refused("snapshots: indices is not a short list of test images")
    n = len(indices)
    _snap_tensor(snaps, "indices", torch.int64, (n,))
    if int(indices.min()) < 0:
        raise Refused("snapshots: a negative test image index")
    _snap_tensor(snaps, "labels", torch.int64, (n,))
    mu = _snap_tensor(snaps, "mu", torch.float16, (s, n, d))
    prior_t = snaps.get("prior_t")
    p = len(prior_t) if isinstance(prior_t, torch.Tensor) and prior_t.dim() == 2 else -1
    if not 0 < p <= 1024:
        raise Refused("snapshots: prior_t is not a short list of latent codes")
    _snap_tensor(snaps, "prior_t", torch.float32, (p, d))
    _snap_tensor(snaps, "prior", torch.uint8, (s, p, *image))
    coords = snaps.get("grid_coords")
    g = len(coords) if isinstance(coords, torch.Tensor) and coords.dim() == 1 else -1
    if not 0 < g <= 64:
        raise Refused("snapshots: grid_coords is not a short list of numbers")
    _snap_tensor(snaps, "grid_coords", torch.float32, (g,))
    _snap_tensor(snaps, "manifold", torch.uint8, (s, g, g, *image))
    for t in (mu, prior_t, coords):
        if not bool(torch.isfinite(t).all()):
            raise Refused("snapshots hold NaN or infinite values")
    stats = snaps.get("stats")
    if not isinstance(stats, (list, tuple)) or len(stats) != s:
        raise Refused("snapshots: stats do not match the epochs")
    for row in stats:
        if not isinstance(row, Mapping):
            raise Refused("snapshots: a stats row is not a table")
        try:
            check_metrics(row)
        except Refused as e:
            raise Refused(f"snapshots: {e}") from None


def check_payload(payload: Any, dataset_shapes: Mapping[str, tuple[int, int, int]]) -> VAEConfig:
    """Every field the app reads, checked; returns the validated model config.

    ``dataset_shapes``: image shape of each known dataset (the registry's)."""
    if not isinstance(payload, dict):
        raise Refused("not a VAE Latent Explorer checkpoint")
    for key in REQUIRED:
        if key not in payload:
            raise Refused(f"the {key} field is missing")
    dataset = payload["dataset"]
    if type(dataset) is not str or not 0 < len(dataset) <= 64:
        raise Refused("its dataset name is not short text")
    config = check_config(payload["model_config"])
    check_image_shape(config, payload.get("image_shape"), dataset_shapes.get(dataset))
    check_metrics(payload.get("metrics") or {})
    for key, kind in (("train_config", Mapping), ("meta", Mapping), ("history", (list, tuple))):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            raise Refused(f"{key} has the wrong type")
    meta = payload.get("meta") or {}
    for key in ("title", "command", "device", "created"):
        if meta.get(key) is not None and type(meta[key]) is not str:
            raise Refused(f"meta.{key} is not text")
    if "test_set" in meta:
        check_test_set(config, meta["test_set"])
    if payload.get("snapshots") is not None:
        check_snapshots(config, payload["snapshots"])
    check_weights(config, payload["state_dict"])
    return config
