"""The first minute of a lesson (issue 19, item 7): a class opening a freshly started server
at the same moment. Every one of 20 browser contexts (one Chromium), half of them on deep
links, gets its page with the sidebar model picker and no error.

Before: ``pages/_lib/navigation.py`` called ``st.rerun()`` while ``pages._lib.models`` was
being imported; the other sessions importing the same module at that moment saw it half
made: ``ImportError: cannot import name ... from 'pages._lib'`` on 5 of 6 screens.
"""

from __future__ import annotations

from harness import find_shared_data
from harness.browser import IDLE, OFF_LOOPBACK
from harness.server import app_env, prepare_checkpoints, start_server
from tests.e2e.conftest import ERROR_SELECTORS

N_BROWSERS = 20
# "/" for most, deep links for the rest: the first request a fresh server gets used to decide
# the navigation mode for everyone.
PATHS = ["/", "/latent_map", "/", "/sliders", "/", "/train", "/", "/noise"]
PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'


def test_twenty_browsers_open_a_fresh_server_at_once(browser, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    prepare_checkpoints(checkpoints)
    server = start_server(tmp_path / "streamlit.log", env=app_env(checkpoints, find_shared_data()))
    contexts, pages, blocked = [], [], []
    try:
        for _ in range(N_BROWSERS):
            ctx = browser.new_context(viewport={"width": 1000, "height": 700})
            ctx.set_default_timeout(180_000)
            ctx.route(OFF_LOOPBACK, lambda route: (blocked.append(route.request.url), route.abort()))
            contexts.append(ctx)
            pages.append(ctx.new_page())
        for i, pg in enumerate(pages):  # "commit": the next one starts as soon as this one is sent
            pg.goto(server.url + PATHS[i % len(PATHS)], wait_until="commit")
        failures = []
        for i, pg in enumerate(pages):
            pg.wait_for_selector(PICKER)
            pg.wait_for_selector(IDLE)
            print(f"screen {i} ready", flush=True)
            errors = [pg.locator(s).all_inner_texts() for s in ERROR_SELECTORS]
            if any(errors) or "ImportError" in pg.content():
                failures.append((i, PATHS[i % len(PATHS)], errors))
        assert not failures, f"{len(failures)} of {N_BROWSERS} screens showed an error: {failures[:3]}\n{server.log_tail()}"
        assert "ImportError" not in server.log_tail(400)
        assert not blocked, blocked
    finally:
        for ctx in contexts:
            ctx.close()
        server.stop()
