"""Data-parallel training under torchrun (2 CPU processes, gloo) matches one process.

The references are one-process runs of the same command (the path tests/test_training.py
covers). A VAE draws different noise per rank (seed + rank), so it agrees within Monte Carlo
noise; the plain autoencoder (``--variant ae``) has no noise at all, so there the two runs
must agree to float rounding, which checks the batch sharding and the gradient weighting
of uneven shares (1,437 digits = 22 batches of 64 + one of 29, split 15/14).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from vae import train
from vae.core.checkpoints import load_checkpoint
from vae.core.distributed import is_distributed, rank, shard, world_size
from vae.core.model import VAE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = ["--dataset", "digits", "--hidden", "128,64", "--batch-size", "64", "--lr", "2e-3",
          "--seed", "3", "--iw-k", "10", "--iw-n", "100"]  # fmt: skip


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "vae.train", *args]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _flat(state: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.flatten() for v in state.values()])


def test_shard_splits_a_global_batch_into_the_one_process_batch():
    for b in (1, 2, 5, 29, 64):
        for w in (1, 2, 3, 4):
            batch = torch.randperm(100, generator=torch.Generator().manual_seed(b))[:b]
            parts = [shard(batch, r, w) for r in range(w)]
            assert torch.equal(torch.cat(parts), batch)  # union in rank order = the batch
            sizes = [p.numel() for p in parts]
            assert max(sizes) - min(sizes) <= 1 and sorted(sizes, reverse=True) == sizes


def test_helpers_outside_torchrun_are_one_process():
    assert not is_distributed() and rank() == 0 and world_size() == 1


def _run_both(tmp_path, args: list[str]):
    """The same command under torchrun (2 processes) and in this process; both checkpoints."""
    out2 = tmp_path / "ddp" / "x.pt"
    proc = _torchrun([*args, "--out", str(out2)])
    # Only rank 0 printed and wrote: one progress line per epoch, one file, no temp files.
    assert proc.stdout.count("epoch   1 ") == 1 and proc.stdout.count("saved ") == 1, proc.stdout
    assert sorted(p.name for p in out2.parent.iterdir()) == ["x.pt"]
    two = load_checkpoint(out2)
    # Really one 2-process job (two 1-process jobs would also leave one file).
    assert two.meta["world_size"] == 2 and two.meta["device"].startswith("2 processes")
    out1 = tmp_path / "one.pt"
    assert train.main([*args, "--out", str(out1)]) == 0
    one = load_checkpoint(out1)
    assert len(two.history) == len(one.history) == int(args[args.index("--epochs") + 1])
    return one, two


@pytest.mark.slow
def test_two_processes_match_one_autoencoder_to_rounding(tmp_path):
    args = [*COMMON, "--variant", "ae", "--epochs", "3"]
    one, two = _run_both(tmp_path, args)
    p1, p2 = _flat(one.state_dict), _flat(two.state_dict)
    with torch.random.fork_rng():
        torch.manual_seed(3)  # the --seed: the init both runs started from
        p0 = _flat(VAE(one.model_config).state_dict())
    # No noise: the same optimiser steps up to float summation order (a step that averaged
    # the two shares' means instead, ignoring their sizes, is off by ~2e-3 here).
    assert (p2 - p1).norm() < 1e-5 * (p1 - p0).norm(), ((p2 - p1).norm(), (p1 - p0).norm())
    for e1, e2 in zip(one.history, two.history, strict=True):
        assert e2["train_loss"] == pytest.approx(e1["train_loss"], abs=1e-4)  # sums reduced once
        assert e2["test_elbo"] == pytest.approx(e1["test_elbo"], abs=1e-4)


@pytest.mark.slow
def test_two_processes_match_one_vae_within_noise(tmp_path):
    # A model whose latents are in use (KL > 0), so the per-rank noise matters.
    args = ["--dataset", "digits", "--hidden", "256,128", "--batch-size", "32", "--lr", "3e-3",
            "--epochs", "12", "--seed", "3", "--iw-k", "10", "--iw-n", "100"]  # fmt: skip
    one, two = _run_both(tmp_path, args)
    for ck in (one, two):
        assert ck.metrics["active_units"] == 2 and ck.metrics["test_kl"] > 1
        assert ck.history[-1]["test_elbo"] > ck.history[0]["test_elbo"] + 1
    # Different noise per rank: agreement within Monte Carlo noise, not bit for bit. Weights
    # are not compared: different noise ends in different (e.g. rotated) latent codes.
    assert abs(two.metrics["test_elbo"] - one.metrics["test_elbo"]) < 0.5
    last3 = [sum(e["test_elbo"] for e in ck.history[-3:]) / 3 for ck in (one, two)]
    assert abs(last3[0] - last3[1]) < 0.5, (one.history, two.history)


def test_every_rank_waits_at_the_end_before_leaving_the_group(tmp_path, monkeypatch):
    """Rank 1 returns as soon as training ends while rank 0 scores and saves; both must meet
    at a barrier before the process group is torn down (rank 1 alone tearing gloo down
    aborted it under load). Recorded in one process: the barrier comes after training and
    before cleanup, once."""
    from vae.core import distributed

    calls = []
    monkeypatch.setattr(distributed, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(distributed, "cleanup", lambda: calls.append("cleanup"))
    monkeypatch.setattr(train, "_train", lambda *a: calls.append("train") or 0)
    assert train.main(["--dataset", "digits", "--out", str(tmp_path / "x.pt")]) == 0
    assert calls == ["train", "barrier", "cleanup"]
