"""Links that open a view (issue 17): what a teacher wants to share lives in the URL, and a
"Link to this view" popover in the sidebar shows that URL with a copy button.

Two kinds of query parameters:

- **Widget-bound** ones (``bind="query-params"`` on a widget, Streamlit 1.67): the lecture
  pages' seeds and test image numbers. Streamlit writes them when the widget changes and sets
  the widget from the URL when a link is opened; this module only copies them into the link.
- **This module's own** (``OWN``), for state that is not one widget: ``model`` (the sidebar
  picker's model name), ``z`` (the sliders' latent vector, comma-separated), ``pin`` (the 2-D
  plane's pinned latent), ``axes`` (the plane's two dimensions), ``img`` (the test image
  number on the sliders page). Pages ``publish`` them on every run; a link opened in a new
  session is read once, on its first run (``open_link``), and each page ``take``s its part.

The page is the URL's path (``/sliders``, ``/plane``, ...).
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from typing import Any

import streamlit as st

from pages._lib import models

OWN = ("model", "z", "pin", "axes", "img")
VIEW = OWN[1:]  # the page's part: dropped from the URL when the page changes
LATENT_LIMIT = 10.0  # |t_i| above this in a link is no latent a page can show: refused
_OPENED = "share:opened"  # the session's first run has read the URL
_INCOMING = "share:incoming"  # {"path": url path, param: value} of the link, until taken
_PATH = "share:path"  # the url_path of the page this run shows
_SLOT = "share:slot"  # the sidebar container holding the link


def open_link(page_url_path: str) -> None:
    """app.py, before the model picker, every run. On the session's first run: select the
    link's ``model`` (if this server has it) and keep the rest for the page (``take``). When
    the page changed since the last run, drop the previous page's parameters."""
    ss = st.session_state
    qp = st.query_params
    ss.pop(_SLOT, None)  # drawn again by sidebar_link in this run
    if ss.get(_PATH) != page_url_path:
        for k in VIEW:
            if k in qp and _OPENED in ss:
                del qp[k]
    ss[_PATH] = page_url_path
    if _OPENED in ss:
        return
    ss[_OPENED] = True
    name = qp.get("model")
    if name:
        if name in {e.name for e in models.model_entries() if e.ok}:
            models.select_model(name)
        else:
            st.toast(f"The link's model {name!r} is not on this server; showing the default one.")
    receive(page_url_path, qp.to_dict())


def receive(path: str, params: Mapping[str, str]) -> None:
    """A view to show on the page at ``path`` (an opened link, or the teacher's view for a
    follower, ``pages/_lib/follow.py``): the page ``take``s it on its next run."""
    st.session_state[_INCOMING] = {"path": path, **{k: params[k] for k in OWN if k in params}}


def take(cur: models.Current) -> dict[str, Any]:
    """The opened link's parameters for the page now shown, parsed and checked against
    ``cur``, once (later runs get ``{}``): ``z``/``pin`` ``(D,)`` float lists, ``axes`` two
    distinct dims, ``img`` an int >= 0. Anything malformed is left out."""
    ss = st.session_state
    inc = ss.get(_INCOMING)
    if not inc or inc.get("path") != ss.get(_PATH):
        return {}
    del ss[_INCOMING]
    if inc.get("model", cur.name) != cur.name:
        return {}  # the link's model is not on this server: its latent means nothing here
    d = cur.config.latent_dim
    out: dict[str, Any] = {}
    for k in ("z", "pin"):
        v = latent_from_text(inc.get(k, ""), d)
        if v is not None:
            out[k] = v
    axes = ints_from_text(inc.get("axes", ""))
    if axes is not None and len(axes) == 2 and axes[0] != axes[1] and all(a < d for a in axes):
        out["axes"] = axes
    img = ints_from_text(inc.get("img", ""))
    if img is not None and len(img) == 1:
        out["img"] = img[0]
    return out


def latent_from_text(text: str, d: int) -> list[float] | None:
    """``"0.1,-2,..."`` -> ``d`` finite floats within ±LATENT_LIMIT, else None."""
    try:
        v = [float(p) for p in text.split(",")] if text else []
    except ValueError:
        return None
    ok = len(v) == d and all(math.isfinite(x) and abs(x) <= LATENT_LIMIT for x in v)
    return v if ok else None


def ints_from_text(text: str) -> list[int] | None:
    """``"3,7"`` -> ``[3, 7]`` (non-negative, at most 6 digits each), else None."""
    parts = text.split(",") if text else []
    if not parts or not all(p.isdigit() and len(p) <= 6 for p in parts):
        return None
    return [int(p) for p in parts]


def latent_text(z: Any) -> str:
    """A latent as the link writes it: 4 decimals (far below what a slider step shows)."""
    return ",".join(_number(float(v)) for v in z)


def _number(v: float) -> str:
    text = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def publish(cur: models.Current | None, **view: Any) -> None:
    """Put ``model`` and this page's ``view`` (``z``, ``pin``: latents; ``axes``: two dims;
    ``img``: an int; None leaves one out) in the URL, then redraw the sidebar link. Only
    changed values are sent (each assignment is a message to the browser)."""
    want: dict[str, str] = {}
    if cur is not None:
        want["model"] = cur.name
    for k, v in view.items():
        if k not in VIEW:
            raise ValueError(f"share.publish: unknown view parameter {k!r}")
        if v is None:
            continue
        if k in ("z", "pin"):
            want[k] = latent_text(v)
        elif k == "axes":
            want[k] = ",".join(str(int(a)) for a in v)
        else:
            want[k] = str(int(v))
    qp = st.query_params
    for k in OWN:
        if k in want and qp.get(k) != want[k]:
            qp[k] = want[k]
        elif k not in want and k in qp and (k == "model" or k in view):
            del qp[k]
    _draw_link()


def link_url(base_url: str, path: str, params: Mapping[str, str]) -> str:
    """``scheme://host[:port]`` of ``base_url`` + ``/path`` + the query string."""
    parts = urllib.parse.urlsplit(base_url)
    query = urllib.parse.urlencode(dict(params), safe=",:")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + path.lstrip("/"), query, ""))


def sidebar_link() -> None:
    """app.py, every run, after the model picker: the sidebar slot for the link, drawn now
    with what the URL holds and redrawn by each ``publish``."""
    st.session_state[_SLOT] = st.sidebar.empty()
    _draw_link()


def _draw_link() -> None:
    slot = st.session_state.get(_SLOT)
    if slot is None:
        return
    url = link_url(st.context.url or "http://localhost", st.session_state.get(_PATH, ""),
                   st.query_params.to_dict())  # fmt: skip
    with slot.container(), st.popover("Link to this view", icon=":material/link:", width="stretch"):
        st.caption(
            "Opening this link shows this page with the same model, test image and latent "
            "(and the lecture pages' seeds). Copy it with the icon at its right."
        )
        st.code(url, language=None, wrap_lines=True)
