"""A process that saves checkpoints to one path, over and over, until it is killed.

Used by ``tests/test_kill.py``; not a test itself. Each save is preceded by one SGD step of a
small VAE on a fixed batch of random 8x8 images, so every version has different weights (the
data does not matter here, and leaving out scikit-learn and ``torch.optim``, which imports
parts of dynamo, saves seconds of start-up on a busy machine). The checkpoint's
``meta`` records the version number (``step``) and a SHA-256 of the weights as they were in
memory (``digest``): a reader recomputes the digest from the file, so a file that loads but
mixes bytes of two versions is caught too. After each save returns (the file is in place), the
process writes ``saved STEP`` on stdout, unbuffered.

Two modes::

    python tests/killable_saver.py loop PATH --start N
        import, load the data, then save versions N, N+1, ... to PATH until killed.
        Prints ``ready`` once the first save is about to begin.

    python tests/killable_saver.py fork PATH
        a "zygote": imports and prepares once, then for each stdin line ``go N`` forks a child
        that runs the same loop from version N and prints ``child PID``; when the child ends
        (killed by the test) prints ``exit PID STATUS`` (STATUS as from ``os.waitpid``). So the
        test can SIGKILL a real process dozens of times without paying for ``import torch``
        each time. ``run N`` makes the zygote itself run the loop (to be killed in turn);
        ``quit`` (or end of input) ends it.

Threads: keep ``OMP_NUM_THREADS=1`` in the environment (forking is then safe: torch starts no
worker threads).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vae.core.checkpoints import save_checkpoint  # noqa: E402
from vae.core.losses import elbo_terms  # noqa: E402
from vae.core.model import VAE, VAEConfig  # noqa: E402

# ~150 KB of weights: a save takes long enough that random kills often land inside it.
CONFIG = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(128, 64))
BATCH = 64
LR = 0.05


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, shapes, dtypes and bytes of every tensor, in name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _say(text: str) -> None:
    os.write(1, (text + "\n").encode())  # unbuffered: nothing is lost when killed


def prepare() -> tuple[VAE, torch.Tensor]:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return VAE(CONFIG).train(), torch.rand(256, *CONFIG.image_shape)


def save_forever(path: Path, model: VAE, x: torch.Tensor, start: int) -> None:
    gen = torch.Generator().manual_seed(start)
    step = start
    while True:
        idx = torch.randint(0, x.shape[0], (BATCH,), generator=gen)
        model.zero_grad(set_to_none=True)
        elbo_terms(model, x[idx], generator=gen).loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.sub_(LR * p.grad)
        meta = {"step": step, "digest": weights_digest(model.state_dict()), "pid": os.getpid()}
        save_checkpoint(path, model, dataset="random-8x8", meta=meta)
        _say(f"saved {step}")
        step += 1


def zygote(path: Path, model: VAE, x: torch.Tensor) -> None:
    _say("ready")
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            return
        start = int(words[1])
        if words[0] == "run":
            save_forever(path, model, x, start)
        pid = os.fork()
        if pid == 0:  # the child: save until killed
            try:
                save_forever(path, model, x, start)
            finally:
                os._exit(1)  # only reached on an error: the test expects death by SIGKILL
        _say(f"child {pid}")
        _, status = os.waitpid(pid, 0)
        _say(f"exit {pid} {status}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("loop", "fork"))
    p.add_argument("path", type=Path)
    p.add_argument("--start", type=int, default=0)
    args = p.parse_args()
    model, x = prepare()
    if args.mode == "fork":
        zygote(args.path, model, x)
    else:
        _say("ready")
        save_forever(args.path, model, x, args.start)


if __name__ == "__main__":
    main()
