"""The browser export's refusals word for word, its defaults, and its float16 check against the
computation its docstring describes, redone here in torch (issue 18: written for the mutants of
``vae/app/export.py`` the other export tests let survive; see tests/MUTATION.md)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tests.conftest import seeded_model
from vae.app.export import ExportError, export_decoder, export_payload, float16_pixel_error
from vae.core.model import Crop2d, VAEConfig

SUPPORTED = "Linear, ReLU, Tanh, Sigmoid, ELU, LeakyReLU, Identity, Dropout, Unflatten, Flatten, Conv2d, ConvTranspose2d, Crop2d"


def _refusal(module: nn.Module, d: int = 2) -> str:
    with pytest.raises(ExportError) as e:
        export_decoder(module, latent_dim=d, dtype="float32")
    return str(e.value)


def test_an_unsupported_decoder_layer_is_named_with_the_supported_list() -> None:
    assert _refusal(nn.Sequential(nn.Linear(2, 4), nn.GELU())) == (
        "decoder layer 1 (GELU) is not supported by the browser decoder; supported: " + SUPPORTED
    )


def test_a_layer_failing_on_the_probe_is_named_with_its_input_shape() -> None:
    msg = _refusal(nn.Sequential(nn.Linear(5, 3)))
    assert msg.startswith("decoder layer 0 (Linear) failed on input of shape (1, 2): ")


def test_flatten_to_more_than_a_vector_is_refused() -> None:
    dec = nn.Sequential(nn.Linear(2, 12), nn.Unflatten(1, (1, 3, 4)), nn.Flatten(start_dim=2))
    assert _refusal(dec) == "decoder layer 2 (Flatten): only flattening to (B, N) is supported, got (1, 12)"


def test_crop_of_a_vector_is_refused() -> None:
    assert _refusal(nn.Sequential(nn.Linear(2, 6), Crop2d(1, 4))) == (
        "decoder layer 1 (Crop2d): expects (B, C, H, W) input, got (6,)"
    )


def test_a_decoder_that_outputs_vectors_is_refused_with_its_batch_of_one() -> None:
    assert _refusal(nn.Sequential(nn.Linear(2, 7))) == "decoder must output (B, C, H, W) logits, got shape (1, 7)"


def test_encoder_export_needs_both_heads() -> None:
    model = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,)))
    model.to_logvar = None  # a VAE-like module missing one head
    with pytest.raises(ExportError) as e:
        export_decoder(model, encoder=True)
    assert str(e.value) == "encoder=True needs a VAE (encoder, to_mu, to_logvar, config)"


def test_export_payload_leaves_the_encoder_out_by_default() -> None:
    model = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,)))
    assert export_payload(model)["encoder"] is None
    assert export_payload(model, encoder=True)["encoder"]["input_shape"] == [1, 8, 8]


def test_float16_pixel_error_is_the_documented_probe() -> None:
    """256 latents from N(0, I) (generator seed 0), the second half scaled by 2.5; the largest
    change of sigmoid(decoder(z)) when every weight is rounded to float16."""
    torch.manual_seed(3)
    dec = nn.Sequential(nn.Linear(3, 40), nn.Tanh(), nn.Linear(40, 1 * 4 * 4), nn.Unflatten(1, (1, 4, 4)))
    with torch.no_grad():
        for p in dec.parameters():
            p.mul_(7.0)  # large weights: float16 rounding shows in the pixels
    z = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
    z[128:] *= 2.5
    rounded = copy.deepcopy(dec)
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.half().float())
        want = (torch.sigmoid(rounded(z)) - torch.sigmoid(dec(z))).abs().max().item()
    assert want > 1e-4
    assert float16_pixel_error(dec, 3) == want
