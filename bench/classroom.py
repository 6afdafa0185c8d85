"""Classroom load benchmark: N simulated students on one ``streamlit run app.py``, or on K
replicas behind nginx (loopback only).

Each student is a **protocol-level client** (Python ``websockets`` + ``http.client``) that sends
the messages a browser sends and fetches what a browser fetches, but renders nothing:

1. page load: ``GET /`` (index.html, XSRF cookie) and the JS/CSS it links (what a first visit
   downloads), ``/_stcore/health`` and ``/_stcore/host-config``, the websocket, the first
   script run (Home), and every image of that run;
2. the scripted lesson of issue 17 (``LESSON``): open **Latent sliders**, press **Sample from
   the prior** 5 times, the **2-D latent plane**, the **noise page**, an **upload** on Your image;
3. then, until the phase ends, one action every ``--interval`` s (uniform ±50 % jitter):
   **release a slider** of the live decoder component (the ``{event: {action, latent, cmd,
   model_id}}`` widget state the component sends on ``change``) 2 of 4, **upload** a new PNG
   through ``/_stcore/upload_file`` (as the file chooser does) 1 of 4, **sample** 1 of 4.

Weights like a browser (``bench/classroom_student.py``, ``Student.open_live``): each student
keeps the model ids its "IndexedDB" holds; a live page showing a model it lacks is answered
with the component's ``{"action": "weights", "need": id, "req": token}`` event, and the run
that answers must carry the binary envelope with the weights. Weights sent to a student who
holds them, or not sent when asked, count as errors. Through a proxy (``--replicas K``: K
replicas behind nginx configured as docs/deploying.md says) the student keeps cookies like a
browser, so the affinity cookie pins it to one replica.

Round trip = from sending the action to the run's ``script_finished`` (plus fetching the new
images, for uploads): the time until the app is idle again with the new image on the page.
Each result is checked (the released z printed by the page, the reconstruction image present,
no exception or error element): a check that fails counts as an error.

Why not browsers: one Chromium context rendering this app took ~1 s of CPU per page load and
~100 MB; 50 of them on 2 cores would measure Chromium, not the server. ``--clients browser``
runs real Chromium contexts (one browser, N contexts) for small N, to check that the protocol
client's numbers match a real browser's.

Server figures come from ``/proc/<pid>``: peak RSS (``VmHWM``, reset per phase through
``clear_refs``) and CPU (``utime + stime``; 100 % = one core), mean and the busiest 1 s.

Usage::

    python bench/classroom.py                 # N = 1, 10, 30, 50; 40 s of activity each
    python bench/classroom.py --quick         # N = 1, 3; 10 s each (a smoke test)
    python bench/classroom.py --ns 5 20 --duration 30 --interval 2 --clients browser
    python bench/classroom.py --ns 1 10 50 100 --replicas 2   # through nginx
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.classroom_browser import browser_phase  # noqa: E402 (after the path fix)
from bench.classroom_student import ACTION_TIMEOUT_S, NOISE, PLANE, Stats, Student  # noqa: E402

# --------------------------------------------------------------------------- measurements


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


class ProcMonitor:
    """CPU and peak RSS of one process from /proc, sampled every 0.25 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.samples: list[tuple[float, float]] = []  # (wall, cpu seconds)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hwm_reset = False

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime

    def busy_between(self, a: float, b: float) -> float:
        """Mean CPU (100 = one core) between monotonic times ``a`` and ``b``, from the samples."""
        inside = [(t, c) for t, c in self.samples if a <= t <= b]
        if len(inside) < 2:
            return float("nan")
        (ta, ca), (tb, cb) = inside[0], inside[-1]
        return 100 * (cb - ca) / max(tb - ta, 1e-9)

    def status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def start(self) -> None:
        try:  # "5" resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0)
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.samples = [(time.monotonic(), self.cpu_seconds())]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            with contextlib.suppress(OSError):
                self.samples.append((time.monotonic(), self.cpu_seconds()))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.samples.append((time.monotonic(), self.cpu_seconds()))
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        peak = 0.0
        j = 0
        for i in range(len(self.samples)):  # the busiest window of >= 1 s
            while j < len(self.samples) and self.samples[j][0] - self.samples[i][0] < 1.0:
                j += 1
            if j < len(self.samples):
                (ta, ca), (tb, cb) = self.samples[i], self.samples[j]
                peak = max(peak, (cb - ca) / (tb - ta))
        return {
            "cpu_mean": 100 * (c1 - c0) / max(t1 - t0, 1e-9),
            "cpu_peak": 100 * peak,
            "hwm_mb": self.status_kb("VmHWM") / 1024,
            "rss_mb": self.status_kb("VmRSS") / 1024,
            "threads": self.status_kb("Threads"),
        }


class MachineMonitor(ProcMonitor):
    """The whole machine's CPU (every process: servers, nginx and the students), sampled
    like a process's; it has no RSS of its own."""

    def __init__(self) -> None:
        super().__init__(0)

    def cpu_seconds(self) -> float:  # every core's busy time: all but idle and iowait
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
        return (sum(ticks) - ticks[3] - ticks[4]) / self.tick

    def status_kb(self, key: str) -> int:
        return 0


# --------------------------------------------------------------------------- test images


def make_images(n: int, seed: int = 0) -> list[bytes]:
    """``n`` different "photos of a hand-drawn digit": dark strokes on light paper, PNG."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        w, h = rng.randint(90, 200), rng.randint(100, 220)
        im = Image.new("L", (w, h), rng.randint(200, 250))
        draw = ImageDraw.Draw(im)
        pts = [(rng.randint(10, w - 10), rng.randint(10, h - 10)) for _ in range(rng.randint(2, 5))]
        draw.line(pts, fill=rng.randint(0, 60), width=rng.randint(6, 16))
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


# The scripted lesson (issue 17), each step one action: open the sliders, sample 5 times,
# the 2-D plane, the noise page, an upload. Then, until the phase ends: release a slider (2 of
# 4), upload (the 2nd of every 4), sample (the 4th).
LESSON = ("sliders", *["sample"] * 5, "plane", "noise", "upload")


async def _do(s: Student, kind: str, stats: Stats, png: bytes) -> None:
    """One action of ``s``, its round trip recorded in ``stats``."""
    at = asyncio.get_running_loop().time() - stats.t0
    rt = None
    if kind == "upload":
        rt, sw = await s.upload(png)
        stats.upload.append(rt)
        stats.switch.append(sw)
    elif kind == "sample":
        stats.press.append(rt := await s.sample())
    elif kind == "release":
        stats.release.append(rt := await s.release())
    elif kind == "sliders":
        stats.switch.append(await s.open_sliders())
    else:
        stats.switch.append(await s.open_page(PLANE if kind == "plane" else NOISE))
        await s.open_sliders()  # back to where the next action starts
    if rt is not None:
        stats.timeline.append((at, kind, rt))


async def student_life(
    idx: int, base: str, stats: Stats, start_at: float, end_at: float, interval: float,
    images: list[bytes], seed: int,
) -> None:  # fmt: skip
    rng = random.Random(seed * 1000 + idx)
    s = Student(f"student {idx}", base, stats, rng)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start_at - loop.time()))
    try:
        async with asyncio.timeout(ACTION_TIMEOUT_S):
            stats.page_load.append(await s.load())
        n = 0
        next_at = loop.time()
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if n == len(LESSON):
                stats.lesson_bytes.append(s.bytes_in)
            if n >= len(LESSON) and loop.time() >= end_at:
                break
            kind = LESSON[n] if n < len(LESSON) else ("release", "upload", "release", "sample")[n % 4]
            n += 1
            try:
                async with asyncio.timeout(ACTION_TIMEOUT_S):
                    await _do(s, kind, stats, images[(idx * 97 + n) % len(images)])
            except (TimeoutError, RuntimeError) as e:
                stats.error(s.name, f"action {n} ({kind}): {type(e).__name__} {e}"[:300])
                if s.ws is None or s.ws.state.name != "OPEN":
                    return
                # Resynchronise: the page may be mid-run; start from the sliders page again.
                async with asyncio.timeout(ACTION_TIMEOUT_S):
                    await s.open_sliders()
            next_at += interval * rng.uniform(0.5, 1.5)
    except Exception as e:  # noqa: BLE001 - every failure is a result here
        stats.error(s.name, f"{type(e).__name__}: {e}"[:300])
    finally:
        stats.student_bytes.append(s.bytes_in)
        await s.close()


# --------------------------------------------------------------------------- phases


async def phase(args, n: int, base: str, images: list[bytes], seed: int) -> Stats:  # noqa: ANN001
    stats = Stats()
    loop = asyncio.get_running_loop()
    ramp = min(args.ramp, 0.2 * n) if n > 1 else 0.0
    start = loop.time() + 0.2
    stats.t0 = start
    end_at = start + ramp + args.duration
    limit = ramp + args.duration + 2 * ACTION_TIMEOUT_S + 10
    if args.clients == "browser":
        job = browser_phase(n, base, stats, start, end_at, args.interval, images, seed, ramp)
    else:
        job = asyncio.gather(*(
            student_life(i, base, stats, start + ramp * i / n, end_at, args.interval, images, seed)
            for i in range(n)
        ))  # fmt: skip
    try:
        await asyncio.wait_for(job, timeout=limit)
    except TimeoutError:
        stats.error("phase", f"students still busy {limit:.0f} s after the start: cancelled")
    return stats


def warm_up(base: str, images: list[bytes]) -> float:
    """One student once through everything, so the first N does not pay the server's cold
    start (torch import, model load, encoding the test set), as a teacher would before class."""

    async def go() -> float:
        stats = Stats()
        s = Student("warm-up", base, stats, random.Random(0))
        t0 = time.perf_counter()
        try:
            await s.load()
            for kind in (*LESSON, "release"):
                await _do(s, kind, stats, images[-1])
        finally:
            await s.close()
        return time.perf_counter() - t0

    return asyncio.run(go())


def server_tracebacks(log: Path, limit: int = 5) -> list[str]:
    """The server log's distinct tracebacks (the app's own frames and the error line), most
    frequent first: what the redacted exception boxes the students saw were."""
    counts: dict[str, int] = {}
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    i = 0
    while i < len(lines):
        if lines[i].startswith("Traceback"):
            j = i + 1
            while j < len(lines) and (lines[j].startswith(" ") or lines[j].startswith("Traceback")):
                j += 1
            frames = [ln.strip() for ln in lines[i:j] if ln.strip().startswith("File ") and str(REPO) in ln]
            last = lines[j] if j < len(lines) else "?"
            key = "\n      ".join([*frames[-3:], last])
            counts[key] = counts.get(key, 0) + 1
            i = j
        i += 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return [f"{n} x {key}" for key, n in top]


def _windows(end: float, step: float = 10.0) -> list[tuple[float, float]]:
    """[0, 10), [10, 20), ... up to ``end`` (the last window takes the remainder)."""
    edges = [i * step for i in range(int(end // step) + 1)] + [end + 1e-9]
    return list(zip(edges[:-1], edges[1:], strict=True))


def fmt_ms(values: list[float], q: float) -> str:
    return "-" if not values else f"{1000 * pct(values, q):.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ns", type=int, nargs="+", default=[1, 10, 30, 50], help="class sizes")
    ap.add_argument("--duration", type=float, default=40.0, help="seconds of activity per N")
    ap.add_argument("--interval", type=float, default=3.0, help="mean seconds between a student's actions")
    ap.add_argument("--ramp", type=float, default=10.0, help="students join over up to this many seconds")
    ap.add_argument("--clients", choices=["protocol", "browser"], default="protocol")
    ap.add_argument("--quick", action="store_true", help="N = 1, 3 for 10 s each: a smoke test")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--server-arg", action="append", default=[], metavar="--SECTION.OPTION=VALUE",
        help="extra flag for streamlit run, to try a setting (repeatable), "
        "e.g. --server-arg=--server.fileWatcherType=none",
    )  # fmt: skip
    ap.add_argument("--model", default="digits_2d",
                    help="the default model: a bundled checkpoint (e.g. mnist_32, the app's own default)")
    ap.add_argument("--replicas", type=int, default=0,
                    help="K > 0: K replicas behind nginx (docs/deploying.md's config, bench/harness/proxy.py)")  # fmt: skip
    args = ap.parse_args()
    if args.quick:
        args.ns, args.duration = [1, 3], 10.0

    from bench.harness import find_shared_data
    from bench.harness.server import app_env, prepare_checkpoints

    budget = sum(min(args.ramp, 0.2 * n) + args.duration + 2 * ACTION_TIMEOUT_S + 60 for n in args.ns) + 240
    images = make_images(256, args.seed)
    with tempfile.TemporaryDirectory(prefix="vae-classroom-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        notes = prepare_checkpoints(folder / "checkpoints")
        if args.model != "digits_2d":
            shutil.copy2(REPO / "checkpoints" / f"{args.model}.pt", folder / "checkpoints")
            (folder / "checkpoints" / "default.txt").write_text(args.model + "\n")
        servers, base, where = _start(stack, args, folder, app_env(folder / "checkpoints", find_shared_data()))

        def watchdog() -> None:  # the hard limit, whatever happens to the event loop
            print(f"\nclassroom: hard time limit of {budget:.0f} s reached; stopping", flush=True)
            for server in servers:
                server.stop()
            os._exit(3)

        timer = threading.Timer(budget, watchdog)
        timer.daemon = True
        timer.start()
        stack.callback(timer.cancel)
        mons = [ProcMonitor(server.pid) for server in servers]
        machine = MachineMonitor()
        t_warm = [warm_up(server.url, images) for server in servers]
        clients = (
            "Chromium contexts (one headless Chromium, Playwright)" if args.clients == "browser"
            else "protocol-level clients (Python asyncio: websockets + keep-alive HTTP/1.1, 6 "
            "connections each; the browser's messages, nothing rendered; each keeps the live "
            "decoder's weights like a browser's IndexedDB and asks for a model it lacks)"
        )  # fmt: skip
        print(f"classroom bench: {clients}")
        print(f"server: {where}, OMP_NUM_THREADS=1, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at start; default model {args.model}"
              + (f"; extra flags {' '.join(args.server_arg)}" if args.server_arg else ""))  # fmt: skip
        for note in notes:
            print(f"  checkpoints: {note}")
        print("warm-up (one student through every step on each replica, caches filled): "
              + ", ".join(f"{t:.1f} s" for t in t_warm))  # fmt: skip
        print(f"each student: page load, then the scripted lesson ({', '.join(LESSON)}), then until "
              f"{args.duration:g} s have passed: release a slider (2 of 4), upload (1 of 4), sample (1 of 4); "
              f"one action every {args.interval:g} s ±50 %; students join over min({args.ramp:g}, 0.2 N) s")  # fmt: skip
        print("times in ms; round trip = action sent -> run finished (+ new images fetched); "
              "press = 'Sample from the prior'; MB/student: received, lesson = page load + scripted lesson")
        head = (f"{'N':>3} | {'load p50':>8} {'p95':>6} | {'release n':>9} {'p50':>5} {'p95':>6} | "
                f"{'press n':>7} {'p50':>5} {'p95':>6} | {'upload n':>8} {'p50':>5} {'p95':>6} | "
                f"{'switch p50':>10} {'p95':>6} | {'errors':>6} | {'peak RSS MB':>11} | {'CPU mean %':>10} | "
                f"{'MB/student lesson':>17} {'all':>5} | {'weights sent':>12}")  # fmt: skip
        print(head)
        print("-" * len(head))
        all_errors = []
        for i, n in enumerate(args.ns):
            for mon in (*mons, machine):
                mon.start()
            c0, w0 = time.process_time(), time.perf_counter()
            stats = asyncio.run(phase(args, n, base, images, args.seed + i))
            client_cpu = 100 * (time.process_time() - c0) / (time.perf_counter() - w0)
            srv = [mon.stop() for mon in mons]
            machine.stop()
            proto = args.clients == "protocol"
            lesson = f"{sum(stats.lesson_bytes) / max(len(stats.lesson_bytes), 1) / 1e6:.2f}" if proto and stats.lesson_bytes else "-"
            per = f"{sum(stats.student_bytes) / max(len(stats.student_bytes), 1) / 1e6:.2f}" if proto and stats.student_bytes else "-"
            rss = "/".join(f"{r['hwm_mb']:.0f}" for r in srv)  # per replica
            cpu = "/".join(f"{r['cpu_mean']:.0f}" for r in srv)
            sent = f"{stats.weight_sends} x, {stats.weight_bytes / 1e6:.1f} MB" if proto else "-"
            print(
                f"{n:>3} | {fmt_ms(stats.page_load, .5):>8} {fmt_ms(stats.page_load, .95):>6} | "
                f"{len(stats.release):>9} {fmt_ms(stats.release, .5):>5} {fmt_ms(stats.release, .95):>6} | "
                f"{len(stats.press):>7} {fmt_ms(stats.press, .5):>5} {fmt_ms(stats.press, .95):>6} | "
                f"{len(stats.upload):>8} {fmt_ms(stats.upload, .5):>5} {fmt_ms(stats.upload, .95):>6} | "
                f"{fmt_ms(stats.switch, .5):>10} {fmt_ms(stats.switch, .95):>6} | {len(stats.errors):>6} | "
                f"{rss:>11} | {cpu:>10} | {lesson:>17} {per:>5} | {sent:>12}",
                flush=True,
            )  # fmt: skip
            # The students share this machine's cores with the server(s): say how much they took.
            print(f"    bench client (the simulated students, this process): CPU mean {client_cpu:.0f} %", flush=True)
            if proto and stats.page_load:
                print("    page load split (p50/p95 ms): " + ", ".join(
                    f"{k} {fmt_ms(v, .5)}/{fmt_ms(v, .95)}" for k, v in stats.load_parts.items()
                ), flush=True)  # fmt: skip
            if proto and stats.upload:
                print("    upload split (p50/p95 ms): " + ", ".join(
                    f"{k} {fmt_ms(v, .5)}/{fmt_ms(v, .95)}" for k, v in stats.upload_parts.items()
                ), flush=True)  # fmt: skip
            if stats.timeline:
                windows = _windows(max(t for t, _, _ in stats.timeline))
                print("    release/press/upload p95 (ms) by when sent: " + ", ".join(
                    f"{a:.0f}-{b:.0f} s: " + "/".join(
                        fmt_ms([rt for t, k, rt in stats.timeline if a <= t < b and k == kind], .95)
                        for kind in ("release", "sample", "upload"))
                    for a, b in windows
                ), flush=True)  # fmt: skip
                # A p95 over the aim in a window where the machine was near 100 % x cores is the
                # cores' limit (servers, nginx and the students together), not one slow action.
                print(f"    machine CPU (% of one core, {os.cpu_count()} cores, every process) by 10 s window: " + ", ".join(
                    f"{a:.0f}-{b:.0f} s: {machine.busy_between(stats.t0 + a, stats.t0 + b):.0f}"
                    for a, b in windows
                ), flush=True)  # fmt: skip
            if len(stats.page_load) < n:
                stats.errors.append(f"only {len(stats.page_load)} of {n} students loaded the app")
            all_errors += [f"N={n}: {e}" for e in stats.errors]
            time.sleep(3)  # let the server drop the finished sessions' work
        if not all(mon.hwm_reset for mon in mons):
            print("note: could not reset VmHWM between phases: peak RSS is cumulative")
        print("server(s) at the end: " + ", ".join(
            f"RSS {mon.status_kb('VmRSS') / 1024:.0f} MB, {mon.status_kb('Threads')} threads" for mon in mons))  # fmt: skip
        for e in all_errors[:15]:
            print("  error:", e)
        if len(all_errors) > 15:
            print(f"  ... and {len(all_errors) - 15} more errors")
        if all_errors:
            for server in servers:
                for tb in server_tracebacks(server.log):
                    print("  server traceback:", tb)
        return 1 if all_errors else 0


def _start(stack: contextlib.ExitStack, args, folder: Path, env: dict) -> tuple[list, str, str]:  # noqa: ANN001
    """One server (the students connect to it), or ``--replicas`` K behind nginx (the
    students connect to nginx). Returns (servers, the students' base URL, a description)."""
    if args.replicas:
        from bench.harness.proxy import running_cluster

        cluster = stack.enter_context(running_cluster(
            args.replicas, folder / "checkpoints", env=env, folder=folder / "cluster",
            extra_args=args.server_arg, listen=args.port or None,
        ))  # fmt: skip
        return cluster.replicas, cluster.url, (
            f"{args.replicas} replicas of streamlit run app.py behind nginx {cluster.url} "
            "(docs/deploying.md's sticky cookie; one shared checkpoint folder)"
        )
    from bench.harness.server import start_server

    server = start_server(folder / "streamlit.log", env=env, port=args.port or None, extra_args=args.server_arg)
    stack.callback(server.stop)
    return [server], server.url, f"streamlit run app.py on {server.url}"


if __name__ == "__main__":
    raise SystemExit(main())
