"""What a checkpoint round trip keeps and what its errors say, field by field (issue 18: written
for the mutants of ``vae/core/checkpoints.py`` that the other checkpoint tests let survive; see
tests/MUTATION.md). Expectations are the values written, the file system's own answers (the
process umask, the file's mode bits) and the exact messages users see."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from vae.core import checkpoints
from vae.core.checkpoints import (
    CheckpointError,
    _unreadable_reason,
    list_checkpoints,
    load_checkpoint,
    read_header,
    save_checkpoint,
    validate_name,
)
from vae.core.model import VAE, VAEConfig
from vae.core.snapshots import Snapshots

CFG = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))


def _snaps() -> Snapshots:
    rng = np.random.default_rng(0)
    return Snapshots(
        epochs=[2, 5], indices=np.arange(3), labels=np.array([1, 0, 1]),
        mu=rng.normal(size=(2, 3, 2)).astype(np.float16), prior_t=rng.normal(size=(3, 2)).astype(np.float32),
        prior=np.zeros((2, 3, 1, 8, 8), np.uint8), grid_coords=np.linspace(-1, 1, 4).astype(np.float32),
        manifold=np.zeros((2, 4, 4, 1, 8, 8), np.uint8), stats=[{"epoch": 2, "test_elbo": -9.0}, {"epoch": 5, "test_elbo": -7.5}],
    )  # fmt: skip


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_a_saved_file_gets_the_mode_the_umask_gives_a_new_file(tmp_path, umask_027) -> None:
    # 0o027 (not the usual 0o022, whose 0o644 is also the fallback when /proc has no answer).
    assert checkpoints._new_file_mode() == 0o640
    path = save_checkpoint(tmp_path / "m.pt", VAE(CFG), dataset="digits")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    reference = tmp_path / "plain"
    reference.write_bytes(b"")  # what open() gives under this umask
    assert stat.S_IMODE(reference.stat().st_mode) == 0o640


def test_save_creates_missing_parent_folders_and_renames_a_dot_tmp_file(tmp_path, monkeypatch) -> None:
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(checkpoints.os, "replace", lambda a, b: (renamed.append((a, b)), real_replace(a, b))[1])
    path = save_checkpoint(tmp_path / "a" / "b" / "m.pt", VAE(CFG), dataset="digits")
    assert path.is_file() and load_checkpoint(path).dataset == "digits"
    ((tmp, dest),) = renamed
    # The temp file is hidden (leading dot) and marked: list_checkpoints skips it.
    name = os.path.basename(tmp)
    assert name.startswith(".m.pt.") and name.endswith(".tmp") and dest == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.pt"]


def test_round_trip_keeps_metrics_and_snapshots_in_the_header_and_the_checkpoint(tmp_path) -> None:
    metrics = {"test_elbo": -101.25, "active_units": 2}
    path = save_checkpoint(tmp_path / "m.pt", VAE(CFG), dataset="digits", metrics=metrics, snapshots=_snaps())
    head = read_header(path)
    assert head.metrics == metrics
    assert head.snapshot_epochs == (2, 5)
    got = load_checkpoint(path)
    assert got.metrics == metrics
    assert got.snapshots is not None and got.snapshots.epochs == [2, 5]
    np.testing.assert_array_equal(got.snapshots.mu, _snaps().mu)
    assert got.snapshots.stats == _snaps().stats
    # The listing's entry loads the same file.
    (entry,) = list_checkpoints(tmp_path)
    loaded = entry.load()
    assert loaded.metrics == metrics
    for k, v in loaded.state_dict.items():
        torch.testing.assert_close(v, got.state_dict[k], rtol=0, atol=0)


def test_messages_name_the_file_or_say_uploaded_file(tmp_path) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(bad)
    assert str(e.value).startswith("broken.pt: ") and str(tmp_path) not in str(e.value)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(b"not a checkpoint")
    assert str(e.value).startswith("uploaded file: ")


def test_an_unsupported_format_version_says_which_versions(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", VAE(CFG), dataset="digits")
    payload = torch.load(path, weights_only=True)
    payload["version"] = 99
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(e.value) == (
        f"m.pt: checkpoint format version 99 is not supported (this app reads version {checkpoints.FORMAT_VERSION})"
    )


def test_torch_refusals_mentioning_weights_only_read_as_not_a_checkpoint() -> None:
    # torch's text for a weights-only refusal that names no GLOBAL (not an UnpicklingError).
    e = RuntimeError("Weights only load failed. Re-running with weights_only set to False may run code.")
    assert _unreadable_reason(e) == "corrupt, truncated, or not a checkpoint at all"
    assert _unreadable_reason(RuntimeError("PytorchStreamReader failed. Bad zip")) == (
        "corrupt or truncated (PytorchStreamReader failed)"
    )


def test_the_name_rule_message() -> None:
    with pytest.raises(ValueError) as e:
        validate_name("-lead")
    assert str(e.value) == "Use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit."
