"""The live component's Python half shared by every view: registering the component, reading
the browser's ``event``, and sending a model's weights to a browser once.

Weights once per browser
------------------------
Every run sends the view's data with ``model`` = the payload *header* (format, id, shapes,
dtype, layers: a few KB) and never the weights. The browser looks the id (a content hash) up
in this page's memory, then in IndexedDB (shared by every page, tab and reload of the origin).
Only when both miss does it ask, with ONE event ``{"action": "weights", "need": id, "req":
fresh token, ...the fields of its last action}``; the run that sees an unserved ``req`` sends
the data as bytes instead of JSON (``envelope``): ``WIRE_MAGIC``, a little-endian uint32 n,
n bytes of the JSON data, then the wire weights (``DecoderExport.wire_weights``: binary, not
base64). The browser compiles and stores them; no later run sends them again. Every run's data
also says which ``req`` was ``served`` last, so a browser whose weights run was replaced by a
newer run before it was shown can ask again (at most 3 times, see ui.js).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import streamlit as st

from pages._lib.live import WIRE_MAGIC, entry_js
from vae.app.export import FORMAT

COMPONENT_NAME = "vae_live_decoder"

_component = st.components.v2.component(COMPONENT_NAME, js=entry_js())


def check_payload(payload: Mapping[str, Any]) -> int:
    """Validate the parts of a payload this module relies on; returns the latent size D."""
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        raise ValueError(
            f"export_payload must be a {FORMAT} dict from "
            "vae.app.export.export_decoder(model).to_payload()"
        )
    if not payload.get("id") or "weights_b64" not in payload:
        raise ValueError("export_payload lacks 'id' or 'weights_b64'")
    return int(payload["latent_dim"])


def as_event(state: Any) -> Mapping[str, Any]:
    event = state.get("event") if isinstance(state, Mapping) else None
    return event if isinstance(event, Mapping) else {}


# What Streamlit's JSON parsing of a forged component state raises (issue 19): a 100,000-digit
# number (ValueError: int digits limit), 100,000-deep lists (RecursionError). A browser running
# the app never sends these; the page treats them as "no state yet" instead of crashing.
_UNREADABLE_STATE = (ValueError, RecursionError, OverflowError, TypeError)


def event(key: str) -> Mapping[str, Any]:
    """The browser's last ``event`` for this component ({} before the first one, or when the
    stored state cannot be read)."""
    try:
        return as_event(st.session_state.get(key))
    except _UNREADABLE_STATE:
        return {}


def _noop() -> None:
    """State keys need an ``on_<key>_change`` callback to be declared; this one does nothing."""


def _event_callback(key: str, on_change: Callable[[], None] | None) -> Callable[[], None]:
    """``on_event_change``: the user's ``on_change`` for user actions, not weight requests."""
    if on_change is None:
        return _noop

    def callback() -> None:
        if event(key).get("action") != "weights":
            on_change()

    return callback


def header(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload without its weights: what every run sends."""
    return {k: v for k, v in payload.items() if k != "weights_b64"}


def envelope(data: Mapping[str, Any], payload: Mapping[str, Any]) -> bytes:
    """``data`` (JSON-able) + the payload's wire weights as one binary component value."""
    text = json.dumps(data).encode("utf-8")
    weights = base64.b64decode(payload["weights_b64"])
    return WIRE_MAGIC + struct.pack("<I", len(text)) + text + weights


def wire_points(points_xy: Any, point_labels: Any = None) -> dict[str, Any]:
    """``(N, 2)`` points (+ ``(N,)`` integer labels) as a view's data: the finite points as
    base64 little-endian float32 ``[x0, y0, x1, ...]``, their labels as base64 int32 (or None),
    and a hash of both (the browser redraws its scatter when it changes; main.js decodes).

    A JSON list of 6,000 coordinates was ~70 KB per run and Streamlit encoded it twice per
    mount (~5 ms of a plane click's server time); one base64 string is 32 KB and encodes at once.
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    finite = np.isfinite(pts).all(axis=1)
    xy = np.ascontiguousarray(pts[finite], dtype="<f4").tobytes()
    labels = None
    if point_labels is not None:
        lab = np.asarray(point_labels).astype(np.int64).ravel()
        if lab.shape[0] != pts.shape[0]:
            raise ValueError(f"point_labels has {lab.shape[0]} entries for {pts.shape[0]} points")
        labels = np.ascontiguousarray(lab[finite], dtype="<i4").tobytes()
    digest = hashlib.blake2b(xy + b"|" + (labels or b""), digest_size=6).hexdigest()
    return {
        "points_xy": base64.b64encode(xy).decode("ascii"),
        "point_labels": None if labels is None else base64.b64encode(labels).decode("ascii"),
        "points_hash": digest,
    }


def _served_key(key: str) -> str:
    # Plain session state, not the widget's: it must survive the widget being unmounted.
    return f"vae_live_served:{key}"


def mount(
    key: str,
    data: Mapping[str, Any],
    payload: Mapping[str, Any] | None,
    on_change: Callable[[], None] | None,
) -> Mapping[str, Any]:
    """Render the component with ``data`` (+ the model header); returns the browser's event.

    The weights go along only on the run that answers a browser's unserved request.
    ``payload`` None (the draw view of an unexportable model): ``model`` is null.
    """
    ss = st.session_state
    ev = event(key)
    req = ev.get("req")
    send = (
        payload is not None
        and ev.get("action") == "weights"
        and ev.get("need") == payload["id"]
        and isinstance(req, str)
        and req != ss.get(_served_key(key))
    )
    if send:
        ss[_served_key(key)] = req
    model = header(payload) if payload is not None else None
    full = {**data, "model": model, "served": ss.get(_served_key(key))}
    value: Any = envelope(full, payload) if send and payload is not None else full
    try:
        result = _component(key=key, data=value, on_event_change=_event_callback(key, on_change))
    except _UNREADABLE_STATE:  # a forged state: drop it and draw the widget afresh
        if key in ss:
            del ss[key]
        result = _component(key=key, data=value, on_event_change=_event_callback(key, on_change))
    return as_event(result)
