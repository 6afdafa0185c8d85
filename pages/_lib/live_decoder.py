"""Live latent sliders and a live 2-D latent plane: the decoder runs in the browser.

Both widgets are one ``st.components.v2`` component (inline HTML/CSS/JS, no iframe, nothing
fetched). The page passes a decoder payload (``vae.app.export.DecoderExport.to_payload()``, plain
JSON-able data; this module never imports torch); the JS in ``pages/_lib/live/`` decodes it with
Float32Array loops on every ``input`` / ``pointermove`` event and paints the canvas in the same
task. Python hears only about the *released* value, so one gesture = one rerun.

Public API
----------
``latent_sliders(payload, *, dims, values, ...) -> list[float]``
    One range input per latent dimension; returns the current full latent ``(D,)`` as floats.
``latent_plane(payload, *, points_xy, point_labels, label_colors, ...) -> list[float] | None``
    Encoded points + prior contours; hover decodes, click pins; returns the pinned ``(D,)``.

Commands from Python: ``values`` (sliders) / ``pinned`` reset (plane) are applied in the
browser only when ``(nonce, values)`` changes, so the user's drag state survives reruns. Bump
``nonce`` for every button click ("sample from the prior", "reset to the mean of image 7").

Component state (``st.session_state[key]["event"]``; prefer the return value)
-----------------------------------------------------------------------------
The browser reports each user action as ONE state value, ``event``: every ``setStateValue``
call is a rerun of its own, so separate keys would let a rerun see half an action (a pin
without the command it answers, which hid the pin). sliders: ``{"action": "release", "latent":
(D,) floats at the release, "cmd": the command id they refer to, "model_id": the payload id the
browser holds}``. plane: ``{"action": "pin", "pinned": (D,) floats, "pinned_xy": [x, y] in the
plotted dims, "cmd", "model_id"}``. ``{"action": "weights", "need": id, "req": token, ...}``
(the other fields of the view's last action kept, if it made one) asks for the weights; it does
not call ``on_change``. The return values already combine the event and the latest command. Widget
state is dropped when the widget is not rendered (other pages): pass ``persist_to="some_key"``
to copy the result into plain session state.

Bandwidth: every run sends the payload's header (a few KB), never its weights; a browser gets
the weights once (2 or 4 bytes per decoder parameter, binary) and keeps them in IndexedDB for
every page, tab and reload: see ``pages/_lib/live/component.py``.

DOM hooks (inside the component's open shadow root; Playwright locators pierce it)
--------------------------------------------------------------------------------
Common: root ``[data-testid=vae-live-sliders]`` / ``[data-testid=vae-live-plane]`` with
``data-key`` (the Python ``key``), ``data-ready="true"`` once the model is compiled and painted,
``data-model-id``, ``data-last-ms`` (last event -> painted time); ``[data-testid=vae-live-status]``.
Sliders: ``canvas[data-testid=vae-live-canvas]`` (native C x H x W pixels, CSS-upscaled;
``data-decode-count`` increments per paint); ``input[data-testid=vae-slider][data-dim=d]``;
``output[data-testid=vae-slider-value][data-dim=d]`` (``data-value`` raw number);
``details[data-testid=vae-collapsed-dims]``; ``[data-testid=vae-latent-vector]`` (``data-latent``
JSON of the full t). Plane: ``canvas[data-testid=vae-plane-canvas]`` (``data-extent`` JSON
[xmin, xmax, ymin, ymax] spans the whole canvas box, y up; ``data-dims``; focusable: arrows
move, Enter pins); ``canvas[data-testid=vae-plane-decoded]``; ``[data-testid=vae-plane-coords]``
(``data-latent`` JSON of t under the pointer); ``[data-testid=vae-plane-pinned]``
(``data-pinned`` JSON [x, y]); ``[data-testid=vae-plane-legend]``.
Dimensions are 0-based in data and ``data-dim`` attributes, and shown 1-based as the lecture
writes them (t₁, t₂, …; ``tName`` in the JS, ``display.t_name`` in Python).
Window: ``window.__vaeTimings`` (number[] ms, input event -> canvas painted, last 5000),
``window.__vaeDecode(payload, z) -> Float32Array`` (C*H*W, CHW, sigmoid applied),
``window.__vaeBench(payload, z, n) -> {n, mean_ms, median_ms, max_ms}``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from pages._lib.live.component import COMPONENT_NAME, check_payload, event, mount, wire_points

__all__ = ["COMPONENT_NAME", "latent_plane", "latent_sliders"]


def _cmd_id(*parts: Any) -> str:
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=6).hexdigest()


def _dims(dims: Sequence[int], d: int, what: str) -> list[int]:
    out = [int(v) for v in dims]
    bad = [v for v in out if not 0 <= v < d]
    if bad:
        raise ValueError(f"{what}: dimensions {bad} outside [0, {d})")
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated dimensions in {out}")
    return out


def _vector(values: Sequence[float] | np.ndarray | None, d: int, what: str) -> list[float]:
    if values is None:
        return [0.0] * d
    out = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    if len(out) != d or not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what} must be {d} finite numbers, got {len(out)}")
    return out


def _valid_latent(v: Any, d: int) -> bool:
    """``d`` plain finite numbers (a huge int would overflow ``float()``: refused, not raised)."""
    return isinstance(v, list) and len(v) == d and all(_plain_number(x) for x in v)


def _plain_number(x: Any) -> bool:
    if type(x) is float:
        return math.isfinite(x)
    return type(x) is int and abs(x) <= 2**53


def latent_sliders(
    export_payload: Mapping[str, Any],
    *,
    dims: Sequence[int] | None = None,
    values: Sequence[float] | np.ndarray | None = None,
    collapsed_dims: Sequence[int] | None = None,
    labels: Sequence[str] | Mapping[int, str] | None = None,
    range_sd: float = 3.0,
    step: float = 0.01,
    nonce: int | str | None = None,
    title: str | None = None,
    image_px: int = 256,
    invert: bool = False,
    key: str = "vae_latent_sliders",
    persist_to: str | None = None,
    on_change: Callable[[], None] | None = None,
) -> list[float]:
    """Sliders over latent dimensions with the decoded image updating live while dragging.

    ``export_payload``: ``DecoderExport.to_payload()`` (cache it, e.g. ``st.cache_data``).
    ``dims``: dimensions shown as sliders, in display order (e.g. most active first); default
    all. ``collapsed_dims``: shown under a closed <details> (default: every dimension not in
    ``dims``). ``values``: the latent ``(D,)`` to show (default zeros), applied on first mount
    and whenever ``(nonce, values)`` changes. ``labels``: per-dimension label text indexed by
    dimension (sequence of length D or {dim: text}), default the lecture's ``t₁``, ``t₂``, ….
    ``range_sd``: slider bounds are ±range_sd (latent units = prior standard deviations).
    ``image_px``: target size of the image's longest side in CSS px (integer upscaling).
    ``invert``: draw 1 as black.

    Returns the latent ``(D,)`` the user released last, or ``values`` if a newer command
    (changed ``nonce``/``values``) came after that release. ``on_change`` runs (as a widget
    callback, before the rerun) when the user releases a slider.
    """
    d = check_payload(export_payload)
    shown = list(range(d)) if dims is None else _dims(dims, d, "dims")
    if collapsed_dims is None:
        collapsed = [i for i in range(d) if i not in set(shown)]
    else:
        collapsed = [i for i in _dims(collapsed_dims, d, "collapsed_dims") if i not in set(shown)]
    vals = _vector(values, d, "values")
    if labels is not None and not isinstance(labels, Mapping) and len(labels) != d:
        raise ValueError(f"labels must have one entry per dimension ({d}), got {len(labels)}")
    label_map = _str_map(labels)
    if not range_sd > 0 or not step > 0:
        raise ValueError("range_sd and step must be positive")
    cmd = _cmd_id("sliders", nonce, vals)
    data = {
        "mode": "sliders",
        "key": key,
        "dims": shown,
        "collapsed": collapsed,
        "labels": label_map,
        "values": vals,
        "cmd": cmd,
        "range_sd": float(range_sd),
        "step": float(step),
        "image_px": int(image_px),
        "invert": bool(invert),
        "title": title,
    }
    ev = mount(key, data, export_payload, on_change)
    latent = ev.get("latent")
    out = latent if ev.get("cmd") == cmd and _valid_latent(latent, d) else vals
    out = [float(v) for v in out]
    if persist_to:
        st.session_state[persist_to] = out
    return out


def _extent(extent: float | Sequence[float]) -> list[float]:
    if isinstance(extent, (int, float)):
        r = float(extent)
        ext = [-r, r, -r, r]
    else:
        ext = [float(v) for v in extent]
    if len(ext) != 4 or not (ext[0] < ext[1] and ext[2] < ext[3]):
        raise ValueError(f"extent must be r > 0 or (xmin, xmax, ymin, ymax), got {extent!r}")
    return ext


def _str_map(m: Sequence[str] | Mapping[int, str] | None) -> dict[str, str]:
    """Per-index texts (a sequence, or {index: text}) -> the JSON object the browser reads."""
    if m is None:
        return {}
    items = m.items() if isinstance(m, Mapping) else enumerate(m)
    return {str(int(k)): str(v) for k, v in items}


def latent_plane(
    export_payload: Mapping[str, Any],
    *,
    points_xy: Sequence[Sequence[float]] | np.ndarray,
    point_labels: Sequence[int] | np.ndarray | None = None,
    label_colors: Sequence[str] | Mapping[int, str] | None = None,
    label_names: Sequence[str] | Mapping[int, str] | None = None,
    dims: tuple[int, int] = (0, 1),
    base_latent: Sequence[float] | np.ndarray | None = None,
    extent: float | Sequence[float] = 3.0,
    nonce: int | str | None = None,
    pin_xy: Sequence[float] | None = None,
    plane_px: int = 420,
    image_px: int = 200,
    invert: bool = False,
    key: str = "vae_latent_plane",
    persist_to: str | None = None,
    on_change: Callable[[], None] | None = None,
) -> list[float] | None:
    """A 2-D slice of latent space: hover decodes live, click pins (and reports) a latent.

    ``points_xy``: ``(N, 2)`` encoded test points already projected onto ``dims`` (e.g. the
    means' coordinates); keep N to a few thousand (each point is ~16 bytes of JSON).
    ``point_labels``: ``(N,)`` integer labels; ``label_colors``: CSS colours indexed by label
    (sequence or {label: colour}; default a 10-colour palette); ``label_names`` for the legend.
    ``dims``: the two latent dimensions on the x and y axes. ``base_latent``: ``(D,)`` values of
    the other dimensions (default zeros). ``extent``: r for [-r, r]^2 or (xmin, xmax, ymin, ymax),
    in latent units; the dashed circles are the prior's 1 and 2 sigma contours. A changed
    ``nonce`` clears the pin. ``pin_xy``: ``[x, y]`` to pin from Python (a shared link); the
    user's later clicks replace it; keep passing the same value while it should hold.

    Returns the pinned latent ``(D,)`` (``base_latent`` with ``dims`` replaced), or None.
    """
    d = check_payload(export_payload)
    ax = _dims(dims, d, "dims")
    if len(ax) != 2:
        raise ValueError(f"dims must name two dimensions, got {dims!r}")
    points = wire_points(points_xy, point_labels)
    base = _vector(base_latent, d, "base_latent")
    ext = _extent(extent)
    pin = None if pin_xy is None else _vector(pin_xy, 2, "pin_xy")
    cmd = _cmd_id("plane", nonce) if pin is None else _cmd_id("plane", nonce, pin)
    before = event(key)
    pinned_xy = before.get("pinned_xy") if before.get("cmd") == cmd else pin
    data = {
        "mode": "plane",
        "key": key,
        **points,
        "label_colors": _str_map(label_colors),
        "label_names": _str_map(label_names),
        "dims": ax,
        "base_latent": base,
        "extent": ext,
        "cmd": cmd,
        "pinned_xy": pinned_xy if isinstance(pinned_xy, list) and len(pinned_xy) == 2 else None,
        "plane_px": int(plane_px),
        "image_px": int(image_px),
        "invert": bool(invert),
    }
    ev = mount(key, data, export_payload, on_change)
    pinned = ev.get("pinned")
    if ev.get("cmd") == cmd and _valid_latent(pinned, d):
        out = [float(v) for v in pinned]
    elif pin is not None:  # Python's pin until the browser reports one for this command
        out = list(base)
        out[ax[0]], out[ax[1]] = pin
    else:
        out = None
    if persist_to:
        st.session_state[persist_to] = out
    return out
