"""Whether this browser session still exists, asked from a background thread: work started
for one student (reading a zip of images) ends when nobody is left to see it.

Streamlit keeps a session whose tab was closed or whose connection dropped for
``server.disconnectedSessionTTL`` seconds (default 120), so that a reconnecting browser gets
it back; only after that grace period does the session count as gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def tab_open_check() -> Callable[[], bool]:
    """A thread-safe ``() -> bool`` for the session running this script: True while its tab
    is connected or was connected less than ``server.disconnectedSessionTTL`` seconds ago.
    Outside a server (AppTest, bare mode) it is always True."""
    from streamlit import config
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return lambda: True
    runtime, session_id = Runtime.instance(), ctx.session_id
    grace = float(config.get_option("server.disconnectedSessionTTL"))
    lock = threading.Lock()
    last_seen = time.monotonic()

    def alive() -> bool:
        nonlocal last_seen
        now = time.monotonic()
        with lock:
            if runtime.is_active_session(session_id):  # documented as safe from any thread
                last_seen = now
            return now - last_seen <= grace

    return alive
