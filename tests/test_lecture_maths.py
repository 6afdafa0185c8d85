"""The lecture's estimators and comparisons (``vae.lecture.gradients``, ``elbo``, ``ae_vs_vae``)
by hand, for the cases the broader tests in tests/test_lecture.py leave open (found by mutation
testing, tests/MUTATION.md): the grid posterior's every field from torch.distributions, the
focused grid's extent, the twins' scores with a Gaussian likelihood, small-sample edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal

from tests.test_lecture_values import _encode, _model, _x
from vae.lecture import ae_vs_vae, elbo, gradients


def _log_lik(model, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    """log p(x|t) per row of ``t (n, D)``, torch.distributions."""
    with torch.no_grad():
        logits = model.decode(t.float()).double()
    xs = x.double().expand_as(logits)
    if model.config.likelihood == "bernoulli":
        return Bernoulli(logits=logits, validate_args=False).log_prob(xs).flatten(1).sum(1)
    return Normal(torch.sigmoid(logits), (0.5 * model.dec_logvar.detach().double()).exp()).log_prob(xs).flatten(1).sum(1)


# --------------------------------------------------------------------------- elbo


def test_grid_posterior_every_field_by_hand():
    model = _model(d=2)
    x = _x(seed=1)
    g = elbo.grid_posterior(model, x, extent=(-2.0, 1.5, -1.0, 2.5), n=31)
    t0, t1 = np.linspace(-2.0, 1.5, 31), np.linspace(-1.0, 2.5, 31)
    area = (t0[1] - t0[0]) * (t1[1] - t1[0])
    pts = torch.tensor([[a, b] for b in t1 for a in t0], dtype=torch.float64)  # row i = t1[i]
    log_joint = _log_lik(model, pts, torch.from_numpy(x)[None]) + Normal(0.0, 1.0).log_prob(pts).sum(1)
    log_px = torch.logsumexp(log_joint, 0).item() + math.log(area)
    post = torch.exp(log_joint - log_px)
    mu, logvar = _encode(model, x)
    q = Normal(mu.double(), (0.5 * logvar.double()).exp()).log_prob(pts).sum(1)
    wq = torch.softmax(q, 0)
    kl = float((wq * (torch.log(wq / area) - (log_joint - log_px))).sum())
    np.testing.assert_allclose(g.t0, t0) and np.testing.assert_allclose(g.t1, t1)
    assert g.cell_area == pytest.approx(area) and g.extent == (-2.0, 1.5, -1.0, 2.5)
    assert g.log_px == pytest.approx(log_px, abs=1e-4)
    np.testing.assert_allclose(g.log_joint, log_joint.reshape(31, 31).numpy(), atol=1e-4)
    np.testing.assert_allclose(g.posterior, post.reshape(31, 31).numpy(), rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(g.q_density, q.exp().reshape(31, 31).numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(g.prior, Normal(0.0, 1.0).log_prob(pts).sum(1).exp().reshape(31, 31).numpy(), rtol=1e-9)
    assert g.posterior_kl == pytest.approx(kl, abs=1e-4) and g.elbo == pytest.approx(log_px - kl, abs=1e-4)
    np.testing.assert_allclose(g.posterior_mean, (post[:, None] * pts).sum(0).numpy() * area, atol=1e-5)
    np.testing.assert_allclose(g.std, (0.5 * logvar.double()).exp().numpy(), rtol=1e-6)


def test_grid_posterior_default_extent_and_bad_ones():
    model = _model(d=2)
    x = _x(seed=2)
    mu, logvar = _encode(model, x)
    std = (0.5 * logvar).exp()
    lo = torch.minimum(mu - 4.0 * std, torch.full_like(mu, -3.0))
    hi = torch.maximum(mu + 4.0 * std, torch.full_like(mu, 3.0))
    g = elbo.grid_posterior(model, x, n=5)
    np.testing.assert_allclose(g.extent, [lo[0], hi[0], lo[1], hi[1]], rtol=1e-6)
    assert g.t0.shape == (5,) and elbo.grid_posterior(model, x, extent=g.extent).t0.shape == (121,)
    for bad in [(1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 0.0)]:
        with pytest.raises(ValueError, match="bad extent"):
            elbo.grid_posterior(model, x, extent=bad, n=5)
    with pytest.raises(ValueError, match="n must be >= 2"):
        elbo.grid_posterior(model, x, n=1)


def test_focused_grid_covers_the_posterior_cells_and_q():
    model = _model(d=2)
    x = _x(seed=3)
    coarse = elbo.grid_posterior(model, x, n=21)
    f = elbo.focused_grid_posterior(model, x, n=11, coarse_n=21, q_radius=2.0, rel_mass=1e-2)
    rows, cols = np.nonzero(coarse.posterior >= 1e-2 * coarse.posterior.max())
    s0, s1 = coarse.t0[1] - coarse.t0[0], coarse.t1[1] - coarse.t1[0]
    e = f.extent
    assert e[1] - e[0] == pytest.approx(e[3] - e[2])  # a square
    # The padded posterior cells, and q's mean +- 2 s, inside; the square is the smallest such.
    lo = np.minimum([coarse.t0[cols.min()] - s0, coarse.t1[rows.min()] - s1], coarse.mu - 2 * coarse.std)
    hi = np.maximum([coarse.t0[cols.max()] + s0, coarse.t1[rows.max()] + s1], coarse.mu + 2 * coarse.std)
    centre, half = (lo + hi) / 2, np.max(hi - lo) / 2
    np.testing.assert_allclose(e, [centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half], atol=1e-9)


def test_elbo_vs_logpx_recon_standard_error_from_two_samples():
    model = _model()
    x = _x(seed=4)
    r = elbo.elbo_vs_logpx(model, x, ks=(1,), n_elbo=2, seed=5)
    mu, logvar = _encode(model, x)
    eps = torch.randn((2, 3), generator=torch.Generator().manual_seed(5))
    ll = _log_lik(model, mu + (0.5 * logvar).exp() * eps, torch.from_numpy(x)[None])
    assert r.recon == pytest.approx(float(ll.mean()), abs=1e-4)
    assert r.recon_se == pytest.approx(float(ll.std() / math.sqrt(2)), rel=1e-4)
    assert math.isnan(elbo.elbo_vs_logpx(model, x, ks=(1,), n_elbo=1).recon_se)


# --------------------------------------------------------------------------- gradients


def test_toy_log_lik_keeps_the_dtype_and_loo_baseline_with_two_samples():
    toy = gradients.gaussian_toy(d=2, seed=1)
    t = torch.zeros(3, 2, dtype=torch.float32)
    out = toy.log_lik(t)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), -0.5 * np.sum(toy.c**2), rtol=1e-6)
    f, score = torch.tensor([1.0, 3.0]), torch.ones(2, 2)
    torch.testing.assert_close(gradients._loo_estimates(f, score, baseline=True), torch.tensor([[-2.0, -2.0], [2.0, 2.0]]))
    torch.testing.assert_close(gradients._loo_estimates(f[:1], score[:1], baseline=True), torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(gradients._loo_estimates(f, score, baseline=False), f[:, None] * score)


def test_estimator_variance_curve_passes_the_baseline_on():
    model = _model()
    x = _x(seed=5)
    on = gradients.estimator_variance_curve(model, x, sample_sizes=(1, 3), repeats=4, baseline=True)
    off = gradients.estimator_variance_curve(model, x, sample_sizes=(1, 3), repeats=4)
    assert on.baseline and not off.baseline
    np.testing.assert_allclose(on.reparam_mean, off.reparam_mean)  # same eps, same reparam
    assert not np.allclose(on.score_mean[1], off.score_mean[1])  # N = 3: the baseline acts


# --------------------------------------------------------------------------- ae_vs_vae


@pytest.mark.parametrize("variant", ["vae", "ae"])
def test_twin_view_scores_by_hand_with_a_gaussian_likelihood(variant):
    model = _model(likelihood="gaussian", variant=variant)
    imgs = (np.random.default_rng(6).random((3, 1, 6, 5)) * 255).astype(np.uint8)
    v = ae_vs_vae.twin_view(model, imgs, recon_index=(2, 0), n_prior=4, seed=1)
    x = torch.from_numpy(imgs).float() / 255.0
    with torch.no_grad():
        mu, logvar = model.encode(x)
    std = torch.zeros_like(mu) if variant == "ae" else (0.5 * logvar).exp()
    eps = torch.randn(tuple(mu.shape), generator=torch.Generator().manual_seed(1))
    t = mu + std * eps
    nll = -torch.stack([_log_lik(model, t[i : i + 1], x[i : i + 1])[0] for i in range(3)])
    kl = torch.distributions.kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert v.variant == variant
    assert v.recon == pytest.approx(float(nll.mean()), rel=1e-5)
    assert v.kl == pytest.approx(float(kl.mean()), rel=1e-5)
    np.testing.assert_allclose(v.mu, mu.numpy(), atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(v.recon_images, torch.sigmoid(model.decode(mu[[2, 0]])).numpy(), atol=1e-6)
    prior_t = torch.randn((4, 3), generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(v.prior_t, prior_t.numpy(), atol=1e-6)


class _Classifier:
    """Labels and confidences fixed in advance: what score_samples makes of them is the test."""

    label_names = ("a", "b", "c")

    def __init__(self, labels, conf):  # noqa: ANN001
        self.labels, self.conf = np.asarray(labels, dtype=np.int64), np.asarray(conf, dtype=float)

    def classify(self, images):  # noqa: ANN001
        """The given labels and confidences, repeated to ``len(images)``."""
        return np.resize(self.labels, len(images)), np.resize(self.conf, len(images))


def test_score_samples_one_image_and_twin_scores_variant():
    s = ae_vs_vae.score_samples(_Classifier([1], [0.9]), np.zeros((1, 1, 6, 5)), [1, 1, 0])
    np.testing.assert_allclose(s.class_share, [0.0, 1.0, 0.0])
    assert s.class_gap == pytest.approx(0.5 * (1 + 0 + 0))  # |0-1| + |1-1| + |0-0|, halved
    assert s.digit_like == 1.0
    empty = ae_vs_vae.score_samples(_Classifier([], []), np.zeros((0, 1, 6, 5)), [0.5, 0.5, 0.0])
    assert empty.digit_like == 0.0 and empty.class_share.tolist() == [0.0, 0.0, 0.0]
    model = _model(d=2, variant="noisy_ae")
    imgs = np.random.default_rng(7).random((6, 1, 6, 5)).astype(np.float32)
    sc = ae_vs_vae.twin_scores(model, _Classifier([0, 1, 2], [0.5, 0.9, 0.95]), imgs, np.array([0, 1, 2, 0, 1, 2]), n_prior=6, grid_n=2, n_walks=2, walk_steps=3)
    assert sc.variant == "noisy_ae"
    with torch.no_grad():
        mu = model.encode(torch.from_numpy(imgs))[0].numpy()
    assert sc.inside_prior == pytest.approx(float(np.mean((mu**2).sum(1) <= 5.991)))  # chi2(2) 95%
    assert sc.prior.labels.shape == (6,) and sc.grid.labels.shape == (4,) and sc.walk.labels.shape == (2,)


def test_code_range_grid_from_float32_codes():
    model = _model(d=2)
    mu = np.random.default_rng(8).normal(size=(50, 2)).astype(np.float32)
    g = ae_vs_vae.code_range_grid(model, mu, n=3, tail=0.1)
    m64 = mu.astype(np.float64)
    lo, hi = np.quantile(m64, 0.1, axis=0), np.quantile(m64, 0.9, axis=0)
    np.testing.assert_array_equal(g.t1, np.linspace(lo[0], hi[0], 3))
    np.testing.assert_array_equal(g.t2, np.linspace(hi[1], lo[1], 3))
    assert g.t1.dtype == np.float64


def test_train_twins_use_the_given_architecture():
    from vae.data.registry import Dataset

    x = torch.from_numpy((np.random.default_rng(9).random((32, 1, 6, 5)) * 255).astype(np.uint8))
    y = torch.arange(32) % 2
    data = Dataset("folder:tiny", x, y, x[:8], y[:8], ("a", "b"))
    twins = ae_vs_vae.train_twins(data, latent_dim=3, hidden=(8,), epochs=1)
    assert sorted(twins) == ["ae", "noisy_ae", "vae"]
    for variant, model in twins.items():
        assert model.config.hidden == (8,) and model.config.latent_dim == 3 and model.config.variant == variant
