"""The model a session looks at: the checkpoint listing, the sidebar picker (shared by every
page, so the choice survives page switches), cached loading, and the decoder exported for the
browser. Models are cached per file for all sessions: never mutate one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import streamlit as st

from pages._lib import (
    display,
    navigation,  # noqa: F401 - imported first by every page: see its docstring
)
from vae.app import inference
from vae.core.checkpoints import (
    Checkpoint,
    CheckpointEntry,
    CheckpointError,
    checkpoint_files,
    file_identity,
    folder_stamp,
    list_entry,
    load_checkpoint,
)
from vae.core.model import VAE

REPO = Path(__file__).resolve().parents[2]

MODEL_KEY = "model_name"

# A model name to select on the next run (see ``select_model``): MODEL_KEY belongs to the
# sidebar selectbox, which cannot be assigned once it exists in the current run.
PENDING_MODEL_KEY = "_pending_model_name"


def checkpoint_dir() -> Path:
    """``$VAE_CHECKPOINT_DIR`` or the repo's ``checkpoints/`` (user models in ``user/``)."""
    return Path(os.environ.get("VAE_CHECKPOINT_DIR") or REPO / "checkpoints")


@st.cache_resource(show_spinner=False, max_entries=1024)
def _entry(path: str, bundled: bool, identity: str) -> CheckpointEntry:
    """One file's checked header (small: no weights), cached per file identity, so a save by
    anyone re-reads only the file that changed and one bad file cannot affect the others."""
    return list_entry(Path(path), bundled, identity)


# Every run lists the models several times (picker, current model, links). Listing means a
# glob and a stat per file, and under a classroom's load each of those system calls can wait
# for the interpreter lock (py-spy at 50 simulated students: ~8 % of the server's time). So the
# listing is kept per folder state for a second: a file added, removed or saved (renamed into
# place) shows at once; a file overwritten in place, within the second.
LISTING_TTL_S = 1.0


@st.cache_resource(show_spinner=False, ttl=LISTING_TTL_S, max_entries=64)
def _listing(folder: str, stamp: tuple[int | None, int | None]) -> tuple[CheckpointEntry, ...]:
    return tuple(_entry(str(p), bundled, file_identity(p)) for p, bundled in checkpoint_files(folder))


def forget_listing() -> None:
    """List the folder afresh on the next call (after this process saved a model)."""
    _listing.clear()


def model_entries() -> list[CheckpointEntry]:
    """Every checkpoint file, usable or not (``vae.core.checkpoints.list_entry``)."""
    navigation.leave_pages_directory_mode()  # every page lists models: a page run alone reruns via app.py
    folder = checkpoint_dir()
    return list(_listing(str(folder), folder_stamp(folder)))


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
    key: str  # vae.core.checkpoints.file_identity: changes when the file does; every cache uses it

    @property
    def config(self):
        return self.checkpoint.model_config

    @property
    def dataset(self) -> str:
        return self.checkpoint.dataset


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def _load(path: str, key: str) -> tuple[Checkpoint, VAE]:
    """The chosen model only (the listing builds none); ``key`` is its ``file_identity``."""
    inference.limit_threads()
    ckpt = load_checkpoint(path)
    return ckpt, ckpt.build_model()


@st.cache_resource(show_spinner="No model found: training the digits default (a few seconds)…")
def _quickstart(folder: str) -> None:
    """With no usable checkpoint at all, train the bundled-data default once per server."""
    from vae.app.quickstart import train_quickstart

    train_quickstart(Path(folder) / "user" / "digits-quickstart.pt")


def sidebar_model_picker() -> Current | None:
    """The model selector in the sidebar, shared by every page; the choice survives page
    switches. Broken files are listed with their reason and never loaded."""
    entries = model_entries()
    if not any(e.ok for e in entries):
        _quickstart(str(checkpoint_dir()))
        forget_listing()
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
        cfg = e.header.model_config
        tag = "" if e.bundled else " · yours"
        return f"{name} ({e.header.dataset}, {cfg.latent_dim}-D{tag})"

    # index = the chosen model, not option 0: at a page switch Streamlit's frontend can drop
    # the picker's stored value and remount it from the element's default, and the next rerun
    # (a live widget asking for weights) then sent option 0 back as the user's choice.
    st.sidebar.selectbox("Model", names, index=names.index(st.session_state[MODEL_KEY]), key=MODEL_KEY, format_func=label)
    if broken:
        with st.sidebar.expander(f"{len(broken)} unusable checkpoint file(s)"):
            for e in broken:
                st.caption(f"**{display.text(e.path.name)}**: {display.text(e.error)}")
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
    return load(name)


def load(name: str) -> Current | None:
    """Any usable model by name (cached like the chosen one), or None with an error shown."""
    by_name = {e.name: e for e in model_entries() if e.ok}
    if name not in by_name:
        return None
    e = by_name[name]
    try:
        ckpt, model = _load(str(e.path), e.identity)
    except CheckpointError as err:  # replaced by a bad file since it was listed
        st.error(f"The model {display.text(name)} cannot be loaded: {display.text(err)}")
        return None
    return Current(name=name, path=e.path, bundled=e.bundled, checkpoint=ckpt, model=model, key=e.identity)


def require_model() -> Current:
    """``current()`` or stop the page with a friendly note."""
    cur = current()
    if cur is None:
        st.info("No model is loaded yet. Train one on the **Train** page.")
        st.stop()
    return cur


# cache_resource, not cache_data: every run of a live page reads the payload, and cache_data
# would unpickle a fresh copy of its weights (3.6 MB of base64 for mnist_32) each time. The
# shared payload is read-only at the top (the weights are an immutable string).
@st.cache_resource(show_spinner="Preparing the decoder for your browser…", max_entries=8)
def _decoder_payload(key: str, _model: VAE, encoder: bool = False) -> tuple[Mapping | None, str | None]:
    from vae.app import export

    try:
        return MappingProxyType(export.export_payload(_model, encoder=encoder)), None
    except export.ExportError as e:
        return None, str(e)


def decoder_payload(cur: Current) -> tuple[Mapping | None, str | None]:
    """``(payload, None)``: ``cur``'s decoder exported for the live widgets
    (``pages/_lib/live_decoder.py``), built once per model file; ``(None, reason)`` when its
    architecture cannot run in the browser (``vae.app.export.ExportError``): the page then
    decodes on the server instead."""
    return _decoder_payload(cur.key, cur.model)


def draw_payload(cur: Current) -> tuple[Mapping | None, str | None]:
    """``decoder_payload`` with the encoder too (float32): what the Draw page's pad runs."""
    return _decoder_payload(cur.key, cur.model, True)
