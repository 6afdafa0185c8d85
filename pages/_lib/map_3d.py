"""The Latent map in 3-D: a rotatable plotly scatter of the test images' means for 3-D models
(their own axes) and larger ones (first three principal components). Hover says the label and
the test image's number. Streamlit's chart selection (``on_select``) does not cover 3-D charts
(plotly's click, box and lasso selection events exist for 2-D traces only), so a point is
picked by its number, the page's number input: it becomes the gold star."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display
from pages._lib.testset import TestSplit
from vae.app import projection


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


def show(key: str, split: TestSplit, sel: int, chart_key: str) -> None:
    """The 3-D chart of ``split``'s means with test image ``sel`` starred, and what it shows."""
    d = split.mu.shape[1]
    xyz, explained = _xyz(key, split.mu)
    if explained is None:
        titles = tuple(display.t_name(i) for i in range(3))
        what = "The latent space is 3-D: these are the model's own axes, no projection."
    else:
        titles = ("PC 1", "PC 2", "PC 3")
        what = (
            f"**PCA to 3-D**: the three directions of largest spread of the {d}-D means, "
            f"{100 * explained.sum():.0f}% of their variance ({', '.join(f'{100 * e:.0f}%' for e in explained)})."
        )
    st.plotly_chart(figure(xyz, split, sel, titles), key=chart_key, config={"displayModeBar": False})
    st.caption(
        f"{what} Drag to rotate, scroll to zoom; hover a point for its label and number. "
        "Clicking cannot pick a point in 3-D (Streamlit's chart selection covers 2-D charts "
        "only): type a test image's number in the box below and it becomes the gold diamond."
    )
