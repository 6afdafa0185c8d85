"""Train a model: pick data and settings, watch the curves and images improve live, keep it.

The training runs in a background thread (``vae.app.jobs.TrainingJob``) owned by this session;
a fragment polls it about once a second. See ``vae.app.jobs`` for the server-wide limit on
concurrent trainings and what happens when the tab is closed.
"""

from __future__ import annotations

import uuid

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages._lib import display, liveness, models, testset, timelapse
from vae.app import names
from vae.app.jobs import MAX_CONCURRENT_TRAININGS, TrainingJob, cli_command, trainings_running
from vae.core.checkpoints import USER_SUBDIR, validate_name
from vae.core.device import describe_device, pick_device
from vae.core.fit import TrainConfig
from vae.core.model import VAEConfig
from vae.data.folders import ImageZip, list_zip
from vae.data.registry import DATASETS, dataset_available, default_epochs_for

JOB_KEY = "train_job"  # this session's TrainingJob
ANNOUNCED_KEY = "train_job_announced"  # id of the finished job whose model was selected
NEXT_NAME_KEY = "_train_name_next"  # a fresh name for the next model, applied next run
OWNER_KEY = "_train_owner"  # this session's identity for name claims (vae.app.names)
ZIP = "zip"
VARIANTS = {
    "vae": "VAE (noise + KL)",
    "noisy_ae": "Noisy autoencoder (noise, no KL)",
    "ae": "Plain autoencoder (no noise, no KL)",
}
ZIP_SIZES = {"28x28 grey": ((28, 28), 1), "28x28 colour": ((28, 28), 3), "32x32 colour": ((32, 32), 3)}


def _owner() -> str:
    """This browser session's identity for name claims (``vae.app.names``)."""
    return st.session_state.setdefault(OWNER_KEY, uuid.uuid4().hex)


def _next_name(name: str) -> str:
    """``name-2``, ``name-3``… : the first that nobody has claimed or saved yet."""
    stem = name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name
    folder = models.checkpoint_dir() / USER_SUBDIR
    k = 2
    while names.status(folder / f"{stem}-{k}.pt", _owner()) != names.FREE:
        k += 1
    return f"{stem}-{k}"[:64]


def _dataset_label(name: str) -> str:
    if name == ZIP:
        return "Your own images (upload a .zip)"
    # Short when the data is here: the box cut "· on this machine" to "· on this machi" at 1400 px.
    if dataset_available(name):
        return DATASETS[name].title
    return f"{DATASETS[name].title} · downloads when training starts"


def _curves(history) -> go.Figure:
    epochs = [h.epoch for h in history]
    fig = make_subplots(
        rows=1, cols=3, horizontal_spacing=0.07,
        subplot_titles=("ELBO (higher is better)", "Reconstruction  −log p(x|t)", "KL(q(t|x) ‖ p(t))"),
    )  # fmt: skip
    panels = (("elbo", 1), ("recon", 2), ("kl", 3))
    for split, colour, dash in (("train", "#4f46e5", "solid"), ("test", "#f97316", "dash")):
        for term, col in panels:
            fig.add_trace(
                go.Scatter(
                    x=epochs, y=[getattr(h, f"{split}_{term}") for h in history],
                    mode="lines+markers", name=split, legendgroup=split, showlegend=col == 1,
                    line={"color": colour, "dash": dash, "width": 2.5}, marker={"size": 5},
                    hovertemplate=f"{split} epoch %{{x}}: %{{y:.2f}} nats<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
    fig.update_xaxes(title_text="epoch", rangemode="tozero" if len(epochs) < 2 else "normal")
    # The legend sits in the top margin, above the subplot titles (container coordinates: the
    # same place whatever the height), so it never covers a title or a curve.
    fig.update_layout(
        height=330, margin={"l": 10, "r": 10, "t": 72, "b": 10},
        legend={
            "orientation": "h", "yref": "container", "y": 1, "yanchor": "top",
            "x": 0.5, "xanchor": "center",
        },
    )  # fmt: skip
    return fig


def _render(job: TrainingJob, live: bool) -> None:
    """The progress, curves and preview images of ``job``."""
    snap = job.snapshot()
    if snap.status == "queued":
        st.info(
            f"Waiting for a free training slot: {trainings_running()} of "
            f"{MAX_CONCURRENT_TRAININGS} trainings are running on this server. Yours starts "
            "as soon as one finishes."
        )
    elif snap.status == "failed":
        st.error(f"The training did not finish. {snap.error}")
    if snap.status in ("queued", "running"):
        text = f"Epoch {snap.epoch} / {snap.total_epochs} · {snap.phase} · {snap.elapsed:.0f} s"
        if job.stop_requested:
            text += " · stopping after this batch…"
        st.progress(snap.progress, text=text)
    if not snap.history:
        if live and snap.status == "running":
            st.caption(f"Training on {snap.device}; the first curves appear when epoch 1 ends.")
        return
    if live:  # when finished, the saved model's own figures are shown instead
        last = snap.history[-1]
        c = st.columns(4)
        c[0].metric("Test ELBO", f"{last.test_elbo:.2f}", help="nats per image, higher is better")
        c[1].metric("Reconstruction", f"{last.test_recon:.2f}", help="test −log p(x|t), nats")
        c[2].metric("KL", f"{last.test_kl:.2f}", help="test KL(q(t|x) ‖ N(0, I)), nats")
        c[3].metric("Speed", f"{last.images_per_second:,.0f} img/s", help=f"on {snap.device}")
    st.plotly_chart(_curves(snap.history), config={"displayModeBar": False})
    left, right = st.columns(2)
    if snap.reconstructions is not None:
        with left:
            st.markdown(f"**Reconstructions after epoch {snap.epoch}**")
            display.show_grid(
                np.concatenate([snap.originals, snap.reconstructions]), ncols=8, width="stretch",
                caption="top: test images · bottom: decoded posterior means", inline=live,
            )  # fmt: skip
        with right:
            st.markdown(f"**Samples from the prior after epoch {snap.epoch}**")
            display.show_grid(
                snap.samples, ncols=8, width="stretch", inline=live,
                caption="decode(t), t ~ N(0, I): the same 16 latents every epoch",
            )  # fmt: skip


@st.fragment(run_every=0.75)
def _live(job: TrainingJob) -> None:
    _render(job, live=True)
    if job.snapshot().finished:
        st.rerun()  # a full run announces the result and refreshes the model picker


@st.fragment(run_every=2.0)
def _live_timelapse(job: TrainingJob) -> None:
    # Its own, slower fragment: the figure carries every frame, and is replaced only when a
    # new snapshot arrives (its key changes), so a student can scrub it while training runs.
    timelapse.show_job(job)


def _collapse_note(name: str, how: str, active: int, d: int, job: TrainingJob) -> str:
    """Saved, but not worth exploring: say why and what to change."""
    beta = job.train_config.beta if job.model_config.variant == "vae" else None
    what = (
        "**0** of its latent dimensions: the decoder ignores t, so every reconstruction and "
        "every sample is the same average image (a *posterior collapse*)"
        if active == 0 else
        f"only **{active}** of its **{d}** latent dimensions: the others carry no information"
    )  # fmt: skip
    tries = []
    if beta is not None and beta > 1:
        tries.append(f"a smaller β (it was {beta:g}: a heavy KL term pushes every code onto the prior)")
    tries.append(f"more epochs (it had {job.train_config.epochs})")
    if active and d > 2:
        tries.append(f"a smaller latent size (about {max(2, active)})")
    tries.append("KL warm-up from the command line (`python -m vae.train ... --kl-warmup 10`)")
    return (
        f"Model **{display.text(name)}** is trained ({how}) and selected, but it uses {what}. Try "
        + ", ".join(tries[:-1]) + f" or {tries[-1]}."
    )


def _finished(job: TrainingJob) -> None:
    snap = job.snapshot()
    name = job.output_path.stem
    if snap.checkpoint_path is not None:
        if st.session_state.get(ANNOUNCED_KEY) != job.id:
            # Select the new model: the sidebar picker takes it before drawing itself.
            st.session_state[ANNOUNCED_KEY] = job.id
            st.session_state[NEXT_NAME_KEY] = _next_name(name)
            models.forget_listing()  # list the new file now, not within the listing's second
            models.select_model(name)
            st.rerun()
        how = "stopped early; the last finished epoch was saved" if snap.status == "stopped" else "done"
        m = snap.metrics or {}
        d, active = job.model_config.latent_dim, m.get("active_units")
        if testset.too_few_active(active, d):
            st.warning(_collapse_note(name, how, active, d, job), icon=":material/warning:")
        else:
            st.success(f"Model **{display.text(name)}** is trained ({how}) and is now the selected model.", icon=":material/check_circle:")
        c = st.columns(4)
        c[0].metric("Epochs", f"{snap.epoch} / {snap.total_epochs}")
        c[1].metric("Test ELBO", f"{m.get('test_elbo', float('nan')):.2f}", help="nats per image")
        c[2].metric("log p(x) ≥", f"{m.get('log_px', float('nan')):.2f}", help=f"importance sampling, k = {m.get('log_px_k')}, {m.get('log_px_n')} test images")
        c[3].metric("Active latent units", f"{m.get('active_units')} / {job.model_config.latent_dim}")
        st.page_link("pages/sliders.py", label="Explore it: drag the latent sliders", icon=":material/tune:")
        st.page_link("pages/latent_map.py", label="See its latent map", icon=":material/scatter_plot:")
    elif snap.status == "stopped":
        st.warning("Stopped before the first epoch finished: nothing was saved.")
    _render(job, live=False)


st.title("Train a model")
st.markdown(
    "Choose the data and the model, press **Train**, and watch the ELBO rise while the "
    "reconstructions sharpen and samples from the prior start to look like the data. "
    "The trained model is saved as *yours* and appears in the model picker for everyone "
    "using this app."
)

job: TrainingJob | None = st.session_state.get(JOB_KEY)
busy = job is not None and not job.snapshot().finished

data_col, model_col, opt_col = st.columns(3, gap="large")
with data_col:
    st.subheader("Data", divider="gray")
    ds = st.selectbox("Dataset", [*DATASETS, ZIP], format_func=_dataset_label, key="train_dataset")
    user_data: ImageZip | None = None
    if ds == ZIP:
        st.caption(
            "A zip of PNG/JPEG images, one sub-folder per class (e.g. `cats/`, `dogs/`); "
            "10% are kept aside as the test split."
        )
        upload = st.file_uploader("Your images (.zip)", type=["zip"], key="train_zip")
        size_label = st.radio("Resize to", list(ZIP_SIZES), horizontal=True, key="train_zip_size")
        size, channels = ZIP_SIZES[size_label]
        if upload is not None:
            # Only the zip's table of contents is read here; the images are decoded inside the
            # training job, where Stop (or closing the tab) ends the work.
            with display.user_errors(ValueError):
                counts = list_zip(upload.getvalue())
                user_data = ImageZip(upload.getvalue(), size, channels)
            if user_data is not None:
                st.caption(
                    f"{sum(counts.values())} files; classes: "
                    + ", ".join(f"{display.text(n)} ({k})" for n, k in counts.items())
                    + ". They are read when training starts."
                )
        image_shape = (channels, *size)
        likelihood = "bernoulli"
    else:
        info = DATASETS[ds]
        st.caption(info.description)
        if not dataset_available(ds):
            st.info(
                f"{info.title} is not on this machine yet: it is downloaded (and checked) when "
                "training starts. Without a network connection the training stops with a note "
                "saying where to put the files by hand."
            )
        image_shape, likelihood = info.image_shape, info.likelihood
    st.caption(f"Images {image_shape[1]}x{image_shape[2]}, {'colour' if image_shape[0] == 3 else 'grey'}; decoder likelihood: {likelihood}.")

with model_col:
    st.subheader("Model", divider="gray")
    arch = st.radio("Architecture", ["mlp", "conv"], format_func=lambda a: {"mlp": "MLP", "conv": "Convolutional"}[a], horizontal=True, key="train_arch")
    latent = st.number_input("Latent dimensions", 1, 64, 2, step=1, key="train_latent", help="2 lets you see the whole latent space as a plane")
    variant = st.radio("Variant", list(VARIANTS), format_func=VARIANTS.get, key="train_variant")
    beta = st.number_input(
        "β (weight of the KL term)", 0.0, 20.0, 1.0, step=0.25, key="train_beta",
        disabled=variant != "vae", help="1 = the ELBO; larger pushes codes towards the prior",
    )  # fmt: skip

with opt_col:
    st.subheader("Training", divider="gray")
    epochs = st.slider("Epochs", 1, 100, default_epochs_for(ds), key=f"train_epochs_{ds}")
    batch = st.select_slider("Batch size", [32, 64, 128, 256, 512], 128, key="train_batch")
    lr = st.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2], 1e-3, format_func=lambda v: f"{v:g}", key="train_lr")
    binarize = st.checkbox(
        "Binarize the images each batch", key="train_binarize", disabled=likelihood != "bernoulli",
        help="Dynamic binarization: each pixel becomes 0/1 with its grey level as probability "
        "(Bernoulli decoders only).",
    )  # fmt: skip

st.subheader("Save as", divider="gray")
name_col, info_col = st.columns([1, 2], vertical_alignment="bottom")
if NEXT_NAME_KEY in st.session_state:  # set before the text input exists in this run
    st.session_state["train_name"] = st.session_state.pop(NEXT_NAME_KEY)
if "train_name" not in st.session_state:
    taken = names.status(models.checkpoint_dir() / USER_SUBDIR / "my-model.pt", _owner()) != names.FREE
    st.session_state["train_name"] = _next_name("my-model") if taken else "my-model"
raw_name = name_col.text_input("Model name", key="train_name", help="letters, digits, '_', '-', '.'")
name = None
with info_col:
    try:
        name = validate_name(raw_name, reserved=models.bundled_names())
    except ValueError as e:
        st.error(str(e))
out = models.checkpoint_dir() / USER_SUBDIR / f"{name}.pt" if name else None
replace_ok = True
claim = names.status(out, _owner()) if out is not None else names.FREE
if claim in (names.TAKEN, names.EXISTS):  # another student's: never replaced (issue 19)
    info_col.error(display.text(names.message(out, claim)))
    replace_ok = False
elif claim == names.YOURS and out.exists():
    replace_ok = info_col.checkbox(f"You already have a model called **{display.text(name)}**: replace it", key="train_replace")
device = pick_device()
info_col.caption(
    f"Trains on **{describe_device(device)}** · {trainings_running()} of "
    f"{MAX_CONCURRENT_TRAININGS} training slots on this server in use."
)

ready = name is not None and replace_ok and (ds != ZIP or user_data is not None) and not busy
if st.button("Train", type="primary", icon=":material/play_arrow:", disabled=not ready, key="train_start"):
    hidden = (256, 128) if image_shape[1] * image_shape[2] <= 16 * 16 else (512, 256)
    with display.user_errors(ValueError):
        model_config = VAEConfig(
            image_shape=image_shape, latent_dim=int(latent), architecture=arch, hidden=hidden,
            likelihood=likelihood, variant=variant,
        )  # fmt: skip
        train_config = TrainConfig(
            epochs=int(epochs), batch_size=int(batch), lr=float(lr), beta=float(beta),
            binarize=bool(binarize) and likelihood == "bernoulli",
        )  # fmt: skip
        title = DATASETS[ds].title if ds != ZIP else "your images"
        meta = {"title": f"Trained in the app on {title}: {latent}-D {VARIANTS[variant]}, {arch.upper()}"}
        if ds != ZIP:
            meta["command"] = cli_command(model_config, train_config, ds, out.relative_to(models.REPO) if out.is_relative_to(models.REPO) else out)
        # start() claims the name: NameTaken (a ValueError, shown) if another student took it meanwhile.
        job = TrainingJob(
            model_config, train_config, user_data if ds == ZIP else ds, out, meta, device=device,
            owner_alive=liveness.tab_open_check(), owner=_owner(),
        ).start()  # fmt: skip
        st.session_state[JOB_KEY] = job
        st.rerun()  # draw the page again with the Train button disabled
elif busy:
    st.caption("One training at a time per session: stop it or wait until it finishes.")

if job is not None:
    st.subheader(f"Training {display.text(job.output_path.stem)}", divider="gray")
    if busy:
        # Stop lives outside the fragment: redrawn every 0.75 s inside it, the button was
        # replaced under the pointer mid-click on a loaded server and the click was lost.
        st.button(
            "Stop", icon=":material/stop_circle:", key="train_stop", on_click=job.stop,
            disabled=job.stop_requested, help="Saves the last finished epoch",
        )  # fmt: skip
        _live(job)
        _live_timelapse(job)
    else:
        _finished(job)
        timelapse.show_job(job)
