"""The browser encoder (pages/_lib/live/encoder.js) in real headless Chromium against
``model.encode``: mu and logvar within 1e-4 for every architecture the app trains, grey and
RGB. Same blank-page harness as tests/test_live_decoder_browser.py (its ``page`` fixture)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import seeded_model
from tests.test_export_encoder import CONFIGS, _images
from tests.test_live_decoder_browser import page  # noqa: F401 - the shared blank page
from vae.app.export import export_payload
from vae.core.model import VAEConfig

pytestmark = pytest.mark.e2e

# Real sizes too: the bundled MLP and a 28x28 conv model.
ALL = {
    **CONFIGS,
    "mlp_28x28": VAEConfig(latent_dim=2, hidden=(512, 256)),
    "conv_28x28": VAEConfig(architecture="conv", latent_dim=8, conv_channels=(32, 64)),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_js_encoder_matches_torch(page, name: str) -> None:  # noqa: ANN001, F811
    cfg = ALL[name]
    model = seeded_model(cfg, seed=5)
    payload = export_payload(model, encoder=True)
    x = _images(cfg.image_shape, n=5, seed=2)
    with torch.no_grad():
        mu, logvar = (t.numpy() for t in model.encode(torch.from_numpy(x)))
    got = page.evaluate(
        "([p, xs]) => xs.map((x) => window.__vaeEncode(p, x))",
        [payload, x.reshape(len(x), -1).tolist()],
    )
    js_mu = np.array([g["mu"] for g in got])
    js_logvar = np.array([g["logvar"] for g in got])
    assert js_mu.shape == mu.shape == (5, cfg.latent_dim)
    assert np.abs(js_mu - mu).max() <= 1e-4
    assert np.abs(js_logvar - logvar).max() <= 1e-4
    # The same payload still decodes: both halves share one buffer.
    z = page.evaluate("([p, z]) => Array.from(window.__vaeDecode(p, z))", [payload, mu[2].tolist()])
    with torch.no_grad():
        ref = torch.sigmoid(model.decode(torch.from_numpy(mu[2:3]))).numpy().ravel()
    assert np.abs(np.array(z) - ref).max() <= 1e-4
