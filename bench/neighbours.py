"""Nearest-neighbour queries over the 60,000 MNIST training images (vae/app/neighbours.py).

Builds the pixel index (784 floats per image) and the latent index (posterior means of the
training images under a bundled model), then times ``query`` for 100 queries each: images
and codes the app actually asks about (prior samples decoded by the model, and their codes).
Prints p50 / p95 per query, the build times, the memory the indexes hold (their arrays) and
the process's resident-memory growth, a check of 5 queries against a float64 brute force,
and, for scale, one plain float32 matrix-vector pass over all pixels (what a direct search
costs per query).

    VAE_DATA_DIR=/work/shared/data python bench/neighbours.py [--checkpoint checkpoints/mnist_32.pt]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import REPO, data_dir


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed_queries(index, queries) -> np.ndarray:
    from vae.app import neighbours as nb

    nb.query(index, queries[0])  # warm-up
    ms = []
    for q in queries:
        t0 = time.perf_counter()
        nb.query(index, q)
        ms.append((time.perf_counter() - t0) * 1000)
    return np.asarray(ms)


def brute_ok(points: np.ndarray, index, queries: np.ndarray) -> bool:
    from vae.app import neighbours as nb

    for q in queries:
        d = np.sqrt(((points - q) ** 2).sum(axis=1))
        want = np.lexsort((np.arange(len(d)), d))[:5]
        got = nb.query(index, q)
        if not (np.array_equal(got.index[0], want) and np.allclose(got.distance[0], d[want], atol=1e-5, rtol=0)):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "mnist_32.pt"))
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    os.environ.setdefault("VAE_DATA_DIR", str(data_dir()))

    from vae.app import inference
    from vae.app import neighbours as nb
    from vae.core.checkpoints import load_checkpoint
    from vae.data.registry import load_dataset

    inference.limit_threads()
    data = load_dataset("mnist", download=False)
    model = load_checkpoint(args.checkpoint).build_model()
    train = data.train_x.numpy()
    draws = inference.prior_draws(model, args.queries, seed=0)
    base = rss_mb()

    t0 = time.perf_counter()
    pix = nb.build_index(train)
    pix_build = time.perf_counter() - t0
    after_pix = rss_mb()
    t0 = time.perf_counter()
    mu, _ = inference.encode(model, train)
    encode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lat = nb.build_index(mu)
    lat_build = time.perf_counter() - t0
    after_lat = rss_mb()

    pix_q = draws.images.reshape(args.queries, -1).astype(np.float64)
    lat_q = draws.t.astype(np.float64)
    pix_ms = timed_queries(pix, pix_q)
    lat_ms = timed_queries(lat, lat_q)
    full = []
    q32 = pix_q[0].astype(np.float32)
    for _ in range(20):
        t0 = time.perf_counter()
        _ = pix.points @ q32
        full.append((time.perf_counter() - t0) * 1000)

    points64 = train.reshape(len(train), -1).astype(np.float64) / 255.0
    ok_pix = brute_ok(points64, pix, pix_q[:5])
    ok_lat = brute_ok(mu.astype(np.float64), lat, lat_q[:5])
    print(f"checkpoint {os.path.relpath(args.checkpoint, REPO)}, {len(train)} training images, {args.queries} queries")
    for name, ms in (("pixel ", pix_ms), ("latent", lat_ms)):
        p50, p95 = np.percentile(ms, [50, 95])
        print(f"{name} query: p50 {p50:.2f} ms  p95 {p95:.2f} ms  max {ms.max():.2f} ms")
    print(f"one full float32 pass over the pixels (direct search floor): median {np.median(full):.2f} ms")
    print(f"pixel index build {pix_build:.2f} s, holds {pix.nbytes / 2**20:.1f} MiB (RSS +{after_pix - base:.0f} MiB)")
    print(
        f"latent index: encode {encode_s:.2f} s + build {lat_build:.3f} s, holds {lat.nbytes / 2**20:.2f} MiB "
        f"(RSS +{after_lat - after_pix:.0f} MiB)"
    )
    print(f"equal to a float64 brute force on 5 queries: pixel {ok_pix}, latent {ok_lat}")


if __name__ == "__main__":
    main()
