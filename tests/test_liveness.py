"""pages/_lib/liveness.py: background work asks whether its browser session still exists.

Streamlit keeps a disconnected session for ``server.disconnectedSessionTTL`` seconds; the check
must say True while the tab is connected, stay True through a reconnect within that grace
period, and say False once the session has been gone for longer. Streamlit's runtime, the
script context and the clock are replaced by stand-ins, so the test is exact and instant.
"""

from __future__ import annotations

import types

import streamlit.runtime
import streamlit.runtime.scriptrunner

from pages._lib import liveness


class _Runtime:
    def __init__(self) -> None:
        self.active: set[str] = {"s1"}

    def is_active_session(self, session_id: str) -> bool:
        return session_id in self.active


def test_the_tab_counts_as_open_until_the_grace_period_after_it_closed(monkeypatch):
    runtime, now = _Runtime(), [1000.0]
    fake = types.SimpleNamespace(exists=lambda: True, instance=lambda: runtime)
    monkeypatch.setattr(streamlit.runtime, "Runtime", fake)
    monkeypatch.setattr(streamlit.runtime.scriptrunner, "get_script_run_ctx", lambda: types.SimpleNamespace(session_id="s1"))
    monkeypatch.setattr(streamlit.config, "get_option", lambda key: 120 if key == "server.disconnectedSessionTTL" else None)
    monkeypatch.setattr(liveness.time, "monotonic", lambda: now[0])
    alive = liveness.tab_open_check()
    assert alive()
    runtime.active.clear()  # the tab closes (or the network drops)
    now[0] += 100
    assert alive()  # within the grace period: Streamlit still holds the session
    runtime.active.add("s1")  # the same browser reconnects
    now[0] += 100
    assert alive()
    runtime.active.clear()
    now[0] += 119
    assert alive()
    now[0] += 2  # 121 s after it was last seen connected
    assert not alive()


def test_outside_a_server_the_tab_is_always_open(monkeypatch):
    monkeypatch.setattr(streamlit.runtime.scriptrunner, "get_script_run_ctx", lambda: None)
    assert liveness.tab_open_check()()
