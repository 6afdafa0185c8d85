"""A live attribute slider: ``t = base + alpha * direction`` decoded in the browser while the
user drags alpha (latent arithmetic). The same component as ``live_decoder.py`` (view
``direction`` in ``pages/_lib/live/view_direction.js``); Python hears only the released alpha.

DOM hooks: root ``[data-testid=vae-live-direction]`` (``data-alpha``: the alpha painted last,
``data-ready``), ``canvas[data-testid=vae-live-canvas]`` (``data-decode-count``),
``input[data-testid=vae-alpha]``, ``output[data-testid=vae-alpha-value]``,
``[data-testid=vae-latent-vector]`` (``data-latent``: JSON of t).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pages._lib.live.component import check_payload, mount
from pages._lib.live_decoder import _cmd_id, _plain_number, _vector


def latent_direction(
    export_payload: Mapping[str, Any],
    *,
    base: Sequence[float] | np.ndarray,
    direction: Sequence[float] | np.ndarray,
    alpha: float = 0.0,
    alpha_range: float = 3.0,
    step: float = 0.05,
    nonce: int | str | None = None,
    title: str | None = None,
    image_px: int = 256,
    key: str = "vae_latent_direction",
) -> float:
    """Show decode(base + alpha * direction) with a live alpha slider; returns the released
    alpha (``alpha`` until the user releases the slider after the latest command). A change of
    ``base``, ``direction``, ``alpha`` or ``nonce`` is a new command: the slider jumps to ``alpha``."""
    d = check_payload(export_payload)
    b = _vector(base, d, "base")
    v = _vector(direction, d, "direction")
    if not (alpha_range > 0 and step > 0 and math.isfinite(alpha)):
        raise ValueError("alpha_range and step must be positive and alpha finite")
    cmd = _cmd_id("direction", nonce, b, v, float(alpha))
    data = {
        "mode": "direction",
        "key": key,
        "base": b,
        "direction": v,
        "alpha": float(alpha),
        "range": float(alpha_range),
        "step": float(step),
        "cmd": cmd,
        "title": title,
        "image_px": int(image_px),
        "invert": False,
    }
    ev = mount(key, data, export_payload, None)
    a = ev.get("alpha")
    if ev.get("cmd") == cmd and _plain_number(a):
        return float(max(-alpha_range, min(alpha_range, a)))
    return float(alpha)
