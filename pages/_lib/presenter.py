"""Presenter mode: a sidebar switch that enlarges type, images, formulas and latent chips for a
projector, on every page (app.py calls ``sidebar_switch()`` once per run, before the page).

The switch lives in app.py's sidebar, drawn on every run, so its state survives page switches
(a widget drawn only on some pages would lose it). The styling is one CSS file,
``presenter.css``, sent as a style-only ``st.html`` (it takes no room on the page).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PRESENTER_KEY = "presenter_mode"
CSS = Path(__file__).with_name("presenter.css")
SCALE = 1.25  # the factor presenter.css applies (its root font size over the theme's 16 px)


def sidebar_switch() -> bool:
    """The "Presenter mode" switch; while it is on, inject ``presenter.css``. Returns it."""
    on = st.sidebar.toggle(
        "Presenter mode",
        key=PRESENTER_KEY,
        help="Larger type, images and latent chips for a projector (this browser tab only). "
        "Students on laptops leave it off.",
    )
    if on:
        st.html(CSS)
    return on


def factor() -> float:
    """How much presenter mode enlarges the page now: ``SCALE`` while it is on, else 1."""
    return SCALE if st.session_state.get(PRESENTER_KEY) else 1.0


def scaled(px: int) -> int:
    """``px`` CSS pixels as presenter mode draws them: for sizes Streamlit takes in pixels
    (a dataframe's height), which the CSS's larger root font does not reach."""
    return round(px * factor())
