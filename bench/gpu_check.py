"""GPU check: training on CUDA agrees with the CPU path, with and without bf16 autocast.

Run it on any machine with an NVIDIA GPU (a few minutes on one GPU)::

    python bench/gpu_check.py            # MNIST from $VAE_DATA_DIR or ../shared/data

1. One batch, fp32: loss and every gradient of the same model, batch and noise on CPU and
   on CUDA (TF32 off) agree to 1e-4 relative; an MLP, a conv model and a 64x64 RGB conv
   model. The bf16-autocast loss is shown against them too (to 5e-2).
2. Training: ``vae.core.fit.fit`` for a few epochs on an MNIST subset on the CPU, on CUDA
   in fp32 (``TrainConfig.amp=False``) and on CUDA with bf16 autocast (``amp=True``): the
   final test ELBO agrees with the CPU's within ``--tol`` nats (noise differs between the
   devices' generators, so not bit for bit); seconds per epoch for each.
3. With two or more GPUs: ``torchrun --nproc_per_node 2 -m vae.train`` (NCCL) on digits
   against one process on one GPU: the plain autoencoder to rounding, the VAE within 0.5 nat.

Prints a table and exits 0 if every check passed, 1 otherwise; with no GPU it says so and
exits 0. ``--cpu-dry-run`` runs every step with the CPU standing in for the GPU (a test of
this script on a machine without one; step 3 then runs 2 CPU processes with gloo).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import REPO, data_dir

from vae.core.device import describe_device
from vae.core.fit import TrainConfig, fit
from vae.core.losses import elbo_terms
from vae.core.model import VAE, VAEConfig
from vae.data.registry import Dataset, load_dataset, to_float

MLP = VAEConfig(image_shape=(1, 28, 28), latent_dim=20, hidden=(400,))  # bench/train_mnist.py's
CONV = VAEConfig(image_shape=(1, 28, 28), latent_dim=20, architecture="conv", conv_channels=(32, 64), hidden=(256,))
RGB64 = VAEConfig(image_shape=(3, 64, 64), latent_dim=32, architecture="conv", conv_channels=(32, 64, 128))
GRAD_RTOL = 1e-4
AMP_LOSS_RTOL = 5e-2

failures: list[str] = []


def check(ok: bool, what: str) -> str:
    if not ok:
        failures.append(what)
    return "ok" if ok else "FAIL"


@contextlib.contextmanager
def strict_fp32():
    """True fp32 matmuls and convolutions on CUDA (no TF32), restored afterwards."""
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    if hasattr(matmul, "fp32_precision") and hasattr(conv, "fp32_precision"):  # torch >= 2.9
        saved = matmul.fp32_precision, conv.fp32_precision
        matmul.fp32_precision = conv.fp32_precision = "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = saved
    else:
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b|| in float64 (a on any device, b the CPU reference)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def one_batch(cfg: VAEConfig, x: torch.Tensor, device: torch.device, amp: bool) -> None:
    """Loss and gradients of one batch ``x (B, C, H, W)`` on the CPU vs ``device``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ref = VAE(cfg)
    dev = copy.deepcopy(ref).to(device)
    eps = torch.randn(x.shape[0], cfg.latent_dim, generator=torch.Generator().manual_seed(1))
    t_ref = elbo_terms(ref, x, eps=eps)
    t_ref.loss.backward()
    with strict_fp32():
        t_dev = elbo_terms(dev, x.to(device), eps=eps.to(device))
        t_dev.loss.backward()
    loss_rel = _rel(t_dev.loss, t_ref.loss)
    grad_rel = max(
        _rel(pd.grad, pr.grad)
        for (name, pr), pd in zip(ref.named_parameters(), dev.parameters(), strict=True)
    )
    name = f"{cfg.architecture} {'x'.join(map(str, cfg.image_shape))}"
    ok = loss_rel < GRAD_RTOL and grad_rel < GRAD_RTOL
    print(f"  {name:14s} fp32  loss {t_ref.loss.item():10.3f}  rel diff loss {loss_rel:.1e}, "
          f"worst gradient {grad_rel:.1e}  {check(ok, f'one batch fp32 {name}')}")  # fmt: skip
    if amp:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
            t_amp = elbo_terms(dev, x.to(device), eps=eps.to(device))
        rel = _rel(t_amp.loss, t_ref.loss)
        ok = rel < AMP_LOSS_RTOL
        print(f"  {name:14s} bf16  loss {t_amp.loss.item():10.3f}  rel diff loss {rel:.1e}"
              f"{'':24s}{check(ok, f'one batch bf16 {name}')}")  # fmt: skip


def subset(data: Dataset, n_train: int, n_test: int) -> Dataset:
    return Dataset(
        name=data.name, train_x=data.train_x[:n_train], train_y=data.train_y[:n_train],
        test_x=data.test_x[:n_test], test_y=data.test_y[:n_test],
        label_names=data.label_names, likelihood=data.likelihood,
    )  # fmt: skip


def train_compare(cfg: VAEConfig, data: Dataset, epochs: int, device: torch.device, amp_ok: bool, tol: float) -> None:
    """fit() on the CPU, on ``device`` in fp32 and with bf16 autocast: final test ELBOs."""
    runs = [("cpu", "fp32", torch.device("cpu"), False), ("gpu", "fp32", device, False)]
    if amp_ok:
        runs.append(("gpu", "bf16 autocast", device, True))
    cpu_elbo = None
    n = len(data.train_x)
    print(f"  {cfg.architecture}: {n} train / {len(data.test_x)} test images, {epochs} epochs, batch 128")
    for _, prec, dev, amp in runs:
        tc = TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=0, amp=amp)
        _, hist = fit(cfg, tc, data, device=dev)
        secs = [e.seconds for e in hist.epochs]
        # The first epoch carries one-off costs (CUDA context, cuDNN autotuning).
        s = statistics.median(secs[1:] if len(secs) > 1 else secs)
        elbo = hist.epochs[-1].test_elbo
        if cpu_elbo is None:
            cpu_elbo, verdict = elbo, "(reference)"
        else:
            diff = elbo - cpu_elbo
            verdict = f"{diff:+.2f} vs CPU  " + check(abs(diff) < tol, f"train {cfg.architecture} {prec}")
        print(f"    {describe_device(dev):34s} {prec:14s} {s:7.2f} s/epoch {n / s:9.0f} img/s  "
              f"test ELBO {elbo:8.2f}  {verdict}")  # fmt: skip


def ddp_compare(tmp: Path) -> None:
    """torchrun with 2 processes vs 1 on digits: 2 GPUs with NCCL (gloo on a CPU-only box)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("WORLD_SIZE", None)
    common = ["--dataset", "digits", "--hidden", "256,128", "--batch-size", "32", "--lr", "3e-3",
              "--seed", "3", "--iw-k", "10", "--iw-n", "100"]  # fmt: skip
    for variant, epochs in (("ae", "3"), ("vae", "12")):
        outs = []
        for nproc in (1, 2):
            out = tmp / f"{variant}{nproc}.pt"
            launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
            cmd = [sys.executable, *launch, "-m", "vae.train", *common, "--variant", variant,
                   "--epochs", epochs, "--no-amp", "--out", str(out)]  # fmt: skip
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
            if proc.returncode != 0:
                print(proc.stdout[-2000:] + proc.stderr[-2000:])
                check(False, f"torchrun {nproc} GPU(s) {variant}")
                return
            outs.append(out)
            print(f"    {nproc} process(es): {time.perf_counter() - t0:.1f} s wall")
        from vae.core.checkpoints import load_checkpoint

        one, two = (load_checkpoint(o) for o in outs)
        if variant == "ae":
            p1 = torch.cat([v.flatten() for v in one.state_dict.values()])
            p2 = torch.cat([v.flatten() for v in two.state_dict.values()])
            rel = _rel(p2, p1)
            print(f"  ae : weights rel diff {rel:.1e}  {check(rel < 1e-3, 'ddp ae weights')}")
        else:
            diff = two.metrics["test_elbo"] - one.metrics["test_elbo"]
            print(f"  vae: test ELBO {one.metrics['test_elbo']:.2f} (1 process) vs "
                  f"{two.metrics['test_elbo']:.2f} (2)  {check(abs(diff) < 0.5, 'ddp vae test ELBO')}")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-n", type=int, default=20000, help="MNIST training images (MLP)")
    p.add_argument("--conv-train-n", type=int, default=10000, help="MNIST training images (conv)")
    p.add_argument("--test-n", type=int, default=5000)
    p.add_argument("--tol", type=float, default=1.0, help="nats: final test ELBO vs the CPU's")
    p.add_argument("--device", default="cuda", help="the GPU to check, e.g. cuda:1")
    p.add_argument("--cpu-dry-run", action="store_true", help="no GPU: exercise this script on the CPU")
    args = p.parse_args()
    if args.cpu_dry_run:
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        print(f"No CUDA GPU here (torch {torch.__version__}, CUDA build: {torch.version.cuda}): nothing "
              "to check. Run this on a machine with an NVIDIA GPU, or use --cpu-dry-run.")  # fmt: skip
        return 0
    else:
        device = torch.device(args.device)
        torch.cuda.set_device(device)
    t_start = time.perf_counter()
    # The dry run takes the AMP code paths too (bf16 autocast exists on CPUs; fit ignores it).
    amp_ok = args.cpu_dry_run or torch.cuda.is_bf16_supported()
    print(f"torch {torch.__version__}; reference {describe_device('cpu')}; checking {describe_device(device)}"
          + ("" if amp_ok else " (no bf16 autocast here: the AMP rows are skipped)"))  # fmt: skip
    mnist = load_dataset("mnist", data_dir=data_dir(), download=False)

    print(f"\n1. one batch, CPU vs {device} (fp32 with TF32 off: rel tol {GRAD_RTOL:g})")
    x = to_float(mnist.train_x[:256])
    one_batch(MLP, x, device, amp_ok)
    one_batch(CONV, x, device, amp_ok)
    rgb = torch.rand(64, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    one_batch(RGB64, rgb, device, amp_ok)

    print(f"\n2. training with vae.core.fit.fit (final test ELBO within {args.tol:g} nat of the CPU's)")
    train_compare(MLP, subset(mnist, args.train_n, args.test_n), args.epochs, device, amp_ok, args.tol)
    train_compare(CONV, subset(mnist, args.conv_train_n, args.test_n), args.epochs, device, amp_ok, args.tol)

    if args.cpu_dry_run or torch.cuda.device_count() >= 2:
        print(f"\n3. torchrun: 2 {'processes (gloo)' if args.cpu_dry_run else 'GPUs (NCCL)'} vs 1 on digits")
        with tempfile.TemporaryDirectory() as tmp:
            ddp_compare(Path(tmp))
    else:
        print("\n3. torchrun on 2 GPUs: skipped (needs two GPUs)")

    print(f"\n{time.perf_counter() - t_start:.0f} s in all; "
          + ("all checks passed" if not failures else f"FAILED: {', '.join(failures)}"))  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
