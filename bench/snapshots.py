"""What training snapshots cost (issue 16): training time with and without them on MNIST,
the bytes they add to a checkpoint, and the time to build and serialise the time-lapse player.

    python bench/snapshots.py [--epochs 2] [--repeats 2] [--checkpoints checkpoints/mnist_2d.pt ...]

Runs alternate off/on (so a machine that slows down meanwhile hurts both alike) with the
mnist_2d settings; the recorder's own time is also summed, so the overhead is measured twice:
as the ratio of whole runs (noisy on a shared machine) and as the recorder's share of it.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import torch
from _common import data_dir

from vae.core.checkpoints import load_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.model import VAEConfig
from vae.core.snapshots import SnapshotRecorder, snapshot_epochs
from vae.data.registry import load_dataset


def train_once(data, epochs: int, snapshots: bool) -> tuple[float, float]:
    """(whole fit seconds, seconds inside the recorder)."""
    cfg = VAEConfig(image_shape=(1, 28, 28), latent_dim=2, hidden=(512, 256))
    inside = [0.0]
    rec = SnapshotRecorder(data, snapshot_epochs(epochs), latent_dim=2) if snapshots else None

    def timed(stats, model) -> None:
        t = time.perf_counter()
        rec(stats, model)
        inside[0] += time.perf_counter() - t

    t0 = time.perf_counter()
    fit(cfg, TrainConfig(epochs=epochs, binarize=True), data, "cpu", on_epoch_end=timed if rec else None)
    return time.perf_counter() - t0, inside[0]


def payload_bytes(snaps) -> int:
    buf = io.BytesIO()
    torch.save(snaps.to_payload(), buf)
    return buf.tell()


def render_seconds(path: str) -> tuple[float, int]:
    """Seconds to build the player and its figure JSON from a checkpoint (as the page does
    on a cold cache), and the JSON's size."""
    from pages._lib.timelapse import figure, history_curve, label_names
    from vae.app.timelapse import build_player

    ck = load_checkpoint(path)
    t0 = time.perf_counter()
    p = build_player(ck.snapshots)
    spec = figure(p, label_names(ck.dataset, ck.meta, 10), history_curve(ck.history)).to_json()
    return time.perf_counter() - t0, len(spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--checkpoints", nargs="*", default=[])
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for path in args.checkpoints:
        ck = load_checkpoint(path)
        if ck.snapshots is None:
            print(f"{path}: no snapshots")
            continue
        secs, size = render_seconds(path)
        print(f"{path}: snapshots {len(ck.snapshots)} epochs, {payload_bytes(ck.snapshots) / 1e3:.0f} kB in the "
              f"checkpoint; player built + figure JSON in {secs:.2f} s ({size / 1e3:.0f} kB JSON)", flush=True)
    if args.skip_training:
        return
    data = load_dataset("mnist", data_dir=data_dir())
    off, on, inside = [], [], []
    for r in range(args.repeats):
        for snaps in (False, True):
            secs, rec = train_once(data, args.epochs, snaps)
            (on if snaps else off).append(secs)
            if snaps:
                inside.append(rec)
            print(f"repeat {r + 1}: {args.epochs} epochs, snapshots {'on ' if snaps else 'off'}: {secs:7.1f} s"
                  + (f" (recorder {rec:.2f} s)" if snaps else ""), flush=True)
    ratio = statistics.median(on) / statistics.median(off)
    share = statistics.median(inside) / statistics.median(on)
    print(f"median off {statistics.median(off):.1f} s, on {statistics.median(on):.1f} s: ratio {ratio:.3f}; "
          f"recorder time {share:.2%} of a run with snapshots")


if __name__ == "__main__":
    main()
