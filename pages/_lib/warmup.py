"""Work a class would otherwise wait for, started once per server process in the background."""

from __future__ import annotations

import threading

import streamlit as st

from vae.app import projection


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """app.py, after every run: the server's first run ends by importing scikit-learn in a
    background thread (``projection.preload``), so the Latent map's first LDA view does not
    wait for it (bench/latent_map.py, ``mnist_32`` cold). Later runs get the same thread."""
    thread = threading.Thread(target=projection.preload, name="vae-preload", daemon=True)
    thread.start()
    return thread
