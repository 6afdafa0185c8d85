"""A forged live-component state (issue 19, item 8): a 100,000-digit number or lists nested
100,000 deep, sent over the WebSocket instead of what the component sends. Streamlit's own JSON
parsing raises on both; the component treats the state as absent and draws afresh, and a
number too large for a float is refused as a latent instead of raising OverflowError."""

from __future__ import annotations

import pytest
from streamlit.components.v2.bidi_component.serialization import BidiComponentSerde

from pages._lib import live_decoder
from pages._lib.live import component

HUGE = '{"event": {"cmd": "x", "latent": [' + "9" * 100_000 + ", 0]}}"
DEEP = '{"event": {"latent": ' + "[" * 100_000 + "]" * 100_000 + "}}"


@pytest.mark.parametrize("forged", [HUGE, DEEP], ids=["huge-number", "deep-nesting"])
def test_streamlit_cannot_parse_the_forged_states(forged):
    """The source of the crash: control for the tests below."""
    with pytest.raises((ValueError, RecursionError)):
        BidiComponentSerde().deserialize(forged)


@pytest.mark.parametrize("error", [ValueError("Exceeds the limit (4300 digits)"), RecursionError()])
def test_an_unreadable_state_is_dropped_and_the_widget_drawn(monkeypatch, error):
    calls, state = [], {"vae:k": "forged"}

    def fake_component(**kw):
        calls.append(kw["key"])
        if len(calls) == 1:
            raise error
        return {"event": {"cmd": "c"}}

    class FakeState(dict):
        def get(self, key, default=None):
            if key in self:
                raise error
            return default

    monkeypatch.setattr(component, "_component", fake_component)
    monkeypatch.setattr(component.st, "session_state", FakeState(state))
    payload = {"format": "x", "id": "m", "weights_b64": ""}
    assert component.event("vae:k") == {}
    assert component.mount("vae:k", {"cmd": "c"}, payload, None) == {"cmd": "c"}
    assert calls == ["vae:k", "vae:k"] and "vae:k" not in component.st.session_state


def test_a_number_too_large_for_a_float_is_not_a_latent():
    assert not live_decoder._valid_latent([10**400, 0.0], 2)  # float() would overflow
    assert not live_decoder._valid_latent([True, 0.0], 2)
    assert live_decoder._valid_latent([1, -0.5], 2)
