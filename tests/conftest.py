"""Shared fixtures: where the real datasets are, and tiny models made by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def find_shared_data() -> Path | None:
    """The verified datasets: ``$VAE_DATA_DIR`` first, then ``../shared/data`` beside the repo."""
    env = os.environ.get("VAE_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
            return cand
    return None


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
