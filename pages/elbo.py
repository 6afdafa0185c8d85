"""ELBO vs log-likelihood, the EM view: for one image, importance-sampled log p(x) for growing
k against the ELBO, the gap between them (KL(q(t|x) || p(t|x))), and, for a 2-D latent, the
exact posterior on a grid beside the Gaussian q the encoder proposes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages._lib import display, models, testset
from pages._lib import lecture_ui as ui
from vae.lecture.elbo import elbo_vs_logpx, focused_grid_posterior

PAGE = "elbo"
K_MAX_CHOICES = (100, 1000, 5000)
ALL_KS = (1, 3, 10, 30, 100, 300, 1000, 3000, 5000)


ui.header(
    "ELBO vs log p(x): the EM view",
    "We would like to maximise log p(x), but the integral over all codes is intractable. The "
    "**ELBO** is a lower bound we *can* compute, and the gap between the two is exactly how "
    "far the encoder's Gaussian q(t|x) is from the true posterior p(t|x). Below, log p(x) is "
    "estimated by importance sampling with more and more samples k, and climbs from the "
    "ELBO towards the true value.",
    """
* Pick an image and read the three numbers: ELBO, log p(x), and their difference, the
  KL between q and the true posterior. Ask: *why can the gap never be negative?*
* The curve: k = 1 is the ELBO again (on average); more samples lift the estimate and it
  levels off at log p(x). Tell the class this is how the bundled models' "log p(x)" figure
  was computed.
* With a **2-D** model the true posterior is drawn on a grid: put it beside q. Look for a
  digit whose posterior is skewed or has two bumps: the Gaussian q cannot follow, and the
  KL grows. Compare the grid's log p(x) with the importance-sampling one.
* Then explain EM: the E-step moves q towards the posterior (closing the gap), the M-step
  moves the decoder to raise the bound. A VAE does both with one gradient step.
""",
)

cur = models.require_model()
split = testset.test_split(cur)
d = cur.config.latent_dim
if cur.config.variant == "ae":
    st.warning(
        f"**{display.text(cur.name)}** is a plain autoencoder: its q(t|x) is a single point (s = 0), so the "
        "ELBO is −∞ and there is nothing to compare. Pick a VAE in the sidebar.",
        icon=":material/warning:",
    )
    st.stop()
ui.variant_note(cur, "its q(t|x) may be far from the posterior: expect a large gap")
ui.suggest_2d(cur, "In 2-D the true posterior p(t|x) is computed on a grid and drawn beside q(t|x).", PAGE)
pick = ui.pick_image(cur, split, page=PAGE)

c1, c2, c3, _ = st.columns([1.6, 1.6, 1, 1.4], vertical_alignment="bottom")
k_max = int(c1.select_slider("largest k (importance samples)", K_MAX_CHOICES, value=1000, key="elbo:kmax"))
repeats = int(c2.slider("repeats per k", 1, 10, 3, key="elbo:repeats",
                        help="Independent estimates averaged at each k; their spread gives the error bars."))  # fmt: skip
seed = int(c3.number_input("seed", 0, 10**6, 0, key="elbo:seed"))
ks = tuple(k for k in ALL_KS if k <= k_max)
res = ui.compute(
    elbo_vs_logpx, cur.key, cur.model, pick.x, ks, seed=seed, n_elbo=1000, repeats=repeats,
    spinner="Importance sampling…",
)  # fmt: skip
log_px, gap = float(res.log_px[-1]), float(res.posterior_kl)

st.subheader(f"The bound and the truth for {pick.title}", divider="gray")
# The identity is the page's point: a full-width row on two lines, so its KL term is never
# clipped or scrolled out of view, down to a phone's 390 px.
st.latex(
    r"\begin{aligned}\log p(x) &= \underbrace{\mathbb{E}_{q}\log p(x\mid t) - \mathrm{KL}\big(q(t\mid x)\,\|\,p(t)\big)}_{\text{ELBO}}"
    r"\\ &\quad + \underbrace{\mathrm{KL}\big(q(t\mid x)\,\|\,p(t\mid x)\big)}_{\text{gap}\ \ge\ 0}\end{aligned}"
)
st.latex(
    rf"{log_px:.2f} \approx \underbrace{{{res.recon:.2f} - {res.kl:.2f}}}_{{\text{{ELBO}} = {res.elbo:.2f}}} + {gap:.2f}"
)
st.caption("The same identity in numbers: nats, for this image.")
left, right = st.columns([1, 1.5], gap="large")
with left:
    st.latex(r"\log p(x) \approx \log \frac{1}{k}\sum_{j=1}^{k} \frac{p(x\mid t_j)\,p(t_j)}{q(t_j\mid x)}")
    st.latex(r"t_j \sim q(t\mid x)")
    # One metric per row: side by side in this column their labels were cut off.
    st.metric("ELBO", f"{res.elbo:.2f}", help=f"E_q log p(x|t) by 1000 samples (± {res.recon_se:.2f}) minus the exact KL to the prior.")
    st.metric(f"log p(x), k = {ks[-1]}", f"{log_px:.2f}")
    st.metric("gap ≈ KL(q ‖ p(t|x))", f"{gap:.2f}")
    st.caption("All in nats for this one image (summed over pixels). Higher is better.")
with right:
    fig = go.Figure()
    err = None if repeats < 2 else {"type": "data", "array": 2 * np.nan_to_num(res.log_px_se), "thickness": 1.5}
    fig.add_trace(go.Scatter(
        x=list(res.ks) + list(res.ks[::-1]), y=list(res.log_px) + [res.elbo] * len(res.ks),
        fill="toself", fillcolor="rgba(234,88,12,0.12)", line={"width": 0}, hoverinfo="skip",
        name="gap: KL(q ‖ p(t|x))",
    ))  # fmt: skip
    fig.add_trace(go.Scatter(
        x=res.ks, y=res.log_px, mode="lines+markers", name="importance-sampled log p(x)",
        line={"color": ui.ACCENT, "width": 3}, marker={"size": 9}, error_y=err,
        hovertemplate="k = %{x}: %{y:.2f} nats<extra></extra>",
    ))  # fmt: skip
    fig.add_hline(y=res.elbo, line={"color": ui.ORANGE, "width": 3, "dash": "dash"},
                  annotation_text=f"ELBO {res.elbo:.2f}", annotation_position="bottom right")  # fmt: skip
    fig.update_xaxes(type="log", title="k (importance samples)")
    fig.update_yaxes(title="nats")
    ui.classroom(fig, 430, title="more samples, tighter estimate", legend={"orientation": "h", "y": -0.22})
    ui.plot(fig, key="elbo:curve")

with st.expander("The EM view of a VAE", icon=":material/sync_alt:", expanded=True):
    e1, e2 = st.columns(2, gap="large")
    with e1:
        st.markdown("**E-step**: fix the decoder w, move q towards the posterior.")
        st.latex(
            r"\begin{aligned}\phi &\leftarrow \arg\max_\phi \mathcal{L}(w, \phi)\\"
            r"&= \arg\min_\phi \mathrm{KL}\big(q(t\mid x,\phi)\,\|\,p(t\mid x, w)\big)\end{aligned}"
        )
        st.caption("log p(x) does not depend on φ, so raising the ELBO can only shrink the gap.")
    with e2:
        st.markdown("**M-step**: fix q, move the decoder w to raise the bound.")
        st.latex(r"w \leftarrow \arg\max_w \ \mathbb{E}_{q}\log p(x\mid t, w) + \text{const}")
        st.caption("Like fitting a mixture with EM, but over infinitely many components.")
    st.markdown(
        "A VAE replaces both exact steps with **one stochastic gradient step** on (φ, w), and "
        "restricts q to a diagonal Gaussian produced by one encoder for all images. So the "
        "gap rarely closes completely: what is left is the price of that restriction."
    )

if d == 2:
    st.subheader("The true posterior p(t|x) beside q(t|x)", divider="gray")
    n_grid = int(st.slider("grid points per axis", 41, 161, 101, step=20, key="elbo:grid",
                           help="The posterior is evaluated on an n × n grid: n² decodes."))  # fmt: skip
    # The grid is fitted to the posterior (a coarse pass first): a confident encoder's q is
    # far narrower than the prior, and a grid over the prior would miss it.
    g = ui.compute(focused_grid_posterior, cur.key, cur.model, pick.x, n=n_grid,
                   spinner=f"Decoding {n_grid * n_grid:,} codes…")  # fmt: skip
    xr, yr = list(g.extent[:2]), list(g.extent[2:])
    two = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.06,
        # Two lines each: on a phone the one-line titles ran into each other.
        subplot_titles=("true posterior<br>p(t|x) ∝ p(x|t) p(t)", "the encoder's<br>q(t|x) = N(m, diag(s²))"),
    )  # fmt: skip
    for col, z in ((1, g.posterior), (2, g.q_density)):
        two.add_trace(go.Heatmap(
            x=g.t0, y=g.t1, z=z, colorscale="Purples", showscale=False,
            hovertemplate="t = (%{x:.2f}, %{y:.2f})<br>density %{z:.3g}<extra></extra>",
        ), row=1, col=col)  # fmt: skip
        # q's contours on both panels: on the left they show where q misses the posterior.
        ui.add_q_ellipses(two, g.mu, g.std, row=1, col=col)
        two.add_trace(go.Scatter(
            x=[g.posterior_mean[0]], y=[g.posterior_mean[1]], mode="markers", name="posterior mean",
            marker={"symbol": "diamond", "size": 12, "color": ui.ORANGE, "line": {"color": "black", "width": 1}},
            hovertemplate="posterior mean (%{x:.2f}, %{y:.2f})<extra></extra>", showlegend=col == 1,
        ), row=1, col=col)  # fmt: skip
    # constrain="domain": keep the exact square extent and shrink the panel instead of
    # widening one panel's range (the two panels must show the same window).
    two.update_xaxes(range=xr, title="t<sub>1</sub>", constrain="domain")
    two.update_yaxes(range=yr, constrain="domain")
    two.update_yaxes(title="t<sub>2</sub>", row=1, col=1)
    two.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
    two.update_yaxes(scaleanchor="x2", scaleratio=1, row=1, col=2)
    # Only one copy of each legend entry (the ellipses were drawn on both panels).
    seen: set[str] = set()
    for tr in two.data:
        if tr.name in seen:
            tr.showlegend = False
        seen.add(tr.name)
    ui.classroom(two, 540, legend={"orientation": "h", "y": -0.15}, margin={"l": 10, "r": 10, "t": 70, "b": 10})
    ui.plot(two, key="elbo:posterior")
    g1, g2, g3, g4 = st.columns(4)
    g1.metric("log p(x) on the grid", f"{g.log_px:.2f}",
              delta=f"{g.log_px - log_px:+.2f} vs importance sampling", delta_color="off")  # fmt: skip
    g2.metric("KL(q ‖ p(t|x)) on the grid", f"{g.posterior_kl:.3f}")
    g3.metric("ELBO on the grid", f"{g.elbo:.2f}")
    g4.metric("‖posterior mean − m‖", f"{float(np.linalg.norm(g.posterior_mean - g.mu)):.3f}")
    st.latex(
        rf"\mathrm{{KL}}\big(q\,\|\,p(t\mid x)\big) = \textstyle\sum_{{\text{{grid}}}} q \log \frac{{q}}{{p(t\mid x)}}\,\Delta t = {g.posterior_kl:.3f}\ \text{{nats}}"
    )
    st.caption(
        f"Integrals are sums over a {n_grid}×{n_grid} grid of t fitted around the posterior "
        f"(cell area {g.cell_area:.2g}). "
        "A skewed or two-humped posterior is where a Gaussian q pays the most."
    )
else:
    st.info(
        f"This model has a {d}-D latent space: the exact posterior cannot be drawn on a grid. "
        "Pick a model with a 2-D latent to see it beside q.",
        icon=":material/grid_off:",
    )
