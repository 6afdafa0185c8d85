"""ELBO terms against torch.distributions and torch's own BCE."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vae.core.losses import elbo_terms, iwae_log_likelihood, kl_standard_normal, reconstruction_nll
from vae.core.model import VAE, VAEConfig


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(4), torch.ones(4)), 1)
    torch.testing.assert_close(kl_standard_normal(mu, logvar), kl_divergence(q, p))


def test_bernoulli_term_is_summed_bce_and_log_prob():
    logits, x = torch.randn(3, 1, 5, 5), torch.rand(3, 1, 5, 5)
    expected = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
    torch.testing.assert_close(reconstruction_nll(logits, x), expected)
    xb = torch.bernoulli(x)
    ref = -Independent(Bernoulli(logits=logits), 3).log_prob(xb)
    torch.testing.assert_close(reconstruction_nll(logits, xb), ref)


def test_gaussian_term_matches_normal_log_prob():
    logits, x = torch.randn(2, 1, 4, 3), torch.rand(2, 1, 4, 3)
    logvar = torch.randn(1, 4, 3)
    ref = -Independent(Normal(torch.sigmoid(logits), torch.exp(0.5 * logvar)), 3).log_prob(x)
    torch.testing.assert_close(reconstruction_nll(logits, x, "gaussian", logvar), ref)


def test_elbo_terms_convention_and_variants():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 8, 8)
    eps = torch.randn(5, 2)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,)))
    terms = elbo_terms(model, x, beta=2.0, eps=eps)
    mu, logvar = model.encode(x)
    logits = model.decode(mu + torch.exp(0.5 * logvar) * eps)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 5
    kl = kl_standard_normal(mu, logvar).mean()
    torch.testing.assert_close(terms.recon, recon)
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.loss, recon + 2.0 * kl)
    torch.testing.assert_close(terms.elbo, -(recon + kl))
    noisy = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,), variant="noisy_ae"))
    t = elbo_terms(noisy, x, eps=eps)
    torch.testing.assert_close(t.loss, t.recon)  # no KL in the objective, still reported
    assert t.kl > 0


def test_iwae_k1_is_unbiased_elbo_and_grows_with_k():
    """E[IWAE_1] = ELBO; averaged over images, IWAE_k increases with k (Burda et al. Thm 1)."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(32,))).eval()
    with torch.no_grad():  # a too-narrow q, so the ELBO is loose and k has room to help
        model.to_logvar.bias.fill_(-3.0)
        model.decoder[0].weight.mul_(4.0)
    x = torch.bernoulli(torch.rand(64, 1, 8, 8))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        elbos = []
        for _ in range(200):
            t = mu + std * torch.randn(mu.shape, generator=gen)
            elbos.append(-reconstruction_nll(model.decode(t), x) - kl_standard_normal(mu, logvar))
        elbo = torch.stack(elbos).mean().item()
        k1 = torch.stack([iwae_log_likelihood(model, x, k=1, generator=gen) for _ in range(200)]).mean().item()
        k10 = iwae_log_likelihood(model, x, k=10, generator=gen).mean().item()
        k1000 = iwae_log_likelihood(model, x, k=1000, chunk=100, generator=gen).mean().item()
    assert math.isclose(k1, elbo, abs_tol=0.15)
    assert elbo < k10 < k1000


def _tiny(likelihood="bernoulli", dtype=torch.float32):
    torch.manual_seed(1)
    cfg = VAEConfig(image_shape=(1, 3, 2), latent_dim=2, hidden=(8,), likelihood=likelihood)
    return VAE(cfg).to(dtype).eval()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_elbo_terms_draws_its_noise_from_the_generator(dtype):
    """eps ~ N(0, I) from ``generator`` in the model's dtype (float64 draws differ from
    float32 ones), defaults beta = 1; a given eps wins over the generator."""
    model = _tiny(dtype=dtype)
    # 8 x 2 = 16 draws: from 16 values on, float32 and float64 normals from one seed differ
    x = torch.rand(8, 1, 3, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
    got = elbo_terms(model, x, generator=torch.Generator().manual_seed(3))
    eps = torch.randn((8, 2), generator=torch.Generator().manual_seed(3), dtype=dtype)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        t = mu + torch.exp(0.5 * logvar) * eps
        lik = Independent(Bernoulli(logits=model.decode(t), validate_args=False), 3)
        recon = -lik.log_prob(x).mean()
        kl = kl_standard_normal(mu, logvar).mean()
    torch.testing.assert_close(got.recon.double(), recon.double(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.loss.double(), (recon + kl).double(), rtol=1e-5, atol=1e-5)  # beta = 1
    given = elbo_terms(model, x, eps=torch.zeros(8, 2, dtype=dtype), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        at_mean = -Independent(Bernoulli(logits=model.decode(mu), validate_args=False), 3).log_prob(x).mean()
    torch.testing.assert_close(given.recon.double(), at_mean.double(), rtol=1e-5, atol=1e-5)


def test_elbo_terms_gaussian_likelihood_uses_the_decoder_variance():
    model = _tiny("gaussian")
    with torch.no_grad():
        model.dec_logvar.copy_(torch.linspace(-2, 1, 6).reshape(1, 3, 2))
    x = torch.rand(3, 1, 3, 2, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    got = elbo_terms(model, x, eps=eps)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        mean = torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps))
        ref = -Independent(Normal(mean, torch.exp(0.5 * model.dec_logvar)), 3).log_prob(x).mean()
    torch.testing.assert_close(got.recon, ref)


def test_iwae_defaults_are_k_1000_drawn_250_at_a_time():
    """The defaults are part of the contract (vae.evaluate relies on k): same generator seed,
    same numbers as the explicit call; other k or chunking draws other samples."""
    model = _tiny()
    x = torch.bernoulli(torch.rand(2, 1, 3, 2, generator=torch.Generator().manual_seed(0)))
    default = iwae_log_likelihood(model, x, generator=torch.Generator().manual_seed(4))
    explicit = iwae_log_likelihood(model, x, k=1000, chunk=250, generator=torch.Generator().manual_seed(4))
    assert torch.equal(default, explicit)
    for k, chunk in ((1001, 250), (1000, 251)):
        other = iwae_log_likelihood(model, x, k=k, chunk=chunk, generator=torch.Generator().manual_seed(4))
        assert not torch.equal(default, other)


def test_reconstruction_errors_say_what_is_wrong():
    logits, x = torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"^the Gaussian likelihood needs dec_logvar$"):
        reconstruction_nll(logits, x, "gaussian")
    with pytest.raises(ValueError, match=r"^unknown likelihood 'poisson'$"):
        reconstruction_nll(logits, x, "poisson")
