"""Interpolation: walk in latent space between the codes of two images, on a straight line
and on a great circle (slerp), as strips of decoded images, a slider along the path, and the
path drawn on the latent map (PCA of the test means when the latent space has > 2 dims).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import lecture_ui as ui
from pages._lib import presenter
from vae.app import inference
from vae.lecture.interpolation import interpolate

PAGE = "interpolation"
METHODS = {"linear": "straight line", "slerp": "great circle (slerp)"}
COLORS = {"linear": ui.ACCENT, "slerp": ui.ORANGE}
POS_KEY = "interp:pos"


@st.cache_data(show_spinner=False, max_entries=16)
def _projection(key: str, _mu: np.ndarray) -> inference.Projection2D:
    # Keyed by the model file: the test means only change with it.
    return inference.pca_projection(_mu)


ui.header(
    "Interpolation: walking between two images",
    "Encode two images, take the means of their codes, and walk from one to the other in "
    "latent space, decoding as you go. If the latent space is well organised, every step is a "
    "plausible image and the change is gradual. A straight line is the obvious path; a "
    "**great circle** (slerp) keeps the code's length steady, which matters in many "
    "dimensions where the prior's mass sits on a shell, not at the centre.",
    """
* Choose two images of **different** classes (say a 1 and a 0) and read the strip: where
  does the digit switch? Is every step a digit?
* Drag **position along the path**: the star walks on the map, the big images change.
  Ask: *which classes does the path cross on its way?*
* Compare the two strips. In 2-D they barely differ; with a model of 10+ dimensions, look
  at the plot of ‖t‖: the straight line sags towards the centre, where the prior has little
  mass, and its middle images get blurry.
* Use **your last upload** as one end (upload it first on *Your image*).
""",
)

cur, split = ui.lecture_model(
    PAGE,
    unfit="the space between its codes was never trained to decode well",
    why_2d="In 2-D the paths are drawn on the latent plane itself, not on a projection.",
)
d = cur.config.latent_dim
a = ui.pick_image(cur, split, page=PAGE, slot="a", label="From", default_index=0)
b = ui.pick_image(cur, split, page=PAGE, slot="b", label="To", default_index=min(1, len(split.labels) - 1))

c1, _ = st.columns([1.5, 3])
n_steps = int(c1.slider("steps along the path", 3, 20, 10, key="interp:steps"))
paths = {
    m: ui.compute(interpolate, cur.key, cur.model, a.x, b.x, n_steps, method=m, spinner="Decoding the path…")
    for m in METHODS
}  # fmt: skip
alphas = paths["linear"].alphas
t_a, t_b = paths["linear"].t[0], paths["linear"].t[-1]
norm_a, norm_b = float(np.linalg.norm(t_a)), float(np.linalg.norm(t_b))
cosang = float(np.dot(t_a, t_b) / max(norm_a * norm_b, 1e-12))
omega = float(np.degrees(np.arccos(np.clip(cosang, -1, 1))))

st.subheader(f"From {a.title} to {b.title}", divider="gray")
# Tiles as large as one row allows beside the sidebar at 1400 px (about 900 px of column; at
# 1150 px per row the default 10 steps wrapped 8 + 2), wrapping beyond ~16 steps.
# Presenter mode zooms fixed-width images by 1.25: ask for less so the row still fits (at
# 1400 px it wrapped 9 + 1).
tile = int(np.clip(880 // n_steps, 56, 112) / presenter.factor())
for m, label in METHODS.items():
    st.markdown(f"**{label}**")
    ui.strip(paths[m].images, [f"α={al:.2f}" for al in alphas], width=tile)

q1, q2 = st.columns(2, gap="large")
with q1:
    st.latex(r"\text{line:}\quad t(\alpha) = (1-\alpha)\, m_A + \alpha\, m_B")
    st.latex(
        r"m_A = " + ui.vec_latex(t_a) + r",\quad m_B = " + ui.vec_latex(t_b)
    )  # fmt: skip
with q2:
    st.latex(
        r"\begin{aligned}\text{slerp:}\quad t(\alpha) &= \big((1-\alpha)\|m_A\| + \alpha\|m_B\|\big)\, u(\alpha)\\"
        r"u(\alpha) &= \frac{\sin\!\big((1-\alpha)\Omega\big)\,\hat m_A + \sin(\alpha\Omega)\,\hat m_B}{\sin\Omega}\end{aligned}"
    )
    st.latex(rf"\|m_A\| = {norm_a:.2f},\quad \|m_B\| = {norm_b:.2f}")
    st.latex(rf"\Omega = \angle(m_A, m_B) = {omega:.0f}^\circ")

left, right = st.columns([1, 1.2], gap="large")
with left:
    # Clamp a remembered position when the number of steps shrinks.
    if int(st.session_state.get(POS_KEY, 0)) >= n_steps:
        st.session_state[POS_KEY] = n_steps - 1
    pos = int(st.select_slider(
        "position along the path", list(range(n_steps)), key=POS_KEY,
        format_func=lambda i: f"α = {alphas[i]:.2f}",
    ))  # fmt: skip
    big = st.columns(2)
    for col, m in zip(big, METHODS, strict=True):
        with col:
            ui.image(paths[m].images[pos], f"{METHODS[m]}, α = {alphas[pos]:.2f}", width=170)
    norms = {m: np.linalg.norm(paths[m].t, axis=1) for m in METHODS}
    nfig = go.Figure()
    for m in METHODS:
        nfig.add_trace(go.Scatter(
            x=alphas, y=norms[m], mode="lines+markers", name=METHODS[m],
            line={"color": COLORS[m], "width": 3},
        ))  # fmt: skip
    # A legend entry, not an annotation on the line: the annotation sat on top of the curves.
    nfig.add_trace(go.Scatter(
        x=[alphas[0], alphas[-1]], y=[float(np.sqrt(d))] * 2, mode="lines", hoverinfo="skip",
        line={"dash": "dot", "color": "#666"}, name=f"√D = {np.sqrt(d):.2f}: a typical prior code's length",
    ))  # fmt: skip
    nfig.add_vline(x=float(alphas[pos]), line={"color": "gold", "width": 3})
    nfig.update_xaxes(title="α")
    nfig.update_yaxes(title="‖t(α)‖", rangemode="tozero")
    ui.classroom(nfig, 300, legend={"orientation": "h", "y": -0.35})
    ui.plot(nfig, key="interp:norms")
with right:
    proj = _projection(cur.key, split.mu)
    xy = proj.apply(split.mu)
    fig = go.Figure()
    ui.add_points(fig, xy, split.labels, split.label_names, opacity=0.3, size=5)
    for m in METHODS:
        p2 = proj.apply(paths[m].t)
        fig.add_trace(go.Scatter(
            x=p2[:, 0], y=p2[:, 1], mode="lines+markers", name=METHODS[m],
            line={"color": COLORS[m], "width": 3}, marker={"size": 7},
            hovertemplate="α step %{pointNumber}<extra>" + METHODS[m] + "</extra>",
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=[p2[pos, 0]], y=[p2[pos, 1]], mode="markers", showlegend=False,
            marker={"symbol": "star", "size": 22, "color": "gold", "line": {"color": COLORS[m], "width": 2}},
            hoverinfo="skip",
        ))  # fmt: skip
    ends = proj.apply(np.stack([t_a, t_b]))
    fig.add_trace(go.Scatter(
        x=ends[:, 0], y=ends[:, 1], mode="markers+text", text=["A", "B"], textposition="top left",
        marker={"size": 16, "color": "black", "symbol": "circle-open", "line": {"width": 3}},
        textfont={"size": 20}, name="m_A, m_B", hoverinfo="skip",
    ))  # fmt: skip
    # Zoom on the paths with their neighbourhood: the classes they cross matter, the rest
    # of the test cloud would only make the paths small.
    pts = np.vstack([proj.apply(paths[m].t) for m in METHODS])
    lo, hi = pts.min(0), pts.max(0)
    pad = max(0.6 * float((hi - lo).max()), 0.75)
    fig.update_xaxes(range=[lo[0] - pad, hi[0] + pad])
    fig.update_yaxes(range=[lo[1] - pad, hi[1] + pad])
    if d == 2:
        fig.update_xaxes(title="t<sub>1</sub>")
        fig.update_yaxes(title="t<sub>2</sub>", scaleanchor="x", scaleratio=1)
        title = "the paths on the latent map"
    else:
        ex = proj.explained
        fig.update_xaxes(title=f"PC 1 ({ex[0]:.0%} of the variance)")
        fig.update_yaxes(title=f"PC 2 ({ex[1]:.0%})", scaleanchor="x", scaleratio=1)
        title = f"the paths, projected from {d}-D<br>onto the test means' first two principal axes"
    ui.classroom(fig, 620, title=title, legend={"orientation": "h", "y": -0.12},
                 margin={"l": 10, "r": 10, "t": 40 if d == 2 else 75, "b": 10})
    ui.plot(fig, key="interp:map")
    if d > 2:
        st.caption(
            "A projection: the straight line stays straight, but distances and the slerp's "
            "curve are flattened. Points that look close here may be far apart in latent space."
        )
