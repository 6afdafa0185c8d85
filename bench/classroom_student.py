"""The classroom bench's protocol-level student (``bench/classroom.py``): the messages a
browser sends and the files it fetches, over Python ``websockets`` and keep-alive HTTP/1.1,
rendering nothing. Directly or through a proxy (cookies are kept as a browser keeps them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import struct
import time
import uuid
from dataclasses import dataclass, field

ACTION_TIMEOUT_S = 30.0  # one page load, switch, release or upload
SLIDERS, UPLOAD_PAGE, HOME = "Latent sliders", "Your image", "Home"
PLANE, NOISE = "2-D latent plane", "Noise ε: the reparameterization trick"
SAMPLE = "Sample from the prior"


@dataclass
class Stats:
    page_load: list[float] = field(default_factory=list)
    switch: list[float] = field(default_factory=list)
    release: list[float] = field(default_factory=list)
    upload: list[float] = field(default_factory=list)
    press: list[float] = field(default_factory=list)  # "Sample from the prior"
    errors: list[str] = field(default_factory=list)
    bytes_in: int = 0
    weight_bytes: int = 0  # the live decoder's weights (binary envelopes), all students
    weight_sends: int = 0
    lesson_bytes: list[int] = field(default_factory=list)  # per student, the scripted lesson
    student_bytes: list[int] = field(default_factory=list)  # per student, the whole phase
    # Page load split: index.html + JS/CSS + health/host-config; websocket + the Home run;
    # the Home run's images.
    load_parts: dict[str, list[float]] = field(
        default_factory=lambda: {"static files": [], "websocket + Home run": [], "images": []}
    )
    # Upload split: the file URL request over the WebSocket, the PUT, the run, its images.
    upload_parts: dict[str, list[float]] = field(
        default_factory=lambda: {"file URLs": [], "PUT": [], "run": [], "images": []}
    )

    # (seconds since the phase started, action kind, round trip s) for every release, press
    # and upload: where in the phase the slow ones fall (the joining burst or the steady part).
    timeline: list[tuple[float, str, float]] = field(default_factory=list)
    t0: float = 0.0

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what}")


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
    bidi_data: dict | None = None  # the component's JSON data (from the envelope if bytes)
    bidi_weights: bytes | None = None  # weights sent in this run (the binary envelope)
    buttons: dict[str, str] = field(default_factory=dict)  # label -> widget id
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
        self.cookies: dict[str, str] = {}  # the browser's cookie jar for this host
        self.bytes_in = 0
        self.held: set[str] = set()  # model ids in this browser's IndexedDB
        self.last_event: dict = {}  # the sliders component's last event (the widget value)
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
        status, hdrs, data = await self.conns[0].request(method, path, body, {**self._cookie(), **(headers or {})})
        self._received(len(data), hdrs)
        return status, hdrs, data

    def _cookie(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _received(self, n: int, hdrs: dict[str, list[str]] | None = None) -> None:
        """Count ``n`` bytes; keep the response's cookies (the XSRF token, a proxy's affinity)."""
        self.stats.bytes_in += n
        self.bytes_in += n
        for header in (hdrs or {}).get("set-cookie", []):
            m = re.match(r'\s*([^=;\s]+)="?([^;"]*)', header)
            if m:
                self.cookies[m.group(1)] = m.group(2)

    @property
    def xsrf(self) -> str:
        return self.cookies.get("_streamlit_xsrf", "")

    async def get_many(self, paths: list[str]) -> None:
        """GET every path, spread over up to ``BROWSER_CONNECTIONS`` keep-alive connections
        (as a browser fetches a page's scripts and images); each must answer 200."""
        while len(self.conns) < min(BROWSER_CONNECTIONS, max(1, len(paths))):
            self.conns.append(HttpConnection(self.host))
        queue = list(paths)
        # As a browser: compressed if the server offers it (nginx does for /static/).
        headers = {**self._cookie(), "Accept-Encoding": "gzip"}

        async def worker(conn: HttpConnection) -> None:
            while queue:
                path = queue.pop(0)
                status, hdrs, data = await conn.request("GET", path, b"", headers)
                self._received(len(data), hdrs)
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
        self._received(len(raw))
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
            run.bidi_data, run.bidi_weights = _component_data(el.bidi_component)
        elif t == "button":
            run.buttons[el.button.label] = el.button.id
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
            status, _, _ = await self.get(path)  # health sets the XSRF cookie
            if status != 200:
                raise RuntimeError(f"GET {path} -> {status}")
        self.ws = await connect(
            self.base.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocols=["streamlit", self.xsrf] if self.xsrf else ["streamlit"],
            origin=self.base,
            additional_headers=self._cookie() or None,
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

    async def open_live(self, page: str, widgets: list = ()) -> Run:
        """A run of a page with the live decoder, then what the component does in a browser:
        a model id this browser does not hold yet is asked for (ONE event, as ui.js sends it),
        and the answering run must carry the weights; a held one must never be re-sent."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        run = await self.rerun(page, widgets)
        await self.fetch_images(run)
        if run.bidi is None or run.bidi_data is None:
            raise RuntimeError(f"{page} has no live decoder component")
        model_id = run.bidi_data["model"]["id"]
        if run.bidi_weights is not None:
            self.stats.error(self.name, f"{page}: weights sent unasked (the browser holds {model_id in self.held})")
        if model_id not in self.held:
            req = f"{uuid.uuid4().hex[:8]}"
            last = self.last_event if page == SLIDERS else {}
            event = {**last, "action": "weights", "need": model_id, "req": req, "model_id": None}
            w = WidgetState(id=run.bidi.id, json_value=json.dumps({"event": event}))
            run = await self.rerun(page, [w])
            if not run.bidi_weights or run.bidi_data.get("served") != req:
                raise RuntimeError(f"{page}: asked for the weights of {model_id}, got none")
            self.stats.weight_bytes += len(run.bidi_weights)
            self.stats.weight_sends += 1
            self.held.add(model_id)
            if page == SLIDERS:
                self.last_event = event
        return run

    async def open_sliders(self, widgets: list = ()) -> float:
        t0 = time.perf_counter()
        run = await self.open_live(SLIDERS, widgets)
        self.sliders = run.bidi
        self.slider_data = run.bidi_data
        self.slider_buttons = run.buttons
        self.latent = None
        return time.perf_counter() - t0

    async def open_page(self, page: str) -> float:
        """A switch to any other page (its run and its new images)."""
        t0 = time.perf_counter()
        run = await self.rerun(page)
        await self.fetch_images(run)
        if page == PLANE:
            await self.open_live(PLANE)
        return time.perf_counter() - t0

    async def sample(self) -> float:
        """Press "Sample from the prior" on the sliders page: a new latent, no weights."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        before = self.slider_data["values"]
        button = self.slider_buttons.get(SAMPLE)
        if button is None:
            raise RuntimeError(f"no {SAMPLE!r} button on the sliders page")
        t0 = time.perf_counter()
        await self.open_sliders([WidgetState(id=button, trigger_value=True)])
        elapsed = time.perf_counter() - t0
        if self.slider_data["values"] == before:
            raise RuntimeError(f"{SAMPLE!r} left the latent at {before}")
        return elapsed

    async def release(self) -> float:
        """What the component sends when a dragged slider is let go (or an arrow key pressed)."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        data = self.slider_data
        z = list(self.latent or data["values"])
        d = self.rng.choice(data["dims"])
        r = data["range_sd"]
        z[d] = round(min(r, max(-r, z[d] + self.rng.choice((-1, 1)) * data["step"] * self.rng.randint(1, 60))), 2)
        event = {"action": "release", "latent": z, "cmd": data["cmd"], "model_id": data["model"]["id"]}
        w = WidgetState(id=self.sliders.id, json_value=json.dumps({"event": event}))
        t0 = time.perf_counter()
        run = await self.rerun(SLIDERS, [w])
        await self.fetch_images(run)
        elapsed = time.perf_counter() - t0
        want = "t = [" + ", ".join(f"{v:+.3f}" for v in z) + "]"
        if want not in run.codes:
            raise RuntimeError(f"released {want}, the page printed {run.codes}")
        if run.bidi_weights is not None:
            self.stats.error(self.name, "weights re-sent after a release (model_id ignored)")
        self.latent = z
        self.last_event = event
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
        parts = self.stats.upload_parts
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
        t_urls = time.perf_counter()
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
        t_put = time.perf_counter()
        info = UploadedFileInfo(name=name, size=len(png), file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        w = WidgetState(id=page.uploader_id, file_uploader_state_value=FileUploaderState(uploaded_file_info=[info]))
        run = await self.rerun(UPLOAD_PAGE, [w])
        t_run = time.perf_counter()
        await self.fetch_images(run)
        elapsed = time.perf_counter() - t0
        for k, a, b in (("file URLs", t0, t_urls), ("PUT", t_urls, t_put), ("run", t_put, t_run), ("images", t_run, t0 + elapsed)):
            parts[k].append(b - a)
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


def _component_data(bidi) -> tuple[dict | None, bytes | None]:  # noqa: ANN001
    """The live component's data and, when the run sent them, its weights: JSON, or the
    binary envelope (``WIRE_MAGIC``, uint32 little-endian n, n bytes of JSON, the weights;
    ``pages/_lib/live/component.py``)."""
    from pages._lib.live import WIRE_MAGIC

    kind = bidi.WhichOneof("data")
    if kind == "json":
        return json.loads(bidi.json), None
    if kind == "bytes" and bidi.bytes.startswith(WIRE_MAGIC):
        at = len(WIRE_MAGIC)
        (n,) = struct.unpack("<I", bidi.bytes[at : at + 4])
        return json.loads(bidi.bytes[at + 4 : at + 4 + n]), bidi.bytes[at + 4 + n :]
    return None, None
