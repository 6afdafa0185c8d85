"""``python -m vae.evaluate CKPT [--k 1000] [--n 1000]``: test ELBO and IS log p(x)."""

from __future__ import annotations

import argparse
import time

from vae.checkpoints import CheckpointError, load_checkpoint
from vae.data import DatasetUnavailable, load_dataset
from vae.metrics import summarize
from vae.training import pick_device


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
        dataset = load_dataset(ckpt.dataset, data_dir=args.data_dir)
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
