"""Latent map: where the test images land in latent space, and one of them through the model.

Each dot is the posterior mean m(x) of a test image. Click a dot (or type its number) to see
the image, its reconstruction and its whole posterior q(t|x) = N(m, diag(s^2)).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, models, testset
from vae.app import inference

PALETTE = display.PALETTE
METHODS = {"pca": "PCA (linear, fast)", "tsne": "t-SNE (non-linear, on a sample)"}
AXES = {"none": ("t₁", "t₂"), "pca": ("PC 1", "PC 2"), "tsne": ("t-SNE 1", "t-SNE 2")}
Q = 1.6449  # Phi^-1(0.95): the manifold grid spans the prior's 5%..95% quantiles


@st.cache_data(show_spinner="Projecting the latent means to 2-D (t-SNE takes a few seconds, once)…", max_entries=16)
def _project(key: str, method: str, _mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return inference.project_2d(_mu, method, seed=0)


@st.cache_data(show_spinner="Decoding the manifold…", max_entries=8)
def _manifold(key: str, _model, n: int) -> np.ndarray:
    images, _ = inference.manifold(_model, n=n)
    return images.reshape(-1, *images.shape[2:])


def _clicked(state, rows_by_trace: list[np.ndarray]) -> int | None:
    """The test index of the clicked point in the chart's selection state, if any."""
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in points or []:
        if p.get("customdata") is not None:
            cd = p["customdata"]
            return int(cd[0] if isinstance(cd, list | tuple) else cd)
        curve, i = p.get("curve_number"), p.get("point_index")
        if curve is not None and i is not None and curve < len(rows_by_trace):
            return int(rows_by_trace[curve][i])
    return None


st.title("Latent map")
cur = models.require_model()
split = testset.test_split(cur)
d = cur.config.latent_dim
n = len(split.labels)

method = "none"
if d > 2:
    method = st.radio(
        f"The latent space has {d} dimensions: project it to 2-D with",
        list(METHODS), format_func=METHODS.get, horizontal=True, key="map_method",
    )  # fmt: skip
xy, rows = _project(cur.key, method, split.mu)
st.caption(
    f"{len(rows):,} test images of **{display.text(cur.dataset)}**, each at its posterior mean m(x), coloured by "
    "label. Click a point, or pick one by number below, to look at it through the model."
    + (" t-SNE keeps neighbourhoods, not distances: far-apart clusters may be close in latent space." if method == "tsne" else "")
)

chart_key = f"map_chart:{cur.name}:{method}"
pick_key = f"map_pick:{cur.name}"
seen_key = f"map_clicked:{cur.name}:{method}"
st.session_state.setdefault(pick_key, 0)

# Traces, one per label, so the legend shows label names and toggles classes.
labels = split.labels[rows]
traces, rows_by_trace = [], []
for k, label_name in enumerate(split.label_names):
    mask = labels == k
    if not mask.any():
        continue
    idx = rows[mask]
    rows_by_trace.append(idx)
    traces.append(
        go.Scatter(
            x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=display.plot_text(label_name),
            marker={"size": 7 if n <= 1000 else 5, "color": PALETTE[k % len(PALETTE)], "opacity": 0.8},
            customdata=idx, text=[display.plot_text(label_name)] * len(idx),
            hovertemplate="<b>%{text}</b><br>test image #%{customdata}<extra></extra>",
            unselected={"marker": {"opacity": 0.8}},
        )
    )  # fmt: skip

# A click on the chart (a new one since the last run) wins over the number input.
clicked = _clicked(st.session_state.get(chart_key), rows_by_trace)
if clicked is not None and clicked != st.session_state.get(seen_key):
    st.session_state[seen_key] = clicked
    st.session_state[pick_key] = clicked
pick_col, _ = st.columns([1, 3])
sel = int(pick_col.number_input(f"…or pick test image # (0-{n - 1})", 0, n - 1, step=1, key=pick_key))

# The selected image through the model (the shared model is only read).
x = split.images[sel].astype(np.float32) / 255.0
rec = inference.reconstruct(cur.model, x, n_samples=8, seed=sel)

fig = go.Figure(traces)
where = np.flatnonzero(rows == sel)
# A plain autoencoder has no posterior spread (t = m): its encoder's variance is never trained.
has_posterior = cur.config.variant != "ae"
if d == 2 and has_posterior:
    # q(t|x) of the selected image: contours at 1 and 2 standard deviations.
    for k, dash in ((2, "dot"), (1, "solid")):
        ex, ey = display.ellipse(rec.mu, rec.std, k)
        fig.add_trace(go.Scatter(
            x=ex, y=ey, mode="lines", line={"color": "black", "width": 2, "dash": dash},
            name=f"q(t|x): {k} s.d.", hoverinfo="skip",
        ))  # fmt: skip
if d == 2:  # the region the manifold grid beside the map covers
    fig.add_shape(
        type="rect", x0=-Q, y0=-Q, x1=Q, y1=Q, line={"color": "#888", "dash": "dash", "width": 1},
        layer="below",
    )  # fmt: skip
if where.size:
    px_, py_ = xy[where[0]]
    fig.add_trace(go.Scatter(
        x=[px_], y=[py_], mode="markers", name=f"#{sel} ({display.plot_text(split.label_names[split.labels[sel]])})",
        marker={"symbol": "star", "size": 20, "color": "gold", "line": {"color": "black", "width": 1.5}},
        hoverinfo="skip",
    ))  # fmt: skip
x_title, y_title = AXES[method]
if d == 1:
    y_title = "(a 1-D latent: no second axis)"
fig.update_layout(
    height=620, margin={"l": 10, "r": 10, "t": 40, "b": 10}, clickmode="event+select",
    xaxis_title=x_title, yaxis_title=y_title, font_size=14, hoverlabel={"font_size": 15},
    legend={"itemsizing": "constant", "orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
)  # fmt: skip
if d == 2:
    fig.update_yaxes(scaleanchor="x", scaleratio=1)  # a circle in latent space looks round

if d == 2:
    map_col, grid_col = st.columns([3, 2], gap="medium")
else:
    map_col, grid_col = st.container(), None
with map_col:
    st.plotly_chart(fig, key=chart_key, on_select="rerun", selection_mode="points", config={"displayModeBar": False})
if grid_col is not None:
    with grid_col:
        st.markdown("**What the decoder draws across the latent plane**")
        # Tiny 8x8 digits read better on a coarser grid, with a thin line between tiles.
        small = max(cur.config.image_shape[1:]) <= 12
        n_grid = 10 if small else 15
        display.show_grid(_manifold(cur.key, cur.model, n_grid), ncols=n_grid, width="stretch", pad=int(small))
        st.caption(
            f"decode(t) on a {n_grid}x{n_grid} grid of t₁, t₂ from −1.64 to 1.64 (the prior's "
            "5%-95% quantiles): the dashed square on the map. Top right = large t₁ and t₂."
        )

st.subheader(f"Test image #{sel}: {display.text(split.label_names[split.labels[sel]])}", divider="gray")
c1, c2, c3, c4 = st.columns([1, 1, 2, 3], gap="medium")
with c1:
    display.show_grid(x[None], 1, "the image x", width="stretch")
with c2:
    display.show_grid(rec.recon[None], 1, "reconstruction decode(m)", width="stretch")
with c3:
    display.show_grid(rec.samples, ncols=4, caption="decode(t), t ~ q(t|x): 8 samples", width="stretch")
    st.caption(f"ELBO ≈ {rec.elbo:.1f} nats · KL(q ‖ p) = {rec.kl:.2f} nats")
    if not has_posterior:
        st.caption("A plain autoencoder: t = m exactly, so these samples use an untrained spread.")
with c4:
    dims = [display.t_name(i) for i in range(d)]
    bar = go.Figure(go.Bar(
        x=dims, y=rec.mu, error_y={"type": "data", "array": rec.std, "thickness": 1.5, "width": 4, "visible": has_posterior},
        marker_color="#4f46e5", name="m ± s", hovertemplate="%{x}: m = %{y:.2f}<extra></extra>",
    ))  # fmt: skip
    bar.add_hrect(y0=-1, y1=1, fillcolor="#f97316", opacity=0.12, line_width=0)
    bar.update_layout(
        height=240, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title={"text": "posterior q(t|x): mean m ± s.d. s per dimension (shaded: prior ±1)", "font_size": 13},
    )  # fmt: skip
    st.plotly_chart(bar, config={"displayModeBar": False}, key=f"map_posterior:{cur.name}")
    with st.expander("as a table"):
        st.dataframe(
            {"dimension": dims, "mean m": np.round(rec.mu, 3), "s.d. s": np.round(rec.std, 3)},
            hide_index=True,
        )
