"""The model's dataset's test split, encoded once per model file, and what it says about the
latent dimensions (which are used, whether the posterior collapsed)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import streamlit as st

from pages._lib.display import text
from pages._lib.models import Current
from vae.app import inference, typical
from vae.core.model import VAE
from vae.data.registry import DATASETS, DatasetUnavailable, load_dataset

# Test points kept for maps and planes: enough to see structure, small enough to send.
MAX_POINTS = 5000
# After a download of a dataset failed, pages look for its files on disk only, for this long.
# Every run of every page that shows test images would otherwise try again: offline that cost
# ~40 ms a run, and where the network drops packets each mirror waits out its 30 s timeout.
RETRY_S = 120.0


@dataclass(frozen=True)
class TestSplit:
    """Up to ``MAX_POINTS`` test images of the model's dataset, encoded by the model."""

    images: np.ndarray  # (N, C, H, W) uint8
    labels: np.ndarray  # (N,) int
    label_names: tuple[str, ...]
    mu: np.ndarray  # (N, D)
    logvar: np.ndarray  # (N, D)
    ink: np.ndarray  # (N,) mean pixel value in [0, 1] (``vae.app.typical.ink``)
    kl: np.ndarray  # (D,) average KL(q(t|x) || p(t)) per latent dimension, nats


def _shared_split(images, labels, label_names, mu, logvar) -> TestSplit:
    """A split shared by every session, its arrays read-only. What is derived from it on every
    run (ink, per-dimension KL) is computed here, once per model."""
    images = np.asarray(images)
    split = TestSplit(
        images, np.asarray(labels), tuple(label_names), np.asarray(mu), np.asarray(logvar),
        typical.ink(images.astype(np.float32) / 255.0), inference.kl_per_dim(mu, logvar),
    )  # fmt: skip
    for a in (split.images, split.labels, split.mu, split.logvar, split.ink, split.kl):
        a.setflags(write=False)  # a page that tried to edit shared data would raise, not corrupt
    return split


# cache_resource, not cache_data: every run of a map, plane or sliders page reads the split,
# and cache_data would unpickle a fresh copy of its ~5 MB each time (measured with py-spy at 50
# simulated students: copying it, and recomputing ink and KL from it, were ~15 % of the server's
# CPU). Shared read-only arrays cost nothing per run.
@st.cache_resource(show_spinner="Encoding the test set (the first time, downloading it)…", max_entries=16)
def _encode_split(key: str, dataset: str, _model: VAE, _download: bool = True) -> TestSplit:
    # Downloads a missing dataset once (checksummed, atomic); offline it fails with
    # DatasetUnavailable, which test_split turns into a message saying where to put the files.
    # (_download is not part of the cache key: the split is the same however its files came.)
    data = load_dataset(dataset, download=_download)
    x, y = data.test_x[:MAX_POINTS], data.test_y[:MAX_POINTS]
    mu, logvar = inference.encode(_model, x)
    return _shared_split(x.numpy(), y.numpy(), data.label_names, mu, logvar)


@st.cache_resource(show_spinner="Encoding the test set…", max_entries=16)
def _encode_custom(key: str, _cur: Current) -> TestSplit:
    """A model trained on a user's zip: its test images live in the checkpoint's meta
    (``vae.data.kept_test_set``), since the upload itself is not kept."""
    test = _cur.checkpoint.meta["test_set"]
    x, y = test["images"], test["labels"]
    mu, logvar = inference.encode(_cur.model, x)
    return _shared_split(x, y, test["label_names"], mu, logvar)


@st.cache_resource(show_spinner=False)
def _failed_downloads() -> dict[str, tuple[float, str]]:
    """This server's failed dataset downloads: ``{dataset: (time.monotonic(), message)}``."""
    return {}


def test_split(cur: Current, *, stop: bool = True) -> TestSplit | None:
    """The encoded test split (cached per model file), or a message saying how to get the
    data when it is not on this machine (then the page stops, unless ``stop=False``)."""
    if cur.dataset not in DATASETS:
        if "test_set" in cur.checkpoint.meta:
            return _encode_custom(cur.key, cur)
        st.warning(
            f"This model was trained on **{text(cur.dataset)}**, a dataset this app does not have, "
            "so this view cannot show its test images."
        )
        if stop:
            st.stop()
        return None
    failures = _failed_downloads()
    last = failures.get(cur.dataset)
    wait = 0.0 if last is None else RETRY_S - (time.monotonic() - last[0])
    try:
        return _encode_split(cur.key, cur.dataset, cur.model, wait <= 0)
    except DatasetUnavailable as e:
        if wait <= 0:
            failures[cur.dataset] = (time.monotonic(), str(e))
            reason, wait = str(e), RETRY_S
        else:  # the files are still not on disk: say why the last download failed
            reason = last[1]
        info = DATASETS.get(cur.dataset)
        title = info.title if info else cur.dataset
        st.warning(
            f"The test images of **{title}** are not on this machine, so this view cannot "
            f"show them. {reason}\n\nThe app tries the download again in {wait:.0f} s (files "
            "put in place by hand are found at once). Models trained on the bundled **digits** "
            "data always work."
        )
        if stop:
            st.stop()
        return None


# Below this average KL (nats) in every dimension, the decoder ignores the latent vector.
COLLAPSE_KL = 0.05


def posterior_collapsed(kl: np.ndarray | None) -> bool:
    """True when every latent dimension's average KL is about 0 (a posterior collapse)."""
    return kl is not None and float(kl.max()) < COLLAPSE_KL


def too_few_active(active_units: int | None, latent_dim: int) -> bool:
    """A trained model that uses none of its latent dimensions (a posterior collapse), or far
    fewer than it has: under a quarter of them, for 8 or more."""
    if active_units is None:
        return False
    return active_units == 0 or (latent_dim >= 8 and active_units < latent_dim / 4)


def dims_by_activity(split: TestSplit | None, d: int) -> tuple[list[int], np.ndarray | None]:
    """Latent dimensions, most used first (average KL(q || p) over the test split, nats), and
    those KLs ``(D,)``. Without test data every dimension counts the same: natural order."""
    if split is None:
        return list(range(d)), None
    kl = split.kl
    # Stable sort: ties (e.g. several dead dimensions) keep their natural order.
    return [int(i) for i in np.argsort(-kl, kind="stable")], kl


@st.cache_data(show_spinner="Scoring the test images, once per model…", max_entries=8)
def _test_elbos(key: str, _model: VAE, _images: np.ndarray) -> np.ndarray:
    return inference.elbo_per_image(_model, _images, n_samples=8, seed=0)


def test_elbos(cur: Current, split: TestSplit) -> np.ndarray:
    """Each test image's ELBO ``(N,)``, nats, with ``inference.reconstruct``'s estimator (8
    samples), so one image's ELBO can be placed among them. Cached per model file."""
    return _test_elbos(cur.key, cur.model, split.images)
