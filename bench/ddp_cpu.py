"""Data-parallel training on CPUs: 2 torchrun processes (gloo) vs 1 process, same machine.

Trains the same CLI command (``python -m vae.train``, default MLP 512-256, latent 2,
global batch 128) three ways and prints seconds per epoch from each checkpoint's history:

* 1 process, 1 thread      (OMP_NUM_THREADS=1)
* 1 process, N threads     (OMP_NUM_THREADS=N, N = --threads, default 2)
* 2 processes, 1 thread each  (``torchrun --nproc_per_node 2 --standalone``)

On digits (always) and MNIST (when found in $VAE_DATA_DIR or ../shared/data). All runs of a
dataset happen back to back in one invocation: on a shared machine compare the ratios, not
the absolute times. ::

    python bench/ddp_cpu.py [--digits-epochs 5] [--mnist-epochs 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO

from vae.core.checkpoints import load_checkpoint


def find_data() -> Path | None:
    for cand in (os.environ.get("VAE_DATA_DIR"), REPO.parent / "shared" / "data"):
        if cand and (Path(cand) / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
            return Path(cand)
    return None


def run(args: list[str], nproc: int, threads: int, out: Path) -> tuple[float, float]:
    """(median seconds per training epoch, wall seconds of the whole command)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    env.pop("WORLD_SIZE", None)
    launch = ["-m", "vae.train"]
    if nproc > 1:
        launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *launch]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *launch, *args, "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(launch + args)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    ckpt = load_checkpoint(out)
    return statistics.median(e["seconds"] for e in ckpt.history), wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digits-epochs", type=int, default=5)
    p.add_argument("--mnist-epochs", type=int, default=1, help="0 = skip MNIST")
    p.add_argument("--threads", type=int, default=2, help="threads of the multi-threaded 1-process run")
    args = p.parse_args()
    common = ["--batch-size", "128", "--iw-k", "1", "--iw-n", "100", "--seed", "0"]
    jobs = [("digits", ["--dataset", "digits", "--epochs", str(args.digits_epochs), *common])]
    data = find_data()
    if args.mnist_epochs > 0 and data is not None:
        jobs.append(("mnist", ["--dataset", "mnist", "--data-dir", str(data),
                               "--epochs", str(args.mnist_epochs), *common]))  # fmt: skip
    elif args.mnist_epochs > 0:
        print("MNIST not found (set VAE_DATA_DIR): digits only")
    ways = [(1, 1, "1 process x 1 thread"), (1, args.threads, f"1 process x {args.threads} threads"),
            (2, 1, "2 processes x 1 thread")]  # fmt: skip
    print(f"{os.cpu_count()} CPUs; global batch 128, MLP 512-256, latent 2; s/epoch = median over epochs")
    print(f"{'dataset':8s} {'run':26s} {'s/epoch':>8s} {'wall s':>7s} {'speed-up vs 1x1':>16s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in jobs:
            base = None
            for nproc, threads, label in ways:
                secs, wall = run(argv, nproc, threads, Path(tmp) / f"{name}-{nproc}-{threads}.pt")
                base = base or secs
                print(f"{name:8s} {label:26s} {secs:8.2f} {wall:7.1f} {base / secs:15.2f}x", flush=True)


if __name__ == "__main__":
    main()
