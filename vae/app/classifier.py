"""A small digit classifier (scikit-learn) that scores generated images: which digit each one
looks like and how sure the classifier is. Used to put numbers on "can this model generate?".

k nearest neighbours on the first 50 principal components of MNIST training digits: fitting
is one PCA (seconds on a laptop), and its confidence has a plain reading (the share of the
k most similar real digits that agree), so a smudge between two classes scores low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae.data.registry import Dataset


@dataclass(frozen=True, eq=False)
class DigitClassifier:
    """A fitted classifier for images ``(N, C, H, W)`` in [0, 1] of ``image_shape``."""

    pipeline: object  # sklearn Pipeline(PCA, KNeighborsClassifier)
    label_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    test_accuracy: float  # on held-out test digits, to show on screen

    def classify(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``images (N, C, H, W)`` -> ``(labels (N,) int, confidence (N,) in [0, 1])``."""
        x = np.asarray(images, dtype=np.float32)
        if tuple(x.shape[1:]) != tuple(self.image_shape):
            raise ValueError(f"expected images (N, {self.image_shape}), got {x.shape}")
        if len(x) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        p = self.pipeline.predict_proba(x.reshape(len(x), -1))
        return p.argmax(1).astype(np.int64), p.max(1)


def train_digit_classifier(
    data: Dataset, n_train: int = 10_000, n_test: int = 2_000, k: int = 10, seed: int = 0
) -> DigitClassifier:
    """Fit on the first ``n_train`` training images of ``data`` (MNIST for the lecture);
    report the accuracy on the first ``n_test`` test images."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    def flat(x) -> np.ndarray:
        return x.reshape(len(x), -1).numpy().astype(np.float32) / 255.0

    x, y = flat(data.train_x[:n_train]), data.train_y[:n_train].numpy()
    pipe = make_pipeline(PCA(50, random_state=seed), KNeighborsClassifier(k)).fit(x, y)
    acc = float(pipe.score(flat(data.test_x[:n_test]), data.test_y[:n_test].numpy()))
    return DigitClassifier(pipe, tuple(data.label_names), tuple(data.train_x.shape[1:]), acc)
