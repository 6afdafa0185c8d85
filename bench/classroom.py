"""Classroom load benchmark: N simulated students on one ``streamlit run app.py`` (loopback only).

Each student is a **protocol-level client** (Python ``websockets`` + ``http.client``) that sends
the messages a browser sends and fetches what a browser fetches, but renders nothing:

1. page load: ``GET /`` (index.html, XSRF cookie) and the JS/CSS it links (what a first visit
   downloads), ``/_stcore/health`` and ``/_stcore/host-config``, the websocket, the first
   script run (Home), and every image of that run;
2. a switch to **Latent sliders** (the sidebar link: a rerun with that page's hash);
3. then, until the phase ends, one action every ``--interval`` s (uniform ±50 % jitter):
   the 1st, 3rd and 4th of every four actions **release a slider** of the live decoder component (the
   ``{event: {action, latent, cmd, model_id}}`` widget state the component sends on ``change``), the 2nd
   switches to **Your image**, **uploads** a new PNG through ``/_stcore/upload_file`` (as the
   file chooser does), waits for the reconstruction, fetches the new images and switches back.

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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ACTION_TIMEOUT_S = 30.0  # one page load, switch, release or upload
SLIDERS, UPLOAD_PAGE, HOME = "Latent sliders", "Your image", "Home"


# --------------------------------------------------------------------------- measurements


@dataclass
class Stats:
    page_load: list[float] = field(default_factory=list)
    switch: list[float] = field(default_factory=list)
    release: list[float] = field(default_factory=list)
    upload: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bytes_in: int = 0
    # Page load split: index.html + JS/CSS + health/host-config; websocket + the Home run;
    # the Home run's images.
    load_parts: dict[str, list[float]] = field(
        default_factory=lambda: {"static files": [], "websocket + Home run": [], "images": []}
    )

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what}")


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


# --------------------------------------------------------------------------- one student

BROWSER_CONNECTIONS = 6  # Chromium's HTTP/1.1 connections per host


class HttpConnection:
    """A minimal asyncio HTTP/1.1 keep-alive client (no threads: 50 students stay cheap).
    The kernel's delayed ACKs apply to it exactly as to a browser's sockets."""

    def __init__(self, host: str) -> None:
        self.hostname, port = host.rsplit(":", 1)
        self.port = int(port)
        self.host = host
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, list[str]], bytes]:
        for attempt in (0, 1):  # one retry when the server closed an idle keep-alive connection
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.hostname, self.port)
                head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", "Connection: keep-alive"]
                head += [f"{k}: {v}" for k, v in headers.items()]
                if body or method in ("PUT", "POST"):
                    head.append(f"Content-Length: {len(body)}")
                self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("connection closed")
                status = int(status_line.split()[1])
                hdrs: dict[str, list[str]] = {}
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    k, _, v = line.decode("latin-1").partition(":")
                    hdrs.setdefault(k.strip().lower(), []).append(v.strip())
                if "content-length" in hdrs:
                    data = await self.reader.readexactly(int(hdrs["content-length"][0]))
                elif "chunked" in hdrs.get("transfer-encoding", [""])[0]:
                    data = b""
                    while (size := int((await self.reader.readline()).strip() or b"0", 16)) > 0:
                        data += await self.reader.readexactly(size)
                        await self.reader.readline()
                    await self.reader.readline()
                elif status in (204, 304):
                    data = b""
                else:
                    data = await self.reader.read()
                    self.close()
                if "close" in hdrs.get("connection", [""])[0].lower():
                    self.close()
                return status, hdrs, data
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None



@dataclass
class Run:
    """What one script run sent."""

    images: list[tuple[str, str]] = field(default_factory=list)  # (url, caption)
    codes: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # exceptions and error boxes
    bidi: object | None = None
    uploader_id: str | None = None
    nbytes: int = 0


class Student:
    """One protocol-level client. Sequential: one action at a time, like one person."""

    def __init__(self, name: str, base: str, stats: Stats, rng: random.Random) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.BackMsg, self.ForwardMsg = BackMsg, ForwardMsg
        self.name, self.base, self.stats, self.rng = name, base, stats, rng
        self.host = base.split("://", 1)[1]
        self.conns: list[HttpConnection] = []
        self.cookie = ""
        self.xsrf = ""
        self.ws = None
        self.session_id = ""
        self.pages: dict[str, tuple[str, str]] = {}  # name -> (hash, url path)
        self.current = ""
        self.cache: dict[str, object] = {}  # ForwardMsg cache, as the browser keeps it
        self.fetched: set[str] = set()  # the browser's image cache
        self.latent: list[float] | None = None

    # ---------------------------------------------------------------- transport
    async def get(self, path: str, method: str = "GET", body: bytes = b"", headers: dict | None = None) -> tuple[int, dict[str, list[str]], bytes]:
        """One request on this student's first keep-alive connection."""
        if not self.conns:
            self.conns.append(HttpConnection(self.host))
        h = {"Cookie": self.cookie} if self.cookie else {}
        status, hdrs, data = await self.conns[0].request(method, path, body, {**h, **(headers or {})})
        self.stats.bytes_in += len(data)
        return status, hdrs, data

    async def get_many(self, paths: list[str]) -> None:
        """GET every path, spread over up to ``BROWSER_CONNECTIONS`` keep-alive connections
        (as a browser fetches a page's scripts and images); each must answer 200."""
        while len(self.conns) < min(BROWSER_CONNECTIONS, max(1, len(paths))):
            self.conns.append(HttpConnection(self.host))
        queue = list(paths)
        headers = {"Cookie": self.cookie} if self.cookie else {}

        async def worker(conn: HttpConnection) -> None:
            while queue:
                path = queue.pop(0)
                status, _, data = await conn.request("GET", path, b"", headers)
                self.stats.bytes_in += len(data)
                if status != 200 or not data:
                    raise RuntimeError(f"GET {path} -> HTTP {status}")

        await asyncio.gather(*(worker(c) for c in self.conns[: max(1, min(len(paths), BROWSER_CONNECTIONS))]))

    async def fetch_images(self, run: Run) -> None:
        new = [u if u.startswith("/") else "/" + u for u, _ in run.images if not u.startswith("data:") and u not in self.fetched]
        if new:
            await self.get_many(new)
            self.fetched.update(u for u, _ in run.images)

    def _rerun_msg(self, page: str, widgets: list = ()) -> bytes:
        msg = self.BackMsg()
        rs = msg.rerun_script
        page_hash, path = self.pages.get(page, ("", ""))
        rs.page_script_hash = page_hash
        rs.context_info.timezone = "UTC"
        rs.context_info.locale = "en-US"
        rs.context_info.url = f"{self.base}/{path}"
        rs.context_info.color_scheme = "light"
        rs.cached_message_hashes.extend(self.cache)
        for w in widgets:
            rs.widget_states.widgets.append(w)
        return msg.SerializeToString()

    async def _next(self) -> object:
        raw = await self.ws.recv()
        self.stats.bytes_in += len(raw)
        msg = self.ForwardMsg.FromString(raw)
        if msg.WhichOneof("type") == "ref_hash":
            if msg.ref_hash not in self.cache:
                raise RuntimeError("server referred to a message this client never got")
            cached = self.cache[msg.ref_hash]
            cached.metadata.CopyFrom(msg.metadata)
            msg = cached
        elif msg.metadata.cacheable:
            self.cache[msg.hash] = msg
        return msg

    async def wait_run(self) -> Run:
        """Frames until the run's ``script_finished``; collects what the checks need."""
        run = Run()
        while True:
            msg = await self._next()
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                if msg.new_session.initialize.session_id:
                    self.session_id = msg.new_session.initialize.session_id
                run = Run()  # a rerun replaced an unfinished one
            elif kind == "navigation":
                for p in msg.navigation.app_pages:
                    self.pages[p.page_name] = (p.page_script_hash, p.url_pathname)
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self._element(msg.delta.new_element, run)
            elif kind == "script_finished":
                status = msg.script_finished
                if status == self.ForwardMsg.FINISHED_SUCCESSFULLY:
                    return run
                if status == self.ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    run.problems.append("compile error")
                    return run
                # FINISHED_EARLY_FOR_RERUN: the next run follows; fragment runs: none here

    @staticmethod
    def _element(el, run: Run) -> None:  # noqa: ANN001
        t = el.WhichOneof("type")
        if t == "exception":
            run.problems.append(f"exception {el.exception.type}: {el.exception.message[:120]}")
        elif t == "alert" and el.alert.format == 1:  # ERROR
            run.problems.append(f"error box: {el.alert.body[:120]}")
        elif t == "imgs":
            run.images += [(i.url, i.caption) for i in el.imgs.imgs]
        elif t == "code":
            run.codes.append(el.code.code_text)
        elif t == "heading":
            run.headings.append(el.heading.body)
        elif t == "bidi_component":
            run.bidi = el.bidi_component
        elif t == "file_uploader":
            run.uploader_id = el.file_uploader.id

    async def rerun(self, page: str, widgets: list = ()) -> Run:
        await self.ws.send(self._rerun_msg(page, widgets))
        run = await self.wait_run()
        if run.problems:
            raise RuntimeError("; ".join(run.problems))
        self.current = page
        return run

    # ---------------------------------------------------------------- the student
    async def load(self) -> float:
        from websockets.asyncio.client import connect

        t0 = time.perf_counter()
        status, _, html = await self.get("/")
        if status != 200:
            raise RuntimeError(f"GET / -> {status}")
        assets = re.findall(rb'(?:src|href)="\./(static/[^"]+\.(?:js|css))"', html)
        await self.get_many(["/" + a.decode() for a in assets])
        t_static = time.perf_counter()
        for path in ("/_stcore/health", "/_stcore/host-config"):
            status, hdrs, _ = await self.get(path)
            if status != 200:
                raise RuntimeError(f"GET {path} -> {status}")
            for header in hdrs.get("set-cookie", []):  # health sets the XSRF cookie
                m = re.match(r'_streamlit_xsrf="?([^;"]+)', header)
                if m:
                    self.xsrf = m.group(1)
                    self.cookie = f"_streamlit_xsrf={self.xsrf}"
        self.ws = await connect(
            self.base.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocols=["streamlit", self.xsrf] if self.xsrf else ["streamlit"],
            origin=self.base,
            additional_headers={"Cookie": self.cookie} if self.cookie else None,
            max_size=None,
            open_timeout=ACTION_TIMEOUT_S,
        )
        run = await self.rerun(HOME)
        t_run = time.perf_counter()
        await self.fetch_images(run)
        parts = self.stats.load_parts
        parts["static files"].append(t_static - t0)
        parts["websocket + Home run"].append(t_run - t_static)
        parts["images"].append(time.perf_counter() - t_run)
        if not any(h.startswith("Model loaded:") for h in run.headings):
            raise RuntimeError(f"Home shows no model card: {run.headings}")
        self.home = run
        return time.perf_counter() - t0

    async def open_sliders(self) -> float:
        t0 = time.perf_counter()
        run = await self.rerun(SLIDERS)
        await self.fetch_images(run)
        if run.bidi is None:
            raise RuntimeError("Latent sliders page has no live decoder component")
        self.sliders = run.bidi
        self.slider_data = json.loads(run.bidi.json)
        self.latent = None
        return time.perf_counter() - t0

    async def release(self) -> float:
        """What the component sends when a dragged slider is let go (or an arrow key pressed)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        data = self.slider_data
        z = list(self.latent or data["values"])
        d = self.rng.choice(data["dims"])
        r = data["range_sd"]
        z[d] = round(min(r, max(-r, z[d] + self.rng.choice((-1, 1)) * data["step"] * self.rng.randint(1, 60))), 2)
        event = {"action": "release", "latent": z, "cmd": data["cmd"], "model_id": data["model"]["id"]}
        state = {"event": event}
        w = WidgetState(id=self.sliders.id, json_value=json.dumps(state))
        t0 = time.perf_counter()
        run = await self.rerun(SLIDERS, [w])
        await self.fetch_images(run)
        elapsed = time.perf_counter() - t0
        want = "t = [" + ", ".join(f"{v:+.3f}" for v in z) + "]"
        if want not in run.codes:
            raise RuntimeError(f"released {want}, the page printed {run.codes}")
        if "weights_b64" in json.loads(run.bidi.json)["model"]:
            self.stats.error(self.name, "weights re-sent after a release (model_id ignored)")
        self.latent = z
        return elapsed

    async def upload(self, png: bytes) -> tuple[float, float]:
        """Switch to Your image, upload ``png`` like the file chooser, wait for the
        reconstruction and its images, switch back. Returns (round trip, switch time)."""
        from streamlit.proto.Common_pb2 import FileUploaderState, UploadedFileInfo
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        t_sw = time.perf_counter()
        page = await self.rerun(UPLOAD_PAGE)
        await self.fetch_images(page)
        t_switch = time.perf_counter() - t_sw
        if page.uploader_id is None:
            raise RuntimeError("Your image page has no file uploader")
        name = f"drawing-{uuid.uuid4().hex[:6]}.png"
        t0 = time.perf_counter()
        req = self.BackMsg()
        req.file_urls_request.request_id = uuid.uuid4().hex
        req.file_urls_request.file_names.append(name)
        req.file_urls_request.session_id = self.session_id
        await self.ws.send(req.SerializeToString())
        while True:
            msg = await self._next()
            if msg.WhichOneof("type") == "file_urls_response":
                break
        resp = msg.file_urls_response
        if resp.error_msg or not resp.file_urls:
            raise RuntimeError(f"file URLs refused: {resp.error_msg}")
        urls = resp.file_urls[0]
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode() + png + f"\r\n--{boundary}--\r\n".encode()
        status, _, _ = await self.get(
            urls.upload_url, method="PUT", body=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                     "X-Xsrftoken": self.xsrf, "Origin": self.base},
        )  # fmt: skip
        if status not in (200, 204):
            raise RuntimeError(f"upload PUT -> HTTP {status}")
        info = UploadedFileInfo(name=name, size=len(png), file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        w = WidgetState(id=page.uploader_id, file_uploader_state_value=FileUploaderState(uploaded_file_info=[info]))
        run = await self.rerun(UPLOAD_PAGE, [w])
        await self.fetch_images(run)
        elapsed = time.perf_counter() - t0
        captions = [c for _, c in run.images]
        if "reconstruction decode(m)" not in captions:
            raise RuntimeError(f"no reconstruction after the upload: {captions}")
        t_sw = time.perf_counter()
        await self.open_sliders()
        return elapsed, t_switch + time.perf_counter() - t_sw

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        for c in self.conns:
            c.close()


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
        async with asyncio.timeout(ACTION_TIMEOUT_S):
            stats.switch.append(await s.open_sliders())
        n = 0
        next_at = loop.time() + interval * rng.uniform(0.5, 1.5)
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            if loop.time() >= end_at:
                break
            n += 1
            try:
                async with asyncio.timeout(ACTION_TIMEOUT_S):
                    if n % 4 == 2:
                        rt, sw = await s.upload(images[(idx * 97 + n) % len(images)])
                        stats.upload.append(rt)
                        stats.switch.append(sw)
                    else:
                        stats.release.append(await s.release())
            except (TimeoutError, RuntimeError) as e:
                stats.error(s.name, f"action {n}: {type(e).__name__} {e}"[:300])
                if s.ws is None or s.ws.state.name != "OPEN":
                    return
                # Resynchronise: the page may be mid-run; start from the sliders page again.
                async with asyncio.timeout(ACTION_TIMEOUT_S):
                    await s.open_sliders()
            next_at += interval * rng.uniform(0.5, 1.5)
    except Exception as e:  # noqa: BLE001 - every failure is a result here
        stats.error(s.name, f"{type(e).__name__}: {e}"[:300])
    finally:
        await s.close()


# --------------------------------------------------------------------------- browser clients


async def browser_phase(
    n: int, base: str, stats: Stats, start: float, end_at: float, interval: float,
    images: list[bytes], seed: int, ramp: float,
) -> None:  # fmt: skip
    """N real Chromium contexts (one browser): page load to idle, the sliders page, then
    ArrowRight on a slider of the component (3 of 4) or an upload through the file chooser."""
    from playwright.async_api import async_playwright

    from bench.harness.browser import IDLE, OFF_LOOPBACK, RunTracker, launch_chromium

    async with async_playwright() as p:
        browser = await launch_chromium(p)
        loop = asyncio.get_running_loop()

        async def after_run(page, before: int) -> None:  # noqa: ANN001
            """Until a run finished after ``before`` (websocket messages: the DOM's idle flag
            can miss a quick run), then the page idle."""
            deadline = loop.time() + ACTION_TIMEOUT_S
            while page.vae_runs.finished <= before:
                if loop.time() > deadline:
                    raise TimeoutError("no run finished")
                await page.wait_for_timeout(5)
            await page.wait_for_selector(IDLE, timeout=ACTION_TIMEOUT_S * 1000)

        async def one(idx: int) -> None:
            rng = random.Random(seed * 1000 + idx)
            await asyncio.sleep(max(0.0, start + ramp * idx / max(n, 1) - loop.time()))
            ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
            await ctx.route(OFF_LOOPBACK, lambda route: route.abort())
            page = await ctx.new_page()
            page.vae_runs = RunTracker()
            page.vae_runs.attach(page)
            who = f"browser {idx}"
            try:
                t0 = time.perf_counter()
                await page.goto(base + "/")
                await page.get_by_text("Model loaded:").wait_for(timeout=ACTION_TIMEOUT_S * 1000)
                await page.wait_for_selector(IDLE)
                stats.page_load.append(time.perf_counter() - t0)

                async def to_sliders() -> None:
                    t = time.perf_counter()
                    await page.locator('[data-testid="stSidebarNavLink"]:has(span[label="Latent sliders"])').click()
                    await page.wait_for_selector('[data-testid=vae-live-sliders][data-ready="true"]', timeout=ACTION_TIMEOUT_S * 1000)
                    await page.wait_for_selector(IDLE)
                    stats.switch.append(time.perf_counter() - t)

                await to_sliders()
                k = 0
                next_at = loop.time() + interval * rng.uniform(0.5, 1.5)
                while True:
                    await asyncio.sleep(max(0.0, next_at - loop.time()))
                    if loop.time() >= end_at:
                        break
                    k += 1
                    if k % 4 == 2:
                        await page.locator('[data-testid="stSidebarNavLink"]:has(span[label="Your image"])').click()
                        await page.wait_for_selector('[data-testid="stFileUploader"] input[type="file"]', state="attached")
                        await page.wait_for_selector(IDLE)
                        t = time.perf_counter()
                        await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                            files=[{"name": f"d{k}.png", "mimeType": "image/png", "buffer": images[(idx * 97 + k) % len(images)]}]
                        )
                        await page.locator("[data-testid=stImageCaption]", has_text="reconstruction decode(m)").wait_for(timeout=ACTION_TIMEOUT_S * 1000)
                        await page.wait_for_selector(IDLE)
                        stats.upload.append(time.perf_counter() - t)
                        await to_sliders()
                    else:
                        code_before = await page.locator("[data-testid=vae-latent-vector]").get_attribute("data-latent")
                        slider = page.locator("input[data-testid=vae-slider]").first
                        await slider.focus()
                        before = page.vae_runs.finished
                        t = time.perf_counter()
                        await page.keyboard.press(rng.choice(("ArrowRight", "ArrowLeft")))
                        await after_run(page, before)  # the released value's rerun
                        stats.release.append(time.perf_counter() - t)
                        if await page.locator("[data-testid=vae-latent-vector]").get_attribute("data-latent") == code_before:
                            stats.error(who, "the slider did not move")
                    if await page.locator('[data-testid="stException"]').count():
                        stats.error(who, "exception element on the page")
                    next_at += interval * rng.uniform(0.5, 1.5)
            except Exception as e:  # noqa: BLE001
                stats.error(who, f"{type(e).__name__}: {e}"[:300])
            finally:
                await ctx.close()

        await asyncio.gather(*(one(i) for i in range(n)))
        await browser.close()


# --------------------------------------------------------------------------- phases


async def phase(args, n: int, base: str, images: list[bytes], seed: int) -> Stats:  # noqa: ANN001
    stats = Stats()
    loop = asyncio.get_running_loop()
    ramp = min(args.ramp, 0.2 * n) if n > 1 else 0.0
    start = loop.time() + 0.2
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
            await s.open_sliders()
            await s.release()
            await s.upload(images[-1])
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
    args = ap.parse_args()
    if args.quick:
        args.ns, args.duration = [1, 3], 10.0

    from bench.harness import find_shared_data
    from bench.harness.server import app_env, prepare_checkpoints, start_server

    budget = sum(min(args.ramp, 0.2 * n) + args.duration + 2 * ACTION_TIMEOUT_S + 25 for n in args.ns) + 180
    images = make_images(256, args.seed)
    with tempfile.TemporaryDirectory(prefix="vae-classroom-") as tmp:
        folder = Path(tmp)
        notes = prepare_checkpoints(folder / "checkpoints")
        log = folder / "streamlit.log"
        server = start_server(
            log, env=app_env(folder / "checkpoints", find_shared_data()),
            port=args.port or None, extra_args=args.server_arg,
        )  # fmt: skip
        proc, base = server.proc, server.url

        def watchdog() -> None:  # the hard limit, whatever happens to the event loop
            print(f"\nclassroom: hard time limit of {budget:.0f} s reached; stopping", flush=True)
            server.stop()
            os._exit(3)

        timer = threading.Timer(budget, watchdog)
        timer.daemon = True
        timer.start()
        try:
            mon = ProcMonitor(proc.pid)
            t_warm = warm_up(base, images)
            clients = (
                "Chromium contexts (one headless Chromium, Playwright)" if args.clients == "browser"
                else "protocol-level clients (Python asyncio: websockets + keep-alive HTTP/1.1, 6 "
                "connections each; the browser's messages, nothing rendered)"
            )  # fmt: skip
            print(f"classroom bench: {clients}")
            print(f"server: streamlit run app.py on {base}, OMP_NUM_THREADS=1, {os.cpu_count()} CPUs, "
                  f"load average {os.getloadavg()[0]:.1f} at start; default model digits_2d"
                  + (f"; extra flags {' '.join(args.server_arg)}" if args.server_arg else ""))  # fmt: skip
            for note in notes:
                print(f"  checkpoints: {note}")
            print(f"warm-up (one student through every step, caches filled): {t_warm:.1f} s")
            print(f"each student: page load -> Latent sliders -> every {args.interval:g} s ±50 % for "
                  f"{args.duration:g} s: release a slider (3 of 4) or upload a PNG on Your image (2nd of every 4); "
                  f"students join over min({args.ramp:g}, 0.2 N) s")  # fmt: skip
            print("times in ms; round trip = action sent -> run finished (+ new images fetched)")
            head = (f"{'N':>3} | {'load p50':>8} {'p95':>6} | {'release n':>9} {'p50':>5} {'p95':>6} | "
                    f"{'upload n':>8} {'p50':>5} {'p95':>6} | {'switch p50':>10} {'p95':>6} | "
                    f"{'errors':>6} | {'peak RSS MB':>11} | {'CPU mean %':>10} {'peak %':>6} | {'MB in':>6}")  # fmt: skip
            print(head)
            print("-" * len(head))
            all_errors = []
            for i, n in enumerate(args.ns):
                mon.start()
                stats = asyncio.run(phase(args, n, base, images, args.seed + i))
                srv = mon.stop()
                mb_in = f"{stats.bytes_in / 1e6:.1f}" if args.clients == "protocol" else "-"
                print(
                    f"{n:>3} | {fmt_ms(stats.page_load, .5):>8} {fmt_ms(stats.page_load, .95):>6} | "
                    f"{len(stats.release):>9} {fmt_ms(stats.release, .5):>5} {fmt_ms(stats.release, .95):>6} | "
                    f"{len(stats.upload):>8} {fmt_ms(stats.upload, .5):>5} {fmt_ms(stats.upload, .95):>6} | "
                    f"{fmt_ms(stats.switch, .5):>10} {fmt_ms(stats.switch, .95):>6} | "
                    f"{len(stats.errors):>6} | {srv['hwm_mb']:>11.0f} | {srv['cpu_mean']:>10.0f} {srv['cpu_peak']:>6.0f} | "
                    f"{mb_in:>6}",
                    flush=True,
                )  # fmt: skip
                if args.clients == "protocol" and stats.page_load:
                    print("    page load split (p50/p95 ms): " + ", ".join(
                        f"{k} {fmt_ms(v, .5)}/{fmt_ms(v, .95)}" for k, v in stats.load_parts.items()
                    ), flush=True)  # fmt: skip
                if len(stats.page_load) < n:
                    stats.errors.append(f"only {len(stats.page_load)} of {n} students loaded the app")
                all_errors += [f"N={n}: {e}" for e in stats.errors]
                time.sleep(3)  # let the server drop the finished sessions' work
            if not mon.hwm_reset:
                print("note: could not reset VmHWM between phases: peak RSS is cumulative")
            print(f"server at the end: RSS {mon.status_kb('VmRSS') / 1024:.0f} MB, {mon.status_kb('Threads')} threads")
            for e in all_errors[:15]:
                print("  error:", e)
            if len(all_errors) > 15:
                print(f"  ... and {len(all_errors) - 15} more errors")
            if all_errors:
                for tb in server_tracebacks(log):
                    print("  server traceback:", tb)
            return 1 if all_errors else 0
        finally:
            timer.cancel()
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
