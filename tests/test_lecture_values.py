"""The lecture maths' plumbing and sampling (``vae.lecture.common``, ``noise``,
``interpolation``) against references computed here by hand: the model's encoder and decoder
called directly, torch.distributions for likelihoods and the prior, numpy for the slerp. The
models are seeded untrained VAEs with weights scaled up, so that m and log s^2 are far from 0
(where an exp(logvar) / exp(0.5 logvar) mix-up would vanish)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal

from tests.conftest import seeded_model
from vae.core.model import VAE, VAEConfig
from vae.lecture import common, interpolation, noise


def _model(shape=(1, 6, 5), d: int = 3, likelihood: str = "bernoulli", variant: str = "vae", dtype=torch.float32) -> VAE:
    cfg = VAEConfig(image_shape=shape, latent_dim=d, hidden=(16,), likelihood=likelihood, variant=variant)
    model = seeded_model(cfg, 0).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.5)
        if likelihood == "gaussian":
            model.dec_logvar.fill_(-1.3)
    return model


def _x(shape=(1, 6, 5), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _encode(model: VAE, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        mu, logvar = model.encode(torch.as_tensor(x, dtype=next(model.parameters()).dtype)[None])
    return mu[0], logvar[0]


def _decode(model: VAE, t: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model.decode(t.to(next(model.parameters()).dtype))).float().numpy()


# --------------------------------------------------------------------------- common


def test_as_image_batch_reads_every_layout_by_value():
    rgb = _model(shape=(3, 5, 4))
    chw = np.random.default_rng(1).random((3, 5, 4)).astype(np.float32)
    want = torch.from_numpy(chw)[None]
    for x in (chw, chw.transpose(1, 2, 0), chw[None], torch.from_numpy(chw)):
        got = common.as_image_batch(rgb, x)
        assert got.shape == (1, 3, 5, 4) and got.dtype == torch.float32
        torch.testing.assert_close(got, want)
    grey = _model()
    hw = (np.random.default_rng(2).random((6, 5)) * 255).round().astype(np.uint8)
    got = common.as_image_batch(grey, hw)
    torch.testing.assert_close(got, torch.from_numpy(hw).float()[None, None] / 255.0)
    g64 = common.as_image_batch(_model(dtype=torch.float64), hw)
    assert g64.dtype == torch.float64
    with pytest.raises(ValueError, match=r"expected one image of shape \(1, 6, 5\)"):
        common.as_image_batch(grey, np.zeros((5, 6)))
    with pytest.raises(ValueError, match="expected one image"):
        common.as_image_batch(rgb, np.zeros((5, 4)))  # (H, W) only for one channel


def test_posterior_params_are_the_encoders():
    model = _model()
    x = _x()
    mu, logvar = common.posterior_params(model, x)
    want_mu, want_lv = _encode(model, x)
    torch.testing.assert_close(mu, want_mu)
    torch.testing.assert_close(logvar, want_lv)
    assert not mu.requires_grad and mu.shape == (3,)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_model_log_lik_against_torch_distributions(likelihood):
    model = _model(likelihood=likelihood)
    x = _x(seed=3)
    t = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model.decode(t)
        xs = torch.from_numpy(x)[None].expand_as(logits)
        if likelihood == "bernoulli":
            want = Bernoulli(logits=logits, validate_args=False).log_prob(xs).flatten(1).sum(1)
        else:
            want = Normal(torch.sigmoid(logits), (0.5 * model.dec_logvar).exp()).log_prob(xs).flatten(1).sum(1)
        got = common.model_log_lik(model, x)(t)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)


def test_log_lik_chunked_and_log_prior(monkeypatch):
    calls = []

    def log_lik(t):
        calls.append(t.shape[0])
        return t.sum(1) ** 2

    t = torch.randn(10, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    monkeypatch.setattr(common, "CHUNK", 4)
    torch.testing.assert_close(common.log_lik_chunked(log_lik, t), t.sum(1) ** 2)
    assert calls == [4, 4, 2]
    assert common.CHUNK == 4 and common.log_prior(t).shape == (10,)
    torch.testing.assert_close(common.log_prior(t), Normal(0.0, 1.0).log_prob(t).sum(-1))
    assert common.log_prior(t[0]).item() == pytest.approx(Normal(0.0, 1.0).log_prob(t[0]).sum().item())  # one t (D,)
    monkeypatch.undo()
    assert common.CHUNK == 4096


def test_vec_generator_and_randn():
    assert common.vec([1, 2.5]).dtype == torch.float64
    assert common.vec([1, 2.5], torch.float32).dtype == torch.float32
    torch.testing.assert_close(common.vec(np.array([[1.0], [2.0]])), torch.tensor([1.0, 2.0], dtype=torch.float64))
    v = torch.tensor([[3.0, 4.0]], requires_grad=True)
    out = common.vec(v, torch.float32)
    assert out.dtype == torch.float32 and out.shape == (2,) and not out.requires_grad
    g = common.generator(5, torch.device("cpu"))
    torch.testing.assert_close(torch.randn(3, generator=g), torch.randn(3, generator=torch.Generator().manual_seed(5)))
    like = torch.zeros(1, dtype=torch.float64)
    r = common.randn((2, 3), common.generator(7, like.device), like)
    assert r.dtype == torch.float64
    torch.testing.assert_close(r, torch.randn((2, 3), generator=torch.Generator().manual_seed(7), dtype=torch.float64))
    model = _model()
    assert common.param(model) is next(model.parameters())


# --------------------------------------------------------------------------- noise


def test_noise_samples_by_hand_and_defaults():
    model = _model()
    x = _x(seed=4)
    s = noise.noise_samples(model, x, 5, seed=3)
    mu, logvar = _encode(model, x)
    std = (0.5 * logvar).exp()
    eps = torch.randn((5, 3), generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(s.mu, mu.numpy(), atol=1e-6)
    np.testing.assert_allclose(s.std, std.numpy(), atol=1e-6)
    np.testing.assert_allclose(s.eps, eps.numpy(), atol=1e-6)
    np.testing.assert_allclose(s.scaled_eps, (eps * std).numpy(), atol=1e-6)
    np.testing.assert_allclose(s.t, (mu + eps * std).numpy(), atol=1e-6)
    np.testing.assert_allclose(s.images, _decode(model, mu + eps * std), atol=1e-6)
    np.testing.assert_allclose(s.mean_image, _decode(model, mu[None])[0], atol=1e-6)
    assert np.ptp(s.std) > 0.1  # the check above tells s from s^2
    d = noise.noise_samples(model, x, 5)  # seed 0, noise on
    np.testing.assert_allclose(d.eps, torch.randn((5, 3), generator=torch.Generator().manual_seed(0)).numpy(), atol=1e-6)
    assert np.all(d.std > 0)


def test_zero_std_and_a_plain_autoencoder_use_t_equal_m():
    x = _x(seed=5)
    for model, kwargs in ((_model(), {"zero_std": True}), (_model(variant="ae"), {})):
        s = noise.noise_samples(model, x, 4, seed=1, **kwargs)
        mu, _ = _encode(model, x)
        np.testing.assert_array_equal(s.std, 0.0)
        np.testing.assert_allclose(s.t, np.repeat(mu.numpy()[None], 4, 0), atol=1e-7)
        assert np.abs(s.eps).max() > 0.1  # the noise is drawn, then switched off
        w = noise.noise_walk(model, x, 3, seed=1, **kwargs)
        np.testing.assert_array_equal(w.std, 0.0)
    noisy = _model(variant="noisy_ae")
    assert np.all(noise.noise_samples(noisy, x, 2).std > 0)  # only "ae" has no noise


def test_eps_walk_closed_form_and_defaults():
    gen = torch.Generator().manual_seed(4)
    a = torch.randn(3, generator=gen, dtype=torch.float64).numpy()
    b = torch.randn(3, generator=gen, dtype=torch.float64).numpy()
    k = np.arange(6)[:, None]
    np.testing.assert_allclose(noise.eps_walk(3, 6, seed=4), np.cos(k * 2 * np.pi / 6) * a + np.sin(k * 2 * np.pi / 6) * b, atol=1e-12)
    np.testing.assert_allclose(noise.eps_walk(3, 6, seed=4, step=0.3), np.cos(k * 0.3) * a + np.sin(k * 0.3) * b, atol=1e-12)
    g0 = torch.Generator().manual_seed(0)
    a0 = torch.randn(3, generator=g0, dtype=torch.float64).numpy()
    np.testing.assert_allclose(noise.eps_walk(3, 4)[0], a0, atol=1e-12)  # seed 0 by default
    one = noise.eps_walk(2, 1, seed=4)
    assert one.shape == (1, 2)
    assert noise.eps_walk(2, 0).shape == (0, 2)


def test_noise_walk_decodes_the_walk():
    model = _model()
    x = _x(seed=6)
    w = noise.noise_walk(model, x, 4, seed=2)
    mu, logvar = _encode(model, x)
    eps = torch.as_tensor(noise.eps_walk(3, 4, seed=2), dtype=torch.float32)
    t = mu + (0.5 * logvar).exp() * eps
    np.testing.assert_allclose(w.t, t.numpy(), atol=1e-6)
    np.testing.assert_allclose(w.images, _decode(model, t), atol=1e-6)
    np.testing.assert_allclose(noise.noise_walk(model, x, 4).eps, noise.eps_walk(3, 4, seed=0), atol=1e-6)
    d = noise.noise_walk(model, x, 4)  # noise on by default, in the model's dtype
    assert np.all(d.std > 0) and d.eps.dtype == np.float32 and d.t.dtype == np.float32


# --------------------------------------------------------------------------- interpolation


def _slerp(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    om = math.acos(float(np.clip(ua @ ub, -1, 1)))
    out = []
    for al in np.linspace(0, 1, n):
        direction = (math.sin((1 - al) * om) * ua + math.sin(al * om) * ub) / math.sin(om)
        out.append(((1 - al) * na + al * nb) * direction)
    return np.array(out)


def test_latent_path_linear_and_slerp_by_hand():
    a, b = np.array([2.0, 0.5, -1.0]), np.array([-0.5, 1.5, 1.0])
    lin = interpolation.latent_path(a, b, 5)
    np.testing.assert_allclose(lin, [a + s * (b - a) for s in np.linspace(0, 1, 5)], atol=1e-12)
    np.testing.assert_allclose(interpolation.latent_path(a, b, 7, "slerp"), _slerp(a, b, 7), atol=1e-12)
    # Parallel, antiparallel or zero ends: the straight line.
    for bb in (3 * a, -a, np.zeros(3)):
        np.testing.assert_allclose(interpolation.latent_path(a, bb, 4, "slerp"), interpolation.latent_path(a, bb, 4), atol=1e-12)
    np.testing.assert_allclose(interpolation.latent_path(np.zeros(3), b, 4, "slerp")[1], b / 3, atol=1e-12)
    # Unit vectors whose dot product rounds to 1 + 2e-16 (or -1 - 2e-16): clamped, not NaN.
    for u, sign in (([0.4116305363741328, 1.0425133694426776, -0.12853466294403426], 1), ([-0.6538286094183394, -0.12961363369276946, 0.7839754700613295], -1)):
        u = np.array(u)
        path = interpolation.latent_path(u, sign * 2.5 * u, 5, "slerp")
        np.testing.assert_allclose(path, interpolation.latent_path(u, sign * 2.5 * u, 5), atol=1e-12)
    near = a + np.array([0.0, 1e-4, 0.0])  # sin(omega) ~ 4e-5: still a great circle
    np.testing.assert_allclose(interpolation.latent_path(a, near, 3, "slerp"), _slerp(a, near, 3), atol=1e-9)
    with pytest.raises(ValueError, match="^t_a and t_b must have the same shape$"):
        interpolation.latent_path(a, b[:2], 3)
    with pytest.raises(ValueError, match="'linear' or 'slerp'"):
        interpolation.latent_path(a, b, 3, "cubic")


def test_interpolate_walks_between_the_encoder_means():
    model = _model()
    xa, xb = _x(seed=7), _x(seed=8)
    out = interpolation.interpolate(model, xa, xb, n_steps=4, method="slerp")
    ma, mb = _encode(model, xa)[0].double().numpy(), _encode(model, xb)[0].double().numpy()
    np.testing.assert_allclose(out.t, _slerp(ma, mb, 4), atol=1e-6)
    np.testing.assert_allclose(out.images, _decode(model, torch.as_tensor(out.t)), atol=1e-6)
    np.testing.assert_allclose(out.alphas, [0, 1 / 3, 2 / 3, 1])
    assert out.method == "slerp"
    default = interpolation.interpolate(model, xa, xb)
    assert default.method == "linear" and default.t.shape == (10, 3)
    np.testing.assert_allclose(default.t[[0, -1]], [ma, mb], atol=1e-6)
