"""The encoder half of the export (``export_decoder(..., encoder=True)``), held to PyTorch
through the independent numpy reference (tests/export_reference.py), which reads only the
exported format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import seeded_model
from tests.export_reference import decode_exported_numpy, encode_exported_numpy
from vae.app.export import DecoderExport, ExportError, export_decoder, export_payload
from vae.core.model import VAEConfig

# Every architecture the app trains, grey and RGB, plus a crop and the other activations.
CONFIGS = {
    "mlp_grey": VAEConfig(latent_dim=2, hidden=(64, 32)),
    "mlp_rgb": VAEConfig(image_shape=(3, 12, 10), latent_dim=4, hidden=(48,), activation="tanh"),
    "conv_grey": VAEConfig(architecture="conv", latent_dim=8, conv_channels=(8, 16), hidden=(32,)),
    "conv_rgb": VAEConfig(
        architecture="conv",
        image_shape=(3, 20, 18),
        latent_dim=3,
        conv_channels=(6, 12),
        hidden=(24,),
        activation="elu",
    ),  # fmt: skip
    "conv_28x20": VAEConfig(
        architecture="conv", image_shape=(1, 28, 20), latent_dim=3, conv_channels=(4, 8, 8)
    ),
}


def _images(shape: tuple[int, ...], n: int = 6, seed: int = 0) -> np.ndarray:
    """Blank, full and random images ``(n, C, H, W)`` in [0, 1]."""
    x = np.random.default_rng(seed).random((n, *shape), dtype=np.float32)
    x[0] = 0.0
    x[1] = 1.0
    return x


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_exported_encoder_matches_model_encode(name: str) -> None:
    cfg = CONFIGS[name]
    model = seeded_model(cfg, seed=3)
    export = export_decoder(model, encoder=True)
    x = _images(cfg.image_shape)
    mu_ref, logvar_ref = encode_exported_numpy(export, x)
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(x))
    np.testing.assert_allclose(mu_ref, mu.numpy(), atol=2e-5, rtol=0)
    np.testing.assert_allclose(logvar_ref, logvar.numpy(), atol=2e-5, rtol=0)
    # The heads really are distinct: mu and logvar do not coincide by construction.
    assert np.abs(mu_ref - logvar_ref).max() > 1e-3
    assert export.dtype == "float32"
    assert export.encoder["input_shape"] == list(cfg.image_shape)


@pytest.mark.parametrize("name", ["mlp_grey", "conv_rgb"])
def test_payload_with_encoder_round_trips_and_keeps_the_decoder(name: str) -> None:
    cfg = CONFIGS[name]
    model = seeded_model(cfg, seed=1)
    plain = export_decoder(model, dtype="float32")
    both = export_payload(model, encoder=True)
    again = DecoderExport.from_payload(both)
    assert again.id == both["id"] != plain.id
    assert again.encoder == both["encoder"]
    assert plain.to_payload()["encoder"] is None
    z = np.random.default_rng(0).standard_normal((4, cfg.latent_dim))
    np.testing.assert_array_equal(decode_exported_numpy(again, z), decode_exported_numpy(plain, z))
    # Tampering with the encoder changes the content id: a stale browser copy is never reused.
    forged = {**both, "encoder": {**both["encoder"], "input_shape": [1, 1, 1]}}
    with pytest.raises(ExportError, match="id"):
        DecoderExport.from_payload(forged)


def test_encoder_export_refuses_a_bare_decoder() -> None:
    model = seeded_model(CONFIGS["mlp_grey"])
    with pytest.raises(ExportError, match="encoder=True needs a VAE"):
        export_decoder(model.decoder, latent_dim=2, encoder=True)


def test_unsupported_encoder_layer_is_named_as_encoder() -> None:
    model = seeded_model(CONFIGS["mlp_grey"])
    model.encoder[2] = torch.nn.GELU()
    with pytest.raises(ExportError, match="encoder layer 2 .GELU"):
        export_decoder(model, encoder=True)
