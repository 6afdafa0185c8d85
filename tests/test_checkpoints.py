"""Checkpoint round trip and refusal of anything that is not a safe checkpoint."""

import os
import pickle

import pytest
import torch

from vae.core.checkpoints import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    validate_name,
)
from vae.core.model import VAE, VAEConfig


def _model(arch="mlp"):
    torch.manual_seed(0)
    return VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, architecture=arch, hidden=(16,), conv_channels=(4, 8)))


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_round_trip_gives_identical_outputs(tmp_path, arch):
    model = _model(arch).eval()
    path = save_checkpoint(
        tmp_path / "m.pt", model, dataset="digits", train_config={"epochs": 3},
        metrics={"test_elbo": -30.5}, history=[{"epoch": 1}], meta={"command": "python -m vae.train"},
    )
    ckpt = load_checkpoint(path)
    assert ckpt.model_config == model.config
    assert ckpt.dataset == "digits" and ckpt.metrics["test_elbo"] == -30.5
    assert ckpt.meta["command"] == "python -m vae.train" and ckpt.history == [{"epoch": 1}]
    x = torch.rand(3, 1, 8, 8)
    z = torch.randn(3, 2)
    loaded = ckpt.build_model()
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), model.decode(z))
        assert all(torch.equal(a, b) for a, b in zip(loaded.encode(x), model.encode(x), strict=True))
    assert not any(p.requires_grad for p in loaded.parameters())
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left


def test_truncated_and_random_files_are_refused(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", _model(), dataset="digits")
    raw = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "random.pt").write_bytes(os.urandom(5000))
    (tmp_path / "empty.pt").write_bytes(b"")
    for name in ("trunc.pt", "random.pt", "empty.pt"):
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "missing.pt")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    # Both a torch.save zip archive and a bare pickle whose unpickling would create the marker.
    torch.save({"format": "vae-latent-explorer", "version": 1, "x": _Evil(str(marker))}, tmp_path / "evil.pt")
    (tmp_path / "evil2.pt").write_bytes(pickle.dumps(_Evil(str(marker))))
    assert not marker.exists()
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(CheckpointError):
            load_checkpoint(tmp_path / name)
    assert not marker.exists()


def test_foreign_and_mismatched_files_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a VAE Latent Explorer checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    save_checkpoint(tmp_path / "ok.pt", _model(), dataset="digits")
    payload = torch.load(tmp_path / "ok.pt", weights_only=True)
    payload["model_config"]["latent_dim"] = 7
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(tmp_path / "mismatch.pt")


def test_list_checkpoints_marks_broken_files(tmp_path):
    save_checkpoint(tmp_path / "bundled.pt", _model(), dataset="digits")
    save_checkpoint(tmp_path / "user" / "mine.pt", _model(), dataset="digits")
    (tmp_path / "user" / "broken.pt").write_bytes(b"garbage")
    (tmp_path / ".tmp-half.pt").write_bytes(b"half")
    entries = {e.name: e for e in list_checkpoints(tmp_path)}
    assert set(entries) == {"bundled", "mine", "broken"}
    assert entries["bundled"].bundled and entries["bundled"].ok
    assert not entries["mine"].bundled and entries["mine"].ok
    assert not entries["broken"].ok and "not a readable checkpoint" in entries["broken"].error


@pytest.mark.parametrize("bad", ["", "  ", "../x", "a/b", "a\\b", "..", ".hidden", "x" * 65, "a b", "naïve", "mnist_2d"])
def test_validate_name_refuses_unsafe_names(bad):
    with pytest.raises(ValueError):
        validate_name(bad, reserved={"mnist_2d"})


def test_validate_name_accepts_plain_names():
    assert validate_name("my-model_v2.pt") == "my-model_v2"
    assert validate_name(" class7 ") == "class7"


def test_str_subclasses_in_metadata_are_stored_plain(tmp_path):
    """torch.__version__ is a str subclass that weights_only refuses; saving must not let it in."""
    path = save_checkpoint(tmp_path / "v.pt", _model(), dataset="digits", meta={"torch": torch.__version__})
    meta = load_checkpoint(path).meta
    assert meta["torch"] == str(torch.__version__) and type(meta["torch"]) is str


def test_plain_metadata_values_keep_their_types(tmp_path):
    meta = {"flag": True, "n": 3, "x": 0.5, "s": "a", "none": None, "nested": [False, (1, 2)]}
    path = save_checkpoint(tmp_path / "t.pt", _model(), dataset="digits", meta=meta)
    got = load_checkpoint(path).meta
    assert got == {"flag": True, "n": 3, "x": 0.5, "s": "a", "none": None, "nested": [False, [1, 2]]}
    assert type(got["flag"]) is bool and type(got["nested"][0]) is bool
