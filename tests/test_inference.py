"""``vae.app.inference`` against independent references: the model's own forward pass done by
hand, torch.distributions for the likelihoods and the KL, scipy-free closed forms (the normal
quantile through ``torch.distributions.Normal.icdf``), numpy for PCA. The models are seeded
untrained VAEs with weights scaled up, so that posterior means and variances differ clearly
from 0 and 1 (an untrained encoder gives m ~ 0, log s^2 ~ 0, where many bugs vanish)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from tests.conftest import seeded_model
from vae.app import inference
from vae.core.model import VAE, VAEConfig


def _model(d: int = 3, likelihood: str = "bernoulli", seed: int = 0, scale: float = 2.5) -> VAE:
    model = seeded_model(VAEConfig(image_shape=(1, 6, 5), latent_dim=d, hidden=(16,), likelihood=likelihood), seed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
        if likelihood == "gaussian":
            model.dec_logvar.fill_(-1.3)
    return model


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 6, 5)).astype(np.float32)


def _log_lik(model: VAE, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | t) per row of ``logits (S, C, H, W)``, from torch.distributions."""
    if model.config.likelihood == "bernoulli":
        dist = Bernoulli(logits=logits, validate_args=False)
    else:
        dist = Normal(torch.sigmoid(logits), (0.5 * model.dec_logvar).exp())
    return dist.log_prob(x.expand_as(logits)).flatten(1).sum(1)


def test_encode_scales_uint8_and_batches():
    model = _model()
    x = (_images(7) * 255).round().astype(np.uint8)
    mu, logvar = inference.encode(model, x, batch=3)
    with torch.no_grad():
        want_mu, want_lv = model.encode(torch.from_numpy(x).float() / 255.0)
    assert mu.dtype == np.float32 and mu.shape == (7, 3) and logvar.shape == (7, 3)
    np.testing.assert_allclose(mu, want_mu.numpy(), atol=1e-6)
    np.testing.assert_allclose(logvar, want_lv.numpy(), atol=1e-6)
    assert np.ptp(logvar) > 0.5 and np.abs(mu).max() > 0.5  # the scaled model is far from N(0, 1)
    f_mu, _ = inference.encode(model, x.astype(np.float32) / 255.0)  # float input: taken as is
    np.testing.assert_allclose(f_mu, mu, atol=1e-6)


def test_decode_is_the_sigmoid_of_the_decoder_in_batches_and_dtypes():
    model = _model()
    z = np.random.default_rng(1).normal(size=(5, 3))
    with torch.no_grad():
        want = torch.sigmoid(model.decode(torch.as_tensor(z, dtype=torch.float32))).numpy()
    got = inference.decode(model, z, batch=2)
    assert got.dtype == np.float32 and got.shape == (5, 1, 6, 5)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(inference.decode(model, torch.as_tensor(z)), want, atol=1e-6)
    np.testing.assert_allclose(inference.decode(model, z[0]), want[:1], atol=1e-6)  # (D,) -> one image
    assert inference.decode(model, np.zeros((0, 3))).shape == (0, 1, 6, 5)
    m64 = _model().double()
    with torch.no_grad():
        want64 = torch.sigmoid(m64.decode(torch.as_tensor(z))).numpy()
    np.testing.assert_allclose(inference.decode(m64, z), want64, atol=1e-6)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_reconstruct_against_a_direct_computation(likelihood):
    model = _model(likelihood=likelihood)
    x = _images(1, seed=3)[0]
    rec = inference.reconstruct(model, x, n_samples=6, seed=11)
    xt = torch.from_numpy(x)[None]
    with torch.no_grad():
        mu, logvar = model.encode(xt)
        std = (0.5 * logvar).exp()
        eps = torch.randn((6, 3), generator=torch.Generator().manual_seed(11))
        logits = model.decode(mu + std * eps)
        kl = kl_divergence(Normal(mu[0], std[0]), Normal(0.0, 1.0)).sum()
        elbo = _log_lik(model, logits, xt).mean() - kl
        recon = torch.sigmoid(model.decode(mu))[0]
    np.testing.assert_allclose(rec.mu, mu[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(rec.std, std[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(rec.recon, recon.numpy(), atol=1e-6)
    np.testing.assert_allclose(rec.samples, torch.sigmoid(logits).numpy(), atol=1e-6)
    assert rec.kl == pytest.approx(float(kl), rel=1e-5) and rec.kl > 0.5
    assert rec.elbo == pytest.approx(float(elbo), rel=1e-5, abs=1e-4)
    # A different seed draws different samples; the mean image does not move.
    other = inference.reconstruct(model, x, n_samples=6, seed=12)
    assert not np.allclose(other.samples, rec.samples)
    np.testing.assert_array_equal(other.recon, rec.recon)
    # n_samples = 0 still estimates the ELBO (one sample) but returns no sample images.
    none = inference.reconstruct(model, x, n_samples=0, seed=11)
    assert none.samples.shape == (0, 1, 6, 5)
    with torch.no_grad():
        e1 = torch.randn((1, 3), generator=torch.Generator().manual_seed(11))
        want1 = _log_lik(model, model.decode(mu + std * e1), xt).mean() - kl
    assert none.elbo == pytest.approx(float(want1), rel=1e-5, abs=1e-4)


def test_reconstruct_defaults_are_8_samples_and_seed_0():
    model = _model()
    x = _images(1, seed=4)[0]
    rec = inference.reconstruct(model, x)
    assert rec.samples.shape[0] == 8
    np.testing.assert_array_equal(rec.samples, inference.reconstruct(model, x, n_samples=8, seed=0).samples)


def test_elbo_per_image_matches_reconstruct_and_a_direct_computation():
    model = _model()
    x = _images(5, seed=5)
    got = inference.elbo_per_image(model, x, n_samples=4, seed=2, batch=2)
    gen = torch.Generator().manual_seed(2)
    want = []
    xt = torch.from_numpy(x)
    with torch.no_grad():
        for i in range(0, 5, 2):  # the generator's draws per batch: (S, B, D)
            mu, logvar = model.encode(xt[i : i + 2])
            eps = torch.randn((4, *mu.shape), generator=gen)
            std = (0.5 * logvar).exp()
            for j in range(mu.shape[0]):
                logits = model.decode(mu[j] + std[j] * eps[:, j])
                kl = kl_divergence(Normal(mu[j], std[j]), Normal(0.0, 1.0)).sum()
                want.append(float(_log_lik(model, logits, xt[i + j : i + j + 1]).mean() - kl))
    assert got.shape == (5,) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # Given eps (S, N, D): the estimate uses exactly those draws, whatever the batching.
    eps = torch.randn((3, 5, 3), generator=torch.Generator().manual_seed(9))
    a = inference.elbo_per_image(model, x, eps=eps, batch=2)
    b = inference.elbo_per_image(model, x, eps=eps, batch=500)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    one = inference.reconstruct(model, x[0], n_samples=8, seed=0).elbo
    with torch.no_grad():
        e0 = torch.randn((8, 3), generator=torch.Generator().manual_seed(0))[:, None]
    assert inference.elbo_per_image(model, x[:1], eps=e0)[0] == pytest.approx(one, rel=1e-5)
    # Defaults: 8 samples, seed 0.
    e_def = torch.randn((8, 5, 3), generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(inference.elbo_per_image(model, x), inference.elbo_per_image(model, x, eps=e_def), rtol=1e-6)
    assert inference.elbo_per_image(model, np.zeros((0, 1, 6, 5), np.float32)).shape == (0,)


def test_prior_draws_scale_and_decode():
    model = _model()
    draws = inference.prior_draws(model, 4, temperature=0.7, seed=3)
    eps = torch.randn((4, 3), generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(draws.t, 0.7 * eps.numpy(), atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(draws.images, torch.sigmoid(model.decode(0.7 * eps)).numpy(), atol=1e-6)
    np.testing.assert_allclose(inference.prior_draws(model, 4, seed=3).t, eps.numpy(), atol=1e-6)  # T = 1
    e0 = torch.randn((4, 3), generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(inference.prior_draws(model, 4).t, e0.numpy(), atol=1e-6)  # seed 0
    m64 = _model().double()
    d64 = inference.prior_draws(m64, 4, seed=3)
    assert d64.t.dtype == np.float64  # drawn in the model's dtype
    np.testing.assert_allclose(d64.t, torch.randn((4, 3), generator=torch.Generator().manual_seed(3), dtype=torch.float64).numpy(), rtol=1e-12)


def test_kl_per_dim_is_the_average_closed_form_kl():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    q = Normal(torch.as_tensor(mu), torch.as_tensor(np.exp(0.5 * logvar)))
    want = kl_divergence(q, Normal(0.0, 1.0)).mean(0).numpy()
    np.testing.assert_allclose(inference.kl_per_dim(mu, logvar), want, rtol=1e-10)


def test_pca_projection_against_the_covariance_eigenvectors():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(200, 4)) @ np.diag([3.0, 2.0, 0.5, 0.1]) + np.array([1.0, -2.0, 0.5, 4.0])
    proj = inference.pca_projection(pts)
    vals, vecs = np.linalg.eigh(np.cov(pts.T))
    top = vecs[:, ::-1][:, :2].T
    top *= np.sign(top[np.arange(2), np.abs(top).argmax(1)])[:, None]  # largest loading positive
    np.testing.assert_allclose(proj.components, top, atol=1e-8)
    np.testing.assert_allclose(proj.mean, pts.mean(0), atol=1e-12)
    np.testing.assert_allclose(proj.explained, vals[::-1][:2] / vals.sum(), rtol=1e-8)
    np.testing.assert_allclose(proj.apply(pts[:3]), (pts[:3] - pts.mean(0)) @ top.T, atol=1e-8)
    np.testing.assert_allclose(proj.apply(pts[0]), proj.apply(pts[:1]))
    p32 = inference.pca_projection(pts.astype(np.float32))  # computed in float64 whatever the input
    np.testing.assert_allclose(p32.components, inference.pca_projection(pts.astype(np.float32).astype(np.float64)).components, rtol=0, atol=1e-13)
    three = inference.pca_projection(pts[:, :3])  # D = 3 is projected, not cut to 2 coordinates
    assert not np.allclose(np.abs(three.components), np.eye(2, 3))
    two_points = inference.pca_projection(pts[:2])
    np.testing.assert_allclose(two_points.explained, [1.0, 0.0], atol=1e-12)
    # D <= 2: the identity (padded), the variance shares per axis.
    one = inference.pca_projection(pts[:, :1])
    np.testing.assert_allclose(one.apply(pts[:2, :1]), np.c_[pts[:2, :1], np.zeros(2)])
    np.testing.assert_allclose(one.explained, [1.0, 0.0])
    two = inference.pca_projection(pts[:, :2])
    v = pts[:, :2].var(0)
    np.testing.assert_allclose(two.explained, v / v.sum())
    flat = inference.pca_projection(np.ones((3, 2)))
    np.testing.assert_allclose(flat.explained, [0.0, 0.0])
    with pytest.raises(ValueError, match="at least two points"):
        inference.pca_projection(pts[0])


def test_manifold_grid_values():
    model = _model(d=3)
    images, coords = inference.manifold(model, n=4, dims=(2, 0), base=[0.0, 0.4, 0.0], quantiles=(0.1, 0.8))
    want_q = Normal(0.0, 1.0).icdf(torch.linspace(0.1, 0.8, 4, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(coords, want_q, rtol=0, atol=1e-12)  # computed in float64
    assert images.shape == (4, 4, 1, 6, 5)
    for i, j in [(0, 0), (3, 1), (1, 3)]:
        z = torch.tensor([[want_q[3 - i], 0.4, want_q[j]]], dtype=torch.float32)  # row 0 = largest
        with torch.no_grad():
            np.testing.assert_allclose(images[i, j], torch.sigmoid(model.decode(z))[0].numpy(), atol=1e-6)
    _, default_q = inference.manifold(model)
    assert len(default_q) == 15
    np.testing.assert_allclose(default_q[[0, -1]], [-1.6448536, 1.6448536], atol=1e-6)
    for dims in [(1, 1), (0, 3), (3, 0), (-1, 0)]:
        with pytest.raises(ValueError, match=r"^dims must be two distinct latent dims of 3, got"):
            inference.manifold(model, n=2, dims=dims)
    with pytest.raises(ValueError, match="^base must have 3 entries$"):
        inference.manifold(model, n=2, base=[0.0, 0.0])
    for q in [(0.0, 0.5), (0.5, 0.5), (0.2, 1.0)]:
        with pytest.raises(ValueError, match=r"^quantiles must satisfy 0 < lo < hi < 1$"):
            inference.manifold(model, n=2, quantiles=q)
    flat, _ = inference.manifold(model, n=2, base=np.array([[0.0, 0.4, 0.0]]))  # (1, D) base
    np.testing.assert_allclose(flat, inference.manifold(model, n=2, base=[0.0, 0.4, 0.0])[0])
    two_d = _model(d=2)
    tiles, q2 = inference.manifold(two_d, n=3)  # a 2-D model: the plain latent plane
    z = torch.tensor([[q2[0], q2[2]]], dtype=torch.float32)  # top-left tile: t1 min, t2 max
    with torch.no_grad():
        np.testing.assert_allclose(tiles[0, 0], torch.sigmoid(two_d.decode(z))[0].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="dims"):
        inference.manifold(_model(d=1), n=2)


def test_limit_threads(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert inference.limit_threads(3) == 3 and calls == [3] and isinstance(calls[0], int)
    assert inference.limit_threads() == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert inference.limit_threads(3) == 2  # half the cores, rounded down
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert inference.limit_threads(3) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert inference.limit_threads(3) == 1
    assert inference.limit_threads(0) == 1
    calls.clear()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert inference.limit_threads(3) == 1 and calls == []  # already right: left alone
