"""Autoencoder vs VAE: three twins that differ in one switch each, on the same data.

A plain autoencoder (t = m), an autoencoder with noise (t = m + s ⊙ ε, no KL) and a VAE
(noise + KL). Their latent maps, their decoded prior samples and their reconstructions side
by side. Uses the bundled MNIST twins when present, else trains three small twins on the
bundled digits in a few seconds (cached for every user of the server).
"""

from __future__ import annotations

import threading

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, models
from pages._lib import lecture_ui as ui
from vae.app import inference, jobs
from vae.app.classifier import DigitClassifier, train_digit_classifier
from vae.data.registry import DatasetUnavailable, load_dataset
from vae.lecture import ae_vs_vae as twins

PAGE = "ae_vs_vae"
BUNDLED = {"ae": "mnist_ae_2d", "noisy_ae": "mnist_noisy_ae_2d", "vae": "mnist_2d"}
TITLES = {"ae": "Plain autoencoder", "noisy_ae": "Autoencoder + noise", "vae": "VAE: noise + KL"}
OBJECTIVES = {  # two lines each, so the three columns line up
    "ae": r"\begin{aligned}&\max\ \log p\big(x \mid t = m(x)\big)\\&\text{no noise, no KL}\end{aligned}",
    "noisy_ae": r"\begin{aligned}&\max\ \mathbb{E}_{\varepsilon}\log p\big(x \mid m + s\odot\varepsilon\big)\\&\text{noise, no KL}\end{aligned}",
    "vae": r"\begin{aligned}&\max\ \mathbb{E}_{\varepsilon}\log p\big(x \mid m + s\odot\varepsilon\big)\\&\quad - \beta\,\mathrm{KL}\big(q(t\mid x)\,\|\,\mathcal{N}(0, I)\big)\end{aligned}",
}
SOURCE_KEY = "aevae:source"
TRAINED_KEY = "aevae:trained"  # the settings of the digits twins this session trained
N_MAP = 2000  # test images encoded per twin
N_RECON = 8
N_PRIOR = 16
N_SCORED = 400  # prior samples the classifier reads per twin
GRID_N = 10  # tiles per side of the own-code-range grids
WALK_STEPS = 10
WALK_A, WALK_B = 2, 3  # test images walked between (a 1 and an 0 in MNIST's test split)
MAX_TRAINED = 4  # sets of digits twins kept in memory for the whole server


@st.cache_resource(show_spinner="Loading the bundled twins…", max_entries=4)
def _load_bundled(paths: tuple[str, ...], identities: tuple[str, ...]) -> dict[str, object]:
    """The three bundled checkpoints as read-only models (shared by all users)."""
    from vae.core.checkpoints import load_checkpoint

    inference.limit_threads()
    return {v: load_checkpoint(p).build_model() for v, p in zip(BUNDLED, paths, strict=True)}


@st.cache_resource
def _trained_twins() -> dict[tuple, dict[str, object]]:
    """Digits twins by (epochs, beta, seed), shared by every session of the server (read
    only). A plain dict rather than a cached training function, so that training can draw
    its progress bar: a cached function's elements would be replayed on later calls."""
    return {}


@st.cache_resource
def _store_lock() -> threading.Lock:
    """One lock per server (a page's module code reruns every run, so it can't hold one)."""
    return threading.Lock()


def _train(settings: tuple[int, float, int], on_done) -> dict[str, object]:
    # One torch thread: on a small shared CPU, more threads were several times slower.
    inference.limit_threads()
    epochs, beta, seed = settings
    store = _trained_twins()
    # A training slot: a class pressing the button at once queues like any other training.
    with jobs.training_slot():
        if settings in store:  # another session trained these while we waited
            return store[settings]
        models = twins.train_twins(load_dataset("digits"), latent_dim=2, epochs=epochs,
                                     beta=beta, seed=seed, on_done=on_done)  # fmt: skip
    with _store_lock():  # sessions trim the shared store concurrently
        while len(store) >= MAX_TRAINED:  # keep memory bounded: forget the oldest settings
            store.pop(next(iter(store)))
        store[settings] = models
    return models


@st.cache_data(show_spinner="Loading the test images…", max_entries=4)
def _test_images(dataset: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    data = load_dataset(dataset)  # downloaded once if missing; offline, a clear message
    return data.test_x[:N_MAP].numpy(), data.test_y[:N_MAP].numpy(), data.label_names


@st.cache_data(show_spinner=False, max_entries=32)
def _view(key: str, first: int, seed: int, _model, _images: np.ndarray) -> twins.TwinView:
    # ``key`` names the model and the test images; the arrays themselves are not hashed.
    idx = tuple(range(first, first + N_RECON))
    return twins.twin_view(_model, _images, recon_index=idx, n_prior=N_PRIOR, seed=seed)


@st.cache_resource(show_spinner="Fitting a small digit classifier (once per server, a few seconds)…", max_entries=2)
def _classifier(dataset: str) -> DigitClassifier:
    """k nearest neighbours on the dataset's training digits, shared by every session."""
    return train_digit_classifier(load_dataset(dataset))


@st.cache_data(show_spinner=False, max_entries=32)
def _scores(key: str, seed: int, _model, _clf: DigitClassifier, _images: np.ndarray, _labels: np.ndarray) -> twins.TwinScores:
    # ``key`` names the model and the test images; models, classifier and arrays are not hashed.
    return twins.twin_scores(_model, _clf, _images, _labels, n_prior=N_SCORED, grid_n=GRID_N, seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def _pictures(key: str, a: int, b: int, _model, _mu: np.ndarray) -> tuple[twins.CodeGrid, np.ndarray]:
    return twins.code_range_grid(_model, _mu, n=GRID_N), twins.code_walk(_model, _mu[a], _mu[b], WALK_STEPS)


ui.header(
    "Autoencoder vs VAE",
    "The lecture's summary: a VAE is *a plain autoencoder, plus noise, plus a KL "
    "regulariser*. Here are three twins that differ by exactly one switch each, trained on "
    "the same data with the same architecture. All three reconstruct well, and all three "
    "decoders draw digits where their own codes live. Only the VAE knows **where its codes "
    "live**: N(0, I). So only the VAE can generate by sampling the prior and get the data's "
    "mix of digits. A small digit classifier puts numbers on it below.",
    """
* Start with the **reconstructions** (bottom): all three look fine. Ask: *so what does the
  noise or the KL buy us?*
* The **latent maps**: the autoencoders' codes spread far past the dotted circle where
  N(0, I) puts 95% of its codes; the VAE's codes fill that disc.
* The **prior samples** decode the *same* 16 codes from N(0, I) with each decoder (the stars
  on the maps). The autoencoders' samples are often digits too, but only of the few classes
  that happen to sit near the origin. Press **New prior samples** to show it is not luck.
* The **scores** table says it with numbers: every twin's samples mostly look like a digit,
  but only the VAE's samples have the data's mix of classes (the gap column), and whole
  classes never appear in the autoencoders' samples. Point at the bar chart.
* The **own code range** grids: decoded over the box where each model puts its test codes,
  every decoder draws digits. With 2-D codes there is little room for holes; the
  autoencoder's problem is that we do not know which part of this box to sample.
* The noisy twin: noise alone makes the decoder robust around each code, but without the
  KL nothing keeps codes near the prior.
* With the in-app twins, retrain the VAE with β = 4: smoother map, blurrier reconstructions.
""",
)

entries = {e.name: e for e in models.model_entries() if e.ok}
bundled_ok = all(
    name in entries and entries[name].header.model_config.variant == v for v, name in BUNDLED.items()
)
sources = (["bundled"] if bundled_ok else []) + ["digits"]
labels = {"bundled": "the bundled MNIST twins", "digits": "three twins trained here on digits"}
if not bundled_ok:
    st.caption(
        "The bundled twins (" + ", ".join(f"`{n}`" for n in BUNDLED.values()) + ") are not "
        "installed, so this page trains three small twins on the bundled 8×8 digits instead."
    )
source = st.radio("Twins", sources, format_func=labels.get, horizontal=True, key=SOURCE_KEY)

models: dict[str, object] | None = None
dataset = "digits"
settings_note = ""
if source == "bundled":
    paths = tuple(str(entries[n].path) for n in BUNDLED.values())
    sig = tuple(entries[n].identity for n in BUNDLED.values())  # vae.core.checkpoints.file_identity
    models = _load_bundled(paths, sig)
    dataset = entries[BUNDLED["vae"]].header.dataset
    model_key = f"bundled:{sig}"
    settings_note = f"Bundled checkpoints trained on **{display.text(dataset)}**: " + ", ".join(BUNDLED.values())
else:
    c1, c2, c3, c4 = st.columns([1.4, 1.4, 0.9, 1.6], vertical_alignment="bottom")
    epochs = int(c1.slider("epochs", 2, 60, 20, key="aevae:epochs"))
    beta = float(c2.slider("β (the VAE's KL weight)", 0.1, 4.0, 1.0, 0.1, key="aevae:beta"))
    seed = int(c3.number_input("seed", 0, 1000, 0, key="aevae:seed"))
    wanted = (epochs, beta, seed)
    trained = st.session_state.get(TRAINED_KEY)
    label = "Train the three twins" if trained is None else "Retrain with these settings"
    if c4.button(label, icon=":material/model_training:", type="primary", width="stretch",
                 disabled=trained == wanted):  # fmt: skip
        bar = st.progress(0.0, text="Training the plain autoencoder…")
        done: list[str] = []

        def _tick(variant: str) -> None:
            done.append(variant)
            nxt = twins.TWIN_VARIANTS[len(done)] if len(done) < 3 else None
            bar.progress(len(done) / 3, text=f"Training: {TITLES[nxt]}…" if nxt else "Done.")

        _train(wanted, _tick)
        st.session_state[TRAINED_KEY] = wanted
        st.rerun()  # redraw the button with the new state ("Retrain", disabled)
    models = _trained_twins().get(trained) if trained is not None else None
    if models is None and trained is not None:
        # Another session's training pushed these out of the store: train them again.
        models = _train(trained, None)
    if trained is None:
        st.info(
            f"Press **Train the three twins**: {epochs} epochs each on 1,437 digits, a few "
            "seconds per twin on a laptop (about half a minute for all three on a busy "
            "2-core server). They are then kept for everyone using this server.",
            icon=":material/model_training:",
        )
        st.stop()
    model_key = f"digits:{trained}"
    settings_note = f"Trained here on **digits**: {trained[0]} epochs, β = {trained[1]:g}, seed {trained[2]}"
    if trained != wanted:
        settings_note += " (the sliders have changed: press the button to retrain)"

try:
    images, test_labels, label_names = _test_images(dataset)
except DatasetUnavailable as e:
    st.warning(
        f"The test images of **{dataset}** are not on this machine, so the twins cannot be "
        f"compared here. {e}\n\nChoose *three twins trained here on digits* above instead."
    )
    st.stop()

st.caption(settings_note)
s1, s2, _ = st.columns([1.2, 1.2, 3], vertical_alignment="bottom")
first = int(s1.number_input(f"first test image to reconstruct (0-{len(images) - N_RECON})",
                            0, len(images) - N_RECON, 0, key="aevae:first"))  # fmt: skip
st.session_state.setdefault("aevae:prior_seed", 0)
if s2.button("New prior samples", icon=":material/casino:", width="stretch"):
    st.session_state["aevae:prior_seed"] += 1
prior_seed = int(st.session_state["aevae:prior_seed"])

with st.spinner("Encoding the test images and decoding prior samples…"):
    views = {v: _view(f"{model_key}:{v}", first, prior_seed, models[v], images) for v in twins.TWIN_VARIANTS}

cols = st.columns(3, gap="medium")
for col, v in zip(cols, twins.TWIN_VARIANTS, strict=True):
    view = views[v]
    with col:
        st.markdown(f"#### {TITLES[v]}")
        st.latex(OBJECTIVES[v])
        # The plain AE's q is a point (s = 0): its KL to the prior is infinite, not a number
        # worth showing. The noisy AE has an s, but nothing in its loss pulls q to the prior.
        kl_value, kl_help = {
            "ae": ("∞", "t = m(x) exactly: a point has no density, its KL to N(0, I) is infinite."),
            "noisy_ae": (f"{view.kl:.1f}", "Measured, but not part of this twin's loss."),
            "vae": (f"{view.kl:.1f}", "The term the VAE pays to keep q near the prior."),
        }[v]
        k1, k2 = st.columns(2)
        k1.metric("−E log p(x|t)", f"{view.recon:.1f}", help="Reconstruction term, nats per test image.")
        k2.metric("KL(q ‖ N(0, I))", kl_value, help=kl_help)
        spread = float(np.abs(view.mu).max())
        fig = go.Figure()
        ui.add_points(fig, view.mu, test_labels, label_names, opacity=0.5, size=4)
        cx, cy = display.ellipse((0, 0), (1, 1), 2)
        fig.add_trace(go.Scatter(
            x=cx, y=cy, mode="lines", name="N(0, I): 2σ",
            line={"color": "black", "width": 3, "dash": "dot"}, hoverinfo="skip",
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=view.prior_t[:, 0], y=view.prior_t[:, 1], mode="markers", name="the 16 prior codes",
            marker={"symbol": "star", "size": 11, "color": "gold", "line": {"color": "black", "width": 1}},
            hoverinfo="skip",
        ))  # fmt: skip
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
        ui.classroom(fig, 400, title=f"codes m(x): up to |t| = {spread:.1f}",
                     legend={"orientation": "h", "y": -0.12, "font": {"size": 12}})  # fmt: skip
        ui.plot(fig, key=f"aevae:map:{v}")

st.markdown("##### Decoding the same 16 codes t ~ N(0, I) (the stars on the maps)")
cols = st.columns(3, gap="medium")
for col, v in zip(cols, twins.TWIN_VARIANTS, strict=True):
    with col:
        ui.grid(views[v].prior_images, ncols=4, caption=f"{TITLES[v]}: prior samples")

st.subheader("Can it generate? A digit classifier reads each twin's samples", divider="gray")
clf = _classifier(dataset)
with st.spinner(f"Scoring {N_SCORED} prior samples, a grid and walks per twin…"):
    scores = {
        v: _scores(f"{model_key}:{v}", prior_seed, models[v], clf, images, test_labels)
        for v in twins.TWIN_VARIANTS
    }  # fmt: skip
data_share = np.bincount(test_labels, minlength=len(label_names))[: len(label_names)] / len(test_labels)


# "never generates" was wrong beside bars of 0.3% and 1%: the table says what it counts. Short
# headers: with the long ones the last column ran off the table at 1400 px in presenter mode.
RARE = 0.01


def _missing(share: np.ndarray) -> str:
    names = [label_names[k] for k in np.flatnonzero(share < RARE)]
    return ", ".join(names) if names else "none"


st.dataframe(
    {
        "twin": [TITLES[v] for v in twins.TWIN_VARIANTS],
        "look like a digit": [f"{scores[v].prior.digit_like:.0%}" for v in twins.TWIN_VARIANTS],
        "gap to the data's mix": [f"{scores[v].prior.class_gap:.2f}" for v in twins.TWIN_VARIANTS],
        f"digits under {RARE:.0%}": [_missing(scores[v].prior.class_share) for v in twins.TWIN_VARIANTS],
        "test codes in N(0, I)'s 95%": [f"{scores[v].inside_prior:.0%}" for v in twins.TWIN_VARIANTS],
    },
    hide_index=True, width="stretch", key="aevae:scores",
)  # fmt: skip
st.caption(
    f"{N_SCORED} codes t ~ N(0, I) decoded by each twin and read by k-nearest-neighbours on "
    f"{dataset}'s training digits ({clf.test_accuracy:.0%} right on real test digits). *Looks "
    f"like a digit*: at least {twins.CONFIDENT:.0%} of its 10 nearest real digits agree. *Gap*: "
    "total variation distance between the classes of the samples and of the test set (0 = the "
    "same mix, 1 = no class in common); it is what sampling a good generative model gets right. "
    f"*Digits under {RARE:.0%}*: classes that make up less than {RARE:.0%} of its samples."
)
bars = go.Figure()
bars.add_trace(go.Bar(x=list(label_names), y=data_share, name="the test set", marker_color="#9ca3af"))
for v, colour in zip(twins.TWIN_VARIANTS, (ui.ORANGE, "#a855f7", ui.ACCENT), strict=True):
    bars.add_trace(go.Bar(x=list(label_names), y=scores[v].prior.class_share, name=TITLES[v], marker_color=colour))
bars.update_yaxes(title="share of the samples", tickformat=".0%")
bars.update_xaxes(title="the digit the classifier sees", type="category")
ui.classroom(bars, 360, barmode="group", title="which digits each twin generates from N(0, I)",
             legend={"orientation": "h", "y": -0.3})  # fmt: skip
ui.plot(bars, key="aevae:classes")

st.markdown(f"##### Decoded over each twin's own code range, and a walk from test image #{WALK_A} to #{WALK_B}")
cols = st.columns(3, gap="medium")
for col, v in zip(cols, twins.TWIN_VARIANTS, strict=True):
    grid, walk = _pictures(f"{model_key}:{v}", WALK_A, WALK_B, models[v], views[v].mu)
    with col:
        ui.grid(grid.images, ncols=GRID_N, caption=(
            f"t₁ from {grid.t1[0]:.1f} to {grid.t1[-1]:.1f}, t₂ from {grid.t2[-1]:.1f} to {grid.t2[0]:.1f}: "
            f"{scores[v].grid.digit_like:.0%} look like a digit"))  # fmt: skip
        ui.grid(walk, ncols=WALK_STEPS, caption=(
            f"walk between two codes; over 40 random walks {scores[v].walk.digit_like:.0%} of the steps look like a digit"))  # fmt: skip
st.caption(
    "Inside its own code range every decoder draws digits, and walks between codes pass "
    "through digits too: with two latent dimensions an autoencoder has little room for holes. "
    "The difference is where the codes are. The autoencoders' codes spread far beyond N(0, I), "
    "so without the encoder we would not know where to sample; the VAE's KL term put its codes "
    "where the prior samples."
)

st.markdown(f"##### Reconstructions of test images #{first}–{first + N_RECON - 1}")
originals = images[first : first + N_RECON].astype(np.float32) / 255.0
cols = st.columns(3, gap="medium")
for col, v in zip(cols, twins.TWIN_VARIANTS, strict=True):
    with col:
        # Originals on top, reconstructions below: the eye compares along columns.
        both = np.concatenate([originals, views[v].recon_images])
        ui.grid(both, ncols=N_RECON, caption=f"{TITLES[v]}: x (top), decode(m(x)) (bottom)")
