"""Hostile checkpoint files, built on demand (never stored in the repository): used by
``tests/test_hostile_checkpoints.py`` and ``bench/hostile_checkpoints.py``.

Each builder writes one file (or link) and returns its path. ``EXPECTED`` maps each kind to
the reason (regex) the listing must give; ``build_all`` writes one of each beside a good model.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import torch

from vae.core.checkpoints import save_checkpoint
from vae.core.model import VAE, VAEConfig

SMALL = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))


def good(path: Path, dataset: str = "digits", meta: dict | None = None) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(path, VAE(SMALL).eval(), dataset=dataset, metrics={"test_elbo": -30.0}, meta=meta)


def _edit(path: Path, change) -> Path:
    """A good checkpoint whose payload ``change(payload)`` edits in place, saved plainly."""
    good(path)
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


def dangling_link(path: Path) -> Path:
    path.symlink_to(path.parent / "no-such-file.pt")
    return path


def looping_link(path: Path) -> Path:
    path.symlink_to(path)  # ELOOP on every stat or open
    return path


def billion_laughs(path: Path, depth: int = 40) -> Path:
    """10**depth strings by shared reference in a file of a few KB: printing the dataset
    field would never end."""
    laughs: list = ["lol"] * 10
    for _ in range(depth):
        laughs = [laughs] * 10
    return _edit(path, lambda p: p.__setitem__("dataset", laughs))


def compressed_storage(path: Path, megabytes: int = 64) -> Path:
    """A ``megabytes`` MB tensor of zeros in meta, its zip record deflated to ~0.1% of that."""
    plain = path.with_suffix(".plain")
    _edit(plain, lambda p: p["meta"].__setitem__("blob", torch.zeros(megabytes * 2**18)))
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    plain.unlink()
    return path


def forged_latent(path: Path, latent_dim: int = 10**6) -> Path:
    return _edit(path, lambda p: p["model_config"].__setitem__("latent_dim", latent_dim))


def stride0_test_set(path: Path, n: int = 10**6) -> Path:
    """A user-model test set of ``n`` 8x8 images that is one pixel seen through stride 0:
    encoding it would allocate n * 256 bytes of floats (256 MB here; 3 GB at 28x28)."""
    test = {
        "images": torch.zeros(1, 1, 1, 1, dtype=torch.uint8).expand(n, 1, 8, 8),
        "labels": torch.zeros(1, dtype=torch.int64).expand(n),
        "label_names": ["a"],
    }

    def change(p):
        p["dataset"] = "custom"
        p["meta"]["test_set"] = test

    return _edit(path, change)


def text_metric(path: Path) -> Path:
    return _edit(path, lambda p: p["metrics"].__setitem__("test_elbo", "excellent"))


def nan_weights(path: Path) -> Path:
    def change(p):
        first = next(iter(p["state_dict"]))
        p["state_dict"][first][0, 0] = float("nan")

    return _edit(path, change)


def shape_vs_dataset(path: Path) -> Path:
    """An 8x8 model that claims to be an MNIST (28x28) one."""
    return _edit(path, lambda p: p.__setitem__("dataset", "mnist"))


def huge_int(path: Path) -> Path:
    return _edit(path, lambda p: p["meta"].__setitem__("epochs_done", 10**200))  # LONG1; torch refuses longer ones itself


def deep_nesting(path: Path, depth: int = 3000) -> Path:
    """Lists nested ``depth`` deep (pickling recurses: the recursion limit is raised for it)."""
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * depth))
    try:
        return _edit(path, lambda p: p["meta"].__setitem__("notes", nested))
    finally:
        sys.setrecursionlimit(limit)


BUILDERS = {
    "dangling_link": dangling_link,
    "looping_link": looping_link,
    "billion_laughs": billion_laughs,
    "compressed_storage": compressed_storage,
    "forged_latent": forged_latent,
    "stride0_test_set": stride0_test_set,
    "text_metric": text_metric,
    "nan_weights": nan_weights,
    "shape_vs_dataset": shape_vs_dataset,
    "huge_int": huge_int,
    "deep_nesting": deep_nesting,
}
EXPECTED = {
    "dangling_link": "cannot read it",
    "looping_link": "cannot read it",
    "billion_laughs": "stored twice by reference",
    "compressed_storage": "compressed records",
    "forged_latent": "latent_dim must be",
    "stride0_test_set": "unusual strides",
    "text_metric": "metric test_elbo is not a finite number",
    "nan_weights": "NaN or infinite",
    "shape_vs_dataset": "its images are 1x8x8 but its dataset's are 1x28x28",
    "huge_int": "integer too large",
    "deep_nesting": "nested more than",
}


def build_all(folder: Path, kinds=tuple(BUILDERS)) -> dict[str, Path]:
    """``folder/good.pt`` plus one file per kind (in ``folder/user/``, like students' saves)."""
    (folder / "user").mkdir(parents=True, exist_ok=True)
    good(folder / "good.pt")
    return {k: BUILDERS[k](folder / "user" / f"{k}.pt") for k in kinds}


def file_bytes(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


