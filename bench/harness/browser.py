"""Headless Chromium for the browser tests and the benchmarks: where it is, the flags it runs
with, a launcher, and what a page's Streamlit websocket says about script runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# The app is idle: no script running.
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

# Requests to anything but this machine (route these to abort: the app should make none).
OFF_LOOPBACK = re.compile(r"^(?!(?:https?|wss?)://(?:127\.0\.0\.1|localhost)(?::\d+)?/)[a-z]+://")


def chromium_path() -> str | None:
    """``/usr/bin/chromium`` if it exists, else ``chromium`` on PATH, else None."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def launch_chromium(playwright: Any, executable: str | None = None) -> Any:
    """``playwright.chromium.launch`` headless with ``CHROMIUM_ARGS``, on ``executable``
    (default: ``chromium_path()``). Works with the sync and the async Playwright API (the
    async one returns the awaitable)."""
    return playwright.chromium.launch(
        executable_path=executable or chromium_path(), args=CHROMIUM_ARGS
    )


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
