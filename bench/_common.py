"""Helpers shared by the benchmark scripts: finding the real data next to the repo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def data_dir() -> Path:
    """``$VAE_DATA_DIR`` or ``../shared/data``; exits with a clear message if neither exists."""
    for cand in (os.environ.get("VAE_DATA_DIR"), REPO.parent / "shared" / "data"):
        if cand and (Path(cand) / "mnist").is_dir():
            return Path(cand)
    sys.exit("MNIST not found: set VAE_DATA_DIR to a folder holding mnist/*.gz")
