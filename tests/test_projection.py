"""The map's 2-D views (vae.app.projection), the per-image ELBO (vae.app.inference) and where
an image sits among the test images (vae.app.typical), against independent references:
scikit-learn's own transforms, torch.distributions, brute force."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vae.app import inference, projection, typical

REPO = Path(__file__).resolve().parents[1]


def _clusters(n_per: int = 60, d: int = 6, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, d))
    labels = np.repeat(np.arange(k), n_per)
    return centres[labels] + rng.normal(0, 1, (len(labels), d)), labels


@pytest.mark.parametrize("method", ["pca", "lda"])
def test_linear_views_match_sklearn_and_place_new_points_exactly(method):
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    mu, labels = _clusters()
    new = np.random.default_rng(1).normal(0, 3, (5, mu.shape[1]))
    ref = PCA(2, random_state=0).fit(mu) if method == "pca" else LinearDiscriminantAnalysis(n_components=2).fit(mu, labels)
    proj = projection.project(mu, labels, method)
    np.testing.assert_allclose(proj.xy, ref.transform(mu), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(proj.place(new, mu), ref.transform(new), rtol=1e-4, atol=1e-4)
    assert proj.exact and np.array_equal(proj.rows, np.arange(len(mu)))


def test_lda_separates_classes_that_pca_mixes():
    """Four classes apart only along a low-variance direction: PCA's 2-D view mixes them (it
    keeps the big noise directions), LDA's separates them. 1-NN accuracy in 2-D, brute force."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 100)
    mu = rng.normal(0, 1, (400, 8)) * np.array([10, 10, 1, 1, 1, 1, 1, 1])
    mu[:, 5] += 6 * labels  # the classes differ along a direction with less spread

    def nn_accuracy(xy: np.ndarray) -> float:
        d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1)
        np.fill_diagonal(d2, np.inf)
        return float((labels[d2.argmin(1)] == labels).mean())

    assert nn_accuracy(projection.project(mu, labels, "lda").xy) > 0.95
    assert nn_accuracy(projection.project(mu, labels, "pca").xy) < 0.6


def test_views_offered_and_latent_view_is_the_latent():
    assert projection.available(2, 10) == ("latent",)
    assert projection.available(32, 10)[0] == "lda"
    assert projection.available(32, 2)[0] == "pca"  # LDA needs 3+ classes for two axes
    mu = np.random.default_rng(0).normal(size=(20, 2))
    proj = projection.project(mu, None, "pca")  # a 2-D latent is shown as itself
    assert proj.method == "latent"
    np.testing.assert_allclose(proj.xy, mu, rtol=1e-6)
    np.testing.assert_allclose(proj.place(mu[:3], mu), mu[:3], rtol=1e-6)
    with pytest.raises(ValueError):
        projection.project(np.zeros((10, 4)), np.zeros(10, int), "lda")


def test_tsne_places_a_point_outside_its_sample_at_its_neighbours():
    mu, labels = _clusters(n_per=40)
    proj = projection.project(mu, labels, "tsne", max_points=100)
    assert len(proj.rows) == 100 and not proj.exact
    outside = np.setdiff1d(np.arange(len(mu)), proj.rows)[0]
    got = proj.place(mu[outside][None], mu, k=5)[0]
    # Brute force: the 5 sampled rows nearest in latent space, their mean map position.
    d = np.linalg.norm(mu[proj.rows] - mu[outside], axis=1)
    np.testing.assert_allclose(got, proj.xy[np.argsort(d)[:5]].mean(0), rtol=1e-5)


def test_precomputed_tsne_is_used_only_for_its_own_checkpoint(tmp_path):
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"weights")
    proj = projection.Projection("tsne", np.arange(8, dtype=np.float32).reshape(4, 2), np.array([0, 2, 3, 5]))
    path = projection.tsne_path(ckpt)
    assert path.name == "m.tsne.npz"
    sha = projection.file_sha256(ckpt)
    projection.save_tsne(path, proj, sha, n_points=6)
    back = projection.load_tsne(path, sha, 6)
    np.testing.assert_array_equal(back.xy, proj.xy)
    np.testing.assert_array_equal(back.rows, proj.rows)
    assert projection.load_tsne(path, "0" * 64, 6) is None  # another checkpoint
    assert projection.load_tsne(path, sha, 5) is None  # another test split (row 5 missing)
    path.write_bytes(b"not an npz")
    assert projection.load_tsne(path, sha, 6) is None


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_per_image_matches_torch_distributions(likelihood):
    from torch.distributions import Bernoulli, Normal, kl_divergence

    from tests.conftest import seeded_model
    from vae.core.model import VAEConfig

    model = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=(16,), likelihood=likelihood))
    x = torch.rand(5, 1, 8, 8)
    eps = torch.randn(4, 5, 3)
    got = inference.elbo_per_image(model, x.numpy(), eps=eps, batch=2)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = Normal(mu, torch.exp(0.5 * logvar))
        expected = []
        for i in range(5):
            logs = []
            for s in range(4):
                logits = model.decode((mu[i] + q.stddev[i] * eps[s, i])[None])[0]
                if likelihood == "bernoulli":
                    px = Bernoulli(logits=logits, validate_args=False)
                else:
                    px = Normal(torch.sigmoid(logits), torch.exp(0.5 * model.dec_logvar).expand_as(logits))
                logs.append(px.log_prob(x[i]).sum())
            kl = kl_divergence(q, Normal(torch.zeros(3), torch.ones(3)))[i].sum()
            expected.append(torch.stack(logs).mean() - kl)
    np.testing.assert_allclose(got, torch.stack(expected).numpy(), rtol=1e-4, atol=1e-3)


def test_placement_percentiles_and_flags():
    rng = np.random.default_rng(0)
    test_elbo = rng.normal(-100, 15, 1000)
    test_x = rng.uniform(0, 0.25, (1000, 1, 4, 4)).astype(np.float32)
    test_ink = typical.ink(test_x)
    np.testing.assert_allclose(test_ink, test_x.reshape(1000, -1).mean(1), rtol=1e-6)
    assert typical.percentile_of(-100.0, test_elbo) == pytest.approx(100 * (test_elbo < -100).mean())
    usual = typical.place(-100.0, test_x[0], test_elbo, test_ink)
    assert not usual.unusual and 30 < usual.elbo_pct < 70
    empty = typical.place(-60.0, np.zeros((1, 4, 4)), test_elbo, test_ink)  # a blank image scoring well
    assert empty.unusual and empty.elbo_pct > 99
    assert any("emptier" in r for r in empty.reasons) and any("higher than" in r for r in empty.reasons)
    dark = typical.place(-400.0, test_x[0], test_elbo, test_ink)
    assert dark.unusual and any("lower than" in r for r in dark.reasons)


def test_preload_imports_the_estimators_in_a_fresh_interpreter():
    """``preload`` (run by app.py's warm-up thread) must import what ``project`` imports for
    LDA and t-SNE: a fresh interpreter has neither before and both after."""
    code = (
        "import sys; from vae.app import projection; "
        "names = ('sklearn.discriminant_analysis', 'sklearn.manifold'); "
        "before = [n in sys.modules for n in names]; projection.preload(); "
        "print(before, [n in sys.modules for n in names])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[False, False] [True, True]", out.stdout + out.stderr


def test_the_warmup_thread_runs_preload_once_per_server_then_freezes(monkeypatch):
    """app.py calls ``warmup.start()`` after every run: one thread per process (cached), which
    runs ``projection.preload``, then takes what is alive out of the cyclic collector (a full
    collection over torch's, Plotly's and Streamlit's objects stalled every session for
    100-300 ms), after scikit-learn's import so that its modules are frozen too."""
    import gc

    from pages._lib import warmup

    calls = []
    monkeypatch.setattr(projection, "preload", lambda: calls.append("preload"))
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    warmup.start.clear()
    first, again = warmup.start(), warmup.start()
    first.join(timeout=60)
    assert first is again and not first.is_alive() and first.name == "vae-preload"
    assert calls == ["preload", "collect", "freeze"]
    warmup.start.clear()  # a later caller gets a thread running the real preload


def test_a_half_imported_pandas_breaks_plotly_so_app_imports_it_first(monkeypatch):
    """Why app.py's first import is pandas: Plotly reads ``sys.modules["pandas"]`` without
    importing it, so while another thread is still importing pandas (scikit-learn pulls it in)
    building a chart fails, as the Latent map did in an e2e run."""
    import ast
    import types

    import plotly.graph_objects as go

    monkeypatch.setitem(sys.modules, "pandas", types.ModuleType("pandas"))  # mid-import: no Series yet
    with pytest.raises(AttributeError, match="pandas"):
        go.Scatter(x=np.arange(3), y=np.arange(3), customdata=np.arange(3), hovertemplate="#%{customdata}")
    monkeypatch.undo()
    go.Scatter(x=np.arange(3), y=np.arange(3), customdata=np.arange(3), hovertemplate="#%{customdata}")

    tree = ast.parse((REPO / "app.py").read_text())
    first = next(n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom) and not (
        isinstance(n, ast.ImportFrom) and n.module in ("__future__", "pathlib")))
    assert isinstance(first, ast.Import) and [a.name for a in first.names] == ["pandas"], ast.dump(first)
