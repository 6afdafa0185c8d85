"""Home: what a VAE is, the model now loaded, and where to go next."""

import streamlit as st

from pages._lib import display, models

st.title("VAE Latent Explorer")
st.markdown(
    "A **variational autoencoder** squeezes each image into a small code *t* and learns to "
    "rebuild the image from it. The encoder does not give one code but a Gaussian "
    "${q(t\\mid x) = \\mathcal{N}(m, \\operatorname{diag}(s^2))}$, the decoder turns any code "
    "into an image, and a KL term keeps the codes close to $\\mathcal{N}(0, I)$. "
    "So every point of the latent space decodes to a plausible image, and the model can "
    "*generate* new ones: ${p(x) = \\int p(x\\mid t)\\,p(t)\\,dt}$ is an infinite mixture of "
    "simple distributions."
)

cur = models.require_model()
cfg, ckpt = cur.config, cur.checkpoint
m = ckpt.metrics

st.subheader(f"Model loaded: {display.text(cur.name)}")
if ckpt.meta.get("title"):
    st.caption(display.text(ckpt.meta["title"]))
c1, c2, c3, c4 = st.columns(4)
c1.metric("Dataset", display.text(cur.dataset))
c2.metric("Latent dimensions", cfg.latent_dim)
c3.metric("Architecture", cfg.architecture.upper())
if "test_elbo" in m:
    c4.metric("Test ELBO (nats / image)", f"{m['test_elbo']:.2f}")
details = [f"likelihood: **{cfg.likelihood}**"]
if "log_px" in m:
    details.append(
        f"log p(x) ≥ **{m['log_px']:.2f}** nats (importance sampling, k = {m.get('log_px_k')}, "
        f"{m.get('log_px_n')} test images)"
    )
if "active_units" in m:
    details.append(f"active latent units: **{m['active_units']} / {cfg.latent_dim}**")
# Checkpoints from before describe_device's plural fix say "CPU (1 threads)".
trained_on = str(ckpt.meta.get("device") or "unknown device").replace("(1 threads)", "(1 thread)")
details.append(f"trained on: **{display.text(trained_on)}**")
if cfg.variant != "vae":
    details.append(f"variant: **{ {'ae': 'plain autoencoder', 'noisy_ae': 'autoencoder with noise, no KL'}[cfg.variant] }**")
st.markdown(" · ".join(details))
if cfg.likelihood == "gaussian":
    st.info(display.GAUSSIAN_NOTE, icon=":material/info:")
with st.expander("Where these numbers come from"):
    st.markdown(
        "The figures were computed on the dataset's test split when the model was saved "
        "(`vae.core.metrics.summarize`) and are re-checked by the test suite, so a checkpoint cannot "
        "claim a number it does not have. ELBO and log p(x) are in nats per image, summed over "
        "pixels; higher is better. Re-evaluate any model yourself with:"
    )
    st.code(f"python -m vae.evaluate {cur.path.relative_to(models.REPO) if cur.path.is_relative_to(models.REPO) else cur.path}", language="bash")
    if ckpt.meta.get("command"):
        st.markdown("It was trained with:")
        st.code(ckpt.meta["command"], language="bash")

st.subheader("Where to go")
WHERE_TO_GO = {
    "Explore a model": [
        ("pages/sliders.py", "Drag latent sliders, watch the image change live", ":material/tune:"),
        ("pages/plane.py", "Hover over the 2-D latent plane", ":material/grid_on:"),
        ("pages/latent_map.py", "See the test set in latent space", ":material/scatter_plot:"),
        ("pages/timelapse.py", "Watch a model learn, epoch by epoch", ":material/slow_motion_video:"),
        ("pages/compare.py", "Compare two models side by side", ":material/compare_arrows:"),
        ("pages/reconstruct.py", "Upload your own image", ":material/upload:"),
        ("pages/arithmetic.py", "Latent arithmetic: add and subtract codes", ":material/calculate:"),
        ("pages/draw.py", "Draw a digit, watch it encode live", ":material/draw:"),
        ("pages/train.py", "Train a model of your own", ":material/model_training:"),
    ],
    "The lecture, live": [
        ("pages/lesson.py", "Teach it: the 45-minute plan, step by step", ":material/school:"),
        ("pages/noise.py", "Noise ε: t = m + s ⊙ ε", ":material/casino:"),
        ("pages/gradients.py", "Why the trick: gradient estimators", ":material/trending_down:"),
        ("pages/ae_vs_vae.py", "Autoencoder vs VAE", ":material/compare:"),
        ("pages/elbo.py", "ELBO vs log p(x): the EM view", ":material/functions:"),
        ("pages/generation.py", "An infinite mixture of Gaussians", ":material/auto_awesome:"),
        ("pages/interpolation.py", "Walk between two images", ":material/linear_scale:"),
    ],
}
for column, (heading, links) in zip(st.columns(len(WHERE_TO_GO)), WHERE_TO_GO.items(), strict=True):
    column.markdown(f"**{heading}**")
    for path, label, icon in links:
        column.page_link(path, label=label, icon=icon)
