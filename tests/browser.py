"""Headless Chromium for the browser tests and the benchmarks: where it is, the flags it runs
with, a launcher, and the skip-or-fail policy when it is missing.

Used by ``tests/e2e/conftest.py``, ``tests/test_live_decoder_browser.py`` and the bench
scripts (``bench/live_decode.py``, ``bench/app_timings.py``, ``bench/classroom.py``), so it
imports only the standard library at module level (pytest only inside ``skip_or_fail``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, NoReturn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """``/usr/bin/chromium`` if it exists, else ``chromium`` on PATH, else None."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def launch_chromium(playwright: Any, executable: str | None = None) -> Any:
    """``playwright.chromium.launch`` headless with ``CHROMIUM_ARGS``, on ``executable``
    (default: ``chromium_path()``). Works with the sync and the async Playwright API (the
    async one returns the awaitable)."""
    return playwright.chromium.launch(
        executable_path=executable or chromium_path(), args=CHROMIUM_ARGS
    )


def skip_or_fail(reason: str, pytrace: bool = True) -> NoReturn:
    """Skip the test for a missing/broken browser, or fail it under ``VAE_REQUIRE_BROWSER=1``
    (CI)."""
    import pytest

    if os.environ.get("VAE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=pytrace)
    pytest.skip(reason)
