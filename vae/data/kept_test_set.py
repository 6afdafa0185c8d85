"""The test split a checkpoint of a user's own images carries in its ``meta["test_set"]``: the
uploaded zip or folder is not kept, so the app's map pages and ``vae.evaluate`` read the test
images from here. Written by both trainers (the CLI and the app's Train page)."""

from __future__ import annotations

from typing import Any

from vae.data.registry import Dataset

CUSTOM_TEST_MAX = 500  # test images of a user's dataset kept in the checkpoint (for the maps)


def custom_test_set(data: Dataset) -> dict[str, Any]:
    """The first ``CUSTOM_TEST_MAX`` test images (uint8 ``(N, C, H, W)``), their labels and
    the label names, as stored in the checkpoint's meta."""
    return {
        "images": data.test_x[:CUSTOM_TEST_MAX].clone(),
        "labels": data.test_y[:CUSTOM_TEST_MAX].clone(),
        "label_names": list(data.label_names),
    }
