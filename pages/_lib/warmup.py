"""Work a class would otherwise wait for, started once per server process in the background."""

from __future__ import annotations

import gc
import threading

import streamlit as st

from vae.app import projection


def _preload_then_freeze() -> None:
    """Import scikit-learn, then move every object alive by now (the modules of torch, Plotly,
    pandas, scikit-learn and Streamlit, the first model) out of the cyclic collector's reach.

    Why: a full collection walked all of them and held the GIL 100-300 ms (measured with
    gc.callbacks at 100 simulated students, about every 10 s per server), so every session of
    the process stalled for it. Frozen objects are still freed by reference counting; only a
    reference cycle among them is never collected, and these live as long as the server."""
    projection.preload()
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def start() -> threading.Thread:
    """app.py, after every run: the server's first run ends by importing scikit-learn in a
    background thread (``projection.preload``), so the Latent map's first LDA view does not
    wait for it (bench/latent_map.py, ``mnist_32`` cold), then freezes what is alive.
    Later runs get the same thread."""
    thread = threading.Thread(target=_preload_then_freeze, name="vae-preload", daemon=True)
    thread.start()
    return thread
