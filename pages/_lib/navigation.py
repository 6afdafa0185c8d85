"""A Streamlit 1.67 navigation quirk, kept in one place (see ``_leave_pages_directory_mode``)."""

from __future__ import annotations

import streamlit as st


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
