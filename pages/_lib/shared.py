"""Streamlit glue shared by every page, written once: the model picker, cached loading and
encoding, image display and the user-facing error boundary.

Pages call ``current()`` for the chosen model and ``test_split(cur)`` for the encoded test
data; neither imports torch here (that lives in ``vae``).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from vae import inference
from vae.checkpoints import Checkpoint, CheckpointEntry, list_checkpoints
from vae.data import DATASETS, DatasetUnavailable, load_dataset
from vae.images import to_display
from vae.model import VAE

REPO = Path(__file__).resolve().parents[2]
MODEL_KEY = "model_name"
# A model name to select on the next run (see ``select_model``): MODEL_KEY belongs to the
# sidebar selectbox, which cannot be assigned once it exists in the current run.
PENDING_MODEL_KEY = "_pending_model_name"
# The last image a user uploaded on the "Your image" page, preprocessed for the model it was
# uploaded with: float32 numpy (C, H, W) in [0, 1]. Lecture pages may reuse it when its shape
# matches their model (check ``.shape == cur.config.image_shape``).
LAST_UPLOAD_KEY = "last_upload"
# How an upload is preprocessed for a model trained on each dataset (``vae.images`` styles).
UPLOAD_STYLES = {"digits": "digit", "mnist": "digit", "fashion-mnist": "fashion", "frey": "face"}
# Test points kept for maps and planes: enough to see structure, small enough to send.
MAX_POINTS = 5000


def checkpoint_dir() -> Path:
    """``$VAE_CHECKPOINT_DIR`` or the repo's ``checkpoints/`` (user models in ``user/``)."""
    return Path(os.environ.get("VAE_CHECKPOINT_DIR") or REPO / "checkpoints")


def _signature(folder: Path) -> tuple:
    """Names, sizes and mtimes of the checkpoint files: the cache key for the listing."""
    files = []
    for sub in (folder, folder / "user"):
        if sub.is_dir():
            files += [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(sub.glob("*.pt"))]
    return tuple(files)


@st.cache_resource(show_spinner=False, max_entries=8)
def _entries(folder: str, signature: tuple) -> list[CheckpointEntry]:
    return list_checkpoints(folder)


def model_entries() -> list[CheckpointEntry]:
    folder = checkpoint_dir()
    return _entries(str(folder), _signature(folder))


def bundled_names() -> set[str]:
    return {e.name for e in model_entries() if e.bundled}


def default_name(entries: list[CheckpointEntry]) -> str | None:
    """The name in ``checkpoints/default.txt`` if usable, else the first usable model."""
    usable = [e.name for e in entries if e.ok]
    marker = checkpoint_dir() / "default.txt"
    if marker.exists():
        wanted = marker.read_text().strip()
        if wanted in usable:
            return wanted
    return usable[0] if usable else None


@dataclass(frozen=True)
class Current:
    """The model this session is looking at. ``model`` is shared by all users: read only."""

    name: str
    path: Path
    bundled: bool
    checkpoint: Checkpoint
    model: VAE

    @property
    def config(self):
        return self.checkpoint.model_config

    @property
    def dataset(self) -> str:
        return self.checkpoint.dataset

    @property
    def key(self) -> str:
        """A cache key that changes when the file does."""
        st_ = self.path.stat()
        return f"{self.path}:{st_.st_size}:{st_.st_mtime_ns}"


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def _load(path: str, key: str) -> tuple[Checkpoint, VAE]:
    from vae.checkpoints import load_checkpoint

    inference.limit_threads()
    ckpt = load_checkpoint(path)
    return ckpt, ckpt.build_model()


@st.cache_resource(show_spinner="No model found: training the digits default (a few seconds)…")
def _quickstart(folder: str) -> None:
    """With no usable checkpoint at all, train the bundled-data default once per server."""
    from vae.quickstart import train_quickstart

    train_quickstart(Path(folder) / "user" / "digits-quickstart.pt")


def sidebar_model_picker() -> Current | None:
    """The model selector in the sidebar, shared by every page; the choice survives page
    switches. Broken files are listed with their reason and never loaded."""
    entries = model_entries()
    if not any(e.ok for e in entries):
        _quickstart(str(checkpoint_dir()))
        entries = model_entries()
    usable = [e for e in entries if e.ok]
    broken = [e for e in entries if not e.ok]
    if not usable:
        st.sidebar.error("No usable model. Train one on the Train page.")
        return None
    names = [e.name for e in usable]
    pending = st.session_state.pop(PENDING_MODEL_KEY, None)
    if pending in names:  # set before the widget exists in this run, so this is allowed
        st.session_state[MODEL_KEY] = pending
    if st.session_state.get(MODEL_KEY) not in names:
        st.session_state[MODEL_KEY] = default_name(entries)
    by_name = {e.name: e for e in usable}

    def label(name: str) -> str:
        e = by_name[name]
        cfg = e.checkpoint.model_config
        tag = "" if e.bundled else " · yours"
        return f"{name} ({e.checkpoint.dataset}, {cfg.latent_dim}-D{tag})"

    st.sidebar.selectbox("Model", names, key=MODEL_KEY, format_func=label)
    if broken:
        with st.sidebar.expander(f"{len(broken)} unusable checkpoint file(s)"):
            for e in broken:
                st.caption(f"**{e.path.name}**: {e.error}")
    return current()


def select_model(name: str) -> None:
    """Make ``name`` the chosen model from the next run on; call ``st.rerun()`` after it.

    Pages cannot assign ``st.session_state[MODEL_KEY]`` themselves: the sidebar selectbox
    owning that key has already been created when a page runs.
    """
    st.session_state[PENDING_MODEL_KEY] = name


def current() -> Current | None:
    """The chosen model, loaded once per file for all sessions (``st.cache_resource``)."""
    by_name = {e.name: e for e in model_entries() if e.ok}
    name = st.session_state.get(MODEL_KEY)
    if name not in by_name:
        name = default_name(model_entries())
        if name is None:
            return None
    e = by_name[name]
    st_ = e.path.stat()
    ckpt, model = _load(str(e.path), f"{st_.st_size}:{st_.st_mtime_ns}")
    return Current(name=name, path=e.path, bundled=e.bundled, checkpoint=ckpt, model=model)


def require_model() -> Current:
    """``current()`` or stop the page with a friendly note."""
    cur = current()
    if cur is None:
        st.info("No model is loaded yet. Train one on the **Train** page.")
        st.stop()
    return cur


@dataclass(frozen=True)
class TestSplit:
    """Up to ``MAX_POINTS`` test images of the model's dataset, encoded by the model."""

    images: np.ndarray  # (N, C, H, W) uint8
    labels: np.ndarray  # (N,) int
    label_names: tuple[str, ...]
    mu: np.ndarray  # (N, D)
    logvar: np.ndarray  # (N, D)


@st.cache_data(show_spinner="Encoding the test set (the first time, downloading it)…", max_entries=16)
def _encode_split(key: str, dataset: str, _model: VAE) -> TestSplit:
    # Downloads a missing dataset once (checksummed, atomic); offline it fails at once with
    # DatasetUnavailable, which test_split turns into a message saying where to put the files.
    data = load_dataset(dataset)
    x, y = data.test_x[:MAX_POINTS], data.test_y[:MAX_POINTS]
    mu, logvar = inference.encode(_model, x)
    return TestSplit(x.numpy(), y.numpy(), data.label_names, mu, logvar)


@st.cache_data(show_spinner="Encoding the test set…", max_entries=16)
def _encode_custom(key: str, _cur: Current) -> TestSplit:
    """A model trained on a user's zip: its test images live in the checkpoint's meta
    (``vae.jobs.custom_test_set``), since the upload itself is not kept."""
    test = _cur.checkpoint.meta["test_set"]
    x, y = test["images"], test["labels"]
    mu, logvar = inference.encode(_cur.model, x)
    return TestSplit(np.asarray(x), np.asarray(y), tuple(test["label_names"]), mu, logvar)


def test_split(cur: Current, *, stop: bool = True) -> TestSplit | None:
    """The encoded test split (cached per model file), or a message saying how to get the
    data when it is not on this machine (then the page stops, unless ``stop=False``)."""
    if cur.dataset not in DATASETS:
        if "test_set" in cur.checkpoint.meta:
            return _encode_custom(cur.key, cur)
        st.warning(
            f"This model was trained on **{cur.dataset}**, a dataset this app does not have, "
            "so this view cannot show its test images."
        )
        if stop:
            st.stop()
        return None
    try:
        return _encode_split(cur.key, cur.dataset, cur.model)
    except DatasetUnavailable as e:
        info = DATASETS.get(cur.dataset)
        title = info.title if info else cur.dataset
        st.warning(
            f"The test images of **{title}** are not on this machine, so this view cannot "
            f"show them. {e}\n\nModels trained on the bundled **digits** data always work."
        )
        if stop:
            st.stop()
        return None


def show_image(arr: np.ndarray, caption: str | None = None, width: int = 160) -> None:
    """One (C, H, W) or (H, W) float image, upscaled crisply."""
    scale = max(1, width // max(arr.shape[-2], arr.shape[-1]))
    st.image(to_display(arr, scale), caption=caption, width=width)


def show_grid(
    arr: np.ndarray, ncols: int, caption: str | None = None, width: int | str = "content",
    scale: int | None = None, inline: bool = False, pad: int = 1,
) -> None:
    """Images ``(N, C, H, W)`` in [0, 1] tiled ``ncols`` wide and upscaled crisply (nearest
    neighbour: the browser would blur tiny images). ``scale`` defaults to about 4 px per pixel
    for 28x28 images and more for small ones.

    ``inline=True`` sends the PNG inside the page (a data: URL) instead of as a media file.
    Use it in fragments that rerun every second: Streamlit deletes a run's media files when
    the next run ends, so a slow browser would fetch a file that is already gone (blank image).
    """
    from vae.images import tile_images

    grid = tile_images(arr, ncols, pad=pad)
    if scale is None:
        scale = max(2, 112 // max(arr.shape[-2], arr.shape[-1]))
    image = to_display(grid, scale)
    if inline:
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=False)
        image = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    st.image(image, caption=caption, width=width)


def upload_style(dataset: str) -> str:
    """The ``vae.images.preprocess_upload`` style for a model of ``dataset``."""
    return UPLOAD_STYLES.get(dataset, "generic")


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Show errors a user can cause as a clear message; nothing is raised into the page."""
    from vae.checkpoints import CheckpointError
    from vae.images import UploadError

    handled = kinds or (UploadError, CheckpointError, DatasetUnavailable, ValueError)
    try:
        yield
    except handled as e:
        st.error(str(e))


# --------------------------------------------------------------------------- live decoding

# The latent vector a user last set on the Latent sliders page (the released slider values)
# or pinned on the 2-D latent plane page: list[float] of length D. Plain session state, so it
# survives page switches (a widget's own state is dropped while its page is not shown).
# LATENT_VECTOR_MODEL_KEY holds ``Current.key`` of the model it belongs to: a latent only
# means something to the decoder it came from, so use ``shared_latent(cur)`` to read it.
LATENT_VECTOR_KEY = "latent_vector"
LATENT_VECTOR_MODEL_KEY = "latent_vector_model"
_SUBSCRIPT_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def t_name(dim: int) -> str:
    """The lecture's name for latent dimension ``dim`` (0-based index): ``t₁``, ``t₂``, … ``t₁₀``.

    The lecture writes the latent as t = m + s ⊙ ε and numbers its coordinates from 1; every
    user-visible label uses this (``tName`` in ``live_decoder.js`` is the same in the browser).
    """
    return "t" + str(int(dim) + 1).translate(_SUBSCRIPT_DIGITS)


def shared_latent(cur: Current) -> np.ndarray | None:
    """The latent in ``LATENT_VECTOR_KEY`` as float64 ``(D,)`` (the values exactly as set) if it
    belongs to ``cur``'s model, else None."""
    z = st.session_state.get(LATENT_VECTOR_KEY)
    if st.session_state.get(LATENT_VECTOR_MODEL_KEY) != cur.key or z is None:
        return None
    z = np.asarray(z, dtype=np.float64).ravel()
    return z if z.shape == (cur.config.latent_dim,) and np.isfinite(z).all() else None


def remember_latent(cur: Current, z: np.ndarray | list[float]) -> None:
    """Make ``z (D,)`` the latent other pages see for ``cur``'s model (``shared_latent``)."""
    st.session_state[LATENT_VECTOR_KEY] = [float(v) for v in np.asarray(z).ravel()]
    st.session_state[LATENT_VECTOR_MODEL_KEY] = cur.key


@st.cache_data(show_spinner="Preparing the decoder for your browser…", max_entries=8)
def _decoder_payload(key: str, _model: VAE) -> tuple[dict | None, str | None]:
    from vae import export

    try:
        return export.export_payload(_model), None
    except export.ExportError as e:
        return None, str(e)


def decoder_payload(cur: Current) -> tuple[dict | None, str | None]:
    """``(payload, None)``: ``cur``'s decoder exported for the live widgets
    (``pages/_lib/live_decoder.py``), built once per model file; ``(None, reason)`` when its
    architecture cannot run in the browser (``vae.export.ExportError``): the page then
    decodes on the server instead."""
    return _decoder_payload(cur.key, cur.model)


# Below this average KL (nats) in every dimension, the decoder ignores the latent vector.
COLLAPSE_KL = 0.05


def posterior_collapsed(kl: np.ndarray | None) -> bool:
    """True when every latent dimension's average KL is about 0 (a posterior collapse)."""
    return kl is not None and float(kl.max()) < COLLAPSE_KL


def dims_by_activity(split: TestSplit | None, d: int) -> tuple[list[int], np.ndarray | None]:
    """Latent dimensions, most used first (average KL(q || p) over the test split, nats), and
    those KLs ``(D,)``. Without test data every dimension counts the same: natural order."""
    if split is None:
        return list(range(d)), None
    kl = inference.kl_per_dim(split.mu, split.logvar)
    # Stable sort: ties (e.g. several dead dimensions) keep their natural order.
    return [int(i) for i in np.argsort(-kl, kind="stable")], kl


# --------------------------------------------------------------------------- navigation guard


def _leave_pages_directory_mode() -> None:
    """Streamlit 1.67 quirk, seen in a browser: with a ``pages/`` folder beside app.py, the
    first request a fresh server gets decides the mode for every session. If it is a deep
    link (``/latent_map``), Streamlit runs that page file alone (the old pages-directory
    mode): app.py never runs, so no sidebar picker, no wide layout, file names as menu, and
    ``st.navigation`` never gets the chance to switch the mode off. Every page imports this
    module and the first run imports it first, so switch the mode off here and rerun: the
    rerun goes through app.py and resolves the same URL."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if get_script_run_ctx() is not None:
            st.rerun()


_leave_pages_directory_mode()
