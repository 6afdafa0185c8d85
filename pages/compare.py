"""Compare models: two or three models side by side on the same test images.

Latent maps (aligned by an orthogonal Procrustes fit when the latent sizes match), the
reconstructions of the same images, samples decoded from the same prior codes, the KL of each
latent dimension (posterior collapse made visible) and the metrics. The maths: vae.app.compare.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, models
from vae.app import compare
from vae.data.registry import DATASETS, DatasetUnavailable, load_dataset

PICK_KEY = "cmp_models"
N_POINTS = 2000  # the same first test images for every model
READY = {
    "Autoencoder · noisy autoencoder · VAE": ("mnist_ae_2d", "mnist_noisy_ae_2d", "mnist_2d"),
    "β = 0.5 / 1 / 4": ("mnist_beta05_2d", "mnist_2d", "mnist_beta4_2d"),
    "2-D vs 32-D latent": ("mnist_2d", "mnist_32"),
}


@st.cache_data(show_spinner="Encoding the same test images with each model…", max_entries=8)
def _compare(keys: tuple[str, ...], names: tuple[str, ...], dataset: str) -> tuple[compare.Comparison, np.ndarray, np.ndarray]:
    """The comparison of the named models (``keys``: their file identities, for the cache)."""
    data = load_dataset(dataset)
    x, y = data.test_x[:N_POINTS].numpy(), data.test_y[:N_POINTS].numpy()
    loaded = [models.load(n) for n in names]
    return compare.compare([c.model for c in loaded], x), x, y


def _pick(names: list[str]) -> list[str]:
    st.markdown("**Ready comparisons**")
    cols = st.columns(len(READY))
    for col, (label, want) in zip(cols, READY.items(), strict=True):
        missing = [n for n in want if n not in names]
        if col.button(label, key=f"cmp_ready:{label}", disabled=bool(missing), width="stretch",
                      help=f"missing: {', '.join(missing)}" if missing else ", ".join(want)):  # fmt: skip
            st.session_state[PICK_KEY] = list(want)
    if not st.session_state.get(PICK_KEY):
        st.session_state[PICK_KEY] = [n for n in READY["2-D vs 32-D latent"] if n in names][:3] or names[:2]
    st.session_state[PICK_KEY] = [n for n in st.session_state[PICK_KEY] if n in names]
    return st.multiselect("Models (2 or 3, trained on the same data)", names, key=PICK_KEY, max_selections=3)


def _map(xy: np.ndarray, labels: np.ndarray, label_names: tuple[str, ...], ranges) -> go.Figure:
    fig = go.Figure()
    for c in np.unique(labels):
        m = labels == c
        fig.add_trace(go.Scattergl(
            x=xy[m, 0], y=xy[m, 1], mode="markers", name=display.plot_text(label_names[c]),
            marker={"size": 3, "color": display.PALETTE[int(c) % len(display.PALETTE)], "opacity": 0.7},
            hoverinfo="skip",
        ))  # fmt: skip
    fig.update_layout(
        height=330, margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False,
        xaxis={"range": ranges[0]}, yaxis={"range": ranges[1]},
    )  # fmt: skip
    return fig


def _kl_bars(kl: np.ndarray) -> go.Figure:
    order = np.argsort(-kl)
    fig = go.Figure(go.Bar(
        x=[display.t_name(int(i)) for i in order], y=kl[order], marker_color="#4f46e5",
        hovertemplate="%{x}: %{y:.2f} nats<extra></extra>",
    ))  # fmt: skip
    fig.add_hline(y=0.01, line_dash="dot", line_color="#999")
    fig.update_layout(height=200, margin={"l": 10, "r": 10, "t": 10, "b": 10}, yaxis_title="KL (nats)")
    return fig


def _beta(c: models.Current) -> float | None:
    """The KL weight the model was trained with (None for an autoencoder: it has no KL term)."""
    return float(c.checkpoint.train_config.get("beta", 1.0)) if c.config.variant == "vae" else None


def _metrics_table(picked: list[models.Current]) -> None:
    rows = []
    for c in picked:
        m = c.checkpoint.metrics
        vae_like = c.config.variant == "vae"
        rows.append({
            "model": c.name,
            "latent dims": c.config.latent_dim,
            "β (training)": _beta(c),
            "epochs": c.checkpoint.train_config.get("epochs"),
            "test ELBO (nats)": m.get("test_elbo"),
            "log p(x) ≥ (nats, IS)": m.get("log_px") if vae_like else None,
            "KL (nats)": m.get("test_kl"),
            "active units": f"{m.get('active_units')} / {c.config.latent_dim}" if m.get("active_units") is not None else "",
        })  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", column_config={"model": st.column_config.TextColumn(width="medium")})
    st.caption(
        "Nats per image on the whole test split, as stored with each model (higher ELBO and log p(x) "
        "are better). An autoencoder's q is no posterior: its log p(x) is not reported, and its "
        "'ELBO' is not a bound. Active units: dimensions whose mean code varies across images "
        "(covariance > 0.01)."
    )
    betas = {_beta(c) for c in picked} - {None}
    if len(betas) > 1:
        st.caption(
            "β weighs the KL term during training only (loss = reconstruction + β · KL). Every "
            "ELBO above is the ordinary one (β = 1), so they are comparable: a larger β "
            "buys a smaller KL (codes closer to the prior) with a worse reconstruction."
        )
    _same_epoch_note(picked)


def _same_epoch_note(picked: list[models.Current]) -> None:
    """Models trained for different numbers of epochs: the longer ones' figures at the shorter
    one's last epoch, from their own training histories (the fair comparison)."""
    epochs = {c.name: c.checkpoint.train_config.get("epochs") for c in picked}
    if None in epochs.values() or len(set(epochs.values())) < 2:
        return
    first = min(epochs.values())
    fair = []
    for c in picked:
        h = compare.at_epoch(c.checkpoint.history, first) if epochs[c.name] > first else None
        if h is not None and h.get("test_elbo") is not None and h.get("test_kl") is not None:
            fair.append(f"{display.text(c.name)} had a test ELBO of {h['test_elbo']:.2f} and a KL of {h['test_kl']:.2f} nats")
    st.caption(
        "Not trained equally long (" + ", ".join(f"{display.text(n)}: {e}" for n, e in epochs.items())
        + " epochs), so part of any ELBO difference is training time."
        + (f" After epoch {first}, " + "; ".join(fair) + " (its training history): compare with those." if fair else "")
    )


st.title("Compare models")
st.markdown(
    "Two or three models side by side on **the same test images**: where each puts them, how it "
    "rebuilds them, what it generates from **the same prior codes**, and how much each latent "
    "dimension is used."
)
entries = [e for e in models.model_entries() if e.ok]
picked_names = _pick([e.name for e in entries])
if len(picked_names) < 2:
    st.info("Choose at least two models (or a ready comparison above).")
    st.stop()
picked = [c for c in (models.load(n) for n in picked_names) if c is not None]
datasets = {c.dataset for c in picked}
if len(datasets) != 1 or len(picked) < 2:
    st.warning(
        "These models were trained on different data ("
        + ", ".join(f"{display.text(c.name)}: {display.text(c.dataset)}" for c in picked)
        + "), so there are no shared test images to compare them on. Choose models of one dataset."
    )
    st.stop()
dataset = datasets.pop()
if dataset not in DATASETS:
    st.warning(f"The dataset {display.text(dataset)} is not on this server: choose bundled models.")
    st.stop()
try:
    cmp, x, y = _compare(tuple(c.key for c in picked), tuple(c.name for c in picked), dataset)
except DatasetUnavailable as e:  # the test images are not on this server (offline)
    st.error(str(e))
    st.stop()
names = DATASETS[dataset].label_names

_metrics_table(picked)
st.subheader("Latent maps of the same test images", divider="gray")
same_axes = len({c.config.latent_dim for c in picked}) == 1
st.caption(
    f"The first {len(y):,} test images, at each model's posterior means. {display.text(cmp.how)}."
    + (" The same axes for every map: the KL term keeps a VAE's codes near the origin, where the "
       "prior is; an autoencoder's spread as far as they like." if same_axes else "")
)  # fmt: skip
allxy = np.concatenate([v.xy for v in cmp.views])
lo, hi = np.percentile(allxy, [0.5, 99.5], axis=0)
pad = 0.08 * (hi - lo)
ranges = [[float(lo[i] - pad[i]), float(hi[i] + pad[i])] for i in range(2)] if same_axes else [None, None]
cols = st.columns(len(picked))
for col, c, v in zip(cols, picked, cmp.views, strict=True):
    with col:
        st.markdown(f"**{display.text(c.name)}** · {c.config.latent_dim}-D · {display.text(c.config.variant)}")
        st.plotly_chart(_map(v.xy, y, names, ranges), key=f"cmp_map:{c.name}", config={"displayModeBar": False})

st.subheader("Reconstructions of the same images", divider="gray")
# Rows of 8 as wide as a column: one size for every row, and on a phone (columns stack) the
# whole screen width, never wider (a fixed width cut the row off there).
with st.columns([2, 1])[0]:
    display.show_grid(x[: compare.N_RECON].astype(np.float32) / 255.0, ncols=compare.N_RECON, caption="the test images", width="stretch")
    for c, v in zip(picked, cmp.views, strict=True):
        display.show_grid(v.recon, ncols=compare.N_RECON, caption=f"{c.name}: decode(m(x))", width="stretch")

st.subheader("Samples from the same prior codes", divider="gray")
st.caption(
    "decode(t) for 16 codes t ~ N(0, I), "
    + ("the same 16 for every model." if cmp.same_codes else "drawn with the same seed (the latent sizes differ, so the codes cannot be the same).")
    + (" An autoencoder was never asked to decode the prior: expect some non-images."
       if any(c.config.variant != "vae" for c in picked) else "")
)
cols = st.columns(len(picked))
for col, c, v in zip(cols, picked, cmp.views, strict=True):
    with col:
        display.show_grid(v.samples, ncols=4, caption=c.name, width=300)  # fits a phone too

st.subheader("KL per latent dimension", divider="gray")
st.caption(
    "Mean KL(q(t_i|x) ‖ N(0, 1)) of each dimension over these test images, largest first (the "
    "table's KL is over the whole test split, so the totals differ a little). A dimension near 0 "
    "(below the dotted line) carries no information: posterior collapse."
)
cols = st.columns(len(picked))
for col, c, v in zip(cols, picked, cmp.views, strict=True):
    with col:
        st.markdown(f"**{display.text(c.name)}**: {float(v.kl.sum()):.2f} nats in all")
        st.plotly_chart(_kl_bars(v.kl), key=f"cmp_kl:{c.name}", config={"displayModeBar": False})
