""""Is it copying?": the k nearest training images of a decoded image, in pixel space and in
latent space, shown next to it (``show_neighbours``). The indexes (``vae.app.neighbours``) are
built once per server: pixels once per dataset (every model of MNIST shares them), posterior
means once per model file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from pages._lib import display
from pages._lib import lecture_ui as ui
from pages._lib.models import Current
from vae.app import inference
from vae.app import neighbours as nb
from vae.data.registry import DATASETS, DatasetUnavailable, load_dataset

# Test images whose nearest-training-image distance gives the "typical" scale shown.
TYPICAL_N = 200


@dataclass(frozen=True, eq=False)
class Reference:
    """The images neighbours are searched among: ``images (N, C, H, W)`` uint8, ``labels (N,)``,
    ``what`` (for captions), and ``typical (2,)``: the median distance from a test image to its
    nearest reference image, pixels then latent (the scale a student compares against)."""

    images: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    what: str
    pixels: nb.NeighbourIndex
    latents: nb.NeighbourIndex
    typical: tuple[float, float]


@st.cache_resource(show_spinner="Indexing the training images (once per dataset)…", max_entries=2)
def _pixel_index(dataset: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], nb.NeighbourIndex]:
    data = load_dataset(dataset)
    x = data.train_x.numpy()
    return x, data.train_y.numpy(), data.label_names, nb.build_index(x)


@st.cache_resource(show_spinner="Encoding the training images (once per model)…", max_entries=4)
def _reference(key: str, _cur: Current) -> Reference:
    if _cur.dataset in DATASETS:
        images, labels, names, pixels = _pixel_index(_cur.dataset)
        data = load_dataset(_cur.dataset)
        test = data.test_x[:TYPICAL_N].numpy()
        what = f"the {len(images):,} training images"
    else:  # a user's zip: only the test images kept in the checkpoint exist here
        kept = _cur.checkpoint.meta["test_set"]
        images, labels = np.asarray(kept["images"]), np.asarray(kept["labels"])
        names = tuple(kept["label_names"])
        pixels = nb.build_index(images)
        test = images[:TYPICAL_N]
        what = f"the {len(images):,} test images kept with this model (its training images are not)"
    mu, _ = inference.encode(_cur.model, images)
    latents = nb.build_index(mu)
    test_mu, _ = inference.encode(_cur.model, test)
    # For kept test images the nearest one is the image itself: use the second nearest there.
    col = 0 if _cur.dataset in DATASETS else 1
    typ_pix = nb.query(pixels, test.reshape(len(test), -1).astype(np.float64) / 255.0, k=2)
    typ_lat = nb.query(latents, test_mu, k=2)
    typical = (float(np.median(typ_pix.distance[:, col])), float(np.median(typ_lat.distance[:, col])))
    return Reference(images, labels, names, what, pixels, latents, typical)


def reference(cur: Current) -> Reference | None:
    """The reference images of ``cur``'s dataset, indexed (cached), or None with a note."""
    if cur.dataset not in DATASETS and "test_set" not in cur.checkpoint.meta:
        st.caption("Nearest neighbours need the model's images, which this app does not have.")
        return None
    try:
        return _reference(cur.key, cur)
    except DatasetUnavailable as e:
        st.caption(f"Nearest neighbours need the training images, not on this machine. {e}")
        return None


def _row(ref: Reference, found: nb.Neighbours) -> None:
    idx, dist = found.index[0], found.distance[0]
    captions = [
        f"#{i} · {display.text(ref.label_names[ref.labels[i]])} · d = {d:.2f}"
        for i, d in zip(idx, dist, strict=True)
    ]
    ui.strip(ref.images[idx].astype(np.float32) / 255.0, captions, width=92)


def show_neighbours(
    cur: Current, image: np.ndarray, latent: np.ndarray | None, *, caption: str = "this image",
    k: int = nb.K,
) -> None:  # fmt: skip
    """``image (C, H, W)`` in [0, 1] beside its ``k`` nearest reference images in pixel space
    and those of its code ``latent (D,)`` (posterior means), with distances and their
    typical scale."""
    ref = reference(cur)
    if ref is None:
        return
    img = np.asarray(image, np.float64).reshape(-1)
    pix = nb.query(ref.pixels, img, k=k)
    lat = None if latent is None else nb.query(ref.latents, np.asarray(latent, np.float64), k=k)
    p_typ, l_typ = ref.typical
    left, right = st.columns([1, 5], gap="medium")
    with left:
        display.show_image(np.asarray(image, np.float32), caption, width=110)
    with right:
        st.markdown(
            f"**Nearest in pixel space**: Euclidean distance over all {img.size} pixel values in "
            f"[0, 1]; a test image's nearest training image is typically **{p_typ:.2f}** away."
        )
        _row(ref, pix)
        if lat is not None:
            st.markdown(
                "**Nearest in latent space**: distance from the code t to each image's posterior "
                f"mean m(x); typically **{l_typ:.2f}** for a test image's mean."
            )
            _row(ref, lat)
        st.caption(
            f"Searched among {ref.what}. A distance far below the typical one means a near copy "
            "of a training image; around it or above, the image is new."
        )
