"""Streamlit 1.67 navigation quirks, kept in one place: ``leave_pages_directory_mode``,
``browser_code`` (closing the sidebar after navigation on a phone, prefetching Plotly, and the
live views' code), ``unclipped_labels`` and ``pages_once``.

``leave_pages_directory_mode`` uses private Streamlit API (``PagesManager.uses_pages_directory`` and the legacy runner
``script_runner._mpa_v1``): there is no supported switch. Streamlit decides the navigation mode
from the first session: with a ``pages/`` folder beside app.py, runs start in the legacy
pages-directory mode until some run calls ``st.navigation`` (documented: from then on the
folder is ignored for all sessions). ``tests/test_navigation_quirk.py`` fails loudly if a
Streamlit release changes any of this, and requirements.txt pins the 1.67 series.

Nothing here reruns at import: an ``st.rerun()`` raised while a module is being imported left
that module half made for the other sessions importing it at the same moment (issue 19: five
of six screens showed ``ImportError: cannot import name ... from 'pages._lib'``).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import streamlit as st

from pages._lib.live import component_js


def _legacy_run() -> bool:
    """Whether the calling script run is a legacy pages-directory run (``_mpa_v1`` is on the
    stack). Asked of the run itself, not of the global flag: a run that started in that mode
    stays in it even after another session switched the flag off."""
    from streamlit.runtime.scriptrunner import script_runner

    legacy = script_runner._mpa_v1.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is legacy:
            return True
        frame = frame.f_back
    return False


def leave_pages_directory_mode() -> None:
    """In a legacy pages-directory run (a fresh server's first requests, a deep link such as
    ``/latent_map`` included), switch the mode off for good and rerun: the rerun goes through
    app.py (navigation, wide layout, the sidebar model picker) and resolves the same URL.
    Called by app.py first thing, and by ``models.model_entries`` for a page run alone.
    Elsewhere a no-op that costs a stack walk."""
    from streamlit.runtime.pages_manager import PagesManager

    if _legacy_run():
        PagesManager.uses_pages_directory = False
        st.rerun()


# Streamlit closes the sidebar after a page link is clicked only when the browser's user agent
# says "mobile"; a narrow window with a desktop agent (a phone-sized browser, a split screen)
# keeps it open over the page. This closes it after any click on a page link whenever the
# sidebar covers the page (below Streamlit's 768 px breakpoint); a sidebar the user opens to
# change the model stays open. One listener per browser tab, installed by the first run.
_CLOSE_JS = """
function closeSidebarAfterNavigation() {
  if (window.__vaeCloseSidebar) return;
  window.__vaeCloseSidebar = true;
  document.addEventListener("click", (event) => {
    // The user opening the sidebar again ends the watch below: theirs to close.
    if (event.target.closest('[data-testid="stExpandSidebarButton"]') && window.__vaeWatch) {
      window.__vaeWatch.until = 0;
    }
    if (!event.target.closest('[data-testid="stSidebarNavLink"]')) return;
    if (!window.matchMedia("(max-width: 767.98px)").matches) return;
    // The page switch re-renders the sidebar, and on a busy machine it can come back open
    // after a first close, seconds later: keep closing it whenever it is open until the page's
    // run has ended and the sidebar has stayed closed for a second (20 s at most). After a
    // click, wait for the slide to end before looking again, or a second click reopens it.
    // The watch's state lives on window: a second page click while a watch runs restarts it.
    const w = window.__vaeWatch = window.__vaeWatch || {};
    w.clickedAt = Date.now();
    w.until = w.clickedAt + 20000;
    w.sawRun = false;
    w.calmSince = 0;
    const watch = () => {
      const now = Date.now();
      if (now >= w.until) { window.__vaeWatching = false; return; }
      const sidebar = document.querySelector('[data-testid="stSidebar"]');
      const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      const app = document.querySelector('[data-testid="stApp"]');
      const running = !!app && app.getAttribute("data-test-script-state") !== "notRunning";
      if (running) w.sawRun = true;
      let wait = 100;
      if (sidebar && sidebar.getAttribute("data-collapsed") === "false" && button) {
        button.click();
        wait = 700;
        w.calmSince = 0;
      } else if (running) {
        w.calmSince = 0;
      } else {
        w.calmSince = w.calmSince || now;
        // A run that has not started 4 s after the click is not coming.
        const settled = w.sawRun || now - w.clickedAt > 4000;
        if (settled && now - w.calmSince >= 1000) { window.__vaeWatching = false; return; }
      }
      setTimeout(watch, wait);
    };
    if (!window.__vaeWatching) {  // one watch at a time (two could undo each other's click)
      window.__vaeWatching = true;
      setTimeout(watch, 0);
    }
  }, true);
}
"""
# Long labels wrap instead of ending in "…": page names in the sidebar ("Noise ε: the
# reparameterization trick") and select-box values in narrow columns (the model picker,
# "t₃ · KL 2.9 nats" on the plane page). Style only: st.html takes no room on the page.
_LABELS_CSS = """<style>
/* The label's text sits in a nowrap Markdown box inside the span: at presenter mode's 20 px
   "Noise ε: the reparameterization trick" ran past the sidebar's edge unless that wraps too. */
[data-testid="stSidebarNavLink"] span,
[data-testid="stSidebarNavLink"] [data-testid="stMarkdownContainer"],
[data-testid="stSidebarNavLink"] [data-testid="stMarkdownContainer"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
}
[data-testid="stSelectbox"] [data-baseweb="select"] * {
  white-space: normal !important; overflow-wrap: anywhere; text-overflow: clip !important;
}
[data-testid="stSelectbox"] [data-baseweb="select"] > div { height: auto !important; }
@media (max-width: 640px) {
  /* A phone: a display formula wider than the column scrolls inside its own box (a page that
     scrolls sideways, or a formula cut at the edge, loses its last terms). */
  [data-testid="stMain"] .katex-display { overflow-x: auto; overflow-y: hidden; }
  /* KaTeX draws display maths at 1.21em: at 1em most of the lecture's formulas fit a phone's
     column and the rest scroll less. */
  [data-testid="stMain"] .katex-display > .katex { font-size: 1em; }
  /* Streamlit's 2.75rem title split "reparameterizatio|n" across two lines on a 390 px phone. */
  [data-testid="stMain"] h1 { font-size: 2rem; }
}
</style>"""


def unclipped_labels() -> None:
    """Call once per run (app.py): long navigation and select-box labels wrap, not clip, and
    on a phone a wide formula scrolls in its box."""
    st.html(_LABELS_CSS)


# Streamlit loads each element's code the first time a page shows one: Plotly's is a 4.7 MB
# chunk, fetched and compiled when the first chart appears (on the Latent map, seconds of its
# render on a 2-core machine). Whatever page a student opens first, the browser imports that
# chunk once that page is drawn and the tab is idle, so the first chart page after it does not
# wait. Importing only defines the chart's code (nothing is drawn); Streamlit's own import of
# the same URL later gets the loaded module. One import per browser tab.
_PREFETCH_JS = """
function prefetchCharts(component) {
  if (window.__vaePrefetched) return;
  window.__vaePrefetched = true;
  const main = document.querySelector('script[type="module"][src*="static/js/index"]');
  const base = main ? main.src : new URL("static/js/index.js", document.baseURI).href;
  const start = () => {
    for (const name of component.data || []) {
      import(new URL(name, base).href).catch(() => {});  // the URL Streamlit imports it from
    }
  };
  if (window.requestIdleCallback) window.requestIdleCallback(start, { timeout: 2000 });
  else setTimeout(start, 1000);
}
"""


@cache
def _chart_chunks() -> tuple[str, ...]:
    """File names of the Plotly chart's code in this Streamlit install (hashed names)."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    return tuple(sorted(p.name for p in folder.glob("PlotlyChart.*.js")))


# The browser's helpers and the live views' code (~100 KB) in ONE sidebar element whose message
# is the same on every run of every session: Streamlit's message cache then sends it once per
# browser tab and a 40-byte reference on every later run. Inside the live component the code
# went with every slider release and button press (its data changes every run), and each
# helper was a component of its own, mounted (~1.5 ms of the server's time) on every run.
_BROWSER_ENTRY = """
export default function browserCode(component) {
  closeSidebarAfterNavigation();
  prefetchCharts(component);
}
"""
_browser_code = st.components.v2.component(
    "vae_browser_code", html="<span hidden></span>", js=component_js() + _CLOSE_JS + _PREFETCH_JS + _BROWSER_ENTRY
)


def browser_code() -> None:
    """Call once per run (app.py), in the sidebar so that it stays mounted across page
    switches: on a narrow screen choosing a page closes the sidebar; the browser fetches
    Plotly's code while the first page is read; the live views' code arrives (once per tab)."""
    with st.sidebar:
        _browser_code(key="vae_browser_code", data=list(_chart_chunks()))


# st.Page resolves its file's real path and checks it exists: a dozen system calls per page,
# for 17 pages on every run of every session. Under a classroom's load each call could wait
# for the interpreter lock (py-spy at 100 simulated students: 13 % of the server's samples in
# st.Page). The pages never change while the server runs, so they are built once per process
# and each run gets shallow copies: st.navigation marks its own run's page as the one that may
# run, so a run must not share page objects with another session's run.
@st.cache_resource(show_spinner=False)
def _page_prototypes(app_dir: str, _build: Callable[[], dict[str, list]]) -> dict[str, list]:
    return _build()


def pages_once(app_dir: str, build: Callable[[], dict[str, list]]) -> dict[str, list]:
    """``build()``'s ``{group: [st.Page]}`` for the app in ``app_dir``, built on the server's
    first run and copied for this one."""
    return {group: [copy.copy(p) for p in ps] for group, ps in _page_prototypes(app_dir, build).items()}
