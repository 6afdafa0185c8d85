"""An infinite mixture of Gaussians: generating new images from p(x) = ∫ p(x|t) p(t) dt.

Prior draws decoded (temperature, resample), where their codes sit among the test images,
and the decoded manifold of two latent dimensions with axes at the prior's quantiles.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, models, nearest, testset
from pages._lib import lecture_ui as ui
from vae.app import inference
from vae.data.display import tile_images, to_display

PAGE = "generation"
SEED_KEY = "gen:seed"
SIZES = (16, 36, 64)
MANIFOLD_PX = 560  # the manifold picture's side on screen, before Streamlit's own scaling


def _resample() -> None:
    st.session_state[SEED_KEY] = int(st.session_state.get(SEED_KEY, 0)) + 1


ui.header(
    "An infinite mixture of Gaussians: generation",
    "A VAE's model of images is p(x) = ∫ p(x|t) p(t) dt: pick a code t from the prior "
    "N(0, I), then draw the image from the decoder's distribution p(x|t). Every code is one "
    "component of a mixture with infinitely many components. To **generate**, we do exactly "
    "that: sample t, decode, and get an image nobody drew.",
    """
* Press **Resample** a few times: new digits every time. Ask: *where do these come from,
  since none of them is in the training set?*
* Lower the **temperature** to 0: every image becomes decode(0), the "average" digit. Raise
  it to 2: codes leave the region the encoder used, images get strange. Temperature 1 is the
  actual model.
* With a 2-D model, point at the map of codes: the prior's samples land among the test
  images' means, because the KL term pulled the encoder towards N(0, I).
* The manifold shows the whole mixture at once: each tile is the mean of one component.
  Axes are labelled in prior quantiles, so equal steps hold equal prior probability.
* Compare with **Autoencoder vs VAE**: the same recipe on a plain autoencoder fails.
""",
)

cur = models.require_model()
d = cur.config.latent_dim
ui.variant_note(cur, "the prior N(0, I) is not where its codes live: expect poor samples")
ui.suggest_2d(cur, "In 2-D the codes are drawn on the latent map and the manifold shows the whole model.", PAGE)

st.session_state.setdefault(SEED_KEY, 0)
c1, c2, c3, c4 = st.columns([2, 1.2, 1, 1.1], vertical_alignment="bottom")
temperature = float(c1.slider("temperature τ (t = τ ε)", 0.0, 2.0, 1.0, 0.05, key="gen:temperature"))
n = int(c2.select_slider("how many", SIZES, value=36, key="gen:n"))
seed = int(c3.number_input("seed", 0, 10**6, step=1, key=SEED_KEY, bind="query-params"))
c4.button("Resample", icon=":material/casino:", on_click=_resample, type="primary", width="stretch")

draws = ui.compute(inference.prior_draws, cur.key, cur.model, n, temperature=temperature, seed=seed,
                   spinner="Decoding prior samples…")  # fmt: skip

left, right = st.columns([1, 1.25], gap="large")
with left:
    st.latex(r"p(x) = \int p(x\mid t)\, p(t)\, dt,\qquad p(t) = \mathcal{N}(0, I)")
    # Two short lines: as one, the formula ran past the column's edge.
    st.latex(r"t_k = \tau\,\varepsilon_k,\quad \varepsilon_k \sim \mathcal{N}(0, I)")
    st.latex(r"x_k = \mathbb{E}[x \mid t_k] = \operatorname{decode}(t_k)")
    st.latex(rf"\tau = {temperature:.2f}:\quad t_1 = " + ui.vec_latex(draws.t[0]) + r",\quad t_2 = " + ui.vec_latex(draws.t[1]))
    lik = cur.config.likelihood
    st.markdown(
        "Each tile is the mean of one mixture component p(x|t_k). This model's decoder is "
        + ("**Gaussian**, exactly the lecture's mixture of Gaussians."
           if lik == "gaussian" else
           "**Bernoulli** (one coin per pixel), so its components are products of coins rather "
           "than Gaussians; the mixture idea is the same.")
    )  # fmt: skip
    if d == 2:
        split = testset.test_split(cur, stop=False)
        fig = go.Figure()
        if split is not None:
            ui.add_points(fig, split.mu, split.labels, split.label_names, opacity=0.25, size=4)
        for k, dash in ((2, "dot"), (1, "solid")):
            a = np.linspace(0, 2 * np.pi, 90)
            fig.add_trace(go.Scatter(
                x=k * np.cos(a), y=k * np.sin(a), mode="lines", name=f"prior {k}σ",
                line={"color": "#444", "dash": dash, "width": 2}, hoverinfo="skip",
            ))  # fmt: skip
        # Numbers only while they stay readable; the hover always says which tile it is.
        fig.add_trace(go.Scatter(
            x=draws.t[:, 0], y=draws.t[:, 1], mode="markers+text" if n <= 16 else "markers",
            name="the codes t_k", text=[str(i + 1) for i in range(len(draws.t))],
            textposition="top center", textfont={"size": 13},
            marker={"symbol": "star", "size": 13 if n <= 16 else 10, "color": "gold",
                    "line": {"color": "black", "width": 1}},
            hovertemplate="tile %{text}: t = (%{x:.2f}, %{y:.2f})<extra></extra>",
        ))  # fmt: skip
        fig.update_xaxes(range=[-3.5, 3.5], title="t<sub>1</sub>")
        fig.update_yaxes(range=[-3.5, 3.5], title="t<sub>2</sub>", scaleanchor="x", scaleratio=1)
        ui.classroom(fig, 470, title="where the codes come from" + (" (numbered as the tiles)" if n <= 16 else ""),
                     legend={"orientation": "h", "y": -0.18, "font": {"size": 13}})  # fmt: skip
        ui.plot(fig, key="gen:codes")
with right:
    cols = int(math.isqrt(n))
    ui.grid(draws.images, ncols=cols, caption=f"{n} new images: decode(τ ε), τ = {temperature:.2f}, seed {seed}")

if st.toggle("Is it copying? Show a tile's nearest training images", key="gen:nn"):
    if st.session_state.get("gen:nn_tile", 1) > n:
        st.session_state["gen:nn_tile"] = n
    tile = int(st.number_input(f"tile (1-{n}, counted row by row)", 1, n, 1, key="gen:nn_tile"))
    nearest.show_neighbours(cur, draws.images[tile - 1], draws.t[tile - 1], caption=f"tile {tile}")

st.subheader("The whole mixture at once: the decoded manifold", divider="gray")
if d < 2:
    st.info("This model has a 1-D latent space: there is no plane to draw.")
    st.stop()
m1, m2, m3, _ = st.columns([1.4, 1, 1, 1.6], vertical_alignment="bottom")
size = int(m1.slider("tiles per side", 8, 25, 15, key="gen:manifold_n"))
if d > 2:
    options = list(range(d))
    # Default axes: the two dimensions the model uses most (largest average KL on the test
    # set); an inactive one would decode the same image along its whole axis.
    order, kl = testset.dims_by_activity(testset.test_split(cur, stop=False), d)
    dim_x = int(m2.selectbox("horizontal: t", options, order[0], format_func=display.t_name, key="gen:dim_x"))
    dim_y = int(m3.selectbox("vertical: t", options, order[1], format_func=display.t_name, key="gen:dim_y"))
    if dim_x == dim_y:
        st.error("Pick two different dimensions.")
        st.stop()
    st.caption(
        f"The other {d - 2} dimensions are held at 0, the prior's centre. "
        + ("" if kl is None else
           f"{display.t_name(order[0])} and {display.t_name(order[1])} are the model's two most used "
           f"dimensions (average KL {kl[order[0]]:.2f} and {kl[order[1]]:.2f} nats on the test set).")
    )  # fmt: skip
else:
    dim_x, dim_y = 0, 1
tiles, coords = ui.compute(inference.manifold, cur.key, cur.model, n=size, dims=(dim_x, dim_y),
                           spinner="Decoding the manifold…")  # fmt: skip
h, w = tiles.shape[-2:]
factor = max(1, MANIFOLD_PX // (size * max(h, w)))
# One picture, upscaled with crisp pixels (nearest neighbour): the browser would blur it.
big = np.asarray(to_display(tile_images(tiles.reshape(-1, *tiles.shape[2:]), size, pad=0), factor))
fig = px.imshow(big, binary_string=True)
# Ticks at tile centres, labelled by the code and its prior quantile (equal probability steps).
quant = np.linspace(5, 95, size)
step = 1 if size <= 12 else 2
idx = list(range(0, size, step))
fig.update_xaxes(
    tickvals=[(j + 0.5) * w * factor for j in idx],
    ticktext=[f"{coords[j]:+.2f}<br>{quant[j]:.0f}%" for j in idx],
    title=f"{display.t_name(dim_x)}  (code, and its prior quantile)",
)  # fmt: skip
fig.update_yaxes(
    tickvals=[(i + 0.5) * h * factor for i in idx],
    ticktext=[f"{coords[size - 1 - i]:+.2f} ({quant[size - 1 - i]:.0f}%)" for i in idx],
    title=display.t_name(dim_y),
)  # fmt: skip
ui.classroom(fig, 720, margin={"l": 10, "r": 10, "t": 10, "b": 10})
fig.update_layout(font={"size": 13})
fig.update_traces(hoverinfo="skip", hovertemplate=None)
mc, mt = st.columns([2.2, 1], gap="large")
with mc:
    ui.plot(fig, key="gen:manifold")
with mt:
    st.latex(r"t_{ij} = \big(\Phi^{-1}(u_j),\ \Phi^{-1}(u_i)\big)")
    st.latex(r"u_j \in \{0.05, \dots, 0.95\}")
    st.markdown(
        f"Tile (row i, column j) decodes the code whose coordinates are the prior's "
        f"u-quantiles: {size} equally likely steps from 5% to 95% of N(0, 1) on each axis, "
        f"from **{coords[0]:+.2f}** to **{coords[-1]:+.2f}**."
    )
    st.markdown(
        "Because the steps are in probability, not in distance, every tile stands for about "
        "the same amount of prior mass: the picture is the mixture as the model samples it."
    )
