"""Cost of listing one hostile checkpoint beside a good one (issue 19, items 3-5), before and
after the checks: CPU seconds, peak memory and what the listing said, per kind.

Each case runs in a fresh Python under a 2 GiB address-space limit and a time limit, so a
file that would freeze or exhaust the server only ends that child. Run it on any checkout
(the files come from ``bench/harness/hostile_files.py``; copy that file into an older checkout)::

    python bench/hostile_checkpoints.py [--timeout 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness.hostile_files import BUILDERS, build_all  # noqa: E402

LIMIT = 2 * 2**30
CHILD = textwrap.dedent("""
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    sys.path.insert(0, {repo!r})
    from vae.core.checkpoints import list_checkpoints
    before = resource.getrusage(resource.RUSAGE_SELF)
    entries = {{e.name: e for e in list_checkpoints({folder!r})}}
    after = resource.getrusage(resource.RUSAGE_SELF)
    e = entries[{kind!r}]
    said = "usable (offered as a model)" if e.ok else "unusable: " + (e.error or "")[:70]
    print(json.dumps({{"cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                      "rss_mb": after.ru_maxrss / 1024, "said": said, "good_ok": entries["good"].ok}}))
""")


def run_case(kind: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        build_all(Path(tmp), kinds=(kind,))
        code = CHILD.format(limit=LIMIT, repo=str(REPO), folder=tmp, kind=kind)
        t0 = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"said": f"no answer within {timeout:.0f} s (the server would hang)", "cpu": timeout, "rss_mb": float("nan")}
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["?"])[-1][:70]
            return {"said": f"crashed: {last}", "cpu": time.perf_counter() - t0, "rss_mb": float("nan")}
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--only", nargs="*", default=list(BUILDERS))
    args = ap.parse_args()
    print(f"checkout: {REPO}; limit {LIMIT / 2**30:.0f} GiB, {args.timeout:.0f} s per case")
    print(f"{'kind':20s} {'CPU s':>7s} {'peak MB':>8s}  listing said")
    for kind in args.only:
        r = run_case(kind, args.timeout)
        print(f"{kind:20s} {r['cpu']:7.2f} {r['rss_mb']:8.0f}  {r['said']}", flush=True)


if __name__ == "__main__":
    main()
