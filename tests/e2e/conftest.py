"""Fixtures for the real-browser tests: one ``streamlit run app.py`` per test session
(``bench.harness.server``), one headless Chromium, a fresh browser context (= a fresh Streamlit session) per test.

The server gets its own temporary checkpoint folder (the bundled digits/MNIST models copied in,
or a small digits model trained here when the bundled one is missing or unreadable), the real
datasets (``bench.harness.find_shared_data``) and ``OMP_NUM_THREADS=1``. It is stopped
by its PID afterwards. Without Chromium or Playwright the whole suite skips with the reason,
unless ``VAE_REQUIRE_BROWSER=1`` (CI), where it fails instead.

Screenshots of every page land in ``tests/e2e/screenshots/`` (git-ignored, kept by CI).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.harness import find_shared_data
from bench.harness.browser import IDLE, OFF_LOOPBACK, RunTracker, chromium_path
from bench.harness.server import Server, app_env, prepare_checkpoints, start_server

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# The first session imports torch and encodes a test set: generous, the machine is shared.
RUN_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 1000}

ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')
NAV_LINK = '[data-testid="stSidebarNavLink"]'


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="session")
def browser_available(chromium_browser: object) -> str:
    """Chromium's path, once the shared browser started (``tests/conftest.py`` skips, or fails
    under VAE_REQUIRE_BROWSER=1, when it or Playwright is missing)."""
    return chromium_path()


@pytest.fixture(scope="session")
def app_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app server's checkpoint folder (models trained in a test land in ``user/``)."""
    return tmp_path_factory.mktemp("e2e_app") / "checkpoints"


@pytest.fixture(scope="session")
def app_server(browser_available: str, app_checkpoints: Path) -> Iterator[Server]:
    """One ``streamlit run app.py`` for the whole session; yields its address."""
    checkpoints = app_checkpoints
    log = checkpoints.parent / "streamlit.log"
    notes = prepare_checkpoints(checkpoints)
    log.write_text("".join(f"[e2e fixture] {n}\n" for n in notes))
    server = start_server(log, env=app_env(checkpoints, find_shared_data()))
    yield server
    server.stop()


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser(browser_available: str, chromium_browser: object) -> object:
    """The session's shared Chromium (see ``tests/conftest.py``)."""
    return chromium_browser


@pytest.fixture
def page(browser, app_server: Server, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context (so a fresh Streamlit session) on the app's home page, idle.
    On failure the test's last view is saved as ``screenshots/FAILED-<test>.png`` and the
    server log tail is printed."""
    blocked: list[str] = []
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    context.route(OFF_LOOPBACK, lambda route: (blocked.append(route.request.url), route.abort()))
    pg = context.new_page()
    pg.vae_runs = RunTracker()
    pg.vae_runs.attach(pg)
    pg.vae_blocked = blocked
    pg.goto(app_server.url + "/")
    wait_rerun(pg, 0)
    pg.wait_for_selector(NAV_LINK)
    yield pg
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        with contextlib.suppress(Exception):
            screenshot(pg, f"FAILED-{request.node.name}")
        print(f"\n--- streamlit log tail ---\n{app_server.log_tail()}")
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep
    return rep


# --------------------------------------------------------------------------- helpers


def new_session(browser, url: str):  # noqa: ANN001, ANN202
    """A fresh browser context (a new Streamlit session) with one page at ``url``, after its
    first run. Returns ``(context, page)``; close the context when done."""
    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.set_default_timeout(RUN_TIMEOUT_MS)
    page = ctx.new_page()
    page.vae_runs = RunTracker()
    page.vae_runs.attach(page)
    page.goto(url)
    wait_rerun(page, 0)
    return ctx, page


def wait_idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Until the app reports no script running."""
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def runs(page) -> int:
    """Full script runs this page has finished so far (see ``RunTracker``)."""
    return page.vae_runs.finished


def started(page) -> int:
    """Script runs (full or fragment) the server has started for this page so far."""
    return page.vae_runs.started


def wait_rerun(page, before: int, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Until a full run finished after ``before = runs(page)``, and the app shows idle."""
    deadline = time.monotonic() + timeout_ms / 1000
    while page.vae_runs.finished <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no script run finished within {timeout_ms / 1000:.0f} s")
        page.wait_for_timeout(20)  # lets Playwright deliver the websocket events
    wait_idle(page, timeout_ms)


def act(page, action: Callable[[], object], timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Do ``action`` (a click, an upload, a key press) and wait for the rerun it causes."""
    before = runs(page)
    action()
    wait_rerun(page, before, timeout_ms)


def act_in_fragment(page, action: Callable[[], object], timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Do ``action`` on a widget inside an ``st.fragment`` and wait for the fragment's rerun."""
    before = page.vae_runs.fragment_finished
    action()
    deadline = time.monotonic() + timeout_ms / 1000
    while page.vae_runs.fragment_finished <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no fragment run finished within {timeout_ms / 1000:.0f} s")
        page.wait_for_timeout(20)
    wait_idle(page, timeout_ms)


def errors_on(page) -> list[str]:
    """Texts of the error elements on the page (exceptions and st.error boxes)."""
    out = []
    for sel in ERROR_SELECTORS:
        out += page.locator(sel).all_inner_texts()
    return out


def assert_no_error(page, where: str = "") -> None:
    errs = errors_on(page)
    assert not errs, f"error element(s) on {where or page.url}: {errs}"


def open_page(page, title: str) -> None:
    """Click the sidebar navigation link labelled ``title`` and wait for the page's run.

    The link must then be the current page (``aria-current``). With a second CI run on the
    machine a run finished while the app still showed the old page (the lasso test waited
    60 s for the map's tools): such a lost switch is printed and the link clicked again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    link = page.locator(f'{NAV_LINK}:has(span[label="{title}"])')
    current = page.locator(f'{NAV_LINK}[aria-current="page"]:has(span[label="{title}"])')
    act(page, link.click)
    try:
        current.wait_for(state="attached", timeout=15_000)
    except PlaywrightTimeout:
        print(f"the click on the {title!r} link did not open it; clicking again")
        act(page, link.click)
        current.wait_for(state="attached")


def choose_model(page, name: str, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Pick ``name`` in the sidebar's model picker and wait for the run it causes.

    The name is typed first: with ten models the drop-down draws only the options in view.
    A busy machine sometimes redraws the sidebar between the click that opens the list and
    the typing (CI waited 60 s for an option the closed list never drew): the list is opened
    again, and the retry printed, until the option shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # e2e runs only with it

    box = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").first
    option = page.get_by_role("option").filter(has_text=f"{name} (").first
    for attempt in range(3):
        box.locator("input").click()
        page.keyboard.type(name)
        try:
            option.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            print(f"model list did not show {name} (try {attempt + 1}); opening it again")
            page.keyboard.press("Escape")
    act(page, option.click, timeout_ms)
    shown = box.locator("input").input_value()  # a react-aria combobox: the choice is its value
    assert shown.startswith(f"{name} ("), f"the model picker shows {shown!r}, not {name}"


def set_checked(page, control, on: bool = True, timeout_ms: int = RUN_TIMEOUT_MS) -> None:  # noqa: ANN001
    """Turn a checkbox or toggle (its ``<input>``) on or off and wait for the rerun.

    The input is styled over (a forced click at its centre) and can move while formulas and
    charts lay out after a run: CI saw such a click land beside it ("did not change its
    state"). A click that changed nothing is printed and made again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        if control.is_checked() == on:
            return
        before = runs(page)
        control.click(force=True)
        try:
            page.wait_for_function(
                "([el, on]) => el.checked === on", arg=[control.element_handle(), on], timeout=5_000
            )
        except PlaywrightTimeout:
            print(f"click on the toggle changed nothing (try {attempt + 1}); clicking again")
            continue
        wait_rerun(page, before, timeout_ms)
        return
    raise AssertionError(f"three clicks did not set the toggle to {on}")


def nav_titles(page) -> list[str]:
    return [
        e.get_attribute("label")
        for e in page.locator(f"{NAV_LINK} span[label]").element_handles()
    ]


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def canvas_pixels(handle) -> list[int]:
    """RGBA bytes of a <canvas> element handle (works inside the component's shadow root)."""
    return handle.evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
    )


def wait_images(page, n: int, scope: str = "[data-testid=stMain]", timeout_ms: int = 30_000) -> list[str]:
    """Until ``scope`` holds at least ``n`` loaded images (a run's images load after it ends:
    CI counted 3 of 4 right after the run); returns their ``src``."""
    page.wait_for_function(
        "([scope, n]) => [...document.querySelectorAll(`${scope} [data-testid=stImage] img, "
        "${scope} [data-testid=stImageContainer] img`)].filter(e => e.complete && e.naturalWidth > 0).length >= n",
        arg=[scope, n], timeout=timeout_ms,
    )  # fmt: skip
    return image_sources(page, scope)


def image_sources(page, scope: str = "[data-testid=stMain]") -> list[str]:
    """``src`` of every loaded <img> in ``scope`` (Streamlit media URLs or data: URLs)."""
    return page.eval_on_selector_all(
        f"{scope} [data-testid=stImage] img, {scope} [data-testid=stImageContainer] img",
        "els => els.filter(e => e.complete && e.naturalWidth > 0).map(e => e.src)",
    )
