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
from vae.checkpoints import load_checkpoint
from vae.distributed import is_distributed, rank, shard, world_size
from vae.model import VAE

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


@pytest.mark.parametrize("variant", ["vae", "ae"])
def test_two_processes_match_one(tmp_path, variant):
    epochs = "5" if variant == "vae" else "3"
    args = [*COMMON, "--variant", variant, "--epochs", epochs]
    out2 = tmp_path / "ddp" / "x.pt"
    proc = _torchrun([*args, "--out", str(out2)])
    # Only rank 0 printed and wrote: one progress line per epoch, one file, no temp files.
    assert proc.stdout.count("epoch   1 ") == 1 and proc.stdout.count("saved ") == 1, proc.stdout
    assert sorted(p.name for p in out2.parent.iterdir()) == ["x.pt"]
    two = load_checkpoint(out2)
    assert two.meta["world_size"] == 2 and two.meta["device"].startswith("2 processes")

    out1 = tmp_path / "one.pt"
    assert train.main([*args, "--out", str(out1)]) == 0
    one = load_checkpoint(out1)

    assert len(two.history) == len(one.history) == int(epochs)
    p1, p2 = _flat(one.state_dict), _flat(two.state_dict)
    if variant == "ae":
        # No noise: the same steps up to float summation order.
        for e1, e2 in zip(one.history, two.history, strict=True):
            assert e2["train_loss"] == pytest.approx(e1["train_loss"], abs=1e-3)
            assert e2["test_elbo"] == pytest.approx(e1["test_elbo"], abs=1e-3)
        assert torch.allclose(p2, p1, rtol=1e-4, atol=1e-5), (p2 - p1).abs().max()
    else:
        # Different noise per rank: curves agree within Monte Carlo noise, not bit for bit.
        for e1, e2 in zip(one.history, two.history, strict=True):
            assert abs(e2["test_elbo"] - e1["test_elbo"]) < 0.5, (one.history, two.history)
        assert abs(two.metrics["test_elbo"] - one.metrics["test_elbo"]) < 0.5
        # And both trained: well past the untrained model (independent of either run).
        with torch.random.fork_rng():
            torch.manual_seed(123)
            untrained = _flat(VAE(one.model_config).state_dict())
        assert (p2 - p1).norm() < (p1 - untrained).norm()
        assert one.history[-1]["test_elbo"] > one.history[0]["test_elbo"]
        assert two.history[-1]["test_elbo"] > two.history[0]["test_elbo"]
