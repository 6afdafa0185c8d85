"""One checkpoint format, saved atomically and loaded by exactly one function.

A checkpoint is a plain dict of tensors, strings, numbers, lists and dicts, so that
``torch.load(weights_only=True)`` can read it without running any code from the file::

    {"format": "vae-latent-explorer", "version": 1,
     "model_config": {...}, "train_config": {...}, "dataset": "mnist",
     "image_shape": [1, 28, 28], "metrics": {...}, "history": [{...}, ...],
     "meta": {...}, "state_dict": {...}}

plus, optionally, ``"snapshots"``: the latent space at chosen epochs of the training
(``vae.core.snapshots``); files without it (older ones, runs without ``--snapshots``) load
the same way with ``snapshots`` None.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import stat
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vae.core import checkpoint_checks as checks
from vae.core.model import VAE, VAEConfig
from vae.core.snapshots import Snapshots

FORMAT = "vae-latent-explorer"
FORMAT_VERSION = 1
SUFFIX = ".pt"
USER_SUBDIR = "user"
# A checkpoint of the models this app trains is a few MB; refuse to even read anything huge.
MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CheckpointError(Exception):
    """A file that is not a usable checkpoint: the message says why, for the user."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint. ``state_dict`` holds CPU (or ``map_location``) tensors."""

    model_config: VAEConfig
    train_config: dict[str, Any]
    dataset: str
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    meta: dict[str, Any]
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    snapshots: Snapshots | None = field(default=None, repr=False)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.model_config.image_shape

    def build_model(self) -> VAE:
        """A fresh model in eval mode holding these weights (no gradients needed)."""
        model = VAE(self.model_config)
        model.load_state_dict(self.state_dict)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model


@dataclass(frozen=True)
class CheckpointHeader:
    """What the model picker needs to list a checkpoint: no weights, no stored images."""

    model_config: VAEConfig
    dataset: str
    metrics: dict[str, Any]
    meta: dict[str, Any]
    train_config: dict[str, Any]
    snapshot_epochs: tuple[int, ...] = ()  # the epochs of its training snapshots, if any

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.model_config.image_shape


def _plain(value: Any) -> Any:
    """Tuples -> lists, recursively, so the payload holds only weights_only-safe types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    # Subclasses of builtins (e.g. torch's TorchVersion, a str) would pickle as their class,
    # which the weights_only loader rightly refuses: store the plain value.
    if value is None or type(value) in (bool, int, float, str):
        return value
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the umask, read from /proc
    (``os.umask`` can only be read by changing it, which races with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


def save_checkpoint(
    path: str | Path,
    model: VAE,
    *,
    dataset: str,
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
    snapshots: Snapshots | None = None,
) -> Path:
    """Write ``model`` and its provenance to ``path`` atomically (temp file, fsync, rename).

    A process killed at any moment leaves either the old file or the new one, never a
    half-written one; a stray temp file is ignored by ``list_checkpoints``. ``snapshots``
    (``vae.core.snapshots``) are stored when given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "model_config": _plain(model.config.to_dict()),
        "train_config": _plain(train_config or {}),
        "dataset": dataset,
        "image_shape": list(model.config.image_shape),
        "metrics": _plain(metrics or {}),
        "history": _plain(history or []),
        "meta": _plain(meta or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    if snapshots is not None:
        payload["snapshots"] = snapshots.to_payload()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                # mkstemp makes 0600 files: a checkpoint saved by a teacher's CLI run would
                # be unreadable by a server running as another user. Use a new file's mode.
                os.fchmod(f.fileno(), _new_file_mode())
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def _read_bounded(source: str | Path | bytes, name: str) -> bytes:
    """The file's bytes: a regular file of at most ``MAX_CHECKPOINT_BYTES``, or ``CheckpointError``
    (a dangling or looping link, a FIFO, a device, an unreadable file)."""
    if isinstance(source, bytes):
        return source
    try:
        info = os.stat(source)
        if not stat.S_ISREG(info.st_mode):
            # A FIFO would block the reader (and every user waiting on the listing)
            # forever; a link to /dev/zero would never end.
            raise CheckpointError(f"{name}: not a regular file")
        if info.st_size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{name}: {info.st_size / 1e6:.0f} MB is too large for a checkpoint")
        with open(source, "rb") as f:
            raw = f.read(MAX_CHECKPOINT_BYTES + 1)  # bounded, even if it grew meanwhile
    except OSError as e:  # ELOOP, ENOENT (dangling link), EACCES...
        raise CheckpointError(f"{name}: cannot read it ({e.strerror or type(e).__name__})") from None
    if len(raw) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{name}: too large for a checkpoint")
    return raw


def _load_payload(source: str | Path | bytes, map_location: str) -> tuple[dict, VAEConfig]:
    """Read, unpickle (``weights_only=True``) and check a checkpoint without building a model:
    ``(payload, config)`` or ``CheckpointError``. See ``vae.core.checkpoint_checks``."""
    from vae.data.registry import DATASETS  # the image shape of each known dataset

    # Messages name the file, not its folder: they are shown to users, who need not see
    # the server's paths.
    name = "uploaded file" if isinstance(source, bytes) else Path(source).name
    raw = _read_bounded(source, name)
    try:
        checks.check_archive(raw)
    except checks.Refused as e:
        raise CheckpointError(f"{name}: not a readable checkpoint: {e}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes are not for users
            payload = torch.load(io.BytesIO(raw), map_location=map_location, weights_only=True)
    except Exception as e:  # any failure here means "not a safe checkpoint"
        raise CheckpointError(f"{name}: not a readable checkpoint: {_unreadable_reason(e)}") from None
    try:
        # The shape of the whole tree first: nothing below may walk, print or copy a
        # structure of shared references or a view pretending to be gigabytes.
        checks.check_tree(payload, len(raw))
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CheckpointError(f"{name}: not a VAE Latent Explorer checkpoint")
        version = payload.get("version")
        if type(version) is not int or version != FORMAT_VERSION:
            shown = version if type(version) is int else "unknown"
            raise CheckpointError(
                f"{name}: checkpoint format version {shown} is not supported "
                f"(this app reads version {FORMAT_VERSION})"
            )
        config = checks.check_payload(payload, {k: v.image_shape for k, v in DATASETS.items()})
    except checks.Refused as e:
        raise CheckpointError(f"{name}: {e}") from None
    return payload, config


def load_checkpoint(source: str | Path | bytes, map_location: str = "cpu") -> Checkpoint:
    """The one way to read a checkpoint: ``torch.load(weights_only=True)`` plus validation.

    Raises ``CheckpointError`` for a missing, truncated, corrupt, foreign or malicious file,
    or one whose weights do not fit its own config. Never executes code from the file; every
    size is checked before a model is built (``vae.core.checkpoint_checks``).
    """
    payload, config = _load_payload(source, map_location)
    return Checkpoint(
        model_config=config,
        train_config=dict(payload.get("train_config") or {}),
        dataset=payload["dataset"],
        metrics=dict(payload.get("metrics") or {}),
        history=list(payload.get("history") or []),
        meta=dict(payload.get("meta") or {}),
        state_dict=dict(payload["state_dict"]),
        snapshots=Snapshots.from_payload(payload["snapshots"]) if payload.get("snapshots") is not None else None,
    )


def read_header(source: str | Path) -> CheckpointHeader:
    """A checkpoint's small fields, fully checked like ``load_checkpoint`` (so a file that
    lists as usable also loads), with its weights and stored test images dropped."""
    payload, config = _load_payload(source, "cpu")
    meta = payload.get("meta") or {}
    return CheckpointHeader(
        model_config=config,
        dataset=payload["dataset"],
        metrics=dict(payload.get("metrics") or {}),
        meta={k: v for k, v in meta.items() if k != "test_set" and not isinstance(v, (dict, list, torch.Tensor))},
        train_config={k: v for k, v in (payload.get("train_config") or {}).items() if not isinstance(v, torch.Tensor)},
        snapshot_epochs=tuple((payload.get("snapshots") or {}).get("epochs", ())),
    )


def _unreadable_reason(e: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, for users. Never repeats torch's
    advice to retry with ``weights_only=False``: that would run the file's code."""
    text = str(e)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"it asks to run Python code ({found.group(1)}), which is refused for safety: "
            "it was not saved by this app, or it was tampered with"
        )
    if isinstance(e, pickle.UnpicklingError) or "weights_only" in text:
        return "corrupt, truncated, or not a checkpoint at all"
    first = text.strip().splitlines()[0].split(". ")[0] if text.strip() else type(e).__name__
    return f"corrupt or truncated ({first[:120]})"


def validate_name(name: str, reserved: set[str] | frozenset[str] = frozenset()) -> str:
    """A user-typed checkpoint name -> a safe file stem, or ``ValueError`` saying why.

    Letters, digits, ``_ . -``; 1-64 characters; no path separators, no ``..``, no leading
    or trailing dot, and not one of ``reserved`` (the bundled models' names) in any letter
    case, with or without ``.pt`` (also in any case).
    """
    stem = name.strip()
    if stem.lower().endswith(SUFFIX):  # "x.PT" too: it would be saved as "x.PT.pt"
        stem = stem[: -len(SUFFIX)]
    if not stem:
        raise ValueError("Give the model a name.")
    if stem.endswith("."):  # "abc." would be saved as "abc..pt"
        raise ValueError("A name cannot end with '.'.")
    if "/" in stem or "\\" in stem or ".." in stem:
        raise ValueError("A name cannot contain '/', '\\' or '..'.")
    if not _NAME_RE.fullmatch(stem):  # not .match: its "$" also matches before a final "\n"
        raise ValueError(
            "Use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit."
        )
    if stem.lower() in {r.lower() for r in reserved}:
        raise ValueError(f"'{stem}' is the name of a bundled model; choose another name.")
    return stem


def file_identity(path: str | Path) -> str:
    """The one identity of a checkpoint file for every cache: ``"path:size:mtime_ns"``; it
    changes whenever the file is replaced. Never raises: a dangling or looping link, or a
    file gone meanwhile, gets an identity of its own (and then lists as unusable)."""
    try:
        st_ = os.stat(path)
    except OSError as e:
        return f"{path}:unreadable:{e.errno}"
    return f"{path}:{st_.st_size}:{st_.st_mtime_ns}"


@dataclass(frozen=True)
class CheckpointEntry:
    """One file in the checkpoints folder, usable or not (then ``error`` says why).

    ``header`` holds only the small fields (``read_header``); ``load()`` reads the weights."""

    path: Path
    name: str
    bundled: bool
    header: CheckpointHeader | None
    error: str | None
    identity: str = ""

    @property
    def ok(self) -> bool:
        return self.header is not None

    def load(self) -> Checkpoint:
        return load_checkpoint(self.path)


def checkpoint_files(folder: str | Path) -> list[tuple[Path, bool]]:
    """``(path, bundled)``: ``folder/*.pt`` (bundled) then ``folder/user/*.pt``, by name; temp
    files of an interrupted save (leading dot) skipped. Never stats or opens a file."""
    folder = Path(folder)
    files = []
    for sub, bundled in ((folder, True), (folder / USER_SUBDIR, False)):
        try:
            names = sorted(p for p in sub.glob(f"*{SUFFIX}") if not p.name.startswith("."))
        except OSError:
            continue
        files += [(p, bundled) for p in names]
    return files


def folder_stamp(folder: str | Path) -> tuple[int | None, int | None]:
    """Modification times (ns) of ``folder`` and ``folder/user``, None where missing: a save
    (a temp file renamed into place), a new file or a deleted one changes one of them. A file
    overwritten in place does not (its own ``file_identity`` does)."""
    folder = Path(folder)
    stamps: list[int | None] = []
    for sub in (folder, folder / USER_SUBDIR):
        try:
            stamps.append(os.stat(sub).st_mtime_ns)
        except OSError:
            stamps.append(None)
    return stamps[0], stamps[1]


def list_entry(path: Path, bundled: bool, identity: str | None = None) -> CheckpointEntry:
    """One listing entry: the checked header, or the reason the file is unusable."""
    try:
        header, err = read_header(path), None
    except CheckpointError as e:  # the entry names the file: keep only the reason
        header, err = None, str(e).removeprefix(f"{path.name}: ")
    return CheckpointEntry(path, path.stem, bundled, header, err, identity or file_identity(path))


def list_checkpoints(folder: str | Path) -> list[CheckpointEntry]:
    """Bundled checkpoints (``folder/*.pt``) then user ones (``folder/user/*.pt``), by name.

    Each file is checked on its own (``read_header``): a broken one is listed with its reason,
    never offered as a model, and cannot affect the others. No model is built.
    """
    return [list_entry(path, bundled) for path, bundled in checkpoint_files(folder)]
