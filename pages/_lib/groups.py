"""Groups of test images for latent arithmetic: a class label's images, or a selection saved
on the Latent map (``save``). Rows index the model's encoded test split
(``pages/_lib/testset.py``); plain session state, so selections survive page switches, kept
per model file (a selection only means something for the split it was made on)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from pages._lib.models import Current
from pages._lib.testset import TestSplit
from vae.app.arithmetic import UNLABELLED

SAVED_KEY = "saved_groups"  # {Current.key: {name: [row, ...]}}
NAMES = ("A", "B")  # the map saves its selections under these names


@dataclass(frozen=True)
class Group:
    label: str  # what the picker shows
    rows: np.ndarray  # (n,) int rows of the test split


def save(cur: Current, name: str, rows) -> None:
    """Keep ``rows`` (test-split indices) as the selection ``name`` for ``cur``'s model."""
    by_model = st.session_state.setdefault(SAVED_KEY, {})
    by_model.setdefault(cur.key, {})[name] = [int(r) for r in rows]


def saved(cur: Current) -> dict[str, list[int]]:
    return dict(st.session_state.get(SAVED_KEY, {}).get(cur.key, {}))


def choices(cur: Current, split: TestSplit) -> list[Group]:
    """Saved selections first, then one group per class label (none for unlabelled data)."""
    out = [
        Group(f"selection {name} ({len(rows)} images)", np.asarray(rows, np.int64))
        for name, rows in sorted(saved(cur).items())
        if rows and max(rows) < len(split.labels)
    ]
    if cur.dataset not in UNLABELLED:
        for c, label in enumerate(split.label_names):
            rows = np.flatnonzero(split.labels == c)
            if len(rows):
                out.append(Group(f"class {label} ({len(rows)} images)", rows))
    return out
