"""The Autoencoder-vs-VAE maths (``vae.lecture.ae_vs_vae``): scoring a set of generated images
with a digit classifier (checked by hand), the own-code-range grid (against direct decodes),
the classifier on real test digits, and the bundled twins: the VAE generates the data's mix of
digits, the autoencoders do not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import seeded_model
from vae.core.model import VAEConfig
from vae.lecture import ae_vs_vae as T


class _FixedClassifier:
    """A stand-in for ``DigitClassifier``: class = index of the brightest of 4 pixels."""

    label_names = ("a", "b", "c", "d")

    def classify(self, images):
        flat = np.asarray(images).reshape(len(images), -1)[:, :4]
        return flat.argmax(1), flat.max(1)


def test_score_samples_counts_digits_and_the_class_mix():
    imgs = np.zeros((5, 1, 2, 2))
    for i, (k, conf) in enumerate([(0, 0.9), (0, 0.5), (1, 0.95), (3, 0.81), (3, 0.79)]):
        imgs[i].flat[k] = conf
    data_share = np.array([0.25, 0.25, 0.25, 0.25])
    s = T.score_samples(_FixedClassifier(), imgs, data_share)
    np.testing.assert_array_equal(s.labels, [0, 0, 1, 3, 3])
    assert s.digit_like == pytest.approx(3 / 5)  # 0.9, 0.95, 0.81 are >= 0.8
    np.testing.assert_allclose(s.class_share, [0.4, 0.2, 0.0, 0.4])
    # total variation by hand: (|.4-.25| + |.2-.25| + |0-.25| + |.4-.25|) / 2
    assert s.class_gap == pytest.approx((0.15 + 0.05 + 0.25 + 0.15) / 2)


def test_code_range_grid_decodes_the_box_of_the_codes():
    model2d = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,)), seed=1)
    mu = np.random.default_rng(0).normal(size=(400, 2)) * [3.0, 0.5] + [1.0, -2.0]
    g = T.code_range_grid(model2d, mu, n=4, tail=0.0)
    np.testing.assert_allclose(g.t1[[0, -1]], [mu[:, 0].min(), mu[:, 0].max()])
    np.testing.assert_allclose(g.t2[[0, -1]], [mu[:, 1].max(), mu[:, 1].min()])  # top row first
    i, j = 1, 2
    with torch.no_grad():
        tile = torch.sigmoid(model2d.decode(torch.tensor([[g.t1[j], g.t2[i]]]).float())).numpy()[0]
    np.testing.assert_allclose(g.images[i * 4 + j], tile, atol=1e-6)
    with pytest.raises(ValueError, match="2-D"):
        T.code_range_grid(model2d, np.zeros((5, 3)))


@pytest.fixture(scope="module")
def mnist_classifier():
    from vae.app.classifier import train_digit_classifier
    from vae.data.registry import DatasetUnavailable, load_dataset

    try:
        data = load_dataset("mnist", download=False)
    except DatasetUnavailable:
        pytest.skip("MNIST is not on this machine (set VAE_DATA_DIR)")
    return train_digit_classifier(data), data


def test_digit_classifier_reads_real_test_digits(mnist_classifier):
    clf, data = mnist_classifier
    x, y = data.test_x[5000:6000].numpy() / 255.0, data.test_y[5000:6000].numpy()
    labels, conf = clf.classify(x)  # test images it never saw, scored against their labels
    assert float(np.mean(labels == y)) > 0.9
    assert float(np.mean(conf[labels == y])) > float(np.mean(conf[labels != y]))


def test_bundled_vae_generates_better_than_its_autoencoder_twins(mnist_classifier):
    """The AE-vs-VAE page's claim, with the bundled twins: the VAE's prior samples have the
    data's mix of digits (the autoencoders' miss whole classes), its test codes fill the
    prior's 95% disc, and at least as many of its samples look like a digit."""
    from pathlib import Path

    from vae.core.checkpoints import load_checkpoint

    clf, data = mnist_classifier
    folder = Path(__file__).resolve().parents[1] / "checkpoints"
    names = {"ae": "mnist_ae_2d", "noisy_ae": "mnist_noisy_ae_2d", "vae": "mnist_2d"}
    if not all((folder / f"{n}.pt").exists() for n in names.values()):
        pytest.skip("the bundled twins are not in checkpoints/")
    x, y = data.test_x[:2000].numpy(), data.test_y[:2000].numpy()
    scores = {
        v: T.twin_scores(load_checkpoint(folder / f"{n}.pt").build_model(), clf, x, y, n_prior=1000)
        for v, n in names.items()
    }
    vae, aes = scores["vae"], [scores["ae"], scores["noisy_ae"]]
    for ae in aes:
        assert vae.prior.class_gap < ae.prior.class_gap - 0.1, (vae.prior.class_gap, ae.prior.class_gap)
        assert vae.inside_prior > ae.inside_prior + 0.3
        assert vae.prior.digit_like >= ae.prior.digit_like
    assert min(vae.prior.class_share) > 0.03  # every digit is generated
    assert all(min(ae.prior.class_share) < 0.01 for ae in aes)  # a whole class is missing
