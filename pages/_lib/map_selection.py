"""Box and lasso selections on the Latent map: which test images a selection holds (through
the chart's traces, so a t-SNE sample or a class hidden in the legend maps right), their images,
their count by label, their mean decoded, and saving two of them as groups A and B for the
Latent arithmetic page (``pages/_lib/groups.py``).

The page asks ``drag_mode`` which tool the user wants (the chart's mode bar is hidden), draws
``figure_for(...)`` with ``selection_mode=SELECTION_MODES`` and calls ``panel`` after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, groups
from pages._lib.models import Current
from pages._lib.testset import TestSplit
from vae.app import arithmetic, inference

SELECTION_MODES = ("points", "box", "lasso")
GRID_MAX = 64  # images shown from a selection (all of them are counted and averaged)
DRAG = {"zoom": "Zoom", "select": "Box select", "lasso": "Lasso select"}  # plotly dragmode -> label


def drag_mode(key: str) -> str:
    """What a drag on the map does (plotly's ``dragmode``), chosen by the user."""
    mode = st.segmented_control(
        "Drag on the map to", list(DRAG), format_func=DRAG.get, default="zoom", required=True, key=key,
        help="Box or lasso: every point inside is selected; its images, labels and mean appear below.",
    )  # fmt: skip
    return mode if mode in DRAG else "zoom"


@st.cache_resource(show_spinner=False, max_entries=16)
def _with_dragmode(fig_key: str, mode: str, _fig: go.Figure) -> go.Figure:
    # A copy (the map's figure is shared: never mutated), built once per figure and mode so
    # every run sends the same spec and the browser keeps the chart mounted. A region keeps its
    # points' class colours (the map's click style, big and black, would hide them) and fades
    # the rest.
    fig = go.Figure(_fig).update_layout(dragmode=mode)
    for trace in fig.data:
        if trace.customdata is not None:
            trace.selected = {"marker": {"opacity": 1}}
            trace.unselected = {"marker": {"opacity": 0.15}}
    return fig


def figure_for(fig: go.Figure, fig_key: str, mode: str) -> go.Figure:
    """``fig`` with ``mode`` as its drag tool (``fig`` itself for zoom, its default)."""
    return fig if mode == "zoom" else _with_dragmode(fig_key, mode, fig)


def _selection(state: Any) -> Mapping[str, Any]:
    try:
        sel = state["selection"]
    except (KeyError, TypeError, IndexError):
        return {}
    return sel if isinstance(sel, Mapping) else {}


def is_region(state: Any) -> bool:
    """True when the chart's selection came from the box or lasso tool (not a click)."""
    sel = _selection(state)
    return bool(sel.get("box") or sel.get("lasso"))


def selected_rows(state: Any, rows_by_trace: Sequence[np.ndarray]) -> np.ndarray:
    """Test-split rows of the selected points, sorted and unique. ``rows_by_trace[c][i]`` is the
    row of point ``i`` of trace ``c``; points of other traces (the star, contours) are ignored."""
    out = set()
    for p in _selection(state).get("points") or []:
        if not isinstance(p, Mapping):
            continue
        curve, i = p.get("curve_number"), p.get("point_index", p.get("point_number"))
        ok = type(curve) is int and type(i) is int and 0 <= curve < len(rows_by_trace)
        if ok and 0 <= i < len(rows_by_trace[curve]):
            out.add(int(rows_by_trace[curve][i]))
    return np.asarray(sorted(out), np.int64)


def panel(cur: Current, split: TestSplit, state: Any, rows_by_trace: Sequence[np.ndarray]) -> None:
    """The selection's images, counts by label and mean decoded, with the save buttons; a hint
    when nothing is selected with the box or lasso."""
    rows = selected_rows(state, rows_by_trace) if is_region(state) else np.empty(0, np.int64)
    saved = groups.saved(cur)
    if len(rows) == 0:
        st.caption(
            "**Select a region**: choose *Box select* or *Lasso select* above the map, then drag "
            "around some points to see them all, their mean decoded, and save them as a group "
            "for the **Latent arithmetic** page."
            + "".join(f" Saved group {k}: {len(v)} images." for k, v in sorted(saved.items()))
        )
        return
    st.subheader(f"Your selection: {len(rows):,} test images", divider="gray")
    c1, c2, c3 = st.columns([3, 1.3, 1.2], gap="medium")
    with c1:
        shown = rows[:GRID_MAX]
        display.show_grid(
            split.images[shown].astype(np.float32) / 255.0, ncols=8, width="stretch",
            caption=f"the first {len(shown)} of {len(rows)}" if len(rows) > len(shown) else None,
        )  # fmt: skip
    with c2:
        labels, counts = np.unique(split.labels[rows], return_counts=True)
        st.dataframe(
            {"label": [split.label_names[k] for k in labels], "images": counts},
            hide_index=True,
        )
    with c3:
        mean = arithmetic.group_mean(split.mu, rows)
        display.show_image(inference.decode(cur.model, mean[None])[0], "decode(mean of their m)", width=140)
        for name in groups.NAMES:
            st.button(
                f"Save as group {name}", key=f"map_save_{name}:{cur.name}", on_click=groups.save,
                args=(cur, name, rows.tolist()), width="stretch",
                help="Use it on the Latent arithmetic page: v = mean(m | B) − mean(m | A).",
            )  # fmt: skip
        st.caption("".join(f"Group {k}: {len(v)} images. " for k, v in sorted(saved.items())) or "No group saved yet.")
        st.page_link("pages/arithmetic.py", label="Latent arithmetic", icon=":material/calculate:")
