"""Hostile zips on the Train page's path, before and after the hardening: CPU seconds, peak
memory and what the user would see, per case.

    python bench/hostile_zips.py                      # this checkout only
    python bench/hostile_zips.py --before /tmp/old    # and an older checkout, side by side

Each case runs ``load_image_folder`` in a fresh interpreter under an address-space limit
(``--limit-gb``, default 4: enough to show the old peaks without risking the machine), with
the zip built in memory by ``bench/harness/hostile_zips.py`` (a few KB each). An older checkout
without ``vae.data.folders`` is read through ``vae.data.registry.load_image_folder``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import hostile_zips as hz  # noqa: E402


def cases() -> dict[str, tuple[bytes, dict]]:
    """name -> (zip bytes, load_image_folder keyword arguments)."""
    strips = lambda w, h, mode, n: hz.raw_zip(  # noqa: E731
        hz.good_entries() + [hz.entry(f"strips/{i}.png", hz.strip_png(w, h, mode)) for i in range(n)]
    )
    many = hz.raw_zip([hz.entry(f"big/{i}.png", hz.png((2000, 2000), i)) for i in range(150)])
    out = {
        "pad bomb, 3 x 20000x20 grey": (strips(20000, 20, "L", 3), {}),
        "pad bomb, 3 x 20000x20 colour": (strips(20000, 20, "RGB", 3), {"channels": 3}),
        "strip 200000x200 (40 MP)": (strips(200_000, 200, "L", 1), {}),
        "entry declares 1 KB, inflates to 300 MB": (hz.lying_entry(300_000_000, 1000), {}),
        "150 x 2000x2000 (600 MP to decode)": (many, {}),
    }
    for name, (build, _) in hz.FAILURES.items():
        out[name] = (build(), {})
    return out


RUNNER = textwrap.dedent("""
    import json, resource, sys, time
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, sys.argv[1])
    try:
        from vae.data.folders import load_image_folder
    except ImportError:  # before the split
        from vae.data.registry import load_image_folder
    data = open(sys.argv[2], "rb").read()
    kwargs = json.loads(sys.argv[4])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = time.process_time()
    try:
        ds = load_image_folder(data, **kwargs)
        seen = f"loaded {len(ds.train_x) + len(ds.test_x)} images"
    except Exception as e:
        seen = f"{type(e).__name__}: {e}"
    print(json.dumps({"cpu_s": time.process_time() - cpu, "seen": seen,
                      "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
""")


def run(repo: Path, data: bytes, kwargs: dict, limit: int, timeout: float) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".zip") as f:
        f.write(data)
        f.flush()
        try:
            proc = subprocess.run(
                [sys.executable, "-c", RUNNER, str(repo), f.name, str(limit), json.dumps(kwargs)],
                capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"cpu_s": float("nan"), "peak_mb": float("nan"), "seen": f"still running after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"cpu_s": float("nan"), "peak_mb": float("nan"), "seen": f"crashed: {proc.stderr.strip().splitlines()[-1:]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, help="an older checkout to compare with")
    p.add_argument("--limit-gb", type=float, default=4.0)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per case and checkout")
    p.add_argument("-k", default="", help="only cases whose name contains this")
    args = p.parse_args()
    limit = int(args.limit_gb * 2**30)
    repos = [("before", args.before)] if args.before else []
    repos.append(("after", REPO))
    for name, (data, kwargs) in cases().items():
        if args.k not in name:
            continue
        print(f"\n{name}  (zip: {len(data):,} bytes)")
        for label, repo in repos:
            r = run(repo, data, kwargs, limit, args.timeout)
            print(f"  {label:6s} CPU {r['cpu_s']:7.2f} s  peak +{r['peak_mb']:7.0f} MB  user sees: {r['seen'][:160]}")


if __name__ == "__main__":
    main()
