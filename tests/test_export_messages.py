"""The browser export's refusals word for word, its defaults, and its float16 check against the
computation its docstring describes, redone here in torch (issue 18: written for the mutants of
``vae/app/export.py`` the other export tests let survive; see tests/MUTATION.md)."""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import seeded_model
from tests.export_reference import decode_exported_numpy
from vae.app.export import (
    DecoderExport,
    ExportError,
    export_decoder,
    export_payload,
    float16_pixel_error,
)
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


def test_a_linear_layer_on_an_image_is_refused() -> None:
    dec = nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 2, 2)), nn.Linear(2, 3))
    assert _refusal(dec) == "decoder layer 2 (Linear): expects a vector input, got shape (1, 2, 2)"


def test_same_padding_with_an_even_kernel_is_refused() -> None:
    dec = nn.Sequential(nn.Linear(2, 16), nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 2, padding="same"))
    assert _refusal(dec) == "decoder layer 2 (Conv2d): padding='same' with an even kernel is not supported"


@pytest.mark.parametrize("kernel, padding", [(2, "valid"), (5, "same"), (3, "valid")])
def test_string_paddings_decode_like_torch(kernel: int, padding: str) -> None:
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(2, 2 * 7 * 7), nn.Unflatten(1, (2, 7, 7)), nn.Conv2d(2, 1, kernel, padding=padding))
    exp = export_decoder(dec, latent_dim=2, dtype="float32")
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = torch.sigmoid(dec(z)).numpy()
    np.testing.assert_allclose(decode_exported_numpy(exp, z.numpy()), ref, atol=1e-6, rtol=0)
    assert exp.layers[-1]["padding"] == ([0, 0] if padding == "valid" else [kernel // 2] * 2)


def test_encoder_heads_without_bias_are_refused() -> None:
    model = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,)))
    model.to_mu = nn.Linear(model.to_mu.in_features, 2, bias=False)
    with pytest.raises(ExportError) as e:
        export_decoder(model, encoder=True)
    assert str(e.value) == "encoder heads must be two biased nn.Linear(hidden, D)"


def test_a_payload_with_too_few_weights_is_refused() -> None:
    payload = export_decoder(seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))), dtype="float16").to_payload()
    payload["n_floats"] += 1
    with pytest.raises(ExportError) as e:
        DecoderExport.from_payload(payload)
    assert str(e.value) == "weights_b64 does not hold n_floats float16 values"


def test_the_id_is_a_16_hex_blake2b_of_the_content_whatever_the_key_order() -> None:
    exp = export_decoder(seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))), dtype="float32")
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps([exp.layers, "float32"], sort_keys=True).encode())
    h.update(exp.weights)
    assert exp.id == h.hexdigest() and len(exp.id) == 16
    # The same layers with their keys in another order (as a JSON round trip may give them).
    shuffled = [dict(reversed(list(layer.items()))) for layer in exp.layers]
    same = DecoderExport(shuffled, exp.weights, exp.latent_dim, exp.output_shape, "float32")
    assert same.id == exp.id


def test_a_bare_decoder_without_latent_dim_is_refused() -> None:
    with pytest.raises(ExportError) as e:
        export_decoder(nn.Sequential(nn.Linear(2, 4)))
    assert str(e.value) == "latent_dim is unknown: pass latent_dim= for a bare decoder module"
