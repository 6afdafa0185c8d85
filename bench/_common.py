"""Helpers shared by the benchmark scripts: the repo on ``sys.path`` (they run as
``python bench/NAME.py``) and the real data next to it. What the benches share with the tests
(a server, a browser) is in ``bench/harness/``."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.harness import find_shared_data  # noqa: E402 (needs the repo on sys.path)


def data_dir() -> Path:
    """``$VAE_DATA_DIR`` or ``../shared/data``; exits with a clear message if neither exists."""
    found = find_shared_data()
    if found is None:
        sys.exit("MNIST not found: set VAE_DATA_DIR to a folder holding mnist/*.gz")
    return found
