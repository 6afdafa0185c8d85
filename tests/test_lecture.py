"""Checks of the lecture helpers against independent answers: closed forms, autograd of exact
expectations (Gauss-Hermite quadrature), ``vae.core.losses`` and direct model calls."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import torch

from vae.app import inference
from vae.core.losses import iwae_log_likelihood, kl_standard_normal, reconstruction_nll
from vae.core.model import VAE, VAEConfig
from vae.lecture import ae_vs_vae as T
from vae.lecture import elbo as E
from vae.lecture import gradients as G
from vae.lecture import interpolation as I
from vae.lecture import noise as N


def _model(seed: int, dtype: torch.dtype = torch.float32, **kw) -> VAE:
    cfg = dict(image_shape=(1, 8, 8), latent_dim=2, hidden=(32,), activation="tanh")
    cfg.update(kw)
    with torch.random.fork_rng():  # seeded weights without touching the global RNG
        torch.manual_seed(seed)
        model = VAE(VAEConfig(**cfg)).to(dtype)
    with torch.no_grad():  # a sharper decoder: a posterior well away from the prior
        last = [m for m in model.decoder if hasattr(m, "weight")][-1]
        last.weight.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def model2d() -> VAE:
    """A random 2-D latent model on 8x8 images in float64 (a valid model, hence a valid
    posterior: evidence identities hold without training)."""
    return _model(0, torch.float64)


@pytest.fixture(scope="module")
def x8() -> np.ndarray:
    gen = torch.Generator().manual_seed(1)
    return (torch.rand(1, 8, 8, generator=gen) > 0.5).double().numpy()


def _mean_se(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return a.mean(0), a.std(0, ddof=1) / math.sqrt(a.shape[0])


# --------------------------------------------------------------------------------------
# Gradient estimators
# --------------------------------------------------------------------------------------


def _toy_exact_grad(toy: G.GaussianToy) -> np.ndarray:
    """Autograd of the closed form E_q f = -0.5 (||m - c||^2 + sum s^2)."""
    mu = torch.tensor(toy.mu, requires_grad=True)
    lv = torch.tensor(toy.logvar, requires_grad=True)
    c = torch.tensor(toy.c)
    value = -0.5 * ((mu - c).pow(2).sum() + lv.exp().sum())
    gm, glv = torch.autograd.grad(value, (mu, lv))
    assert value.item() == pytest.approx(toy.expectation())
    return torch.cat([gm, glv]).numpy()


def test_reparam_mean_matches_closed_form_gradient_on_toy():
    toy = G.gaussian_toy(d=3, seed=0)
    exact = _toy_exact_grad(toy)
    np.testing.assert_allclose(toy.gradient(), exact, rtol=1e-12)
    g = G.reparam_gradients(toy.log_lik, toy.mu, toy.logvar, n=20000, seed=1)
    assert g.shape == (20000, 6)
    mean, se = _mean_se(g)
    assert np.all(np.abs(mean - exact) < 4 * se), (mean, exact, se)


def test_score_function_is_unbiased_and_agrees_with_reparam_on_toy():
    toy = G.gaussian_toy(d=3, seed=2)
    exact = _toy_exact_grad(toy)
    r_mean, r_se = _mean_se(G.reparam_gradients(toy.log_lik, toy.mu, toy.logvar, 20000, seed=3))
    for baseline in (False, True):
        s = G.score_function_gradients(toy.log_lik, toy.mu, toy.logvar, 20000, 4, baseline)
        s_mean, s_se = _mean_se(s)
        assert np.all(np.abs(s_mean - exact) < 4 * s_se)
        assert np.all(np.abs(s_mean - r_mean) < 4 * np.hypot(s_se, r_se))


def test_score_function_variance_exceeds_reparam_and_baseline_helps():
    toy = G.gaussian_toy(d=3, seed=5, offset=2.0)
    r = G.reparam_gradients(toy.log_lik, toy.mu, toy.logvar, 20000, seed=6)
    s = G.score_function_gradients(toy.log_lik, toy.mu, toy.logvar, 20000, seed=6)
    sb = G.score_function_gradients(toy.log_lik, toy.mu, toy.logvar, 20000, 6, baseline=True)
    assert np.all(s.var(0) > r.var(0))
    assert sb.var(0).mean() < 0.5 * s.var(0).mean()


def test_variance_curve_on_toy_falls_as_one_over_n():
    toy = G.gaussian_toy(d=2, seed=7, offset=1.0)
    vc = G.variance_curve(toy.log_lik, toy.mu, toy.logvar, (100, 1, 10), repeats=400, seed=8)
    np.testing.assert_array_equal(vc.sample_sizes, [1, 10, 100])
    assert vc.reparam_mean.shape == vc.score_var_coord.shape == (3, 4)
    assert np.all(vc.score_var > vc.reparam_var)
    # Per-sample variance from a large independent sample, divided by N.
    per_r = G.reparam_gradients(toy.log_lik, toy.mu, toy.logvar, 40000, seed=9).var(0).mean()
    per_s = G.score_function_gradients(toy.log_lik, toy.mu, toy.logvar, 40000, 9).var(0).mean()
    for i, n in enumerate(vc.sample_sizes):
        assert vc.reparam_var[i] == pytest.approx(per_r / n, rel=0.3)
        assert vc.score_var[i] == pytest.approx(per_s / n, rel=0.3)
    exact = _toy_exact_grad(toy)
    np.testing.assert_allclose(vc.reparam_mean[-1], exact, atol=0.05)
    vcb = G.variance_curve(toy.log_lik, toy.mu, toy.logvar, (1, 10, 100), 400, 8, baseline=True)
    assert vcb.score_var[-1] < vc.score_var[-1]
    np.testing.assert_allclose(vcb.reparam_var, vc.reparam_var)  # same eps


class _Recorder:
    """A toy log-likelihood that remembers the points it was called at."""

    def __init__(self, toy: G.GaussianToy) -> None:
        self.toy, self.seen = toy, []

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        self.seen.append(t.detach().clone())
        return self.toy.log_lik(t)


def _manual_score_rows(toy: G.GaussianToy, t: torch.Tensor, baseline: bool) -> np.ndarray:
    """(f_i - b_i) grad log q(t_i): d/dm = (t - m)/s^2, d/dlogvar = 0.5 ((t - m)^2/s^2 - 1)."""
    t = t.numpy()
    var = np.exp(toy.logvar)
    f = -0.5 * ((t - toy.c) ** 2).sum(1)
    if baseline:
        f = f - (f.sum() - f) / (len(f) - 1)
    score = np.concatenate([(t - toy.mu) / var, 0.5 * ((t - toy.mu) ** 2 / var - 1)], 1)
    return f[:, None] * score


def test_score_function_rows_and_leave_one_out_baseline_are_exact():
    toy = G.gaussian_toy(d=2, seed=13)
    for baseline in (False, True):
        rec = _Recorder(toy)
        rows = G.score_function_gradients(rec, toy.mu, toy.logvar, 5, 0, baseline)
        np.testing.assert_allclose(rows, _manual_score_rows(toy, rec.seen[0], baseline))
        rec = _Recorder(toy)
        vc = G.variance_curve(rec, toy.mu, toy.logvar, (5,), repeats=2, seed=1, baseline=baseline)
        t = torch.cat(rec.seen).reshape(2, 5, 2)
        per_repeat = np.stack([_manual_score_rows(toy, t[r], baseline).mean(0) for r in range(2)])
        np.testing.assert_allclose(vc.score_mean[0], per_repeat.mean(0))
        np.testing.assert_allclose(vc.score_var_coord[0], per_repeat.var(0, ddof=1))


def _quadrature_grad(model: VAE, x: np.ndarray, order: int = 40) -> np.ndarray:
    """grad_{mu, logvar} of E_q log p(x|t) by 2-D Gauss-Hermite quadrature + autograd."""
    z, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / math.sqrt(2 * math.pi)
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    nodes = torch.tensor(np.stack([z1.ravel(), z2.ravel()], 1))
    weights = torch.tensor(np.outer(w, w).ravel())
    xb = torch.as_tensor(x)[None]
    with torch.no_grad():
        mu0, lv0 = model.encode(xb)
    mu = mu0[0].clone().requires_grad_(True)
    lv = lv0[0].clone().requires_grad_(True)
    t = mu + torch.exp(0.5 * lv) * nodes
    logits = model.decode(t)
    ll = -reconstruction_nll(logits, xb.expand(len(t), 1, 8, 8), "bernoulli")
    gm, glv = torch.autograd.grad((weights * ll).sum(), (mu, lv))
    return torch.cat([gm, glv]).numpy()


def test_model_estimators_match_quadrature_gradient(model2d, x8):
    exact = _quadrature_grad(model2d, x8)
    r = G.reparam_gradient_samples(model2d, x8, 20000, seed=10)
    s = G.score_function_gradient_samples(model2d, x8, 20000, seed=11, baseline=True)
    assert r.shape == s.shape == (20000, 4)
    for est in (r, s):
        mean, se = _mean_se(est)
        assert np.all(np.abs(mean - exact) < 4 * se), (mean, exact, se)
    assert np.all(s.var(0) > r.var(0))


def test_estimator_variance_curve_on_model(model2d, x8):
    vc = G.estimator_variance_curve(model2d, x8, (1, 10, 100), repeats=50, seed=12)
    assert vc.sample_sizes.tolist() == [1, 10, 100]
    assert vc.reparam_var.shape == vc.score_var.shape == (3,)
    assert np.all(vc.score_var > vc.reparam_var)
    assert np.all(np.diff(np.log(vc.reparam_var)) < 0)
    again = G.estimator_variance_curve(model2d, x8, (1, 10, 100), repeats=50, seed=12)
    np.testing.assert_array_equal(again.score_var, vc.score_var)


# --------------------------------------------------------------------------------------
# Reparameterization demo
# --------------------------------------------------------------------------------------


def test_noise_samples_and_zero_std_gives_mu(model2d, x8):
    xb = torch.as_tensor(x8)[None]
    with torch.no_grad():
        mu, logvar = model2d.encode(xb)
        mean_img = torch.sigmoid(model2d.decode(mu))[0].numpy()
        zeros = torch.zeros_like(mu)
        assert torch.equal(model2d.reparameterize(mu, logvar, zeros), mu)
    ns = N.noise_samples(model2d, x8, n=64, seed=0)
    np.testing.assert_allclose(ns.mu, mu[0].numpy())
    np.testing.assert_allclose(ns.std, torch.exp(0.5 * logvar[0]).numpy())
    assert ns.eps.shape == ns.t.shape == ns.scaled_eps.shape == (64, 2)
    assert ns.images.shape == (64, 1, 8, 8) and 0 <= ns.images.min() <= ns.images.max() <= 1
    np.testing.assert_allclose(ns.t, ns.mu + ns.std * ns.eps)
    with torch.no_grad():
        direct = torch.sigmoid(model2d.decode(torch.as_tensor(ns.t))).numpy()
    np.testing.assert_allclose(ns.images, direct, atol=1e-6)
    np.testing.assert_allclose(ns.mean_image, mean_img, atol=1e-6)

    ae = N.noise_samples(model2d, x8, n=16, seed=0, zero_std=True)
    np.testing.assert_array_equal(ae.t, np.broadcast_to(ae.mu, (16, 2)))
    np.testing.assert_array_equal(ae.std, 0.0)
    np.testing.assert_allclose(ae.images, np.broadcast_to(mean_img, (16, 1, 8, 8)), atol=1e-6)
    np.testing.assert_array_equal(ae.eps, ns.eps[:16])  # same seed, same noise, switched off


def test_eps_walk_is_smooth_and_marginally_standard_normal():
    d, n = 4000, 24
    walk = N.eps_walk(d, n, seed=3)
    assert walk.shape == (n, d)
    tol_mean, tol_var = 5 / math.sqrt(d), 5 * math.sqrt(2 / d)
    assert np.all(np.abs(walk.mean(1)) < tol_mean)
    assert np.all(np.abs(walk.var(1) - 1) < tol_var)
    # corr(frame j, frame k) = cos((j - k) * step), step = 2 pi / n by default: a closed loop.
    step = 2 * math.pi / n
    corr = walk @ walk.T / d
    lag = np.subtract.outer(np.arange(n), np.arange(n))
    assert np.all(np.abs(corr - np.cos(lag * step)) < 5 / math.sqrt(d))
    jumps = np.linalg.norm(np.diff(np.vstack([walk, walk[:1]]), axis=0), axis=1) / math.sqrt(d)
    np.testing.assert_allclose(jumps, 2 * math.sin(step / 2), rtol=0.1)
    np.testing.assert_array_equal(N.eps_walk(d, n, seed=3, step=step), walk)


# --------------------------------------------------------------------------------------
# ELBO vs log p(x), grid posterior
# --------------------------------------------------------------------------------------


def test_is_estimates_grow_with_k_and_exceed_elbo(model2d, x8):
    res = E.elbo_vs_logpx(model2d, x8, ks=(1, 10, 100, 1000), seed=0, repeats=16)
    with torch.no_grad():
        mu, logvar = model2d.encode(torch.as_tensor(x8)[None])
    assert res.kl == pytest.approx(kl_standard_normal(mu, logvar).item())
    assert res.elbo == pytest.approx(res.recon - res.kl)
    se = np.hypot(res.log_px_se, res.recon_se)
    # k = 1 is the ELBO in expectation; larger k climbs towards log p(x).
    assert abs(res.log_px[0] - res.elbo) < 4 * se[0]
    assert np.all(np.diff(res.log_px) > -3 * np.hypot(res.log_px_se[1:], res.log_px_se[:-1]))
    assert res.log_px[-1] > res.log_px[0]
    assert np.all(res.log_px[1:] > res.elbo + 4 * se[1:])
    np.testing.assert_allclose(res.gap, res.log_px - res.elbo)
    assert res.posterior_kl == pytest.approx(res.gap[-1]) and res.posterior_kl > 0


def test_grid_posterior_normalises_and_matches_is_evidence(model2d, x8):
    gp = E.grid_posterior(model2d, x8, n=121)
    assert gp.posterior.shape == gp.q_density.shape == gp.log_joint.shape == (121, 121)
    assert gp.posterior.sum() * gp.cell_area == pytest.approx(1.0, abs=1e-9)
    assert gp.q_density.sum() * gp.cell_area == pytest.approx(1.0, abs=1e-3)  # covers +- 4 s
    assert gp.extent[0] <= -3 and gp.extent[1] >= 3  # the prior's high-density area
    # [i, j] is at (t0[j], t1[i]): check one point against the model directly.
    i, j = 30, 80
    t = torch.tensor([[gp.t0[j], gp.t1[i]]])
    with torch.no_grad():
        ll = -reconstruction_nll(model2d.decode(t), torch.as_tensor(x8)[None], "bernoulli")
    expect = ll.item() - 0.5 * (2 * math.log(2 * math.pi) + (t**2).sum().item())
    assert gp.log_joint[i, j] == pytest.approx(expect, abs=1e-9)

    gen = torch.Generator().manual_seed(0)
    xb = torch.as_tensor(x8)[None].expand(4, 1, 8, 8)
    is_est = iwae_log_likelihood(model2d, xb, k=2000, chunk=2000, generator=gen).mean().item()
    assert gp.log_px == pytest.approx(is_est, abs=0.1)
    fine = E.grid_posterior(model2d, x8, extent=(-6, 6, -6, 6), n=241)
    assert fine.log_px == pytest.approx(gp.log_px, abs=1e-3)
    assert fine.posterior_kl == pytest.approx(gp.posterior_kl, abs=1e-2)

    # log p(x) - ELBO = KL(q || p(t|x)): the grid's KL against the MC ELBO.
    res = E.elbo_vs_logpx(model2d, x8, ks=(2000,), seed=1, n_elbo=20000)
    assert gp.posterior_kl > 0
    assert gp.log_px - res.elbo == pytest.approx(gp.posterior_kl, abs=4 * res.recon_se + 0.02)
    assert gp.elbo == pytest.approx(res.elbo, abs=4 * res.recon_se + 0.02)


def test_grid_posterior_needs_2d_latent(x8):
    with pytest.raises(ValueError, match="2-D"):
        E.grid_posterior(_model(1, latent_dim=3), x8)


# --------------------------------------------------------------------------------------
# Generation and interpolation
# --------------------------------------------------------------------------------------


def test_prior_draws_temperature(model2d):
    cold = inference.prior_draws(model2d, 5, temperature=0.0, seed=0).images
    with torch.no_grad():
        at_zero = torch.sigmoid(model2d.decode(torch.zeros(1, 2, dtype=torch.float64)))
    np.testing.assert_allclose(cold, np.broadcast_to(at_zero.numpy(), (5, 1, 8, 8)), atol=1e-6)
    warm = inference.prior_draws(model2d, 5, temperature=1.0, seed=0).images
    assert warm.shape == (5, 1, 8, 8) and warm.std(0).max() > 0
    np.testing.assert_array_equal(warm, inference.prior_draws(model2d, 5, seed=0).images)
    assert not np.array_equal(warm, inference.prior_draws(model2d, 5, seed=1).images)


def test_manifold_layout(model2d):
    n = 5
    tiles, coords = inference.manifold(model2d, n=n)
    assert tiles.shape == (n, n, 1, 8, 8)
    expect = [NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)]
    np.testing.assert_allclose(coords, expect, atol=1e-9)
    i, j = 1, 3  # row i from the top has t1 = coords[n-1-i]; column j has t0 = coords[j]
    t = torch.tensor([[expect[j], expect[n - 1 - i]]], dtype=torch.float64)
    with torch.no_grad():
        tile = torch.sigmoid(model2d.decode(t))[0].numpy()
    np.testing.assert_allclose(tiles[i, j], tile, atol=1e-6)

    rgb = _model(2, image_shape=(3, 8, 8), latent_dim=3, architecture="conv", conv_channels=(4,))
    tiles3, coords3 = inference.manifold(rgb, n=4, dims=(2, 0), base=[0.0, 0.5, 0.0])
    assert tiles3.shape == (4, 4, 3, 8, 8)
    z = torch.tensor([[coords3[3], 0.5, coords3[1]]]).float()  # row 0 = top: dims[1] (t0) largest
    with torch.no_grad():
        np.testing.assert_allclose(tiles3[0, 1], torch.sigmoid(rgb.decode(z))[0].numpy(), atol=1e-6)
    with pytest.raises(ValueError):
        inference.manifold(rgb, dims=(1, 1))


def test_slerp_path_endpoints_norm_and_great_circle():
    a, b = np.array([3.0, 0.0, 1.0]), np.array([-1.0, 2.0, 0.5])
    path = I.latent_path(a, b, 11, "slerp")
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b)
    alpha = np.linspace(0, 1, 11)
    norms = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(norms, (1 - alpha) * np.linalg.norm(a) + alpha * np.linalg.norm(b))
    u = path / norms[:, None]
    steps = np.arccos(np.clip(np.sum(u[1:] * u[:-1], 1), -1, 1))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-6)  # constant angular speed
    normal = np.cross(a, b)
    np.testing.assert_allclose(path @ normal, 0, atol=1e-9)  # stays in the plane of a, b
    lin = I.latent_path(a, b, 11, "linear")
    np.testing.assert_allclose(lin, (1 - alpha[:, None]) * a + alpha[:, None] * b)
    for other in (2.0 * a, -a):  # (anti)parallel: falls back to linear
        np.testing.assert_allclose(
            I.latent_path(a, other, 5, "slerp"), I.latent_path(a, other, 5, "linear")
        )


def test_interpolate_uses_encoder_means(model2d, x8):
    gen = torch.Generator().manual_seed(4)
    x_b = torch.rand(8, 8, generator=gen, dtype=torch.float64)  # (H, W) tensor input
    res = I.interpolate(model2d, x8, x_b, n_steps=7, method="slerp")
    with torch.no_grad():
        mu_a = model2d.encode(torch.as_tensor(x8)[None])[0][0].numpy()
        mu_b = model2d.encode(x_b[None, None])[0][0].numpy()
    assert res.t.shape == (7, 2) and res.images.shape == (7, 1, 8, 8)
    np.testing.assert_allclose(res.t[0], mu_a)
    np.testing.assert_allclose(res.t[-1], mu_b)
    na, nb = np.linalg.norm(mu_a), np.linalg.norm(mu_b)
    np.testing.assert_allclose(np.linalg.norm(res.t, axis=1), na + res.alphas * (nb - na))


# --------------------------------------------------------------------------------------
# Inputs, the shared model and the global RNG
# --------------------------------------------------------------------------------------


def test_image_inputs_are_accepted_in_every_layout(model2d, x8):
    ref = N.noise_samples(model2d, x8, 2, seed=0).mu
    for x in (
        x8[0],
        torch.as_tensor(x8),
        torch.as_tensor(x8)[None],
        x8[0, :, :, None],
        (x8[0] * 255).astype(np.uint8),
        x8.astype(np.float32),
    ):
        np.testing.assert_allclose(N.noise_samples(model2d, x, 2, seed=0).mu, ref, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        N.noise_samples(model2d, np.zeros((2, 8, 8)), 2)


def test_shared_model_and_global_rng_are_untouched(x8):
    model = _model(3)  # float32, as the app's models
    x = x8.astype(np.float32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    training = model.training
    rng = torch.get_rng_state()
    N.noise_samples(model, x, 4, seed=0)
    G.reparam_gradient_samples(model, x, 8, seed=0)
    G.score_function_gradient_samples(model, x, 8, seed=0, baseline=True)
    G.estimator_variance_curve(model, x, (1, 4), repeats=3, seed=0)
    E.elbo_vs_logpx(model, x, ks=(1, 10), seed=0, n_elbo=10)
    E.grid_posterior(model, x, n=11)
    inference.prior_draws(model, 3, seed=0)
    inference.manifold(model, n=3)
    I.interpolate(model, x, 1 - x, 3, "slerp")
    N.eps_walk(2, 3, seed=0)
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training == training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# --------------------------------------------------------------------------------------
# Helpers added for the lecture pages: noise_walk, the AE / noisy AE / VAE twins, PCA
# --------------------------------------------------------------------------------------


def test_noise_walk_decodes_the_eps_walk(model2d, x8):
    nw = N.noise_walk(model2d, x8, n_frames=12, seed=5)
    np.testing.assert_allclose(nw.eps, N.eps_walk(2, 12, seed=5))
    np.testing.assert_allclose(nw.t, nw.mu + nw.std * nw.eps, atol=1e-12)
    with torch.no_grad():
        ref = torch.sigmoid(model2d.decode(torch.as_tensor(nw.t))).numpy()
    np.testing.assert_allclose(nw.images, ref, atol=1e-6)
    flat = N.noise_walk(model2d, x8, n_frames=12, seed=5, zero_std=True)
    np.testing.assert_allclose(flat.t, np.broadcast_to(flat.mu, (12, 2)))
    np.testing.assert_allclose(flat.eps, nw.eps)  # the same noise, switched off


def test_train_twins_and_twin_view():
    from vae.data.registry import load_dataset

    data = load_dataset("digits")
    rng = torch.get_rng_state()
    twins = T.train_twins(data, latent_dim=2, hidden=(16,), epochs=1, seed=3)
    assert torch.equal(torch.get_rng_state(), rng)
    assert list(twins) == list(T.TWIN_VARIANTS)
    for variant, model in twins.items():
        assert model.config.variant == variant and not model.training
        assert not any(p.requires_grad for p in model.parameters())
    # Same seed, same architecture: the twins start from the same weights, so only the
    # variant explains their differences.
    x = data.test_x[:50].numpy()
    views = {v: T.twin_view(m, x, recon_index=(0, 7), n_prior=4, seed=1) for v, m in twins.items()}
    for v, view in views.items():
        assert view.mu.shape == (50, 2) and view.prior_images.shape == (4, 1, 8, 8)
        np.testing.assert_allclose(view.prior_t, inference.prior_draws(twins[v], 4, seed=1).t)
        assert view.recon_images.shape == (2, 1, 8, 8) and view.kl >= 0 and view.variant == v
        mu, _ = twins[v].encode(torch.as_tensor(x).float() / 255.0)
        np.testing.assert_allclose(view.mu, mu.numpy(), atol=1e-6)
    ae = twins["ae"]
    assert T.twin_view(ae, x, seed=1).recon == pytest.approx(T.twin_view(ae, x, seed=2).recon)
    noisy = twins["noisy_ae"]
    assert T.twin_view(noisy, x, seed=1).recon != T.twin_view(noisy, x, seed=2).recon
    with pytest.raises(ValueError, match="images"):
        T.twin_view(ae, np.zeros((3, 1, 4, 4)))


def test_pca_projection_matches_sklearn_and_projects_new_points():
    from sklearn.decomposition import PCA

    gen = np.random.default_rng(0)
    pts = gen.normal(size=(200, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    proj = inference.pca_projection(pts)
    ref = PCA(n_components=2).fit(pts)
    ours = proj.apply(pts)
    theirs = ref.transform(pts)
    # Equal with the signs too: both make each axis's largest loading positive, so the
    # Latent map (vae.app.projection) and the lecture pages draw the same picture.
    np.testing.assert_allclose(ours, theirs, atol=1e-8)
    from vae.app import projection

    view = projection.project(pts.astype(np.float32), None, "pca")
    np.testing.assert_allclose(view.xy, theirs, atol=1e-4)
    np.testing.assert_array_equal(view.rows, np.arange(len(pts)))
    np.testing.assert_allclose(view.place(pts[:3], pts), theirs[:3], atol=1e-4)
    np.testing.assert_allclose(proj.explained, ref.explained_variance_ratio_, rtol=1e-8)
    # A straight latent path stays straight, and new points use the data's axes.
    path = I.latent_path(pts[0], pts[1], 5)
    np.testing.assert_allclose(proj.apply(path)[[0, -1]], ours[[0, 1]], atol=1e-8)
    two = inference.pca_projection(pts[:, :2])  # a 2-D latent is drawn as it is
    np.testing.assert_allclose(two.apply(pts[:, :2]), pts[:, :2])
    with pytest.raises(ValueError):
        inference.pca_projection(pts[:1])


def test_prior_draws_decode_their_codes(model2d):
    draws = inference.prior_draws(model2d, 5, temperature=0.5, seed=4)
    gen = torch.Generator().manual_seed(4)
    np.testing.assert_allclose(draws.t, 0.5 * torch.randn(5, 2, generator=gen, dtype=torch.float64).numpy())
    with torch.no_grad():
        ref = torch.sigmoid(model2d.decode(torch.as_tensor(draws.t))).numpy()
    np.testing.assert_allclose(draws.images, ref, atol=1e-6)
    np.testing.assert_allclose(inference.prior_draws(model2d, 5, temperature=0.0, seed=4).t, 0.0)


def _is_log_px(model: VAE, x: np.ndarray, k: int = 20000) -> float:
    gen = torch.Generator().manual_seed(0)
    return float(iwae_log_likelihood(model, torch.as_tensor(x)[None], k=k, chunk=5000, generator=gen)[0])


def test_focused_grid_posterior_agrees_with_importance_sampling(model2d, x8):
    fine = E.focused_grid_posterior(model2d, x8, n=81, coarse_n=41)
    assert fine.extent[1] - fine.extent[0] == pytest.approx(fine.extent[3] - fine.extent[2])
    assert fine.posterior.sum() * fine.cell_area == pytest.approx(1.0)
    edge = np.concatenate([fine.posterior[0], fine.posterior[-1], fine.posterior[:, 0], fine.posterior[:, -1]])
    assert edge.max() < 1e-3 * fine.posterior.max()  # the grid holds the posterior's mass
    assert fine.posterior_kl >= 0
    assert fine.log_px == pytest.approx(_is_log_px(model2d, x8), abs=0.05)


def test_focused_grid_posterior_resolves_a_confident_encoder(x8):
    """s ~ 0.03 (as a trained MNIST encoder): the default +-3 grid puts q in a few cells and
    its integral falls below an importance-sampling lower bound; the focused grid does not."""
    model = _model(0, torch.float64)
    with torch.no_grad():
        model.to_logvar.weight.zero_()
        model.to_logvar.bias.fill_(-7.0)
        for layer in model.decoder:
            if hasattr(layer, "weight"):
                layer.weight.mul_(6.0)
    wide = E.grid_posterior(model, x8, n=61)
    fine = E.focused_grid_posterior(model, x8, n=81, coarse_n=41)
    assert fine.extent[1] - fine.extent[0] < 0.1 * (wide.extent[1] - wide.extent[0])
    lower = _is_log_px(model, x8)
    assert wide.log_px < lower - 1.0
    assert fine.log_px > lower - 0.05

