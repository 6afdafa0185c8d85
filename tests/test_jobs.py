"""Background training jobs (vae.app.jobs): finish and save, stop cleanly, run side by side,
queue beyond the server limit, fail with a message, and never touch a shared model."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from vae.app import jobs
from vae.app.jobs import TrainingJob
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig
from vae.core.model import VAE, VAEConfig

CFG = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(32, 16))
TIMEOUT = 120  # generous: the test machine is shared and small


def _wait_for(job: TrainingJob, cond, timeout: float = TIMEOUT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        snap = job.snapshot()
        if cond(snap):
            return snap
        time.sleep(0.02)
    raise AssertionError(f"timed out; last snapshot: {job.snapshot().status} {job.snapshot().phase}")


def test_job_finishes_and_saves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "user" / "two.pt"
    job = TrainingJob(CFG, TrainConfig(epochs=2, batch_size=128), "digits", out, {"title": "t"})
    assert job.snapshot().status == "queued"
    snap = job.start().wait(TIMEOUT)
    assert snap.status == "done", snap.error
    assert snap.checkpoint_path == out and out.exists()
    assert [h.epoch for h in snap.history] == [1, 2] and snap.progress == 1.0
    assert snap.originals.shape == snap.reconstructions.shape == (8, 1, 8, 8)
    assert snap.samples.shape == (16, 1, 8, 8)
    assert snap.reconstructions.min() >= 0 and snap.reconstructions.max() <= 1
    ckpt = load_checkpoint(out)
    assert len(ckpt.history) == 2 and ckpt.dataset == "digits"
    assert ckpt.meta["title"] == "t" and ckpt.meta["epochs_done"] == 2 and not ckpt.meta["stopped_early"]
    assert ckpt.metrics["log_px_k"] == jobs.IW_K and np.isfinite(ckpt.metrics["test_elbo"])
    assert ckpt.history[-1]["test_elbo"] == pytest.approx(snap.history[-1].test_elbo)
    ckpt.build_model()


def test_stop_mid_training_keeps_the_last_finished_epoch(tmp_path):
    out = tmp_path / "stopped.pt"
    job = TrainingJob(CFG, TrainConfig(epochs=500, batch_size=16), "digits", out).start()
    _wait_for(job, lambda s: s.epoch >= 1)
    job.stop()
    snap = job.wait(TIMEOUT)
    assert snap.status == "stopped" and snap.checkpoint_path == out
    assert 1 <= len(snap.history) < 500
    ckpt = load_checkpoint(out)
    assert len(ckpt.history) == len(snap.history) and ckpt.meta["stopped_early"]


def test_stop_before_the_first_epoch_saves_nothing(tmp_path):
    out = tmp_path / "none.pt"
    job = TrainingJob(CFG, TrainConfig(epochs=3, batch_size=16), "digits", out)
    job.stop()  # before start: the thread sees it at once
    snap = job.start().wait(TIMEOUT)
    assert snap.status == "stopped" and snap.checkpoint_path is None and not out.exists()


def test_two_jobs_at_once_make_two_checkpoints(tmp_path):
    a = TrainingJob(CFG, TrainConfig(epochs=2, batch_size=128, seed=0), "digits", tmp_path / "a.pt")
    b = TrainingJob(CFG, TrainConfig(epochs=2, batch_size=128, seed=1), "digits", tmp_path / "b.pt")
    a.start(), b.start()
    sa, sb = a.wait(TIMEOUT), b.wait(TIMEOUT)
    assert sa.status == sb.status == "done"
    wa, wb = load_checkpoint(sa.checkpoint_path).state_dict, load_checkpoint(sb.checkpoint_path).state_dict
    assert wa.keys() == wb.keys()
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)


def test_jobs_beyond_the_limit_wait_as_queued(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_SLOTS", threading.BoundedSemaphore(1))
    first = TrainingJob(CFG, TrainConfig(epochs=500, batch_size=16), "digits", tmp_path / "1.pt").start()
    _wait_for(first, lambda s: s.status == "running")
    second = TrainingJob(CFG, TrainConfig(epochs=1, batch_size=128), "digits", tmp_path / "2.pt").start()
    time.sleep(0.5)
    assert second.snapshot().status == "queued"
    first.stop()
    assert first.wait(TIMEOUT).status == "stopped"
    assert second.wait(TIMEOUT).status == "done"


def test_missing_dataset_fails_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "nodata"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = VAEConfig(image_shape=(1, 28, 28), latent_dim=2, hidden=(16,))
    job = TrainingJob(cfg, TrainConfig(epochs=1), "mnist", tmp_path / "m.pt", download=False)
    snap = job.start().wait(TIMEOUT)
    assert snap.status == "failed" and "MNIST" in snap.error and "missing" in snap.error
    assert not (tmp_path / "m.pt").exists()
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainingJob(cfg, TrainConfig(), "nope", tmp_path / "x.pt")


def test_training_never_touches_a_shared_model(tmp_path):
    # The page's model comes from a checkpoint through st.cache_resource: built the same way here.
    path = save_checkpoint(tmp_path / "shared.pt", VAE(CFG), dataset="digits")
    shared = load_checkpoint(path).build_model()
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    job = TrainingJob(CFG, TrainConfig(epochs=2, batch_size=128), "digits", tmp_path / "new.pt")
    assert job.start().wait(TIMEOUT).status == "done"
    after = shared.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not shared.training and not any(p.requires_grad for p in shared.parameters())


def test_cli_command_matches_the_settings():
    cmd = jobs.cli_command(CFG, TrainConfig(epochs=3, binarize=True), "digits", "checkpoints/user/x.pt")
    assert cmd.startswith("python -m vae.train --dataset digits --latent-dim 2 --arch mlp --hidden 32,16")
    assert "--epochs 3" in cmd and "--binarize" in cmd and cmd.endswith("--out checkpoints/user/x.pt")
