"""Noise ε: the reparameterization trick, t = m + s ⊙ ε, with the live numbers of one image.

The encoder's Gaussian q(t|x) = N(m, diag(s²)) as numbers and (2-D latent) as ellipses on the
latent map; one draw of ε split into ε, s ⊙ ε and t; 16 draws decoded; a smooth walk of ε as
a plotly animation (client-side, so a class demo costs the server nothing per frame).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages._lib import lecture_ui as ui
from pages._lib import presenter
from vae.lecture.noise import noise_samples, noise_walk

SHOWN_DIMS = 12  # columns in the D > 2 chart: more are unreadable on a projector

PAGE = "noise"
N_SAMPLES = 16
N_FRAMES = 48  # one loop of the ε walk: 48 frames at 120 ms, about 6 s
SEED_KEY = "noise:seed"
ZERO_KEY = "noise:zero_std"
ANIMATE_KEY = "noise:animate"


def _resample() -> None:
    # New noise = the next seed, so any moment of a demo can be replayed by typing its seed.
    st.session_state[SEED_KEY] = int(st.session_state.get(SEED_KEY, 0)) + 1


ui.header(
    "Noise ε: the reparameterization trick",
    "The encoder does not output one code for an image but a Gaussian: a mean **m** and a "
    "spread **s** for every latent dimension. To draw a code we take standard noise "
    "ε ~ N(0, I), stretch it by s and shift it by m. All the randomness is in ε, so the path "
    "from m and s to the code is an ordinary function we can differentiate.",
    """
* Pick a test image (or **Random**). Point at the black ellipses on the map: that is
  q(t|x). The star is the code t = m + s ⊙ ε drawn with the current ε.
* Press **Resample ε** a few times: ε changes, m and s do not, and the star jumps around
  inside the ellipse. Ask: *which numbers in the table depend on the image, which on luck?*
* Look at the 16 decoded samples: a confident encoder (small s) gives 16 near-copies; pick
  an ambiguous digit to get a mix.
* Switch on **s = 0**: every t equals m, the 16 samples are identical. *That is a plain
  autoencoder.* Ask what the decoder then never has to cope with.
* **Animate ε** and press ▶: ε walks a circle, the star walks an ellipse, the image morphs.
  The seed box makes the demo repeatable: note the seed before class.
""",
)

cur, split = ui.lecture_model(
    PAGE,
    unfit="every sample below is the same code t = m",
    why_2d="In 2-D, q(t|x) is drawn as ellipses on the latent map and the star walks inside them.",
)
d = cur.config.latent_dim
pick = ui.pick_image(cur, split, page=PAGE)

st.session_state.setdefault(SEED_KEY, 0)
c1, c2, c3, _ = st.columns([1.0, 1.0, 1.4, 1.6], vertical_alignment="bottom")
seed = int(c1.number_input("noise seed", 0, 10**6, step=1, key=SEED_KEY, bind="query-params",
                           help="The same seed gives the same ε: a repeatable class demo."))  # fmt: skip
c2.button("Resample ε", icon=":material/casino:", on_click=_resample, type="primary", width="stretch")
zero_std = c3.toggle("s = 0 (plain autoencoder)", key=ZERO_KEY)

ns = ui.compute(
    noise_samples, cur.key, cur.model, pick.x, N_SAMPLES, seed=seed, zero_std=zero_std,
    spinner="Drawing ε and decoding…",
)  # fmt: skip
# The first of the 16 draws is "the" ε that the equation, table and star show.
m, s, eps, s_eps, t = ns.mu, ns.std, ns.eps[0], ns.scaled_eps[0], ns.t[0]

st.subheader(f"q(t | x) for {pick.title}", divider="gray")
left, right = st.columns([1.05, 1], gap="large")
with left:
    st.latex(r"q(t \mid x) = \mathcal{N}\big(m,\ \operatorname{diag}(s^2)\big)")
    st.latex(r"m = " + ui.vec_latex(m) + r",\qquad s = " + ui.vec_latex(s, "{:.3f}"))
    st.latex(r"t = g(\varepsilon, x, \phi) = m + s \odot \varepsilon,\qquad \varepsilon \sim \mathcal{N}(0, I)")
    st.latex(
        ui.vec_latex(t) + "=" + ui.vec_latex(m) + "+" + ui.vec_latex(s, "{:.3f}") + r"\odot"
        + ui.vec_latex(eps)
    )  # fmt: skip
    st.dataframe(
        {
            "dim": ui.dim_names(d), "m": m.round(3), "s": s.round(3), "ε": eps.round(3),
            "s ⊙ ε": s_eps.round(3) + 0.0, "t = m + s ⊙ ε": t.round(3),
        },
        # Scaled in presenter mode: its rows grow with the root font, and at 1.25 x the frame
        # sized for 16 px rows showed t₁ and half of t₂.
        hide_index=True, width="stretch", height=presenter.scaled(min(38 + 35 * d, 320)),
    )  # fmt: skip
with right:
    fig = go.Figure()
    zoom = d == 2 and st.segmented_control(
        "map view", ["zoom on q(t|x)", "whole map"], default="zoom on q(t|x)", key="noise:view",
        label_visibility="collapsed",
    ) != "whole map"  # fmt: skip
    if d == 2:
        ui.add_points(fig, split.mu, split.labels, split.label_names, opacity=0.35, size=5)
        ui.add_q_ellipses(fig, m, np.maximum(s, 1e-6))
        fig.add_trace(go.Scatter(
            x=ns.t[1:, 0], y=ns.t[1:, 1], mode="markers", name="other draws of t",
            marker={"size": 7, "color": "white", "line": {"color": "black", "width": 1}},
            hovertemplate="t = (%{x:.2f}, %{y:.2f})<extra></extra>",
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=[t[0]], y=[t[1]], mode="markers", name="t for this ε",
            marker={"symbol": "star", "size": 22, "color": "gold", "line": {"color": "black", "width": 1.5}},
            hovertemplate="t = (%{x:.2f}, %{y:.2f})<extra></extra>",
        ))  # fmt: skip
        if zoom:
            # A well-trained encoder is confident: s is often tiny next to the spread of the
            # codes, and the ellipses would vanish on the whole map.
            half = max(4.0 * float(s.max()), float(np.abs(ns.t - m).max()) * 1.15, 0.05)
            fig.update_xaxes(range=[m[0] - half, m[0] + half])
            fig.update_yaxes(range=[m[1] - half, m[1] + half])
        fig.update_xaxes(title="t<sub>1</sub>", zeroline=True)
        fig.update_yaxes(title="t<sub>2</sub>", scaleanchor="x", scaleratio=1)
        ui.classroom(fig, 520, title="zoomed on q(t|x)" if zoom else "the latent map: test images at their means",
                     legend={"orientation": "h", "y": -0.18, "font": {"size": 13}})  # fmt: skip
    else:
        # D > 2: each dimension as a column: q's mean ± 2 s as a bar, the draw as a star.
        # More than SHOWN_DIMS columns are unreadable on a projector: show the dimensions
        # this image uses most (largest KL(q || prior)); the rest sit near the prior.
        keep = np.arange(d)
        if d > SHOWN_DIMS:
            kl = 0.5 * (m**2 + s**2 - 1.0 - np.log(np.maximum(s, 1e-12) ** 2))
            keep = np.sort(np.argsort(-kl, kind="stable")[:SHOWN_DIMS])
        names = [ui.dim_names(d)[i] for i in keep]
        fig.add_trace(go.Scatter(
            x=names, y=m[keep], mode="markers", name="m ± 2s",
            marker={"symbol": "line-ew", "size": 22, "line": {"width": 3, "color": "black"}},
            error_y={"type": "data", "array": 2 * s[keep], "thickness": 6, "width": 0, "color": "rgba(79,70,229,0.35)"},
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=names, y=t[keep], mode="markers", name="t for this ε",
            marker={"symbol": "star", "size": 16, "color": "gold", "line": {"color": "black", "width": 1}},
        ))  # fmt: skip
        fig.add_hrect(y0=-2, y1=2, fillcolor=ui.ORANGE, opacity=0.08, line_width=0)
        title = f"{d} latent dimensions" if d <= SHOWN_DIMS else f"{SHOWN_DIMS} of {d} dimensions"
        ui.classroom(fig, 420, title=title, legend={"orientation": "h", "y": -0.15})
    ui.plot(fig, key="noise:map")
    if d > 2:
        hidden = (
            f" Shown: the {SHOWN_DIMS} this image uses most (largest KL from the prior); in the "
            f"other {d - SHOWN_DIMS}, q(t|x) is closer to N(0, 1). The table lists every dimension."
            if d > SHOWN_DIMS else ""
        )
        st.caption("Shaded: the prior's ±2." + hidden)

st.subheader("What the decoder makes of it", divider="gray")
cx, cm, ct, cg = st.columns([1, 1, 1, 2.6], gap="medium")
with cx:
    ui.image(pick.x, "the image x", width=150)
with cm:
    ui.image(ns.mean_image, "decode(m)", width=150)
with ct:
    ui.image(ns.images[0], "decode(t), this ε", width=150)
with cg:
    ui.grid(ns.images, ncols=8, caption=f"{N_SAMPLES} draws t ~ q(t|x), decoded (the first is the star)")
spread = float(np.mean(np.std(ns.images, axis=0)))
st.caption(
    f"Pixel spread across the {N_SAMPLES} decoded samples: **{spread:.3f}** "
    + ("(s = 0: all identical, the autoencoder's single answer)." if zero_std or not s.any()
       else "(0 would mean the noise changes nothing).")
)  # fmt: skip

st.subheader("Animate ε", divider="gray")
st.markdown(
    "ε walks a circle, ε_k = cos θ_k · a + sin θ_k · b with a, b ~ N(0, I), so every frame is "
    "still an exact draw from N(0, I) and neighbouring frames are close. The code follows, "
    "t_k = m + s ⊙ ε_k."
)
if st.toggle("Animate ε (then press ▶ under the plot)", key=ANIMATE_KEY):
    walk = ui.compute(
        noise_walk, cur.key, cur.model, pick.x, N_FRAMES, seed=seed, zero_std=zero_std,
        spinner="Decoding the walk…",
    )  # fmt: skip
    anim = make_subplots(
        rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.08,
        subplot_titles=("t = m + s ⊙ ε_k" + (" on the latent plane" if d == 2 else " per dimension"), "decode(t)"),
    )  # fmt: skip
    if d == 2:
        ui.add_q_ellipses(anim, walk.mu, np.maximum(walk.std, 1e-6), row=1, col=1)
        loop = np.vstack([walk.t, walk.t[:1]])
        anim.add_trace(go.Scatter(
            x=loop[:, 0], y=loop[:, 1], mode="lines", name="the walk of t",
            line={"color": ui.ACCENT, "width": 1.5, "dash": "dash"}, hoverinfo="skip",
        ), row=1, col=1)  # fmt: skip

        def moving(k: int) -> go.Scatter:
            return go.Scatter(
                x=[walk.t[k, 0]], y=[walk.t[k, 1]], mode="markers", name="t_k",
                marker={"symbol": "star", "size": 24, "color": "gold", "line": {"color": "black", "width": 1.5}},
            )  # fmt: skip

        # A square window scaled to q (s can be ~0.02 on a trained model).
        half = max(2.5 * float(walk.std.max()), 1.2 * float(np.abs(walk.t - walk.mu).max()), 0.05)
        anim.update_xaxes(range=[walk.mu[0] - half, walk.mu[0] + half], title="t<sub>1</sub>",
                          constrain="domain", row=1, col=1)  # fmt: skip
        anim.update_yaxes(range=[walk.mu[1] - half, walk.mu[1] + half], title="t<sub>2</sub>",
                          scaleanchor="x", scaleratio=1, constrain="domain", row=1, col=1)  # fmt: skip
    else:
        names = ui.dim_names(d)
        anim.add_trace(go.Scatter(
            x=names, y=walk.mu, mode="markers", name="m ± 2s",
            marker={"symbol": "line-ew", "size": 22, "line": {"width": 3, "color": "black"}},
            error_y={"type": "data", "array": 2 * walk.std, "thickness": 6, "width": 0, "color": "rgba(79,70,229,0.35)"},
        ), row=1, col=1)  # fmt: skip

        def moving(k: int) -> go.Scatter:
            return go.Scatter(
                x=names, y=walk.t[k], mode="markers", name="t_k",
                marker={"symbol": "star", "size": 16, "color": "gold", "line": {"color": "black", "width": 1}},
            )  # fmt: skip

        span = float(np.max(np.abs(walk.t))) + 0.5
        anim.update_yaxes(range=[-span, span], row=1, col=1)
    i_move = len(anim.data)
    anim.add_trace(moving(0), row=1, col=1)
    h, w = walk.images.shape[-2:]
    # The decoded image is a layout image on the second panel's axes (see ui.image_layer);
    # an invisible trace gives those axes their extent.
    anim.add_trace(go.Scatter(x=[0, w], y=[0, h], mode="markers", marker={"opacity": 0}, hoverinfo="skip"),
                   row=1, col=2)  # fmt: skip
    anim.update_yaxes(range=[h, 0], scaleanchor="x2", scaleratio=1, visible=False, row=1, col=2)
    anim.update_xaxes(range=[0, w], constrain="domain", visible=False, row=1, col=2)
    anim.update_layout(images=[ui.image_layer(walk.images[0])])
    anim.frames = [
        go.Frame(data=[moving(k)], traces=[i_move], layout={"images": [ui.image_layer(walk.images[k])]}, name=str(k))
        for k in range(N_FRAMES)
    ]
    play = {"frame": {"duration": 120, "redraw": True}, "transition": {"duration": 0}, "fromcurrent": True}
    anim.update_layout(
        updatemenus=[{
            "type": "buttons", "direction": "left", "x": 0.0, "y": -0.2, "xanchor": "left", "yanchor": "top",
            "buttons": [
                {"label": "▶ play", "method": "animate", "args": [None, play]},
                {"label": "❚❚ pause", "method": "animate",
                 "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]},
            ],
        }],
        sliders=[{
            "x": 0.22, "len": 0.78, "y": -0.16, "currentvalue": {"prefix": "frame k = "},
            "steps": [
                {"label": str(k), "method": "animate",
                 "args": [[str(k)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}]}
                for k in range(N_FRAMES)
            ],
        }],
    )  # fmt: skip
    ui.classroom(anim, 600, showlegend=False, margin={"l": 10, "r": 10, "t": 40, "b": 150})
    ui.plot(anim, key="noise:animation")
    if zero_std or not walk.std.any():
        st.caption("With s = 0 the star does not move and the image does not change: no noise reaches the decoder.")
