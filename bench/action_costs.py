"""Server CPU per classroom action: one ``streamlit run app.py``, one protocol-level student
(``bench/classroom_student.py``) doing each action of the classroom bench ``--repeat`` times in
a row, and the server's CPU time (``utime + stime`` from ``/proc``) divided by the count.

CPU per action is what decides how many students a core carries (a class of N students, one
action every 3 s each, needs about N / 3 x the mean CPU per action of one core), and unlike a
round-trip time it hardly moves when the machine is noisy. Usage::

    VAE_DATA_DIR=/work/shared/data python bench/action_costs.py [--model mnist_32] [--repeat 40] [--only upload]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.classroom import ProcMonitor, make_images, warm_up  # noqa: E402 (after the path fix)
from bench.classroom_student import NOISE, PLANE, Stats, Student  # noqa: E402


async def _measure(base: str, pid: int, repeat: int, images: list[bytes], only: str = "") -> list[tuple[str, float, float]]:
    """(action, server CPU ms per action, client round trip ms median) for each action."""
    mon = ProcMonitor(pid)
    s = Student("costs", base, Stats(), random.Random(1))
    await s.load()
    await s.open_sliders()

    async def first_visit() -> None:  # a new browser: index.html, JS/CSS, websocket, Home run
        v = Student("visit", base, Stats(), random.Random(2))
        await v.load()
        await v.close()

    actions = {
        "page load (a new browser's first visit)": first_visit,
        "release a slider": s.release,
        "press 'Sample from the prior'": s.sample,
        "upload (switch, upload, switch back)": None,
        "open the 2-D plane (and back)": lambda: s.open_page(PLANE),
        "open the noise page (and back)": lambda: s.open_page(NOISE),
    }
    rows = []
    for name, act in actions.items():
        if only and only not in name:
            continue
        walls = []
        await asyncio.sleep(0.5)  # let the last action's stragglers finish
        c0 = mon.cpu_seconds()
        for i in range(repeat):
            t0 = time.perf_counter()
            if act is None:
                await s.upload(images[i % len(images)])
            else:
                await act()
                if name.startswith("open"):
                    await s.open_sliders()
            walls.append(time.perf_counter() - t0)
        await asyncio.sleep(0.3)
        cpu = mon.cpu_seconds() - c0
        walls.sort()
        rows.append((name, 1000 * cpu / repeat, 1000 * walls[len(walls) // 2]))
    await s.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mnist_32", help="the default model (a bundled checkpoint)")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--only", default="", help="only the actions whose name holds this, e.g. upload")
    args = ap.parse_args()

    from bench.harness import find_shared_data
    from bench.harness.server import app_env, prepare_checkpoints, start_server

    images = make_images(64, 0)
    with tempfile.TemporaryDirectory(prefix="vae-costs-") as tmp:
        folder = Path(tmp)
        prepare_checkpoints(folder / "checkpoints")
        shutil.copy2(REPO / "checkpoints" / f"{args.model}.pt", folder / "checkpoints")
        (folder / "checkpoints" / "default.txt").write_text(args.model + "\n")
        server = start_server(folder / "streamlit.log", env=app_env(folder / "checkpoints", find_shared_data()))
        with contextlib.ExitStack() as stack:
            stack.callback(server.stop)
            print(f"warm-up {warm_up(server.url, images):.1f} s; model {args.model}; {args.repeat} of each action, one student")
            print(f"server pid {server.pid}", flush=True)
            rows = asyncio.run(_measure(server.url, server.pid, args.repeat, images, args.only))
    print(f"{'action':40s} | server CPU ms/action | round trip p50 ms")
    for name, cpu, wall in rows:
        print(f"{name:40s} | {cpu:20.1f} | {wall:17.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
