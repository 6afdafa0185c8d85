"""Draw it yourself: draw a digit and watch q(t|x) move under the pen. The encoder and the
decoder run in the browser (``pages/_lib/live_draw.py``); Python hears once per finished
stroke, keeps the drawing as "your last drawing" (like an upload) and checks it on the server.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._lib import display, models, state, testset
from pages._lib.live_draw import Drawing, draw_pad
from vae.app import inference
from vae.data.registry import upload_style_for
from vae.data.upload import UploadError, preprocess_upload

MAX_POINTS = 2000  # encoded test images drawn under the posterior
N_NEAR = 20
N_ELBO = 500  # test images scored for the ELBO's context (cheap enough for a first visit)
KIND = {"digit": "digits", "fashion": "clothes"}


@st.cache_data(show_spinner=False, max_entries=8)
def _pca(key: str, _mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Latent map's PCA of the test means: ``(mean (D,), components (2, D))``."""
    p = inference.pca_projection(_mu)
    return p.mean, p.components


@st.cache_data(show_spinner="Scoring a few test images…", max_entries=8)
def _elbo_percentiles(key: str, _model: models.VAE, _images: np.ndarray) -> np.ndarray:
    """5th, 50th and 95th percentile of the test images' ELBO (nats; 8 samples, seed 0)."""
    return np.percentile(inference.elbo_per_image(_model, _images.astype(np.float32) / 255.0), [5, 50, 95])


def _extent(pts: np.ndarray) -> list[float]:
    """A square view holding the prior's 2 SD circle and nearly all points (equal scales, so
    the ellipses keep their shape)."""
    if len(pts) == 0:
        return [-3.0, 3.0, -3.0, 3.0]
    lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    mid = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * 1.1, 2.5)
    return [mid[0] - half, mid[0] + half, mid[1] - half, mid[1] + half]


st.title("Draw it yourself")
cur = models.require_model()
c, h, w = cur.config.image_shape
d = cur.config.latent_dim
ss = st.session_state
style = upload_style_for(cur.dataset)
sketch = style in KIND and c == 1
payload, export_error = models.draw_payload(cur)
split = testset.test_split(cur, stop=False)

if sketch:
    st.markdown(
        f"Draw {'a digit' if style == 'digit' else 'a piece of clothing'} with your mouse, "
        "finger or pen. On every move your browser prepares the drawing exactly as an uploaded "
        "image is prepared (crop to the ink, fit into 20×20, centre by mass), **encodes** it into "
        "q(t|x) = N(m, s²), and **decodes** m and 8 samples t = m + s ⊙ ε. Nothing goes to the "
        "server until you lift the pen."
    )
else:
    st.info(
        f"**{display.text(cur.name)}** was trained on {display.text(cur.dataset)}: "
        + ("colour pictures" if c == 3 else "photographs")
        + ", not sketches of white ink on black. A drawing would be unlike anything it has seen, "
        "so here you **paint over a test image** instead (pick one below): the encoding follows "
        "every brush stroke just the same.",
        icon=":material/brush:",
    )

# --------------------------------------------------------------------------- controls
n_test = len(split.labels) if split is not None else 0
cols = st.columns([1.2, 1.3, 1, 2.5], vertical_alignment="bottom")
test_i = 0
start = None
starts_key = f"draw_starts:{cur.name}"
if n_test:
    test_i = int(cols[0].number_input(f"Test image # (0-{n_test - 1})", 0, n_test - 1, 0, key=f"draw_test:{cur.name}"))
    if cols[1].button(f"Start from test image #{test_i}", icon=":material/edit:", key="draw_start", width="stretch"):
        ss[starts_key] = ss.get(starts_key, 0) + 1
    if ss.get(starts_key, 0) or not sketch:
        start = (f"{test_i}:{ss.get(starts_key, 0)}", split.images[test_i])
seed = int(cols[2].number_input("ε seed", 0, 9999, 0, key="draw_seed", help="The 8 samples' noise ε comes from this seed: the same seed replays the same samples."))

# --------------------------------------------------------------------------- posterior backdrop
pts, labels, colors, names, proj = np.zeros((0, 2)), None, [], [], None
if split is not None:
    mu_all = split.mu[:MAX_POINTS]
    if d >= 2:
        if d > 2:
            proj = _pca(cur.key, split.mu)
            pts = (mu_all - proj[0]) @ proj[1].T
        else:
            pts = mu_all[:, :2]
    labels = split.labels[:MAX_POINTS]
    colors = [display.PALETTE[k % len(display.PALETTE)] for k in range(len(split.label_names))]
    names = list(split.label_names)
context = None
if split is not None and cur.config.likelihood == "bernoulli" and payload is not None:
    p5, p50, p95 = _elbo_percentiles(cur.key, cur.model, split.images[:N_ELBO])
    context = (
        f"For comparison, {N_ELBO} test images: median ELBO {p50:.0f} nats, 90% between {p5:.0f} and "
        f"{p95:.0f}. Higher (closer to 0) means the model explains the picture more cheaply: a "
        "scribble scores far below a clear digit."
    ).replace("-", "−")

if payload is None:
    st.warning(
        "This model cannot run in your browser, so nothing updates while you draw: the server "
        f"encodes your drawing each time you lift the pen. ({export_error})",
        icon=":material/cloud:",
    )
if d < 2:
    st.caption("A 1-D latent space: the panel on the right plots t₁ against 0.")
drawing = draw_pad(
    payload, image_shape=(c, h, w), latent_dim=d, mode="draw" if sketch else "paint", style=style,
    points_xy=pts, point_labels=labels, label_colors=colors, label_names=names, extent=_extent(pts), projection=proj,
    likelihood=cur.config.likelihood, deterministic=cur.config.variant == "ae", start=start,
    seed=seed, elbo_context=context, key=f"draw_pad:{cur.name}",
)  # fmt: skip

# --------------------------------------------------------------------------- your last drawing
if drawing is None:
    st.caption(
        "Lift the pen and your drawing becomes **your last drawing**: the lecture pages and "
        "Your image can use it like an uploaded image."
    )
    st.stop()


def _model_input(dr: Drawing) -> np.ndarray | None:
    if dr.x is not None:
        return dr.x
    try:  # a model without a browser export: the server prepares the PNG like an upload
        return preprocess_upload(dr.png, (c, h, w), style=style if sketch else "generic").model_input
    except UploadError as err:
        st.error(f"Your drawing could not be read: {display.text(err)}")
        return None


x = _model_input(drawing)
if x is None:
    st.stop()
stored = (cur.key, drawing.n)
if ss.get("draw_stored") != stored:  # once per drawing: a later upload is not overwritten
    ss["draw_stored"] = stored
    ss[state.LAST_UPLOAD_KEY] = ss[state.LAST_DRAWING_KEY] = x
rec = inference.reconstruct(cur.model, x, n_samples=8, seed=seed)
st.subheader("Your last drawing, checked on the server", divider="gray")
c_x, c_rec, c_text = st.columns([1, 1, 3], gap="medium")
with c_x:
    display.show_image(x, "model input x", width=140)
with c_rec:
    display.show_image(rec.recon, "decode(m) by PyTorch", width=140)
with c_text:
    fmt = lambda v: f"{v:+.2f}".replace("-", "−")  # noqa: E731
    shown = min(d, 8)
    more = f" … ({d} dimensions)" if d > shown else ""
    lines = [f"**Server** m = ({', '.join(fmt(v) for v in rec.mu[:shown])}{more}), ELBO ≈ {rec.elbo:.1f} nats (KL {rec.kl:.1f})".replace("-", "−")]
    if drawing.mu is not None:
        gap = float(np.abs(drawing.mu - rec.mu).max())
        lines.append(f"**Browser** m = ({', '.join(fmt(v) for v in drawing.mu[:shown])}{more}); largest difference {gap:.1e}")
    if split is not None and len(split.labels) >= N_NEAR:
        near = np.argsort(((split.mu - rec.mu) ** 2).sum(axis=1))[:N_NEAR]
        votes = np.bincount(split.labels[near], minlength=len(split.label_names))
        top = int(votes.argmax())
        lines.append(
            f"The {N_NEAR} test images whose means are nearest to m: **{votes[top]} of {N_NEAR} are "
            f"{display.text(split.label_names[top])}**."
        )
    st.markdown("  \n".join(lines))
    if drawing.recon is not None and drawing.kl is not None:
        # Same seed, different random-number generators: the two 8-sample estimates differ.
        browser_elbo = -(drawing.recon + drawing.kl)
        same = abs(drawing.kl - rec.kl) < 0.05
        why = (
            f"Why two ELBOs ({browser_elbo:.1f} in your browser, {rec.elbo:.1f} here)? Each averages the "
            "reconstruction over its own 8 random draws of ε, so they differ by sampling noise; the KL "
            f"needs no sampling ({drawing.kl:.1f} and {rec.kl:.1f}"
            + (": the same)." if same else ": not the same drawing?).")
        )
        st.caption(why.replace("-", "−"))
    if drawing.blank:
        st.caption("The pad is empty (or one flat colour), so x is all black, as for a blank upload.")
    st.caption("Saved as your last drawing: pick “your last upload” on a lecture page, or “Your last drawing” on Your image.")
