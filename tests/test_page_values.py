"""Values through the pages (AppTest), against a direct torch computation: the Latent map
inspector's image, reconstruction, samples, ELBO and KL, and the Latent sliders' decoded image
(the browser's payload decoded by the numpy reference decoder, and the server fallback).

The arrays a page draws are read where it hands them to ``pages/_lib/display`` (a recording
wrapper around ``show_grid`` / ``show_image``), before any PNG encoding: what is compared is the
page's own numbers, not a re-run of the library function it calls.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch.distributions import Bernoulli, Normal, kl_divergence

from tests.export_reference import decode_exported_numpy
from vae.app import export
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.model import VAEConfig
from vae.data.registry import load_dataset

APP = "../app.py"  # AppTest resolves it against this file
TIMEOUT = 60
MODELS = {"v2": 2, "v5": 5}  # name: latent dimensions (digits 8x8 MLPs)

pytestmark = pytest.mark.usefixtures("navigation_only")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    data = load_dataset("digits")
    for name, d in MODELS.items():
        cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=d, hidden=(64, 32))
        model, history = fit(cfg, TrainConfig(epochs=6, batch_size=128, lr=3e-3), data, "cpu")
        save_checkpoint(folder / f"{name}.pt", model, dataset="digits", history=history.to_list())
    (folder / "default.txt").write_text("v2")
    return folder


@pytest.fixture
def drawn(model_dir, monkeypatch) -> list[tuple[str, np.ndarray]]:
    """``(caption, array)`` of every image the pages hand to ``display`` in a run."""
    from pages._lib import display

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(model_dir))
    seen: list[tuple[str, np.ndarray]] = []

    def record(original):
        sig = inspect.signature(original)

        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            seen.append(
                (str(bound.arguments.get("caption")), np.array(bound.arguments["arr"], copy=True))
            )
            return original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(display, "show_grid", record(display.show_grid))
    monkeypatch.setattr(display, "show_image", record(display.show_image))
    return seen


def _app(page: str, model: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key="model_name").set_value(model).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _last(drawn: list[tuple[str, np.ndarray]], caption: str) -> np.ndarray:
    hits = [a for c, a in drawn if c == caption]
    assert hits, f"no image captioned {caption!r} among {sorted({c for c, _ in drawn})}"
    return hits[-1]


def _direct(model_dir, name: str, i: int, n_samples: int = 8) -> dict:
    """Test image ``i`` through model ``name``, by hand: Bernoulli log-likelihood averaged over
    ``n_samples`` draws t = m + s * eps (eps from ``torch.Generator().manual_seed(i)``, the
    page's documented seed: the image number), closed-form KL from torch.distributions."""
    model = load_checkpoint(model_dir / f"{name}.pt").build_model()
    x = load_dataset("digits").test_x[i].float()[None] / 255.0  # (1, 1, 8, 8)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = (0.5 * logvar).exp()
        eps = torch.randn((n_samples, mu.shape[1]), generator=torch.Generator().manual_seed(i))
        logits = model.decode(mu + std * eps)
        log_px = (
            Bernoulli(logits=logits, validate_args=False)
            .log_prob(x.expand_as(logits))
            .flatten(1)
            .sum(1)
        )
        kl = kl_divergence(Normal(mu[0], std[0]), Normal(0.0, 1.0)).sum()
        return {
            "x": x[0].numpy(),
            "recon": torch.sigmoid(model.decode(mu))[0].numpy(),
            "samples": torch.sigmoid(logits).numpy(),
            "elbo": float(log_px.mean() - kl),
            "kl": float(kl),
        }


@pytest.mark.parametrize(("name", "method", "i"), [("v2", None, 37), ("v5", "pca", 123)])
def test_latent_map_inspector_shows_the_image_through_the_model(model_dir, drawn, name, method, i):
    at = _app("pages/latent_map.py", name)
    if method is not None:
        at.radio(key="map_method").set_value(method).run()
    drawn.clear()
    at.number_input(key=f"map_pick:{name}").set_value(i).run()
    assert not at.exception, at.exception
    ref = _direct(model_dir, name, i)
    np.testing.assert_allclose(_last(drawn, "the image x")[0], ref["x"], atol=1e-6)
    np.testing.assert_allclose(_last(drawn, "reconstruction decode(m)")[0], ref["recon"], atol=1e-5)
    np.testing.assert_allclose(
        _last(drawn, "decode(t), t ~ q(t|x): 8 samples"), ref["samples"], atol=1e-5
    )
    (line,) = [c.value for c in at.caption if c.value.startswith("ELBO ≈")]
    elbo, kl = (float(v.replace("−", "-")) for v in re.findall(r"[-−]?\d+\.\d+", line))
    assert elbo == pytest.approx(ref["elbo"], abs=0.051)  # printed with 1 decimal; sign included
    assert kl == pytest.approx(ref["kl"], abs=0.0051)
    assert ref["elbo"] < 0  # a Bernoulli likelihood: a positive ELBO here would be a sign error


def test_sliders_payload_decodes_to_the_models_image(model_dir, drawn, monkeypatch):
    """The decoder the Latent sliders page sends to the browser, decoded at the vector the page
    then reports, equals the torch model's sigmoid(decode(t))."""
    import pages._lib.live_decoder as live

    sent: list[dict] = []
    real = live.latent_sliders

    def spy(payload, **kwargs):
        sent.append(payload)
        return real(payload, **kwargs)

    monkeypatch.setattr(live, "latent_sliders", spy)  # the page imports it at each run
    at = _app("pages/sliders.py", "v5")
    assert sent, "the sliders page did not mount the live decoder"
    z = np.array([0.8, -1.3, 0.2, 2.0, -0.4])
    model = load_checkpoint(model_dir / "v5.pt").build_model()
    with torch.no_grad():
        want = torch.sigmoid(model.decode(torch.as_tensor(z, dtype=torch.float32)[None]))[0].numpy()
    np.testing.assert_allclose(decode_exported_numpy(sent[-1], z), want, atol=1e-4)
    assert not at.exception


def test_sliders_server_fallback_decodes_the_released_vector(model_dir, drawn, monkeypatch):
    def refuse(*args, **kwargs):  # noqa: ARG001
        raise export.ExportError(
            "decoder layer 3 (Mystery) is not supported by the browser decoder"
        )

    import streamlit as st

    monkeypatch.setattr(export, "export_payload", refuse)
    st.cache_data.clear()
    st.cache_resource.clear()  # the browser payloads are shared resources
    try:
        at = _app("pages/sliders.py", "v5")
        at.slider(key="sl_fb:v5:1").set_value(1.25).run()
        at.slider(key="sl_fb:v5:3").set_value(-2.5).run()
        assert not at.exception, at.exception
        z = torch.tensor([float(at.slider(key=f"sl_fb:v5:{j}").value) for j in range(5)])
        assert z[1] == 1.25 and z[3] == -2.5
        model = load_checkpoint(model_dir / "v5.pt").build_model()
        with torch.no_grad():
            want = torch.sigmoid(model.decode(z[None]))[0].numpy()
        np.testing.assert_allclose(_last(drawn, "decoded on the server"), want, atol=1e-5)
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()  # the browser payloads are shared resources
