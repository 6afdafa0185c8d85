"""Streamlit 1.67 navigation quirks, kept in one place: ``_leave_pages_directory_mode`` and
``close_sidebar_after_navigation``."""

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


# Streamlit closes the sidebar after a page link is clicked only when the browser's user agent
# says "mobile"; a narrow window with a desktop agent (a phone-sized browser, a split screen)
# keeps it open over the page. This closes it after any click on a page link whenever the
# sidebar covers the page (below Streamlit's 768 px breakpoint); a sidebar the user opens to
# change the model stays open. One listener per browser tab, installed by the first run.
_CLOSE_JS = """
export default function closeSidebarAfterNavigation() {
  if (window.__vaeCloseSidebar) return;
  window.__vaeCloseSidebar = true;
  document.addEventListener("click", (event) => {
    if (!event.target.closest('[data-testid="stSidebarNavLink"]')) return;
    if (!window.matchMedia("(max-width: 767.98px)").matches) return;
    setTimeout(() => {
      const sidebar = document.querySelector('[data-testid="stSidebar"]');
      const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      if (sidebar && sidebar.getAttribute("data-collapsed") === "false" && button) button.click();
    }, 0);
  }, true);
}
"""
_close_sidebar = st.components.v2.component(
    "vae_close_sidebar", html="<span hidden></span>", js=_CLOSE_JS
)


def close_sidebar_after_navigation() -> None:
    """Call once per run (app.py): on a narrow screen, choosing a page closes the sidebar so
    the page is not hidden under it."""
    with st.sidebar:
        _close_sidebar(key="vae_close_sidebar")


# Long labels wrap instead of ending in "…": page names in the sidebar ("Noise ε: the
# reparameterization trick") and select-box values in narrow columns (the model picker,
# "t₃ · KL 2.9 nats" on the plane page). Style only: st.html takes no room on the page.
_LABELS_CSS = """<style>
[data-testid="stSidebarNavLink"] span {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}
[data-testid="stSelectbox"] [data-baseweb="select"] * {
  white-space: normal !important; overflow-wrap: anywhere; text-overflow: clip !important;
}
[data-testid="stSelectbox"] [data-baseweb="select"] > div { height: auto !important; }
</style>"""


def unclipped_labels() -> None:
    """Call once per run (app.py): long navigation and select-box labels wrap, not clip."""
    st.html(_LABELS_CSS)
