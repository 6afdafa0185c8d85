"""vae.app.export: the decoder export format, checked against PyTorch itself (fast, no browser)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import seeded_model
from tests.export_reference import decode_exported_numpy
from vae.app.export import (
    F16_MAX_PIXEL_ERROR,
    FORMAT,
    DecoderExport,
    ExportError,
    export_decoder,
    float16_pixel_error,
)
from vae.core.model import VAE, Crop2d, VAEConfig

CONFIGS = {
    "mlp_28x28": VAEConfig(latent_dim=2, hidden=(64, 32)),
    "conv_28x28": VAEConfig(architecture="conv", latent_dim=4, conv_channels=(8, 16), hidden=(32,)),
    "conv_8x8": VAEConfig(
        architecture="conv", image_shape=(1, 8, 8), latent_dim=3, conv_channels=(4, 8), hidden=(16,)
    ),
    # 28 x 20 with 3 stride-2 layers: the decoder makes 32 x 24 and crops.
    "conv_28x20_crop": VAEConfig(
        architecture="conv",
        image_shape=(1, 28, 20),
        latent_dim=3,
        conv_channels=(4, 8, 8),
        hidden=(16,),
        activation="elu",
    ),
    "conv_rgb_16x16": VAEConfig(
        architecture="conv",
        image_shape=(3, 16, 16),
        latent_dim=5,
        conv_channels=(4, 8),
        hidden=(16,),
        activation="tanh",
    ),
}


def _weighted_modules(decoder: nn.Module) -> list[nn.Module]:
    return [
        m for m in decoder.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))
    ]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_weights_round_trip_equal_state_dict(name: str) -> None:
    model = seeded_model(CONFIGS[name])
    exp = export_decoder(model, dtype="float32")
    flat = np.frombuffer(exp.weights, dtype="<f4")  # the documented byte format, read directly
    layers = [layer for layer in exp.layers if "w" in layer]
    modules = _weighted_modules(model.decoder)
    assert len(layers) == len(modules)
    used = 0
    for layer, m in zip(layers, modules, strict=True):
        for off_key, param in (("w", m.weight), ("b", m.bias)):
            ref = param.detach().numpy()
            got = flat[layer[off_key] : layer[off_key] + ref.size].reshape(ref.shape)
            np.testing.assert_array_equal(got, ref)
            used += ref.size
    # Every float in the buffer belongs to exactly one parameter.
    assert used == exp.n_floats == sum(p.numel() for p in model.decoder.parameters())
    assert exp.output_shape == CONFIGS[name].image_shape
    assert exp.latent_dim == CONFIGS[name].latent_dim


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_numpy_decode_matches_torch(name: str) -> None:
    cfg = CONFIGS[name]
    model = seeded_model(cfg)
    exp = export_decoder(model, dtype="float32")
    z = torch.randn(16, cfg.latent_dim, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        ref = torch.sigmoid(model.decode(z)).numpy()
    got = decode_exported_numpy(exp, z.numpy())
    assert got.shape == ref.shape == (16, *cfg.image_shape)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    # A single latent gives a single (C, H, W) image.
    np.testing.assert_allclose(decode_exported_numpy(exp, z[0].numpy()), ref[0], atol=1e-5, rtol=0)


def test_crop_is_exported_for_28x20() -> None:
    exp = export_decoder(seeded_model(CONFIGS["conv_28x20_crop"]))
    crops = [layer for layer in exp.layers if layer["op"] == "crop2d"]
    assert len(crops) == 1 and crops[0]["in_shape"] == [1, 32, 24]
    assert crops[0]["out_shape"] == [1, 28, 20]


def test_payload_is_json_and_round_trips() -> None:
    model = seeded_model(CONFIGS["conv_rgb_16x16"])
    exp = export_decoder(model, dtype="float32")
    payload = json.loads(json.dumps(exp.to_payload()))  # what the browser receives
    assert payload["format"] == FORMAT
    assert payload["output_shape"] == [3, 16, 16]
    back = DecoderExport.from_payload(payload)
    assert back.weights == exp.weights and back.layers == exp.layers and back.id == exp.id
    z = np.random.default_rng(0).normal(size=(4, 5))
    np.testing.assert_array_equal(decode_exported_numpy(payload, z), decode_exported_numpy(exp, z))
    # The id is a content hash: other weights, other id.
    assert export_decoder(seeded_model(CONFIGS["conv_rgb_16x16"], seed=1)).id != exp.id
    assert export_decoder(model, dtype="float16").id != exp.id
    stripped = {k: v for k, v in payload.items() if k != "weights_b64"}
    with pytest.raises(ExportError):
        DecoderExport.from_payload(stripped)


def test_generic_conv_options_and_nested_sequential() -> None:
    """Not just the VAE's layers: odd kernels, stride 1 transposed, output_padding, nesting."""
    torch.manual_seed(3)
    decoder = nn.Sequential(
        nn.Linear(3, 4 * 5 * 5),
        nn.LeakyReLU(0.1),
        nn.Unflatten(1, (4, 5, 5)),
        nn.Sequential(
            nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
            nn.ELU(alpha=0.7),
        ),
        nn.Conv2d(6, 5, 5, stride=2, padding=2),
        nn.Identity(),
        nn.ConvTranspose2d(5, 2, 3, stride=1, padding=0),
        nn.Tanh(),
        nn.Conv2d(2, 3, 3, padding="same"),
        Crop2d(6, 5),
    ).eval()
    exp = export_decoder(decoder, latent_dim=3, dtype="float32")
    z = torch.randn(8, 3)
    with torch.no_grad():
        ref = torch.sigmoid(decoder(z)).numpy()
    assert exp.output_shape == ref.shape[1:] == (3, 6, 5)
    np.testing.assert_allclose(decode_exported_numpy(exp, z.numpy()), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "bad",
    [
        nn.BatchNorm2d(2),  # not a supported layer type
        nn.Upsample(scale_factor=2),
    ],
)
def test_unsupported_layer_raises(bad: nn.Module) -> None:
    decoder = nn.Sequential(nn.Linear(2, 8), bad, nn.Unflatten(1, (2, 2, 2)))
    with pytest.raises(ExportError, match=type(bad).__name__):
        export_decoder(decoder, latent_dim=2)
    # Also where the layer could run (spatial input), and after supported conv layers.
    decoder = nn.Sequential(
        nn.Linear(2, 8), nn.Unflatten(1, (2, 2, 2)), nn.Conv2d(2, 2, 3, padding=1), bad
    )
    with pytest.raises(ExportError, match=type(bad).__name__):
        export_decoder(decoder, latent_dim=2)


def test_unsupported_conv_options_raise() -> None:
    for conv in (
        nn.Conv2d(2, 2, 3, padding=2, dilation=2),
        nn.Conv2d(2, 2, 3, padding=1, groups=2),
        nn.Conv2d(2, 1, 3, padding=1, padding_mode="reflect"),
    ):
        decoder = nn.Sequential(nn.Linear(2, 2 * 4 * 4), nn.Unflatten(1, (2, 4, 4)), conv)
        with pytest.raises(ExportError):
            export_decoder(decoder, latent_dim=2)


def test_custom_container_is_not_assumed_sequential() -> None:
    class Skip(nn.Module):  # children run in an order (and with a sum) the walker can't see
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(x) + self.a(x)

    decoder = nn.Sequential(nn.Linear(2, 4), Skip(), nn.Unflatten(1, (1, 2, 2)))
    with pytest.raises(ExportError, match="Skip"):
        export_decoder(decoder, latent_dim=2)


def test_bare_decoder_needs_latent_dim() -> None:
    with pytest.raises(ExportError, match="latent_dim"):
        export_decoder(nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 2, 2))))


def test_export_leaves_training_mode_alone() -> None:
    model = VAE(CONFIGS["mlp_28x28"]).train()
    export_decoder(model)
    assert model.decoder.training


@pytest.mark.parametrize("name", ["mlp_28x28", "conv_28x28"])
def test_float16_export_is_half_the_bytes_and_within_budget(name: str) -> None:
    """float16 storage: every weight is the float16 rounding of PyTorch's (numpy's own
    conversion), the wire holds 2 bytes per value, the payload round-trips to the same id,
    and the decode (in float32 from the stored values) stays within 2e-3 of PyTorch."""
    cfg = CONFIGS[name]
    model = seeded_model(cfg)
    f32 = export_decoder(model, dtype="float32")
    f16 = export_decoder(model, dtype="float16")
    assert f16.dtype == "float16" and len(f16.wire_weights()) == 2 * f32.n_floats
    want = f32.weights_array().astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(f16.weights_array(), want)
    payload = json.loads(json.dumps(f16.to_payload()))
    assert payload["dtype"] == "float16"
    back = DecoderExport.from_payload(payload)
    assert back.id == f16.id and back.weights == f16.weights
    z = torch.randn(64, cfg.latent_dim, generator=torch.Generator().manual_seed(2)) * 2
    with torch.no_grad():
        ref = torch.sigmoid(model.decode(z)).numpy()
    err = np.abs(decode_exported_numpy(payload, z.numpy()) - ref).max()
    assert 0 < err <= 2e-3


def test_auto_dtype_follows_the_measured_float16_error() -> None:
    """auto: float16 when rounding moves no probed pixel by more than F16_MAX_PIXEL_ERROR;
    a decoder with large weights (sharp logits) keeps float32."""
    model = seeded_model(CONFIGS["mlp_28x28"])
    err = float16_pixel_error(model.decoder, model.latent_dim)
    assert err <= F16_MAX_PIXEL_ERROR
    assert export_decoder(model).dtype == "float16"
    with torch.no_grad():
        for m in model.decoder.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(40.0)
    # Independent check of the error the export measured: round by hand, decode with torch.
    z = torch.randn(256, model.latent_dim, generator=torch.Generator().manual_seed(0))
    z[128:] *= 2.5
    with torch.no_grad():
        ref = torch.sigmoid(model.decoder(z))
        state = {k: v.half().float() for k, v in model.decoder.state_dict().items()}
        rounded = copy.deepcopy(model.decoder)
        rounded.load_state_dict(state)
        want = float((torch.sigmoid(rounded(z)) - ref).abs().max())
    assert float16_pixel_error(model.decoder, model.latent_dim) == pytest.approx(want)
    assert want > F16_MAX_PIXEL_ERROR
    assert export_decoder(model).dtype == "float32"
