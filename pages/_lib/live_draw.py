"""The Draw page's live pad: the encoder and the decoder run in the browser while you draw.

One ``st.components.v2`` component shared with the live sliders and plane
(``pages/_lib/live/component.py``); the browser half is ``pages/_lib/live/view_draw.js`` (pad,
tools, panels) + ``draw_prep.js`` (the upload preprocessing redone in JS) + ``encoder.js``.
Nothing reaches Python while the pen moves; each finished stroke (pen lift), undo or clear is
ONE event, ``{"action": "lift", "x": C*H*W floats (the model input), "blank", "mu", "std",
"logvar" (D floats each), "recon", "kl" (nats, null when not computed), "n": a counter,
"model_id"}``; for a model without a browser export (``payload`` None) the event is
``{"action": "lift", "png": "data:image/png;base64,...", "n"}`` and the server encodes.

DOM hooks (in the component): ``[data-testid=vae-live-draw]`` (root; ``data-ready``,
``data-mode`` "draw" | "paint", ``data-last-ms``), ``canvas[data-testid=vae-draw-canvas]`` (the
pad), ``canvas[data-testid=vae-draw-input]`` (x), ``canvas[data-testid=vae-draw-recon]`` and
``[data-testid=vae-draw-samples]`` (``data-decode-count`` grows per paint),
``canvas[data-testid=vae-draw-posterior]`` (``data-mu``, ``data-std``: JSON arrays of the
current q(t|x)), ``[data-testid=vae-draw-elbo]`` (``data-elbo``), buttons
``vae-draw-pen|eraser|undo|clear``. ``window.__vaeDrawTimings``: ms from the oldest pointer
event not yet shown to the painted panels, one entry per animation frame of work.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pages._lib.live.component import check_payload, event, mount, wire_points

MAX_PNG_BYTES = 2_000_000  # a 280x280 pad is ~10 KB; anything far larger is not ours


@dataclass(frozen=True, eq=False)
class Drawing:
    """A finished drawing from the browser. ``x``: float32 ``(C, H, W)`` in [0, 1] (None when
    only ``png`` came, for the server to preprocess); ``mu``/``std``: float64 ``(D,)`` or None;
    ``recon``/``kl``: the browser's ELBO terms (nats) or None; ``n``: the browser's counter."""

    n: int
    x: np.ndarray | None = None
    png: bytes | None = None
    blank: bool = False
    mu: np.ndarray | None = None
    std: np.ndarray | None = None
    recon: float | None = None
    kl: float | None = None


def _plain(x: Any) -> bool:
    """A JSON number a browser would send: an int (checked before float(), which overflows
    on a huge one) or a finite float, within +-1e12."""
    if type(x) is int:
        return abs(x) < 10**12
    return type(x) is float and math.isfinite(x) and abs(x) < 1e12


def _numbers(v: Any, n: int) -> np.ndarray | None:
    """``n`` plain finite numbers as float64, else None (a forged or stale event)."""
    if not isinstance(v, list) or len(v) != n or not all(_plain(x) for x in v):
        return None
    return np.asarray(v, dtype=np.float64)


def _number(v: Any) -> float | None:
    return float(v) if _plain(v) else None


def parse_drawing(ev: Mapping[str, Any], image_shape: Sequence[int], d: int) -> Drawing | None:
    """The browser's lift event -> a ``Drawing``, or None when it is not one (or malformed)."""
    n = ev.get("n")
    if ev.get("action") != "lift" or type(n) is not int:
        return None
    png = ev.get("png")
    if isinstance(png, str) and png.startswith("data:image/png;base64,"):
        try:
            raw = base64.b64decode(png.split(",", 1)[1], validate=True)
        except ValueError:
            return None
        return Drawing(n=n, png=raw) if 0 < len(raw) <= MAX_PNG_BYTES else None
    c, h, w = (int(v) for v in image_shape)
    x = _numbers(ev.get("x"), c * h * w)
    mu, std = _numbers(ev.get("mu"), d), _numbers(ev.get("std"), d)
    if x is None or mu is None or std is None:
        return None
    x = np.clip(x, 0.0, 1.0).astype(np.float32).reshape(c, h, w)
    recon, kl = _number(ev.get("recon")), _number(ev.get("kl"))
    return Drawing(n=n, x=x, blank=ev.get("blank") is True, mu=mu, std=std, recon=recon, kl=kl)


def draw_pad(
    payload: Mapping[str, Any] | None,
    *,
    image_shape: Sequence[int],
    latent_dim: int,
    mode: str = "draw",
    style: str = "digit",
    points_xy: np.ndarray | None = None,
    point_labels: np.ndarray | None = None,
    label_colors: Sequence[str] = (),
    label_names: Sequence[str] = (),
    extent: Sequence[float] = (-3.0, 3.0, -3.0, 3.0),
    projection: tuple[np.ndarray, np.ndarray] | None = None,
    likelihood: str = "bernoulli",
    deterministic: bool = False,
    start: tuple[str, np.ndarray] | None = None,
    seed: int = 0,
    elbo_context: str | None = None,
    key: str = "vae_draw",
) -> Drawing | None:
    """Render the pad; returns the last finished drawing (or None before the first).

    ``payload``: ``export_payload(model, encoder=True)``, or None to encode on the server.
    ``mode``: ``"draw"`` (white ink on black, preprocessed as an upload of ``style``
    "digit"/"fashion") or ``"paint"`` (paint over a test image at the model's resolution).
    ``points_xy`` ``(N, 2)``: encoded test means in the plotted plane (the first two latent
    dims, or PCA coordinates with ``projection`` = ``(mean (D,), components (2, D))``);
    ``label_colors`` / ``label_names``: per label index, for the points and their legend.
    ``start``: ``(command id, image uint8 (C, H, W))``: a new id puts that image on the pad.
    ``seed``: the page's PRNG seed for the 8 samples' eps.
    """
    if payload is not None and check_payload(payload) != latent_dim:
        raise ValueError("payload latent_dim does not match latent_dim")
    if payload is not None and not payload.get("encoder"):
        raise ValueError("the draw pad needs a payload with the encoder (encoder=True)")
    if mode not in ("draw", "paint"):
        raise ValueError(f"mode must be 'draw' or 'paint', got {mode!r}")
    pts = np.zeros((0, 2)) if points_xy is None else np.asarray(points_xy, dtype=np.float64)
    data = {
        "mode": "draw",  # the view: main.js picks it by this name
        "pad": mode,
        "key": key,
        "style": style,
        "image_shape": [int(v) for v in image_shape],
        **wire_points(pts, point_labels),
        "label_colors": {str(i): c for i, c in enumerate(label_colors)},
        "label_names": [str(v) for v in label_names],
        "extent": [float(v) for v in extent],
        "projection": None
        if projection is None
        else {
            "mean": [float(v) for v in projection[0]],
            "components": np.asarray(projection[1]).tolist(),
        },
        "likelihood": likelihood,
        "deterministic": bool(deterministic),
        "start": None
        if start is None
        else {"cmd": start[0], "pixels": np.asarray(start[1], dtype=np.uint8).ravel().tolist()},
        "seed": int(seed),
        "elbo_context": elbo_context,
    }
    mount(key, data, payload, None)
    return parse_drawing(event(key), image_shape, latent_dim)
