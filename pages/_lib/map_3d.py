"""The Latent map in 3-D: a rotatable plotly scatter of the test images' means for 3-D models
(their own axes) and larger ones (first three principal components). Hover says the label and
the test image's number, and beside the chart the live component (view ``hover3d``,
``pages/_lib/live/view_hover3d.js``) paints the hovered point's decoded mean, decoded in the
browser (Plotly's hover labels cannot hold images). Streamlit's chart selection (``on_select``) does not cover 3-D charts
(plotly's click, box and lasso selection events exist for 2-D traces only), so a point is
picked by its number, the page's number input: it becomes the gold star."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, models
from pages._lib.live.component import check_payload, mount
from pages._lib.testset import TestSplit
from vae.app import projection

HOVER_PX = 160  # the hovered point's image


@st.cache_data(show_spinner=False, max_entries=8)
def _xyz(key: str, _mu: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    return projection.view_3d(_mu)


def offered(d: int) -> bool:
    return d >= 3


def figure(xyz: np.ndarray, split: TestSplit, sel: int, titles: tuple[str, str, str]) -> go.Figure:
    """One Scatter3d trace per label (legend toggles classes) and the gold star at ``sel``."""
    fig = go.Figure()
    n = len(split.labels)
    for k, name in enumerate(split.label_names):
        idx = np.flatnonzero(split.labels == k)
        if not len(idx):
            continue
        fig.add_trace(go.Scatter3d(
            x=xyz[idx, 0], y=xyz[idx, 1], z=xyz[idx, 2], mode="markers", name=display.plot_text(name),
            marker={"size": 3 if n > 1000 else 4, "color": display.PALETTE[k % len(display.PALETTE)], "opacity": 0.75},
            customdata=idx,
            hovertemplate=f"<b>{display.plot_text(name)}</b><br>test image #%{{customdata}}<extra></extra>",
        ))  # fmt: skip
    star = xyz[sel]
    fig.add_trace(go.Scatter3d(
        x=[star[0]], y=[star[1]], z=[star[2]], mode="markers",
        name=f"#{sel} ({display.plot_text(split.label_names[split.labels[sel]])})",
        marker={"symbol": "diamond", "size": 10, "color": "gold", "line": {"color": "black", "width": 2}},
        hoverinfo="skip",
    ))  # fmt: skip
    fig.update_layout(
        height=620, margin={"l": 0, "r": 0, "t": 40, "b": 0}, font_size=14,
        scene={"xaxis_title": titles[0], "yaxis_title": titles[1], "zaxis_title": titles[2], "aspectmode": "cube"},
        legend={"itemsizing": "constant", "orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
    )  # fmt: skip
    return fig


@st.cache_data(show_spinner=False, max_entries=8)
def _means_b64(key: str, _mu: np.ndarray) -> str:
    # float16: 2 bytes a number (a 5,000 x 32 split: 320 KB); its error (~1e-3 of a mean of
    # about 1) changes a decoded pixel by far less than one grey level in 255.
    return base64.b64encode(np.ascontiguousarray(_mu, dtype="<f2").tobytes()).decode("ascii")


def hover_data(key: str, mu: np.ndarray) -> dict:
    """The ``hover3d`` view's data: the means by test number when the chart's points are a
    projection of them (``mu (N, D)``, D > 3), none when the points are the means (D = 3)."""
    if mu.shape[1] == 3:
        return {"mode": "hover3d", "means": None, "means_id": None}
    return {"mode": "hover3d", "means": _means_b64(key, mu), "means_id": f"{key}:{mu.shape}"}


def _hover_image(cur: models.Current, split: TestSplit) -> None:
    """The hovered point's decoded mean, painted in the browser (or why not)."""
    payload, why = models.decoder_payload(cur)
    if payload is None:
        st.caption(f"Hovering cannot show images for this model: its decoder does not run in the browser ({why}).")
        return
    check_payload(payload)
    data = {**hover_data(cur.key, split.mu), "key": f"map_hover:{cur.name}", "image_px": HOVER_PX,
            "hint": "Hover a point on the chart: its decoded mean appears here."}  # fmt: skip
    mount(f"map_hover:{cur.name}", data, payload, None)


def show(cur: models.Current, split: TestSplit, sel: int, chart_key: str) -> None:
    """The 3-D chart of ``split``'s means with test image ``sel`` starred, what it shows, and
    beside it the hovered point's image."""
    d = split.mu.shape[1]
    xyz, explained = _xyz(cur.key, split.mu)
    if explained is None:
        titles = tuple(display.t_name(i) for i in range(3))
        what = "The latent space is 3-D: these are the model's own axes, no projection."
    else:
        titles = ("PC 1", "PC 2", "PC 3")
        what = (
            f"**PCA to 3-D**: the three directions of largest spread of the {d}-D means, "
            f"{100 * explained.sum():.0f}% of their variance ({', '.join(f'{100 * e:.0f}%' for e in explained)})."
        )
    chart_col, hover_col = st.columns([4, 1], gap="small")
    with chart_col:
        st.plotly_chart(figure(xyz, split, sel, titles), key=chart_key, config={"displayModeBar": False})
    with hover_col:
        _hover_image(cur, split)
    st.caption(
        f"{what} Drag to rotate, scroll to zoom; hover a point for its label, its number and "
        "(beside the chart) its decoded mean. "
        "Clicking cannot pick a point in 3-D (Streamlit's chart selection covers 2-D charts "
        "only): type a test image's number in the box below and it becomes the gold diamond."
    )
