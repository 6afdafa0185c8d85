"""vae.core.metrics and the IWAE estimator against independent references: numpy variances,
torch.distributions log-densities, and log p(x) by quadrature over a 1-D latent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from tests.conftest import seeded_model
from vae.core.losses import iwae_log_likelihood
from vae.core.metrics import active_units, iw_log_px, summarize
from vae.core.model import VAEConfig


class _FixedMeans:
    """Stands in for a model in ``active_units``: its posterior means are the rows of ``x``."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, torch.zeros_like(x)


def test_active_units_counts_dims_whose_mean_varies_more_than_the_threshold() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([0.0, 0.05, 0.09, 0.2, 1.0, 3.0])  # variances ~0, .0025, .008, .04, 1, 9
    mus = rng.standard_normal((40, 6)) * scales
    var = mus.var(axis=0, ddof=1)  # Burda et al.: Cov_x(E_q[t]), the unbiased sample variance
    x = torch.tensor(mus, dtype=torch.float32)
    for threshold in (0.01, 0.03, 0.5, 2.0):
        expected = int((var > threshold).sum())
        assert active_units(_FixedMeans(), x, threshold=threshold, batch=7) == expected
    assert active_units(_FixedMeans(), x) == int((var > 0.01).sum()) == 3  # the default
    # The comparison is strict: a dim whose variance equals the threshold is not active.
    pair = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])  # variances 2 and 0
    assert active_units(_FixedMeans(), pair, threshold=2.0) == 0
    assert active_units(_FixedMeans(), pair, threshold=1.999) == 1
    # One image has no variance (not NaN, not a warning): nothing is active.
    assert active_units(_FixedMeans(), pair[:1], threshold=0.0) == 0


def test_active_units_of_a_real_model_uses_its_encoder_means() -> None:
    model = seeded_model(VAEConfig(image_shape=(1, 4, 4), latent_dim=3, hidden=(8,)))
    with torch.no_grad():
        model.to_mu.weight[1].zero_()  # dim 1 ignores the image: never active
        model.to_mu.weight[2].mul_(100.0)  # dim 2 varies a lot
    x = torch.rand(25, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mus = model.encode(x)[0].numpy()
    var = mus.var(axis=0, ddof=1)
    assert var[1] < 1e-12 and var[2] > 0.01
    assert active_units(model, x, batch=4) == int((var > 0.01).sum())


def _weights_reference(model, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """log p(x|t) + log p(t) - log q(t|x) for ``eps (n, B, D)``, by torch.distributions."""
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
        t = mu + torch.exp(0.5 * logvar) * eps
        n, b, d = eps.shape
        logits = model.decode(t.reshape(n * b, d)).reshape(n, *x.shape)
        if model.config.likelihood == "bernoulli":
            lik = Independent(Bernoulli(logits=logits), 3)
        else:
            lik = Independent(Normal(torch.sigmoid(logits), torch.exp(0.5 * model.dec_logvar)), 3)
        return lik.log_prob(x.expand(n, *x.shape)) + prior.log_prob(t) - q.log_prob(t)


@pytest.mark.parametrize(("likelihood", "k", "chunk"), [("bernoulli", 7, 3), ("gaussian", 5, 5)])
def test_iwae_is_the_log_mean_importance_weight(likelihood: str, k: int, chunk: int) -> None:
    """Same noise (drawn chunk by chunk from the generator, as the estimator draws it), the
    log-mean-exp of weights computed with torch.distributions."""
    cfg = VAEConfig(image_shape=(1, 3, 4), latent_dim=2, hidden=(6,), likelihood=likelihood)
    model = seeded_model(cfg)
    x = torch.bernoulli(torch.rand(4, 1, 3, 4, generator=torch.Generator().manual_seed(2)))
    got = iwae_log_likelihood(model, x, k=k, chunk=chunk, generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    sizes = [min(chunk, k - i) for i in range(0, k, chunk)]
    eps = torch.cat([torch.randn((n, 4, 2), generator=gen) for n in sizes])
    log_w = _weights_reference(model, x, eps)  # (k, B)
    expected = torch.logsumexp(log_w, dim=0) - math.log(k)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)


def _log_px_by_quadrature(model, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log ∫ p(x|t) N(t; 0, 1) dt for a 1-D latent, on a fine grid (brute force)."""
    grid = torch.linspace(-9, 9, 6001, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    with torch.no_grad():
        logits = model.decode(grid.float()[:, None]).double()  # (G, C, H, W)
    lik = Independent(Bernoulli(logits=logits[:, None]), 3).log_prob(x.double()[None])  # (G, B)
    prior = Normal(0.0, 1.0).log_prob(grid)[:, None]
    return torch.logsumexp(lik + prior, dim=0) + math.log(step)


def test_iwae_converges_to_log_px_computed_by_quadrature() -> None:
    """A 1-D latent makes log p(x) computable exactly. IWAE_k is a lower bound whose bias
    shrinks like 1/k: at k = 4000 the repeated estimates' mean sits below log p(x) by at most
    a few standard errors plus a small bias allowance, and never above it by more than noise."""
    model = seeded_model(VAEConfig(image_shape=(1, 2, 3), latent_dim=1, hidden=(8,)))
    with torch.no_grad():
        model.decoder[0].weight.mul_(3.0)  # a likelihood that depends on t
    x = torch.bernoulli(torch.rand(6, 1, 2, 3, generator=torch.Generator().manual_seed(3)))
    exact = _log_px_by_quadrature(model, x)
    gen = torch.Generator().manual_seed(0)
    reps = torch.stack([iwae_log_likelihood(model, x, k=4000, chunk=1000, generator=gen) for _ in range(6)])
    mean, se = reps.mean(0).double(), reps.std(0).double() / math.sqrt(reps.shape[0])
    gap = exact - mean  # >= 0 up to noise: the bound's bias
    assert torch.all(gap >= -4 * se - 1e-4), (mean, exact, se)
    assert torch.all(gap <= 4 * se + 0.005), (mean, exact, se)
    # k = 1 (the ELBO) is clearly looser on average, so the check above has teeth
    k1 = torch.stack([iwae_log_likelihood(model, x, k=1, generator=gen) for _ in range(200)]).mean(0)
    assert (exact - k1.double()).mean() > 0.2, (k1, exact)


def test_iw_log_px_is_the_batched_mean_and_reproducible() -> None:
    model = seeded_model(VAEConfig(image_shape=(1, 2, 3), latent_dim=2, hidden=(8,)))
    x = torch.bernoulli(torch.rand(9, 1, 2, 3, generator=torch.Generator().manual_seed(4)))
    gen = torch.Generator().manual_seed(11)
    chunks = [iwae_log_likelihood(model, x[i : i + 4], k=6, chunk=6, generator=gen) for i in (0, 4, 8)]
    expected = torch.cat(chunks).mean().item()
    assert iw_log_px(model, x, k=6, batch=4, seed=11) == pytest.approx(expected, rel=1e-6)
    assert iw_log_px(model, x, k=6, batch=4, seed=11) == iw_log_px(model, x, k=6, batch=4, seed=11)
    assert iw_log_px(model, x, k=6, batch=4, seed=12) != iw_log_px(model, x, k=6, batch=4, seed=11)
    # defaults: 50 images per batch, seed 0, samples drawn at most 500 at a time
    x = torch.bernoulli(torch.rand(120, 1, 2, 3, generator=torch.Generator().manual_seed(4)))
    for k in (6, 501):
        gen = torch.Generator().manual_seed(0)
        chunks = [iwae_log_likelihood(model, x[i : i + 50], k=k, chunk=min(k, 500), generator=gen) for i in (0, 50, 100)]
        assert iw_log_px(model, x, k=k) == pytest.approx(torch.cat(chunks).mean().item(), rel=1e-6)


def _synthetic(n_test: int = 1100, seed: int = 0):  # noqa: ANN202
    """A tiny uint8 dataset (2x3 grey images), more test images than summarize's default
    ``iw_n`` so the subset is a real subset, with no file to read."""
    from vae.data.registry import Dataset

    g = torch.Generator().manual_seed(seed)
    return Dataset(
        name="synthetic",
        train_x=torch.randint(0, 256, (8, 1, 2, 3), generator=g, dtype=torch.uint8),
        train_y=torch.zeros(8, dtype=torch.int64),
        test_x=torch.randint(0, 256, (n_test, 1, 2, 3), generator=g, dtype=torch.uint8),
        test_y=torch.zeros(n_test, dtype=torch.int64),
        label_names=("x",),
    )


def test_summarize_reports_independently_recomputed_figures() -> None:
    from vae.core.fit import prepare_images

    data = _synthetic()
    model = seeded_model(VAEConfig(image_shape=(1, 2, 3), latent_dim=3, hidden=(8,)))
    with torch.no_grad():
        model.to_mu.weight.mul_(torch.tensor([[30.0], [0.01], [30.0]]))  # dim 1 barely moves
    m = summarize(model, data, binarized=False, iw_k=3, iw_n=12, seed=5)
    _, test = prepare_images(data, torch.device("cpu"), False, 5)
    assert torch.equal(test, data.test_x.float() / 255)  # grey pixels, as stored
    with torch.no_grad():
        mu, logvar = model.encode(test)
        q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
        prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
        kl = torch.distributions.kl_divergence(q, prior).mean().item()
        var = mu.double().var(dim=0)
        # ELBO by Monte Carlo with many draws: the stored one-draw-per-image figure is
        # within a few of its standard errors of it (1100 images).
        t = q.sample((64,))
        logits = model.decode(t.reshape(-1, 3)).reshape(64, *test.shape)
        rec = -Independent(Bernoulli(logits=logits, validate_args=False), 3).log_prob(test)
    recon_mc, recon_se = rec.mean().item(), rec.mean(0).std().item() / math.sqrt(test.shape[0])
    assert set(m) == {"test_elbo", "test_recon", "test_kl", "log_px", "log_px_k", "log_px_n",
                      "active_units", "binarized_test"}
    assert m["test_kl"] == pytest.approx(kl, abs=1e-3)  # no noise in the KL: exact to rounding
    assert m["test_recon"] == pytest.approx(recon_mc, abs=5 * recon_se + 0.01)
    assert m["test_elbo"] == pytest.approx(-(m["test_recon"] + m["test_kl"]), abs=2e-3)
    assert m["log_px"] == pytest.approx(iw_log_px(model, test[:12], 3, seed=5), abs=1e-3)
    assert (m["log_px_k"], m["log_px_n"], m["binarized_test"]) == (3, 12, False)
    assert m["active_units"] == int((var > 0.01).sum()) == 2
    for key in ("test_elbo", "test_recon", "test_kl", "log_px"):  # stored rounded to 3 decimals
        assert m[key] == round(m[key], 3) and m[key] != round(m[key], 2), (key, m[key])


def test_summarize_defaults_and_binarized_test_set() -> None:
    """Defaults: k = 100 on the first 1000 test images, seed 0; ``binarized`` scores a fixed
    binarization (seed + 1) of the test set; ``iw_n=None`` takes them all."""
    from vae.core.fit import prepare_images

    data = _synthetic()
    model = seeded_model(VAEConfig(image_shape=(1, 2, 3), latent_dim=2, hidden=(8,)))
    default = summarize(model, data, binarized=True)
    assert default == summarize(model, data, binarized=True, iw_k=100, iw_n=1000, seed=0)
    assert (default["log_px_k"], default["log_px_n"], default["binarized_test"]) == (100, 1000, True)
    _, test = prepare_images(data, torch.device("cpu"), True, 0)
    assert set(test.unique().tolist()) == {0.0, 1.0}
    assert default["log_px"] == pytest.approx(iw_log_px(model, test[:1000], 100, seed=0), abs=1e-3)
    whole = summarize(model, data, binarized=False, iw_k=2, iw_n=None)
    assert whole["log_px_n"] == 1100 and whole["binarized_test"] is False
    assert whole["test_recon"] != default["test_recon"]  # grey pixels score differently
