"""Gradient estimators: the reparameterization estimator against the score function
(REINFORCE) for grad_phi E_q log p(x|t), on one image of the chosen model.

Both are unbiased (their means agree within standard errors); their variances differ by
orders of magnitude (log-log plot against the number of samples). A toy problem with a
closed-form gradient checks both against the exact answer.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import lecture_ui as ui
from vae.lecture import gradients as est

PAGE = "gradients"
N_CHOICES = (1, 3, 10, 30, 100, 300, 1000)
CURVE_MAX = (30, 100, 300, 1000)
REPARAM, SCORE = "reparameterization", "score function"
COLORS = {REPARAM: ui.ACCENT, SCORE: ui.ORANGE}


def _coord_names(d: int, per_block: int) -> tuple[list[int], list[str]]:
    """Columns of the (2D,) gradient to show: the first ``per_block`` of d/dm and of
    d/dlog s², with readable names."""
    k = min(d, per_block)
    cols = list(range(k)) + [d + i for i in range(k)]
    names = [f"∂/∂m{i + 1}" for i in range(k)] + [f"∂/∂log s²{i + 1}" for i in range(k)]
    return cols, names


def _mean_se(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = g.shape[0]
    se = g.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.full(g.shape[1], np.nan)
    return g.mean(0), se


def _fmt(mean: float, se: float) -> str:
    return f"{mean:+.3f}" if not np.isfinite(se) else f"{mean:+.3f} ± {se:.3f}"


@st.cache_data(show_spinner=False, max_entries=32)
def _toy(d: int, seed: int, offset: float, n: int, sample_seed: int, baseline: bool) -> dict:
    # The toy is cheap (no network), cached only so slider drags do not redo it.
    toy = est.gaussian_toy(d=d, seed=seed, offset=offset)
    rep = est.reparam_gradients(toy.log_lik, toy.mu, toy.logvar, n, seed=sample_seed)
    sf = est.score_function_gradients(toy.log_lik, toy.mu, toy.logvar, n, seed=sample_seed, baseline=baseline)
    return {"toy": toy, "exact": toy.gradient(), "rep": _mean_se(rep), "sf": _mean_se(sf)}


ui.header(
    "Gradient estimators: why the trick matters",
    "Training the encoder needs the gradient of an expectation, ∇_φ E_q log p(x|t), and we "
    "can only estimate it from samples. Two unbiased recipes exist. The **score function** "
    "only looks at how good each sampled code was; the **reparameterization** estimator "
    "writes t = m + s ⊙ ε and follows the decoder's gradient through t. Both aim at the same "
    "number; one is far noisier.",
    """
* Start with **N = 100** samples. The bars agree within their error bars: both
  estimators are unbiased. Ask: *if both are right, why would anyone care which?*
* Read the error bars: the score function's are much wider. Drop N to 10 and they explode.
* The log-log plot: both lines fall with slope −1 (variance ∝ 1/N), but the score function
  sits orders of magnitude higher (with the baseline on, its line starts at N = 2 and is a
  little steeper at first, because the baseline itself improves with N). The ratio tells you how many more samples it needs for
  the same accuracy.
* Switch on the **baseline**: subtracting the other samples' mean of log p(x|t) helps a lot,
  but usually not enough to catch up.
* Open the **toy problem**: the exact gradient is known there. Slide the offset up: the
  reparameterization column does not care, the score function degrades.
""",
)

cur, split = ui.lecture_model(
    PAGE,
    unfit="the noise-based gradients below are not what it was trained with",
    why_2d="In 2-D the gradient has 4 coordinates, all of them in the table.",
)
d = cur.config.latent_dim
pick = ui.pick_image(cur, split, page=PAGE)

c1, c2, c3 = st.columns([2.2, 1, 1.6], vertical_alignment="bottom")
n = int(c1.select_slider("number of samples N per estimate", N_CHOICES, value=100, key="grad:n"))
seed = int(c2.number_input("seed", 0, 10**6, 0, key="grad:seed", bind="query-params"))
baseline = c3.toggle("score function with a baseline", key="grad:baseline",
                     help="Subtract, from each sample's log p(x|t), the mean over the other "
                     "N−1 samples (a control variate: still unbiased).")  # fmt: skip

rep = ui.compute(est.reparam_gradient_samples, cur.key, cur.model, pick.x, n, seed=seed,
                 spinner="Sampling gradients…")  # fmt: skip
sf = ui.compute(est.score_function_gradient_samples, cur.key, cur.model, pick.x, n, seed=seed,
                baseline=baseline, spinner="Sampling gradients…")  # fmt: skip
cols, names = _coord_names(d, 3 if d > 2 else 2)
r_mean, r_se = _mean_se(rep[:, cols])
s_mean, s_se = _mean_se(sf[:, cols])

st.subheader(f"Same target, {n} samples each, for {pick.title}", divider="gray")
# Each estimator on its own full-width row: side by side, both sums were cut off.
st.markdown("**Reparameterization**: sample ε, differentiate through the decoder")
# Three aligned lines each: on one line the Monte-Carlo sum ran off a phone's screen.
st.latex(
    r"\begin{aligned}&\nabla_\phi \mathbb{E}_{q(t\mid x,\phi)} \log p(x\mid t)\\ &\quad= "
    r"\mathbb{E}_{p(\varepsilon)} \nabla_\phi \log p\big(x \mid m + s\odot\varepsilon\big)\\"
    r"&\quad\approx \frac{1}{N}\sum_{i=1}^{N} \nabla_\phi \log p\big(x\mid m + s\odot\varepsilon_i\big)\end{aligned}"
)
st.markdown("**Score function (REINFORCE)**: sample t, weight the score by how good t was")
st.latex(
    r"\begin{aligned}&\nabla_\phi \mathbb{E}_{q} \log p(x\mid t)\\ &\quad= "
    r"\mathbb{E}_{q}\big[\log p(x\mid t)\, \nabla_\phi \log q(t\mid x,\phi)\big]\\"
    r"&\quad\approx \frac{1}{N}\sum_{i=1}^{N} " + (r"\big(\log p(x\mid t_i) - b_i\big)" if baseline else r"\log p(x\mid t_i)")
    + r"\,\nabla_\phi \log q(t_i\mid x,\phi)\end{aligned}"
)  # fmt: skip
left, right = st.columns([1.25, 1], gap="large")
with left:
    st.latex(
        rf"N = {n}:\quad \begin{{aligned}}\widehat{{\nabla}}_{{m_1}}^{{\,\text{{reparam.}}}} &= {r_mean[0]:+.2f}\\"
        rf"\widehat{{\nabla}}_{{m_1}}^{{\,\text{{score}}}} &= {s_mean[0]:+.2f}\end{{aligned}}"
    )
    # Short headers: with the long names the "s.e. ratio" column fell off the table's edge.
    st.dataframe(
        {
            "coordinate": names,
            "reparam. mean ± s.e.": [_fmt(a, b) for a, b in zip(r_mean, r_se, strict=True)],
            "score mean ± s.e.": [_fmt(a, b) for a, b in zip(s_mean, s_se, strict=True)],
            "s.e. ratio": [f"×{b / a:.0f}" if a > 0 and np.isfinite(a) else "–" for a, b in zip(r_se, s_se, strict=True)],
        },
        hide_index=True, width="stretch",
    )  # fmt: skip
    st.caption(
        "φ = (m, log s²) of q(t|x). s.e. = standard error of the N-sample mean; bars show ±2 s.e. "
        + ("The baseline b_i is the mean of log p(x|t) over the other N−1 samples." if baseline else "")
    )
with right:
    fig = go.Figure()
    for label, mean, se in ((REPARAM, r_mean, r_se), (SCORE, s_mean, s_se)):
        fig.add_trace(go.Bar(
            x=names, y=mean, name=label, marker_color=COLORS[label],
            error_y={"type": "data", "array": np.nan_to_num(2 * se), "thickness": 2, "width": 6},
            hovertemplate="%{x}: %{y:.3f}<extra>" + label + "</extra>",
        ))  # fmt: skip
    ui.classroom(fig, 400, title=f"the two estimates (N = {n}) ± 2 s.e.", barmode="group",
                 legend={"orientation": "h", "y": -0.15})  # fmt: skip
    ui.plot(fig, key="grad:bars")

st.subheader("Variance against the number of samples", divider="gray")
v1, v2, _ = st.columns([1.4, 1.4, 2], vertical_alignment="bottom")
n_max = int(v1.select_slider("largest N", CURVE_MAX, value=100, key="grad:curve_max"))
repeats = int(v2.slider("repeats per N (more = smoother)", 10, 200, 40, step=10, key="grad:repeats"))
# The leave-one-out baseline needs a second sample: with it the curve starts at N = 2 (at
# N = 1 the estimator has no baseline, and its far larger variance made a kink in the line).
sizes = [k for k in ((2, 3) if baseline else (1, 3)) + (10, 30, 100, 300, 1000) if k <= n_max]
curve = ui.compute(
    est.estimator_variance_curve, cur.key, cur.model, pick.x, tuple(sizes), repeats=repeats,
    seed=seed, baseline=baseline, spinner=f"Running both estimators {repeats} times for each N…",
)  # fmt: skip
ratio = curve.score_var / np.maximum(curve.reparam_var, 1e-300)
left, right = st.columns([1.5, 1], gap="large")
with left:
    vfig = go.Figure()
    for label, var in ((REPARAM, curve.reparam_var), (SCORE, curve.score_var)):
        vfig.add_trace(go.Scatter(
            x=curve.sample_sizes, y=var, mode="lines+markers", name=label,
            line={"color": COLORS[label], "width": 3}, marker={"size": 9},
            hovertemplate="N = %{x}: variance %{y:.3g}<extra>" + label + "</extra>",
        ))  # fmt: skip
    # A 1/N guide between the two curves (on either one it would hide behind it).
    ref = np.sqrt(curve.reparam_var[0] * curve.score_var[0]) / curve.sample_sizes
    vfig.add_trace(go.Scatter(
        x=curve.sample_sizes, y=ref, mode="lines", name="slope −1 (∝ 1/N)",
        line={"color": "#888", "dash": "dot", "width": 2}, hoverinfo="skip",
    ))  # fmt: skip
    vfig.update_xaxes(type="log", title="N (samples per estimate)", tickvals=curve.sample_sizes)
    vfig.update_yaxes(type="log", title="variance of the estimate", exponentformat="power")
    # Two lines: Plotly titles never wrap, and on a phone one line was cut at "the gr".
    ui.classroom(vfig, 460, title=f"variance, averaged over<br>the {2 * d} coordinates of the gradient",
                 legend={"orientation": "h", "y": -0.2}, margin={"l": 10, "r": 10, "t": 70, "b": 10})  # fmt: skip
    ui.plot(vfig, key="grad:variance")
with right:
    st.latex(r"\operatorname{Var}\Big[\tfrac{1}{N}\textstyle\sum_i g_i\Big] = \frac{\operatorname{Var}[g]}{N}")
    st.metric("score ÷ reparam. variance, median over N", f"×{float(np.median(ratio)):,.0f}",
              help="Score-function variance ÷ reparameterization variance, the median over the N values on the chart. The same accuracy costs this many times more samples.")  # fmt: skip
    # The metric is a median over N; the sample count uses the ratio at the largest N, so say
    # that ratio too (×11,685 beside "1,043,212 samples" at N = 100 read as a contradiction).
    st.markdown(
        f"At **N = {sizes[-1]}** the ratio is ×{float(ratio[-1]):,.0f}: to match the "
        f"reparameterization estimator's accuracy there, the score function would need about "
        f"**{float(ratio[-1]) * sizes[-1]:,.0f}** samples."
    )
    st.caption(
        f"Each point: the variance, over {repeats} independent repeats, of the N-sample average; "
        f"averaged over the gradient's {2 * d} coordinates (∂/∂m and ∂/∂log s² for each of the "
        f"{d} latent dimensions). Both estimators share the same ε."
        + (" With the baseline the score function's line starts at N = 2 and falls a little "
           "faster than 1/N at first: its baseline, the mean of the other samples, improves with N."
           if baseline else "")
    )

with st.expander("Check on a toy problem with a closed form", icon=":material/calculate:"):
    st.markdown(
        "Replace the decoder by f(t) = −½‖t − c‖². Then E_q f has a formula, and so does its "
        "gradient, so we can compare both estimators with the **exact** answer."
    )
    st.latex(
        r"\begin{aligned}&\mathbb{E}_{\mathcal{N}(m, \operatorname{diag}(s^2))}\Big[-\tfrac12\|t-c\|^2\Big]\\"
        r"&\quad= -\tfrac12\Big(\|m-c\|^2 + \textstyle\sum_j s_j^2\Big)\\"
        r"&\nabla_m = c - m,\qquad \nabla_{\log s^2} = -\tfrac12 s^2\end{aligned}"
    )
    t1, t2, t3 = st.columns(3)
    offset = t1.slider("offset of c from m (makes |f| large)", 0.0, 10.0, 0.0, 0.5, key="grad:toy_offset")
    toy_n = int(t2.select_slider("samples", (10, 100, 1000, 10000), value=1000, key="grad:toy_n"))
    toy_seed = int(t3.number_input("problem seed", 0, 1000, 0, key="grad:toy_seed"))
    res = _toy(2, toy_seed, float(offset), toy_n, seed, baseline)
    (rm, rs), (sm, ss), exact = res["rep"], res["sf"], res["exact"]
    toy_names = ["∂/∂m1", "∂/∂m2", "∂/∂log s²1", "∂/∂log s²2"]
    st.dataframe(
        {
            "coordinate": toy_names,
            "exact": np.round(exact, 4),
            f"{REPARAM} (mean ± s.e.)": [_fmt(a, b) for a, b in zip(rm, rs, strict=True)],
            f"{SCORE} (mean ± s.e.)": [_fmt(a, b) for a, b in zip(sm, ss, strict=True)],
            "s.e. ratio": [f"×{b / a:.0f}" if a > 0 else "–" for a, b in zip(rs, ss, strict=True)],
        },
        hide_index=True, width="stretch",
    )  # fmt: skip
    z_rep = float(np.max(np.abs(rm - exact) / np.maximum(rs, 1e-12)))
    z_sf = float(np.max(np.abs(sm - exact) / np.maximum(ss, 1e-12)))
    st.markdown(
        f"Largest distance from the exact gradient, in standard errors: reparameterization "
        f"**{z_rep:.1f}**, score function **{z_sf:.1f}** (an unbiased estimator stays within "
        "about 2-3)."
    )
    toy = res["toy"]
    st.latex(
        r"\begin{aligned}&m = " + ui.vec_latex(toy.mu) + r",\ c = " + ui.vec_latex(toy.c)
        + r",\\ &s^2 = " + ui.vec_latex(np.exp(toy.logvar), "{:.2f}")
        + rf",\quad \mathbb{{E}}_q f = {toy.expectation():.3f}\end{{aligned}}"
    )  # fmt: skip
    st.caption(
        "The reparameterization gradient here is exactly c − m − s ⊙ ε (and −½ s²ε² for "
        "log s²): its spread does not depend on the offset; the score function's grows with it."
    )
