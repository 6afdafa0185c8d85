"""Fixtures for the real-browser tests: one ``streamlit run app.py`` per test session, one
headless Chromium, a fresh browser context (= a fresh Streamlit session) per test.

The server gets its own temporary checkpoint folder (the bundled digits/MNIST models copied in,
or a small digits model trained here when the bundled one is missing or unreadable), the real
datasets (``tests/conftest.py``'s ``find_shared_data``) and ``OMP_NUM_THREADS=1``. It is stopped
by its PID afterwards. Without Chromium or Playwright the whole suite skips with the reason,
unless ``VAE_REQUIRE_BROWSER=1`` (CI), where it fails instead.

Screenshots of every page land in ``tests/e2e/screenshots/`` (git-ignored, kept by CI).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser import chromium_path
from tests.conftest import REPO, find_shared_data

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
BUNDLED = ("digits_2d", "mnist_2d")
DEFAULT_MODEL = "digits_2d"
HEALTH_TIMEOUT_S = 60.0
# The first session imports torch and encodes a test set: generous, the machine is shared.
RUN_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 1000}

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')
NAV_LINK = '[data-testid="stSidebarNavLink"]'

# Requests to anything but this machine are aborted before they leave the browser (and
# recorded: the app should not make any).
OFF_LOOPBACK = re.compile(r"^(?!(?:https?|wss?)://(?:127\.0\.0\.1|localhost)(?::\d+)?/)[a-z]+://")


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    url: str
    pid: int
    log: Path
    checkpoints: Path

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readable(path: Path) -> bool:
    from vae.core.checkpoints import CheckpointError, load_checkpoint

    try:
        load_checkpoint(path)
    except CheckpointError:
        return False
    return True


def prepare_checkpoints(folder: Path) -> list[str]:
    """Copy the bundled digits/MNIST models that load into ``folder`` and name the digits one
    the default; train a small digits model when the bundled one is missing or unreadable.
    Returns notes on what was done (shown in the server log header)."""
    folder.mkdir(parents=True, exist_ok=True)
    notes = []
    for name in BUNDLED:
        src = REPO / "checkpoints" / f"{name}.pt"
        if not src.exists():
            notes.append(f"{src.name}: not in the repo")
        elif not _readable(src):
            notes.append(f"{src.name}: in the repo but unreadable, not copied")
        else:
            shutil.copy2(src, folder / src.name)
    if not (folder / f"{DEFAULT_MODEL}.pt").exists():
        import torch

        from vae.app.quickstart import train_quickstart

        # One thread: on a busy 2-core machine two torch threads spin against each other
        # (15 epochs: about 3 s with one thread, over 60 s with two under load).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        try:
            train_quickstart(folder / f"{DEFAULT_MODEL}.pt", epochs=15)
        finally:
            torch.set_num_threads(threads)
        notes.append(f"{DEFAULT_MODEL}.pt: trained here, 15 epochs ({time.perf_counter() - t0:.1f} s)")
    (folder / "default.txt").write_text(DEFAULT_MODEL + "\n")
    return notes


def server_env(checkpoints: Path, data: Path | None) -> dict[str, str]:
    env = {**os.environ, "VAE_CHECKPOINT_DIR": str(checkpoints), "OMP_NUM_THREADS": "1"}
    if data is not None:
        env["VAE_DATA_DIR"] = str(data)
    env.pop("VAE_REQUIRE_BROWSER", None)
    return env


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = HEALTH_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r,
        ):
            if r.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url}/_stcore/health did not answer within {timeout:.0f} s")


def start_server(
    checkpoints: Path, log: Path, data: Path | None, port: int | None = None,
    extra_args: Sequence[str] = (),
) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on 127.0.0.1 (``extra_args``: more ``--section.option value``
    flags); returns the process and its base URL once healthy."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", *extra_args,
    ]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=server_env(checkpoints, data), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_healthy(url, proc)
    except Exception:
        stop_server(proc)
        raise
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate by PID, then kill if it does not go within 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_available(chromium_browser: object) -> str:
    """Chromium's path, once the shared browser started (``tests/conftest.py`` skips, or fails
    under VAE_REQUIRE_BROWSER=1, when it or Playwright is missing)."""
    return chromium_path()


@pytest.fixture(scope="session")
def app_server(browser_available: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``streamlit run app.py`` for the whole session; yields its address."""
    root = tmp_path_factory.mktemp("e2e_app")
    checkpoints = root / "checkpoints"
    log = root / "streamlit.log"
    notes = prepare_checkpoints(checkpoints)
    log.write_text("".join(f"[e2e fixture] {n}\n" for n in notes))
    proc, url = start_server(checkpoints, log, find_shared_data())
    server = Server(url=url, pid=proc.pid, log=log, checkpoints=checkpoints)
    yield server
    stop_server(proc)


# --------------------------------------------------------------------------- the browser


class RunTracker:
    """Script runs seen on a page's Streamlit websocket (``ForwardMsg`` frames decoded with
    Streamlit's own protobuf classes). The DOM's ``data-test-script-state`` cannot tell "my
    rerun finished" from "my rerun has not started yet", and a quick run may never show
    "running" in the DOM at all (React batches the two updates)."""

    def __init__(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self.started = 0  # new_session: a run (full or fragment) began
        self.finished = 0  # script_finished, not the "stopped early for a rerun" kind
        self.fragment_finished = 0

    def attach(self, page) -> None:  # noqa: ANN001
        def on_ws(ws) -> None:  # noqa: ANN001
            if "/_stcore/stream" in ws.url:
                ws.on("framereceived", self._frame)

        page.on("websocket", on_ws)

    def _frame(self, payload: str | bytes) -> None:
        if not isinstance(payload, bytes):
            return
        msg = self._msg.FromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.started += 1
        elif kind == "script_finished":
            status = msg.script_finished
            if status == self._msg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.fragment_finished += 1
            elif status != self._msg.FINISHED_EARLY_FOR_RERUN:
                self.finished += 1



@pytest.fixture(scope="session")
def browser(browser_available: str, chromium_browser: object) -> object:
    """The session's shared Chromium (see ``tests/conftest.py``)."""
    return chromium_browser


@pytest.fixture
def page(browser, app_server: Server, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context (so a fresh Streamlit session) on the app's home page, idle.
    On failure the test's last view is saved as ``screenshots/FAILED-<test>.png`` and the
    server log tail is printed."""
    blocked: list[str] = []
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    context.route(OFF_LOOPBACK, lambda route: (blocked.append(route.request.url), route.abort()))
    pg = context.new_page()
    pg.vae_runs = RunTracker()
    pg.vae_runs.attach(pg)
    pg.vae_blocked = blocked
    pg.goto(app_server.url + "/")
    wait_rerun(pg, 0)
    pg.wait_for_selector(NAV_LINK)
    yield pg
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        with contextlib.suppress(Exception):
            screenshot(pg, f"FAILED-{request.node.name}")
        print(f"\n--- streamlit log tail ---\n{app_server.log_tail()}")
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep
    return rep


# --------------------------------------------------------------------------- helpers


def wait_idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Until the app reports no script running."""
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def runs(page) -> int:
    """Full script runs this page has finished so far (see ``RunTracker``)."""
    return page.vae_runs.finished


def started(page) -> int:
    """Script runs (full or fragment) the server has started for this page so far."""
    return page.vae_runs.started


def wait_rerun(page, before: int, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Until a full run finished after ``before = runs(page)``, and the app shows idle."""
    deadline = time.monotonic() + timeout_ms / 1000
    while page.vae_runs.finished <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no script run finished within {timeout_ms / 1000:.0f} s")
        page.wait_for_timeout(20)  # lets Playwright deliver the websocket events
    wait_idle(page, timeout_ms)


def act(page, action: Callable[[], object], timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Do ``action`` (a click, an upload, a key press) and wait for the rerun it causes."""
    before = runs(page)
    action()
    wait_rerun(page, before, timeout_ms)


def errors_on(page) -> list[str]:
    """Texts of the error elements on the page (exceptions and st.error boxes)."""
    out = []
    for sel in ERROR_SELECTORS:
        out += page.locator(sel).all_inner_texts()
    return out


def assert_no_error(page, where: str = "") -> None:
    errs = errors_on(page)
    assert not errs, f"error element(s) on {where or page.url}: {errs}"


def open_page(page, title: str) -> None:
    """Click the sidebar navigation link labelled ``title`` and wait for the page's run."""
    link = page.locator(f'{NAV_LINK}:has(span[label="{title}"])')
    act(page, link.click)


def nav_titles(page) -> list[str]:
    return [
        e.get_attribute("label")
        for e in page.locator(f"{NAV_LINK} span[label]").element_handles()
    ]


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def canvas_pixels(handle) -> list[int]:
    """RGBA bytes of a <canvas> element handle (works inside the component's shadow root)."""
    return handle.evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
    )


def image_sources(page, scope: str = "[data-testid=stMain]") -> list[str]:
    """``src`` of every loaded <img> in ``scope`` (Streamlit media URLs or data: URLs)."""
    return page.eval_on_selector_all(
        f"{scope} [data-testid=stImage] img, {scope} [data-testid=stImageContainer] img",
        "els => els.filter(e => e.complete && e.naturalWidth > 0).map(e => e.src)",
    )
