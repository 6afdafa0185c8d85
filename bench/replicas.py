"""Start N ``streamlit run app.py`` replicas behind nginx, configured as docs/deploying.md says
(sticky cookie ``vae_affinity``), and keep them running until Ctrl-C.

All replicas share one checkpoint folder (``VAE_CHECKPOINT_DIR``; a model trained on one is
offered on the others). Without ``--checkpoints`` a temporary folder gets the bundled
digits/MNIST models. nginx runs in the foreground with its config, pid and logs in a temporary
folder (printed), so no root paths are touched.

Usage::

    python bench/replicas.py --port 8080        # 2 replicas per core (at most 8)
    python bench/replicas.py --replicas 2 --port 8080
    python bench/replicas.py --replicas 3 --checkpoints /srv/vae/checkpoints --debug-upstream
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Two per core: each replica's Python runs one thread at a time (the GIL), so with one per
    # core a burst on one replica queues while the other core idles; with two per core the
    # kernel shares both cores among them (docs/deploying.md: at 100 students on 2 cores the
    # upload p95 was 172-407 ms in nine runs with 2 replicas, 138-168 ms in three with 4). ~0.7 GB each.
    default = min(8, 2 * (os.cpu_count() or 1))
    ap.add_argument("--replicas", type=int, default=default, help=f"default: 2 per core, at most 8 (here {default})")
    ap.add_argument("--port", type=int, default=0, help="the proxy's port (default: a free one)")
    ap.add_argument("--checkpoints", type=Path, help="shared checkpoint folder (default: temporary)")
    ap.add_argument("--debug-upstream", action="store_true",
                    help="answer with an X-Vae-Upstream header naming the replica")  # fmt: skip
    args = ap.parse_args()

    from bench.harness import find_shared_data
    from bench.harness.proxy import running_cluster
    from bench.harness.server import app_env, prepare_checkpoints

    with tempfile.TemporaryDirectory(prefix="vae-replicas-") as tmp:
        folder = Path(tmp)
        checkpoints = args.checkpoints or folder / "checkpoints"
        if args.checkpoints is None:
            for note in prepare_checkpoints(checkpoints):
                print("checkpoints:", note)
        env = app_env(checkpoints, find_shared_data())
        with running_cluster(args.replicas, checkpoints, env=env, folder=folder,
                             debug_upstream=args.debug_upstream, listen=args.port or None) as c:  # fmt: skip
            for i, r in enumerate(c.replicas):
                print(f"replica {i}: {r.url} (pid {r.pid}, log {r.log})")
            print(f"nginx: {c.url} (pid {c.proxy.proc.pid}, config {c.proxy.folder / 'nginx.conf'})")
            print(f"open {c.url} ; Ctrl-C stops everything", flush=True)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
