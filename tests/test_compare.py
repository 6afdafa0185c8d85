"""Compare models (vae/app/compare.py, pages/compare.py): the Procrustes fit against scipy's
(or an independent numpy SVD), the alignment, and each panel's values from torch directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch.distributions import Normal, kl_divergence

from tests.conftest import seeded_model
from vae.app import compare
from vae.core.checkpoints import save_checkpoint
from vae.core.model import VAEConfig

APP = "../app.py"


def _random_orthogonal(d: int, rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("d", [2, 5, 32])
def test_procrustes_equals_the_reference(d):
    rng = np.random.default_rng(d)
    a, b = rng.standard_normal((200, d)), rng.standard_normal((200, d))
    try:
        from scipy.linalg import orthogonal_procrustes as reference

        want = reference(a, b)[0]
    except ImportError:  # the closed form via an SVD of b^T a, written out independently
        u, _, vt = np.linalg.svd(b.T @ a)
        want = (u @ vt).T
    got = compare.orthogonal_procrustes(a, b)
    np.testing.assert_allclose(got, want, atol=1e-10)
    np.testing.assert_allclose(got @ got.T, np.eye(d), atol=1e-10)


def test_align_undoes_a_rotation_reflection_and_shift():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((300, 4)) * [3, 2, 1, 0.5]
    q = _random_orthogonal(4, rng)
    moved = ref @ q.T + [5, -2, 1, 0]  # the same points, turned and shifted
    np.testing.assert_allclose(compare.align(moved, ref), ref, atol=1e-9)


def test_panels_are_the_models_own_outputs():
    a = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=(16,)), seed=1)
    b = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=(16,)), seed=2)
    x = (torch.rand(50, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    cmp = compare.compare([a, b], x.numpy())
    xf = x.float() / 255
    with torch.no_grad():
        for model, view in zip((a, b), cmp.views, strict=True):
            mu, logvar = model.encode(xf)
            recon = torch.sigmoid(model.decode(mu[: compare.N_RECON])).numpy()
            np.testing.assert_allclose(view.recon, recon, atol=1e-6)
            kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0).numpy()
            np.testing.assert_allclose(view.kl, kl, rtol=1e-4, atol=1e-6)
    assert cmp.same_codes
    # Same latent size: the same codes. Decoding them with a's decoder gives a's samples, and
    # b's samples are b's decodings of those same codes.
    codes = np.random.default_rng(0).standard_normal((compare.N_PRIOR, 3))
    with torch.no_grad():
        np.testing.assert_allclose(cmp.views[1].samples, torch.sigmoid(b.decode(torch.tensor(codes, dtype=torch.float32))).numpy(), atol=1e-6)
    # A model compared with itself: maps identical after alignment.
    self_cmp = compare.compare([a, a], x.numpy())
    np.testing.assert_allclose(self_cmp.views[0].xy, self_cmp.views[1].xy, atol=1e-5)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    for name, d, seed in (("two_a", 2, 0), ("two_b", 2, 1), ("eight", 8, 0)):
        cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=d, hidden=(16,))
        save_checkpoint(folder / f"{name}.pt", seeded_model(cfg, seed), dataset="digits",
                        metrics={"test_elbo": -30.0 - seed, "test_kl": 1.0, "active_units": d})  # fmt: skip
    (folder / "default.txt").write_text("two_a")
    return folder


@pytest.mark.usefixtures("navigation_only")
def test_the_page_shows_two_models_side_by_side(models):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    at.multiselect(key="cmp_models").set_value(["two_a", "two_b"]).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["model"]) == ["two_a", "two_b"] and list(table["test ELBO (nats)"]) == [-30.0, -31.0]
    keys = {e.key for e in at.get("plotly_chart")}
    assert {"cmp_map:two_a", "cmp_map:two_b", "cmp_kl:two_a", "cmp_kl:two_b"} <= keys
    assert any("orthogonal Procrustes" in c.value for c in at.caption)
    at.multiselect(key="cmp_models").set_value(["two_a", "eight"]).run()
    assert not at.exception, at.exception
    assert any("Latent sizes differ" in c.value for c in at.caption)
