"""Quality table of the bundled checkpoints (issue: bundled pretrained models).

For every checkpoint in ``checkpoints/`` prints: test ELBO (whole test split), an
importance-sampled estimate of log p(x) with k samples per image, the KL term and the
active latent units. On a GPU the defaults are the paper's k = 5000 on the whole test split;
on a CPU a smaller k on a test subset (printed with the figures).

    python bench/quality.py [--k K] [--n N] [--markdown]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import REPO, data_dir

from vae.core.checkpoints import list_checkpoints
from vae.core.device import describe_device, pick_device
from vae.core.metrics import summarize
from vae.data.registry import load_dataset


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, default=None, help="importance samples (GPU 5000, CPU 1000)")
    p.add_argument("--n", type=int, default=None, help="test images for log p(x) (GPU all, CPU 1000)")
    p.add_argument("--only", nargs="*", default=None, help="checkpoint names to evaluate")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    device = pick_device()
    gpu = device.type == "cuda"
    k = args.k or (5000 if gpu else 1000)
    n = args.n if args.n is not None else (0 if gpu else 1000)
    folder = data_dir()
    print(f"device: {describe_device(device)}; torch {torch.__version__}; k = {k}; "
          f"log p(x) on {'the whole test split' if not n else f'the first {n} test images'}")
    rows = []
    for entry in list_checkpoints(REPO / "checkpoints"):
        if not entry.bundled or (args.only and entry.name not in args.only):
            continue
        if not entry.ok:
            print(f"{entry.name}: UNUSABLE: {entry.error}")
            continue
        ckpt = entry.load()
        t0 = time.perf_counter()
        data = load_dataset(ckpt.dataset, data_dir=folder)
        model = ckpt.build_model().to(device)
        m = summarize(model, data, binarized=bool(ckpt.train_config.get("binarize")), iw_k=k, iw_n=n or None)
        cfg = ckpt.model_config
        rows.append((entry.name, ckpt.dataset, f"{cfg.architecture} {cfg.variant} D={cfg.latent_dim}",
                     m["test_elbo"], m["log_px"], m["log_px_n"], m["test_kl"], f"{m['active_units']}/{cfg.latent_dim}",
                     time.perf_counter() - t0))
        r = rows[-1]
        print(f"{r[0]:20s} {r[1]:14s} {r[2]:18s} ELBO {r[3]:9.2f}  log p(x) {r[4]:9.2f} (n={r[5]})  "
              f"KL {r[6]:7.2f}  active {r[7]:6s} {r[8]:6.1f}s", flush=True)
    if args.markdown:
        print(f"\n| model | dataset | architecture | test ELBO | log p(x), IS k={k} | KL | active units |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
        for r in rows:
            print(f"| `{r[0]}` | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} (n={r[5]}) | {r[6]:.2f} | {r[7]} |")


if __name__ == "__main__":
    main()
