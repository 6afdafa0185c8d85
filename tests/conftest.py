"""Shared fixtures and helpers: where the real datasets are, seeded untrained models, and the
AppTest navigation fix for the page tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from hypothesis import settings

from bench.harness import find_shared_data

if TYPE_CHECKING:
    from vae.core.model import VAE, VAEConfig

# Property tests in CI draw the same examples on every run (a failure there is the code's, not
# the dice's) and have no per-example deadline (2 shared cores make timings meaningless).
# Locally they keep hypothesis's random search. Per-test @settings still set max_examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the real datasets; skips (or fails, with VAE_REQUIRE_DATA=1 as in CI)."""
    path = find_shared_data()
    if path is None:
        reason = "real datasets not found: set VAE_DATA_DIR or place them in ../shared/data"
        if os.environ.get("VAE_REQUIRE_DATA") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def seeded_model(cfg: VAEConfig, seed: int = 0) -> VAE:
    """An untrained ``VAE(cfg)`` in eval mode, its weights fixed by ``torch.manual_seed(seed)``."""
    import torch

    from vae.core.model import VAE

    torch.manual_seed(seed)
    return VAE(cfg).eval()


@pytest.fixture
def models(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app serves the test module's own ``model_dir`` fixture (its checkpoint folder)."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(model_dir))
    return model_dir


@pytest.fixture
def navigation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest quirk (Streamlit 1.67): every ``at.run()`` resets
    ``PagesManager.uses_pages_directory`` and, because a ``pages/`` folder sits beside app.py,
    runs after the first one execute the page file *alone* (MPA v1): no app.py, so no sidebar
    model picker. The real server sets the flag to False at the first ``st.navigation`` and
    keeps it; do the same here. Page-test modules use it for every test with
    ``pytestmark = pytest.mark.usefixtures("navigation_only")``."""
    from streamlit.runtime import pages_manager
    from streamlit.testing.v1 import app_test

    class NavigationOnly(pages_manager.PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pages_manager.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationOnly)


@pytest.fixture(scope="session")
def chromium_browser():
    """One Playwright and one headless Chromium for the whole session. Playwright's sync API
    refuses a second instance while one is running in the same thread, so every browser test
    (tests/e2e and tests/test_live_decoder_browser.py) shares this one."""
    from bench.harness.browser import CHROMIUM, chromium_path, launch_chromium

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install playwright)", pytrace=False)
    executable = chromium_path()
    if not executable:
        skip_or_fail(f"chromium not found at {CHROMIUM} or on PATH", pytrace=False)
    with sync_playwright() as p:
        try:
            browser = launch_chromium(p, executable)
        except Exception as err:  # a broken install: same policy as a missing one
            skip_or_fail(f"chromium failed to start: {err}", pytrace=False)
        yield browser
        browser.close()


def skip_or_fail(reason: str, pytrace: bool = True) -> NoReturn:
    """Skip the test for a missing/broken browser, or fail it under ``VAE_REQUIRE_BROWSER=1``
    (CI)."""
    if os.environ.get("VAE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=pytrace)
    pytest.skip(reason)


def sent_points(data: dict):  # noqa: ANN201
    """A live view's test points as the browser reads them (``component.wire_points``'s layout,
    decoded here independently): ``(xy (N, 2) float32, labels (N,) int32 or None)``."""
    import base64

    import numpy as np

    xy = np.frombuffer(base64.b64decode(data["points_xy"]), dtype="<f4").reshape(-1, 2)
    raw = data["point_labels"]
    labels = None if raw is None else np.frombuffer(base64.b64decode(raw), dtype="<i4")
    return xy, labels
