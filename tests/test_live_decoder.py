"""pages/_lib/live_decoder.py, the Python half of the live widgets, under Streamlit's AppTest.

The browser half is tested in test_live_decoder_browser.py; here the "browser" is simulated by
writing component state the way setStateValue("event", {...}) would (one value per user
action), and the data sent is read off the proto.
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import sent_points
from vae.app.export import FORMAT, export_decoder
from vae.core.model import VAE, VAEConfig

REPO_ROOT = str(Path(__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def payload() -> dict:
    torch.manual_seed(0)
    return export_decoder(VAE(VAEConfig(latent_dim=3, hidden=(8, 4)))).to_payload()


def sliders_app() -> None:
    import streamlit as st

    from pages._lib.live_decoder import latent_sliders

    ss = st.session_state
    ss["out"] = latent_sliders(
        ss["payload"],
        dims=ss.get("dims", [2, 0]),
        values=ss.get("values", [0.5, -0.5, 1.0]),
        nonce=ss.get("nonce", 0),
        key="sl",
        persist_to="kept",
    )


def plane_app() -> None:
    import streamlit as st

    from pages._lib.live_decoder import latent_plane

    ss = st.session_state
    ss["out"] = latent_plane(
        ss["payload"],
        points_xy=[[0.0, 1.0], [float("nan"), 0.0], [-1.5, 2.25]],
        point_labels=[3, 1, 7],
        label_colors={3: "#ff0000"},
        dims=(2, 1),
        base_latent=[0.1, 0.2, 0.3],
        extent=(-3, 3, -2, 2),
        nonce=ss.get("nonce", 0),
        key="pl",
    )


def _run(app, payload: dict, **state) -> tuple[AppTest, dict]:  # noqa: ANN001
    at = AppTest.from_function(app, default_timeout=20)
    at.session_state["payload"] = payload
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    return at, _sent(at)


def _sent(at: AppTest) -> dict:
    """The run's JSON data (fails if this run sent the weights: see ``_sent_weights``)."""
    (node,) = at.main.children.values()
    assert node.proto.WhichOneof("data") == "json", "this run sent bytes"
    return json.loads(node.proto.json)


def _sent_weights(at: AppTest) -> tuple[dict, bytes]:
    """A run that sent bytes: (its JSON data, the weights), read by the documented layout
    (magic, little-endian uint32 n, n bytes of JSON, weights)."""
    (node,) = at.main.children.values()
    assert node.proto.WhichOneof("data") == "bytes", "this run sent JSON only"
    raw = node.proto.bytes
    assert raw[:4] == b"VAEW"
    (n,) = struct.unpack("<I", raw[4:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _header(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "weights_b64"}


def test_sliders_first_run_sends_the_header_and_returns_values(payload: dict) -> None:
    at, sent = _run(sliders_app, payload)
    assert at.session_state["out"] == [0.5, -0.5, 1.0]
    assert at.session_state["kept"] == [0.5, -0.5, 1.0]
    assert sent["mode"] == "sliders" and sent["key"] == "sl"
    # Never the weights unasked: the browser may have them already (another tab, a reload).
    assert sent["model"] == _header(payload) and sent["served"] is None
    assert sent["dims"] == [2, 0] and sent["collapsed"] == [1]
    assert sent["values"] == [0.5, -0.5, 1.0]


def test_sliders_release_state_is_returned_and_weights_not_resent(payload: dict) -> None:
    at, sent = _run(sliders_app, payload)
    cmd = sent["cmd"]
    # What the browser reports on release: one "event" holding latent, cmd and model_id.
    release = {"action": "release", "latent": [1.0, 2.0, -3.0], "cmd": cmd}
    at.session_state["sl"] = {"event": {**release, "model_id": payload["id"]}}
    at.run()
    assert at.session_state["out"] == [1.0, 2.0, -3.0]
    assert at.session_state["kept"] == [1.0, 2.0, -3.0]
    resent = _sent(at)
    assert resent["model"] == _header(payload)
    assert resent["cmd"] == cmd  # same command: the browser keeps the user's values

    # A new command (button bumps the nonce) wins over the older release.
    at.session_state["nonce"] = 1
    at.session_state["values"] = [0.0, 0.0, 0.25]
    at.run()
    assert at.session_state["out"] == [0.0, 0.0, 0.25]
    assert _sent(at)["cmd"] != cmd

    # The browser lacks the weights (memory and IndexedDB missed): ONE event asks for them.
    # That run sends them, in binary; the values the event kept still count.
    at.session_state["nonce"] = 0
    at.session_state["values"] = [0.5, -0.5, 1.0]
    ask = {**release, "action": "weights", "need": payload["id"], "req": "r1", "model_id": None}
    at.session_state["sl"] = {"event": ask}
    at.run()
    data, weights = _sent_weights(at)
    assert weights == base64.b64decode(payload["weights_b64"])
    assert data["model"] == _header(payload) and data["served"] == "r1" and data["cmd"] == cmd
    assert at.session_state["out"] == [1.0, 2.0, -3.0]
    # Any later run (same request still in the state) sends JSON only, saying r1 was served.
    at.run()
    assert _sent(at)["served"] == "r1"
    # A new request is served again; a request for another model is not.
    at.session_state["sl"] = {"event": {**ask, "req": "r2"}}
    at.run()
    assert _sent_weights(at)[0]["served"] == "r2"
    at.session_state["sl"] = {"event": {**ask, "req": "r3", "need": "another-model"}}
    at.run()
    assert _sent(at)["served"] == "r2"


def test_bad_arguments_raise_before_rendering(payload: dict) -> None:
    from pages._lib.live_decoder import latent_plane, latent_sliders

    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        latent_sliders(payload, dims=[0, 3])
    with pytest.raises(ValueError, match="values must be 3"):
        latent_sliders(payload, values=[1.0])
    with pytest.raises(ValueError, match="labels"):
        latent_sliders(payload, labels=["a"])
    with pytest.raises(ValueError, match=FORMAT):
        latent_sliders({"format": "other"})
    with pytest.raises(ValueError, match="two dimensions"):
        latent_plane(payload, points_xy=[], dims=(0, 1, 2))
    with pytest.raises(ValueError, match="extent"):
        latent_plane(payload, points_xy=[], extent=(1, -1, 0, 1))
    with pytest.raises(ValueError, match="point_labels"):
        latent_plane(payload, points_xy=[[0, 0]], point_labels=[1, 2])


def test_plane_data_and_pin(payload: dict) -> None:
    at, sent = _run(plane_app, payload)
    assert at.session_state["out"] is None
    assert sent["mode"] == "plane" and sent["dims"] == [2, 1]
    xy, labels = sent_points(sent)
    assert xy.tolist() == [[0.0, 1.0], [-1.5, 2.25]]  # the NaN point dropped
    assert labels.tolist() == [3, 7]
    assert sent["label_colors"] == {"3": "#ff0000"}
    assert sent["extent"] == [-3.0, 3.0, -2.0, 2.0]
    assert sent["pinned_xy"] is None
    pin = {
        "action": "pin",
        "pinned": [0.1, -1.0, 0.5],
        "pinned_xy": [0.5, -1.0],
        "cmd": sent["cmd"],
    }
    at.session_state["pl"] = {"event": {**pin, "model_id": payload["id"]}}
    at.run()
    assert at.session_state["out"] == [0.1, -1.0, 0.5]
    again = _sent(at)
    assert again["pinned_xy"] == [0.5, -1.0]  # a remount shows the pin again
    assert again["model"] == _header(payload)
    at.session_state["nonce"] = 1  # "clear pin"
    at.run()
    assert at.session_state["out"] is None and _sent(at)["pinned_xy"] is None


def test_component_module_does_not_import_torch() -> None:
    code = (
        "import sys; import pages._lib.live_decoder as m; "
        "assert 'torch' not in sys.modules, 'torch imported'; print(m.COMPONENT_NAME)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
