"""Your image: upload a picture, see it preprocessed the way the training data was made,
reconstructed, sampled from q(t|x), and placed on the latent map."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._lib import display, landing, models, state, testset
from vae.app import inference, projection, typical
from vae.data.images import FILE_EXTENSIONS, FORMATS_TEXT
from vae.data.registry import upload_style_for
from vae.data.upload import STYLES, Preprocessed, preprocess_upload

UPLOAD, TEST, DRAWING = "upload", "test", "drawing"
STYLE_HELP = {
    "digit": "white strokes on black, centred like MNIST",
    "fashion": "object on black, fitted like Fashion-MNIST",
    "face": "centre crop, grey",
    "generic": "centre crop and resize",
}


@st.cache_data(show_spinner="Preprocessing…", max_entries=32)
def _preprocess(data: bytes, image_shape: tuple[int, int, int], style: str) -> Preprocessed:
    return preprocess_upload(data, image_shape, style=style)


@st.cache_data(show_spinner=False, max_entries=16)
def _view(key: str, _mu: np.ndarray, _labels: np.ndarray, method: str) -> projection.Projection:
    """The Latent map's default view of the test means (LDA for a >2-D latent): an upload is
    placed on it exactly, as LDA is a linear map."""
    return projection.project(_mu, _labels, method, seed=0)


def _elbo_context(cur: models.Current, split: testset.TestSplit, x: np.ndarray, elbo: float, uploaded: bool) -> None:
    """The ELBO among the test images' (a histogram and a percentile), and why an image that
    is nothing like them can still score well."""
    test_elbo = testset.test_elbos(cur, split)
    place = typical.place(elbo, x, test_elbo, split.ink)
    hist = landing.elbo_histogram(test_elbo, elbo, "your image" if uploaded else "this image")
    st.plotly_chart(hist, config={"displayModeBar": False}, key="rec_elbo_hist")
    if place.unusual:
        st.warning(
            f"**Unlike the test images:** {'; '.join(place.reasons)}. The model still gives it "
            "an ELBO, but the number says how *cheaply* it can encode these pixels, not "
            f"whether they look like {display.text(cur.dataset)} images: an almost empty picture or a soft "
            "blob is cheap, so a random photo can score *better* than a real handwritten digit. "
            "Judge it by the reconstruction, not by the ELBO.",
            icon=":material/report:",
        )  # fmt: skip
    else:
        st.caption(
            f"Higher than {place.elbo_pct:.0f}% of the test images. A high ELBO means the model "
            "encodes these pixels cheaply, which is not the same as \"looks like the data\": "
            "simple, mostly empty images score well whatever they show."
        )
    if cur.config.likelihood == "gaussian":
        st.info(display.GAUSSIAN_NOTE, icon=":material/info:")


st.title("Your image")
st.markdown(
    "Draw a digit on paper, photograph a T-shirt, or take any picture: the encoder turns it "
    "into a posterior q(t|x), and the decoder shows what the model makes of it. The model only "
    "knows its own kind of images, so anything else is pulled towards what it has seen."
)
cur = models.require_model()
c, h, w = cur.config.image_shape

drawing = state.last_drawing(cur)  # from the Draw page
source = st.radio(
    "Image", [UPLOAD, TEST] + ([DRAWING] if drawing is not None else []), horizontal=True,
    key="rec_source", format_func={UPLOAD: "Upload a file", TEST: "Use a test image", DRAWING: "Your last drawing"}.get,
)  # fmt: skip
x: np.ndarray | None = None
pre: Preprocessed | None = None
split = None
if source == UPLOAD:
    up_col, style_col = st.columns([2, 1])
    upload = up_col.file_uploader(
        f"An image ({FORMATS_TEXT})", type=list(FILE_EXTENSIONS),
        key="rec_upload",
    )  # fmt: skip
    default_style = upload_style_for(cur.dataset)
    style = style_col.selectbox(
        "Preprocess as", STYLES, index=STYLES.index(default_style), key=f"rec_style:{cur.dataset}",
        format_func=lambda s: s + (" (this model's data)" if s == default_style else ""),
    )  # fmt: skip
    # The explanation sits under the box: inside it the value was cut off at 1400 px.
    style_col.caption(STYLE_HELP[style])
    if upload is None:
        st.info(f"Upload an image to see it through **{display.text(cur.name)}** ({display.text(cur.dataset)}, {c}x{h}x{w} input).")
        st.stop()
    with display.user_errors():
        pre = _preprocess(upload.getvalue(), (c, h, w), style)
    if pre is None:
        st.stop()
    x = pre.model_input
    st.session_state[state.LAST_UPLOAD_KEY] = x
elif source == DRAWING:
    x = drawing
else:
    split = testset.test_split(cur)
    i = int(st.number_input(f"Test image # (0-{len(split.labels) - 1})", 0, len(split.labels) - 1, step=1, key=f"rec_test:{cur.name}"))
    x = split.images[i].astype(np.float32) / 255.0

seed = st.session_state.get("rec_seed", 0)
rec = inference.reconstruct(cur.model, x, n_samples=8, seed=seed)

cols = st.columns([1, 1, 1, 2], gap="medium")
if pre is not None:
    with cols[0]:
        st.image(pre.original, caption=f"your file ({pre.format}, {pre.size[0]}x{pre.size[1]})", width="stretch")
with cols[1]:
    display.show_grid(x[None], 1, f"model input x ({h}x{w})", width="stretch")
with cols[2]:
    display.show_grid(rec.recon[None], 1, "reconstruction decode(m)", width="stretch")
with cols[3]:
    display.show_grid(rec.samples, ncols=4, caption="decode(t) for 8 samples t ~ q(t|x)", width="stretch")
    if st.button("New samples", icon=":material/casino:", key="rec_resample"):
        st.session_state["rec_seed"] = seed + 1
        st.rerun()
m1, m2, m3 = st.columns(3)
m1.metric("ELBO (nats)", f"{rec.elbo:.1f}", help="estimated with 8 samples t ~ q(t|x); higher is better")
m2.metric("KL(q(t|x) ‖ N(0, I))", f"{rec.kl:.2f} nats")
m3.metric("mean posterior s.d.", f"{rec.std.mean():.2f}")
if split is None:
    split = testset.test_split(cur, stop=False)
if split is not None:
    _elbo_context(cur, split, x, rec.elbo, uploaded=pre is not None)
elif cur.config.likelihood == "gaussian":
    st.info(display.GAUSSIAN_NOTE, icon=":material/info:")
if pre is not None:
    if pre.blank:
        st.warning("The image is a single flat colour: there is nothing to find in it, so the model input is empty.")
    with st.expander("Preprocessing steps", expanded=True):
        st.markdown("\n".join(f"{k}. {s}" for k, s in enumerate(pre.steps, 1)))

st.subheader("Where it lands in latent space", divider="gray")
if split is not None:
    d = cur.config.latent_dim
    method = projection.available(d, len(split.label_names))[0]  # the Latent map's default
    view = _view(cur.key, split.mu, split.labels, method)
    star = view.place(rec.mu[None], split.mu)[0]
    axes = {"latent": ("t₁", "t₂"), "lda": ("LD 1", "LD 2"), "pca": ("PC 1", "PC 2")}[method]
    fig = landing.landing_map(
        view.xy, split.labels, split.label_names, star, "your image" if pre is not None else "this image",
        axes, equal_aspect=d == 2,
    )  # fmt: skip
    # At 2-D the axes keep the true aspect: across a full 1920 px row the cloud filled only the
    # middle third, so the chart gets a narrower column and the caption sits beside it.
    chart, note = st.columns([1.4, 1], gap="large", vertical_alignment="center") if d == 2 else (st, st)
    chart.plotly_chart(fig, config={"displayModeBar": False}, key="rec_map")
    # The neighbours in the full latent space: the 2-D view can mislead, these cannot.
    near = np.argsort(((split.mu - rec.mu) ** 2).sum(axis=1))[:10]
    counts = np.bincount(split.labels[near], minlength=len(split.label_names))
    tally = ", ".join(f"{display.text(split.label_names[k])} ×{c}" for k, c in sorted(enumerate(counts), key=lambda kc: -kc[1]) if c)
    note.caption(
        "Dots: posterior means of test images. Star: the mean m(x) of "
        + ("your image" if pre is not None else "this image")
        + (
            f", on the Latent map's LDA view (the flat view of the {d}-D means that best "
            "separates the classes)." if method == "lda" else
            f", on the PCA view of the {d}-D means." if method == "pca" else "."
        )
        + f" Its 10 nearest test images in the full {d}-D latent space: **{tally}**."
    )
