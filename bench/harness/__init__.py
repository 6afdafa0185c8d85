"""What the tests and the benchmarks share to drive the real app: a ``streamlit run`` server
(``bench.harness.server``), replicas behind nginx (``bench.harness.proxy``), a headless Chromium
(``bench.harness.browser``), and where the real datasets
are. Both ``tests/`` and ``bench/`` import it; it imports neither, and only the standard
library at module level (torch, the app's ``vae`` package and Playwright inside functions)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # bench/harness/__init__.py -> the repo


def find_shared_data() -> Path | None:
    """The verified datasets: ``$VAE_DATA_DIR`` first, then ``../shared/data`` beside the repo;
    None when neither holds MNIST's test images."""
    env = os.environ.get("VAE_DATA_DIR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
            return cand
    return None
