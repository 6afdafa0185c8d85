"""Command line training: ``python -m vae.train --dataset mnist --latent-dim 2 --out PATH``.

Prints a progress bar and one line per epoch, then evaluates the test ELBO and an
importance-sampled log p(x), and saves a checkpoint carrying the exact command.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from vae.checkpoints import save_checkpoint
from vae.data import DATASETS, load_dataset
from vae.metrics import summarize
from vae.model import ACTIVATIONS, ARCHITECTURES, VARIANTS, VAEConfig
from vae.training import EpochStats, TrainConfig, fit, pick_device


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae.train", description=__doc__)
    p.add_argument("--dataset", default="digits", choices=sorted(DATASETS))
    p.add_argument("--data-dir", default=None, help="where dataset files are (else $VAE_DATA_DIR, then the cache)")
    p.add_argument("--latent-dim", type=int, default=2)
    p.add_argument("--arch", default="mlp", choices=ARCHITECTURES)
    p.add_argument("--hidden", type=_ints, default=(512, 256), help="MLP widths, e.g. 512,256")
    p.add_argument("--channels", type=_ints, default=(32, 64), help="conv channels, e.g. 32,64")
    p.add_argument("--likelihood", default=None, choices=("bernoulli", "gaussian"), help="default: the dataset's")
    p.add_argument("--variant", default="vae", choices=VARIANTS)
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=1.0, help="multiply the lr by this each epoch")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--kl-warmup", type=int, default=0, help="epochs of linear KL warm-up")
    p.add_argument("--binarize", action="store_true", help="dynamic binarization (Bernoulli models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--iw-k", type=int, default=100, help="importance samples for log p(x)")
    p.add_argument("--iw-n", type=int, default=1000, help="test images for log p(x) (0 = all)")
    p.add_argument("--title", default="", help="a short description stored in the checkpoint")
    p.add_argument("--out", required=True, help="checkpoint path, e.g. checkpoints/user/mine.pt")
    return p


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    info = DATASETS[args.dataset]
    dataset = load_dataset(args.dataset, data_dir=args.data_dir)
    model_config = VAEConfig(
        image_shape=dataset.image_shape,
        latent_dim=args.latent_dim,
        architecture=args.arch,
        hidden=args.hidden,
        conv_channels=args.channels,
        likelihood=args.likelihood or info.likelihood,
        variant=args.variant,
        activation=args.activation,
    )
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        beta=args.beta,
        kl_warmup_epochs=args.kl_warmup,
        binarize=args.binarize,
        seed=args.seed,
        amp=not args.no_amp,
    )
    device = pick_device(args.device)
    print(f"training {args.dataset} {model_config.architecture} latent={args.latent_dim} on {device}", flush=True)
    t0 = time.perf_counter()

    def report(stats: EpochStats, _model) -> None:
        sys.stderr.write("\r" + _bar(stats.epoch, args.epochs) + "\n")
        print(
            f"epoch {stats.epoch:3d}  train ELBO {stats.train_elbo:9.2f}  test ELBO "
            f"{stats.test_elbo:9.2f}  recon {stats.test_recon:8.2f}  KL {stats.test_kl:6.2f}  "
            f"{stats.seconds:6.1f}s  {stats.images_per_second:8.0f} img/s",
            flush=True,
        )

    model, history = fit(model_config, train_config, dataset, device, on_epoch_end=report)
    train_seconds = time.perf_counter() - t0
    metrics = summarize(
        model, dataset, binarized=args.binarize, iw_k=args.iw_k, iw_n=args.iw_n or None
    )
    metrics["train_seconds"] = round(train_seconds, 1)
    command = "python -m vae.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    meta = {
        "title": args.title,
        "device": history.device,
        "command": command,
        "torch": torch.__version__,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = save_checkpoint(
        Path(args.out),
        model.cpu(),
        dataset=args.dataset,
        train_config=train_config.to_dict(),
        metrics=metrics,
        history=history.to_list(),
        meta=meta,
    )
    print(
        f"test ELBO {metrics['test_elbo']:.2f} nats, log p(x) >= {metrics['log_px']:.2f} "
        f"(IS, k={metrics['log_px_k']}, n={metrics['log_px_n']}), KL {metrics['test_kl']:.2f}, "
        f"active units {metrics['active_units']}/{args.latent_dim}; saved {out}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
