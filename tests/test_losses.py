"""ELBO terms against torch.distributions and torch's own BCE."""

import math

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
