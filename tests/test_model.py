"""Model shapes and the reparameterization trick, checked against torch itself."""

import pytest
import torch

from vae.core.model import VAE, VAEConfig

SHAPES = [(1, 8, 8), (1, 28, 28), (1, 28, 20), (3, 32, 32)]


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("batch", [1, 3])
def test_shapes(arch, shape, batch):
    cfg = VAEConfig(image_shape=shape, latent_dim=5, architecture=arch, hidden=(32, 16), conv_channels=(8, 16))
    model = VAE(cfg)
    x = torch.rand(batch, *shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (batch, 5)
    logits, mu2, _ = model(x)
    assert logits.shape == (batch, *shape)
    torch.testing.assert_close(mu, mu2)


def _model(variant="vae"):
    torch.manual_seed(0)
    return VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=(16,), variant=variant))


def test_eps_zero_gives_mu_and_fixed_eps_fixed_sample():
    model = _model()
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(model.reparameterize(mu, logvar, torch.zeros(4, 3)), mu)
    eps = torch.randn(4, 3)
    expected = mu + torch.exp(0.5 * logvar) * eps  # t = m + s * eps, s = exp(logvar / 2)
    torch.testing.assert_close(model.reparameterize(mu, logvar, eps), expected)
    torch.testing.assert_close(model.reparameterize(mu, logvar, eps), model.reparameterize(mu, logvar, eps))


def test_samples_follow_q():
    """Without eps, samples have the mean and std of N(mu, exp(logvar))."""
    model = _model()
    mu = torch.tensor([[1.0, -2.0, 0.5]]).expand(200_000, 3)
    logvar = torch.tensor([[0.0, 1.0, -2.0]]).expand(200_000, 3)
    t = model.reparameterize(mu, logvar)
    torch.testing.assert_close(t.mean(0), mu[0], atol=0.02, rtol=0)
    torch.testing.assert_close(t.std(0), torch.exp(0.5 * logvar[0]), atol=0.02, rtol=0)


def test_gradients_reach_mu_and_logvar_through_the_sample():
    model = _model()
    mu = torch.randn(2, 3, requires_grad=True)
    logvar = torch.randn(2, 3, requires_grad=True)
    eps = torch.randn(2, 3)
    t = model.reparameterize(mu, logvar, eps)
    (t**2).sum().backward()
    torch.testing.assert_close(mu.grad, 2 * t.detach())
    torch.testing.assert_close(logvar.grad, 2 * t.detach() * eps * 0.5 * torch.exp(0.5 * logvar.detach()))


def test_plain_autoencoder_has_no_noise():
    model = _model("ae")
    mu, logvar = torch.randn(4, 3), torch.zeros(4, 3)
    assert torch.equal(model.reparameterize(mu, logvar), mu)


def test_config_validation_and_dict_round_trip():
    cfg = VAEConfig(image_shape=(1, 28, 20), latent_dim=4, likelihood="gaussian")
    assert VAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        VAEConfig(architecture="transformer")
    with pytest.raises(ValueError):
        VAEConfig(latent_dim=0)
    with pytest.raises(AttributeError):
        cfg.latent_dim = 3  # frozen


def test_import_vae_does_not_import_streamlit():
    import subprocess
    import sys

    code = (
        "import sys, vae, vae.core.model, vae.core.losses, vae.core.checkpoints, vae.core.fit, vae.data.registry;"
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("shape", "channels", "first_map", "cropped"),
    [((1, 28, 28), (8, 16), (7, 7), False), ((1, 28, 20), (4, 6, 8), (4, 3), True), ((1, 4, 4), (2, 2), (1, 1), False),
     ((1, 32, 32), (2, 3, 4), (4, 4), False)],
)
def test_conv_decoder_starts_from_the_smallest_map_that_doubles_to_cover_the_image(shape, channels, first_map, cropped):
    """First map: ceil(size / 2^layers) per side (28 -> 7 with 2 layers, 4 -> 1; 20 -> 3
    with 3 layers, 24 cropped to 20). A larger first map would still crop to the right shape,
    so the shape test above cannot see it."""
    model = VAE(VAEConfig(image_shape=shape, latent_dim=2, architecture="conv", conv_channels=channels, hidden=(8,)))
    unflatten = next(m for m in model.decoder if isinstance(m, torch.nn.Unflatten))
    assert tuple(unflatten.unflattened_size) == (channels[-1], *first_map)
    # The decoder mirrors the encoder's channels, ending with the first layer's count twice.
    rev = list(reversed(channels))
    ups = [(m.in_channels, m.out_channels) for m in model.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert ups == list(zip(rev, [*rev[1:], rev[-1]], strict=True))
    last = [m for m in model.decoder if type(m) is torch.nn.Conv2d][-1]
    assert (last.in_channels, last.out_channels, last.kernel_size) == (channels[0], shape[0], (3, 3))
    assert any(type(m).__name__ == "Crop2d" for m in model.decoder) == cropped
    assert model.decode(torch.zeros(1, 2)).shape == (1, *shape)


def test_forward_uses_the_given_noise():
    model = _model()
    x = torch.rand(4, 1, 8, 8)
    eps = torch.randn(4, 3)
    logits, mu, logvar = model(x, eps)
    torch.testing.assert_close(logits, model.decode(mu + torch.exp(0.5 * logvar) * eps))


@pytest.mark.parametrize(("name", "layer"), [("relu", torch.nn.ReLU), ("elu", torch.nn.ELU), ("tanh", torch.nn.Tanh)])
def test_activation_names_build_their_torch_layer(name, layer):
    for arch in ("mlp", "conv"):
        model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, architecture=arch, activation=name,
                              hidden=(8,), conv_channels=(4,)))
        kinds = {type(m) for m in model.modules()}
        assert layer in kinds and not kinds & ({torch.nn.ReLU, torch.nn.ELU, torch.nn.Tanh} - {layer})


@pytest.mark.parametrize(("hidden", "width"), [((8, 12, 16), 16), ((), 256)])
def test_conv_encoder_halves_the_image_per_layer_then_one_hidden_layer(hidden, width):
    """Conv(4, stride 2, padding 1) halves each side (28 -> 14 -> 7); then one Linear to the
    last ``hidden`` width (256 when none is given), shared by the mean and log-variance heads
    and mirrored by the decoder's first layer."""
    model = VAE(VAEConfig(image_shape=(1, 28, 28), latent_dim=3, architecture="conv", conv_channels=(4, 6), hidden=hidden))
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [((4, 4), (2, 2), (1, 1))] * 2
    flat = model.encoder[: [type(m) for m in model.encoder].index(torch.nn.Flatten)]
    assert flat(torch.zeros(1, 1, 28, 28)).shape == (1, 6, 7, 7)
    linears = [m for m in model.encoder if isinstance(m, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(6 * 7 * 7, width)]
    assert model.to_mu.in_features == model.to_logvar.in_features == width
    assert model.decoder[0].in_features == 3 and model.decoder[0].out_features == width


def test_config_normalises_lists_and_says_what_is_wrong():
    cfg = VAEConfig(image_shape=[3, "32", 16.0], hidden=["64", 32], conv_channels=[8.0], latent_dim=4)
    assert (cfg.image_shape, cfg.hidden, cfg.conv_channels) == ((3, 32, 16), (64, 32), (8,))
    assert cfg.n_pixels == 3 * 32 * 16
    assert VAEConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg  # old/new keys ignored
    bad = [
        ({"image_shape": (28, 28)}, r"^image_shape must be \(C, H, W\), got \(28, 28\)$"),
        ({"image_shape": (1, 0, 28)}, r"^image_shape must be \(C, H, W\), got \(1, 0, 28\)$"),
        ({"latent_dim": 0}, r"^latent_dim must be >= 1$"),
        ({"architecture": "rnn"}, r"^architecture must be one of \('mlp', 'conv'\), got 'rnn'$"),
        ({"likelihood": "poisson"}, r"^likelihood must be one of \('bernoulli', 'gaussian'\), got 'poisson'$"),
        ({"variant": "gan"}, r"^variant must be one of \('vae', 'ae', 'noisy_ae'\), got 'gan'$"),
        ({"activation": "gelu"}, r"^activation must be one of \('relu', 'elu', 'tanh'\), got 'gelu'$"),
        ({"hidden": ()}, r"^an MLP needs at least one hidden layer$"),
        ({"architecture": "conv", "conv_channels": ()}, r"^a conv model needs at least one conv layer$"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            VAEConfig(**kwargs)
    VAEConfig(image_shape=(1, 1, 1), latent_dim=1)  # the smallest valid sizes
    VAEConfig(architecture="conv", hidden=())  # a conv model may have no hidden widths
    VAEConfig(architecture="mlp", conv_channels=())  # and an MLP no conv channels


def test_crop_keeps_the_top_left():
    from vae.core.model import Crop2d

    x = torch.arange(2 * 4 * 5, dtype=torch.float32).reshape(1, 2, 4, 5)
    expected = torch.tensor([[0.0, 1.0], [5.0, 6.0], [10.0, 11.0]])  # rows 0-2, columns 0-1
    out = Crop2d(3, 2)(x)
    assert out.shape == (1, 2, 3, 2) and torch.equal(out[0, 0], expected)
    assert torch.equal(out[0, 1], expected + 20)


def test_gaussian_decoder_variance_starts_at_logvar_minus_3_per_pixel():
    """One learnable log-variance per pixel, starting at -3 (std e^-1.5 ≈ 0.22 on [0, 1]
    pixels); the Bernoulli model has none."""
    model = VAE(VAEConfig(image_shape=(3, 4, 5), latent_dim=2, hidden=(8,), likelihood="gaussian"))
    assert isinstance(model.dec_logvar, torch.nn.Parameter) and model.dec_logvar.requires_grad
    assert torch.equal(model.dec_logvar.detach(), torch.full((3, 4, 5), -3.0))
    assert VAE(VAEConfig(image_shape=(3, 4, 5), latent_dim=2, hidden=(8,))).dec_logvar is None
