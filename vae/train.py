"""Command line training: ``python -m vae.train --dataset mnist --latent-dim 2 --out PATH``.

Prints a progress bar and one line per epoch, then evaluates the test ELBO and an
importance-sampled log p(x), and saves a checkpoint carrying the exact command.

Your own images: ``--dataset folder:PATH`` (a folder or a .zip, one sub-folder per class)
with ``--image-size 64 --image-channels 3`` for 64x64 colour, e.g. with ``--arch conv
--channels 32,64,128``.

Several processes or machines: run the same command under torchrun, e.g.
``torchrun --nproc_per_node 4 -m vae.train ...`` (one GPU per process, NCCL; gloo on CPUs).
``--batch-size`` stays the global batch, split across the processes; rank 0 prints, scores
and writes the one checkpoint. See docs/training-at-scale.md.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
import time
from pathlib import Path

import torch

from vae.core import distributed
from vae.core.checkpoints import save_checkpoint
from vae.core.fit import EpochStats, TrainConfig, fit
from vae.core.metrics import summarize
from vae.core.model import ACTIVATIONS, ARCHITECTURES, VARIANTS, VAEConfig
from vae.core.snapshots import SnapshotRecorder, chain, snapshot_epochs
from vae.data.folders import load_image_folder
from vae.data.kept_test_set import custom_test_set
from vae.data.registry import DATASETS, Dataset, DatasetUnavailable, load_dataset

FOLDER_PREFIX = "folder:"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _dataset_arg(text: str) -> str:
    if text in DATASETS or (text.startswith(FOLDER_PREFIX) and len(text) > len(FOLDER_PREFIX)):
        return text
    raise argparse.ArgumentTypeError(
        f"choose one of {', '.join(sorted(DATASETS))} or folder:PATH (a folder or .zip of images)"
    )


def _size_arg(text: str) -> tuple[int, int]:
    """``"64"`` -> (64, 64); ``"48x64"`` -> (48, 64) as (H, W)."""
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 64 or 48x64 (HxW), got {text!r}")
    return parts[0], parts[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m vae.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--dataset", default="digits", type=_dataset_arg, metavar="NAME|folder:PATH",
        help=f"one of {', '.join(sorted(DATASETS))}, or folder:PATH for your own images: a "
        "folder or .zip, one sub-folder per class; 10%% are kept aside as the test split",
    )  # fmt: skip
    p.add_argument(
        "--image-size", type=_size_arg, default=(28, 28), metavar="N|HxW",
        help="folder datasets: resize (padded to a square) to N x N or H x W (default 28)",
    )  # fmt: skip
    p.add_argument(
        "--image-channels", type=int, default=3, choices=(1, 3),
        help="folder datasets: 3 = colour (RGB, the default), 1 = grey",
    )  # fmt: skip
    p.add_argument("--max-images", type=int, default=5000, help="folder datasets: use at most this many (a fixed subset)")
    p.add_argument("--data-dir", default=None, help="where dataset files are (else $VAE_DATA_DIR, then the cache)")
    p.add_argument("--latent-dim", type=int, default=2)
    p.add_argument("--arch", default="mlp", choices=ARCHITECTURES)
    p.add_argument("--hidden", type=_ints, default=(512, 256), help="MLP widths, e.g. 512,256")
    p.add_argument("--channels", type=_ints, default=(32, 64), help="conv channels, e.g. 32,64")
    p.add_argument("--likelihood", default=None, choices=("bernoulli", "gaussian"), help="default: the dataset's")
    p.add_argument("--variant", default="vae", choices=VARIANTS)
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128, help="the global batch, split across torchrun processes")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=1.0, help="multiply the lr by this each epoch")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--kl-warmup", type=int, default=0, help="epochs of linear KL warm-up")
    p.add_argument("--binarize", action="store_true", help="dynamic binarization (Bernoulli models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device", default=None,
        help="cpu, cuda, cuda:1, mps (default: best available); under torchrun each process "
        "uses cuda:LOCAL_RANK, or the CPU with --device cpu",
    )  # fmt: skip
    p.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--iw-k", type=int, default=100, help="importance samples for log p(x)")
    p.add_argument("--iw-n", type=int, default=1000, help="test images for log p(x) (0 = all)")
    p.add_argument(
        "--snapshots", action="store_true",
        help="store the latent space at log-spaced epochs (1, 2, 3, 5, 8, 13, ... and the last) "
        "for the app's time-lapse: ~2,000 test images encoded, prior samples and a manifold decoded",
    )  # fmt: skip
    p.add_argument("--title", default="", help="a short description stored in the checkpoint")
    p.add_argument("--out", required=True, help="checkpoint path, e.g. checkpoints/user/mine.pt")
    return p


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def load_data(args: argparse.Namespace) -> Dataset:
    """The dataset named by ``--dataset``: a registered one or ``folder:PATH``."""
    if not args.dataset.startswith(FOLDER_PREFIX):
        return load_dataset(args.dataset, data_dir=args.data_dir)
    source = Path(args.dataset[len(FOLDER_PREFIX) :]).expanduser()
    # The name the app shows; the prefix keeps it apart from the registered datasets.
    name = FOLDER_PREFIX + (source.stem or "images")
    return load_image_folder(
        source, size=args.image_size, channels=args.image_channels, max_files=args.max_images, name=name,
        max_total_pixels=None, max_cpu_seconds=None,  # your own machine: no server budget
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Joins torchrun's process group when launched by it; otherwise just picks the device.
    device = distributed.init_from_env(args.device)
    try:
        code = _train(args, argv, device)
        # Leave together: rank 1 tearing gloo down while rank 0 still scored and saved aborted
        # it ("terminate called without an active exception", a CI run under load).
        distributed.barrier()
        return code
    finally:
        distributed.cleanup()


def _train(args: argparse.Namespace, argv: list[str] | None, device: torch.device) -> int:
    main_rank = distributed.is_main()
    # Every rank loads the same (deterministic) data: batches are sharded by index in fit.
    try:
        dataset = load_data(args)
    except (DatasetUnavailable, ValueError) as e:  # missing files, no usable images, ...
        if main_rank:
            print(f"error: {e}", file=sys.stderr)
        return 2
    model_config, train_config = _configs(args, dataset)
    if main_rank:
        _print_start(dataset, model_config, device)
    recorder = None
    if args.snapshots and main_rank:  # rank 0 alone writes the checkpoint
        recorder = SnapshotRecorder(
            dataset, snapshot_epochs(args.epochs), latent_dim=args.latent_dim, seed=args.seed
        )
    t0 = time.perf_counter()
    model, history = fit(
        model_config, train_config, dataset, device,
        on_epoch_end=chain(functools.partial(_print_epoch, args.epochs), recorder) if main_rank else None,
    )  # fmt: skip
    train_seconds = time.perf_counter() - t0
    if not main_rank:
        return 0  # rank 0 alone scores the (identical) model and writes the one checkpoint
    metrics = summarize(
        model, dataset, binarized=args.binarize, iw_k=args.iw_k, iw_n=args.iw_n or None
    )
    metrics["train_seconds"] = round(train_seconds, 1)
    out = save_checkpoint(
        Path(args.out),
        model.cpu(),
        dataset=dataset.name,
        train_config=train_config.to_dict(),
        metrics=metrics,
        history=history.to_list(),
        meta=_meta(args, argv, history.device, dataset),
        snapshots=recorder.result() if recorder is not None else None,
    )
    print(
        f"test ELBO {metrics['test_elbo']:.2f} nats, log p(x) >= {metrics['log_px']:.2f} "
        f"(IS, k={metrics['log_px_k']}, n={metrics['log_px_n']}), KL {metrics['test_kl']:.2f}, "
        f"active units {metrics['active_units']}/{args.latent_dim}; saved {out}",
        flush=True,
    )
    return 0


def _configs(args: argparse.Namespace, dataset: Dataset) -> tuple[VAEConfig, TrainConfig]:
    """The model and training settings the options ask for; the likelihood defaults to the
    registered dataset's (a folder dataset's own otherwise)."""
    info = DATASETS.get(args.dataset)
    model_config = VAEConfig(
        image_shape=dataset.image_shape,
        latent_dim=args.latent_dim,
        architecture=args.arch,
        hidden=args.hidden,
        conv_channels=args.channels,
        likelihood=args.likelihood or (info.likelihood if info else dataset.likelihood),
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
    return model_config, train_config


def _print_start(dataset: Dataset, model_config: VAEConfig, device: torch.device) -> None:
    world = distributed.world_size()
    c, h, w = dataset.image_shape
    where = f"{device}" if world == 1 else f"{world} processes ({distributed.backend()}), rank 0 on {device}"
    print(
        f"training {dataset.name} ({c}x{h}x{w}, {len(dataset.train_x)} images) "
        f"{model_config.architecture} latent={model_config.latent_dim} on {where}",
        flush=True,
    )


def _print_epoch(epochs: int, stats: EpochStats, _model: object) -> None:
    """``fit``'s ``on_epoch_end`` on rank 0: the progress bar, then the epoch's figures."""
    sys.stderr.write("\r" + _bar(stats.epoch, epochs) + "\n")
    print(
        f"epoch {stats.epoch:3d}  train ELBO {stats.train_elbo:9.2f}  test ELBO "
        f"{stats.test_elbo:9.2f}  recon {stats.test_recon:8.2f}  KL {stats.test_kl:6.2f}  "
        f"{stats.seconds:6.1f}s  {stats.images_per_second:8.0f} img/s",
        flush=True,
    )


def _meta(args: argparse.Namespace, argv: list[str] | None, device: str, dataset: Dataset) -> dict:
    """The checkpoint's meta: title, device, the exact command, torch version, time, the
    world size under torchrun, and a user dataset's test split (the folder is not kept)."""
    command = "python -m vae.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    meta = {
        "title": args.title,
        "device": device,
        "command": command,
        "torch": str(torch.__version__),  # plain str: TorchVersion is not weights_only-safe
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if distributed.world_size() > 1:
        meta["world_size"] = distributed.world_size()
    if args.dataset not in DATASETS:
        # The app shows a user dataset's test images from here (the folder is not kept).
        meta["test_set"] = custom_test_set(dataset)
    return meta


if __name__ == "__main__":
    raise SystemExit(main())
