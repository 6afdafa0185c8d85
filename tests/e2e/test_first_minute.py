"""The first minute of a lesson (issue 19, item 7): a class opening a freshly started server
at the same moment. Every one of 20 browser contexts (one Chromium), half of them on deep
links, gets its page with the sidebar model picker and no error.

Before: ``pages/_lib/navigation.py`` called ``st.rerun()`` while ``pages._lib.models`` was
being imported; the other sessions importing the same module at that moment saw it half
made: ``ImportError: cannot import name ... from 'pages._lib'`` on 5 of 6 screens.
"""

from __future__ import annotations

import os

from bench.harness import find_shared_data
from bench.harness.browser import IDLE, OFF_LOOPBACK
from bench.harness.server import app_env, prepare_checkpoints, start_server
from tests.e2e.conftest import ERROR_SELECTORS, SCREENSHOTS

N_BROWSERS = int(os.environ.get("VAE_FIRST_MINUTE_BROWSERS", "20"))
# "/" for most, deep links for the rest: the first request a fresh server gets used to decide
# the navigation mode for everyone.
PATHS = ["/", "/latent_map", "/", "/sliders", "/", "/train", "/", "/noise"]
PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'


def test_twenty_browsers_open_a_fresh_server_at_once(browser, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    prepare_checkpoints(checkpoints)
    server = start_server(tmp_path / "streamlit.log", env=app_env(checkpoints, find_shared_data()))
    contexts, pages, blocked = [], [], []
    SCREENSHOTS.mkdir(exist_ok=True)
    try:
        for _ in range(N_BROWSERS):
            ctx = browser.new_context(viewport={"width": 1000, "height": 700})
            ctx.set_default_timeout(300_000)  # 20 first sessions on 2 shared cores
            ctx.route(OFF_LOOPBACK, lambda route: (blocked.append(route.request.url), route.abort()))
            contexts.append(ctx)
            pages.append(ctx.new_page())
        for i, pg in enumerate(pages):  # "commit": the next one starts as soon as this one is sent
            pg.goto(server.url + PATHS[i % len(PATHS)], wait_until="commit")
        failures = []
        settled = ", ".join([PICKER, *ERROR_SELECTORS])
        for i, pg in enumerate(pages):
            try:  # the picker (the app ran) or an error, whichever comes first; then idle
                pg.wait_for_selector(settled)
                pg.wait_for_selector(IDLE)
            except Exception as err:  # noqa: BLE001 - reported below with a screenshot
                failures.append((i, PATHS[i % len(PATHS)], [f"never settled: {type(err).__name__}"]))
                pg.screenshot(path=str(SCREENSHOTS / f"FAILED-first-minute-{i}.png"))
                continue
            errors = [t for s in ERROR_SELECTORS for t in pg.locator(s).all_inner_texts()]
            if errors or "ImportError" in pg.content() or not pg.locator(PICKER).count():
                failures.append((i, PATHS[i % len(PATHS)], [e[:200] for e in errors]))
                pg.screenshot(path=str(SCREENSHOTS / f"FAILED-first-minute-{i}.png"))
        assert not failures, f"{len(failures)} of {N_BROWSERS} screens showed an error: {failures[:3]}\n{server.log_tail()}"
        assert "ImportError" not in server.log_tail(400)
        assert not blocked, blocked
    finally:
        for ctx in contexts:
            ctx.close()
        server.stop()
