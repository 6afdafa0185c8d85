"""``python -m vae.evaluate CKPT [--k 1000] [--n 1000]``: test ELBO and IS log p(x)."""

from __future__ import annotations

import argparse
import time

from vae.core.checkpoints import Checkpoint, CheckpointError, load_checkpoint
from vae.core.device import pick_device
from vae.core.metrics import summarize
from vae.data.registry import DATASETS, Dataset, DatasetUnavailable, load_dataset


def dataset_for(ckpt: Checkpoint, data_dir: str | None = None) -> Dataset:
    """The checkpoint's dataset; for a user's own images, the test split stored in its meta
    (the images themselves are not kept), so the figures are on that split."""
    if ckpt.dataset in DATASETS:
        return load_dataset(ckpt.dataset, data_dir=data_dir)
    stored = ckpt.meta.get("test_set")
    if not stored:
        raise DatasetUnavailable(
            f"the checkpoint was trained on {ckpt.dataset!r}, which is not a known dataset, "
            "and it holds no test images to evaluate on"
        )
    x, y = stored["images"], stored["labels"]
    return Dataset(ckpt.dataset, x, y, x, y, tuple(stored["label_names"]), ckpt.model_config.likelihood)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vae.evaluate", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--n", type=int, default=1000, help="test images for log p(x) (0 = all)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint)
        dataset = dataset_for(ckpt, args.data_dir)
    except (CheckpointError, DatasetUnavailable) as e:
        print(f"error: {e}")
        return 2
    device = pick_device(args.device)
    model = ckpt.build_model().to(device)
    t0 = time.perf_counter()
    m = summarize(
        model, dataset, binarized=bool(ckpt.train_config.get("binarize")), iw_k=args.k, iw_n=args.n or None
    )
    print(
        f"{args.checkpoint}: dataset {ckpt.dataset}, test ELBO {m['test_elbo']:.2f} nats "
        f"(recon {m['test_recon']:.2f}, KL {m['test_kl']:.2f}); log p(x) >= {m['log_px']:.2f} "
        f"(IS, k={m['log_px_k']}, n={m['log_px_n']}); active units {m['active_units']}/"
        f"{ckpt.model_config.latent_dim}; {time.perf_counter() - t0:.1f}s on {device}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
