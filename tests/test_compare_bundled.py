"""The Compare page's ready "β = 0.5 / 1 / 4" comparison on the bundled MNIST models: the β, ELBO
and KL it shows are the checkpoints' own (the ELBO re-evaluated on the stored test split, the
KL per dimension recomputed with torch.distributions on the page's test images), and a larger
β gives a smaller KL."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch.distributions import Normal, kl_divergence

from tests.test_bundled import CKPT_DIR, _stored_test_split
from tests.test_timelapse_page import _array
from vae.core.checkpoints import load_checkpoint
from vae.core.fit import evaluate
from vae.data.registry import load_dataset

APP = "../app.py"
BETA = {"mnist_beta05_2d": 0.5, "mnist_2d": 1.0, "mnist_beta4_2d": 4.0}
N_POINTS = 2000  # pages/compare.py: the first test images, the same for every model

pytestmark = pytest.mark.usefixtures("navigation_only")


@pytest.fixture
def beta_page(monkeypatch, shared_data):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(CKPT_DIR))
    monkeypatch.setenv("VAE_DATA_DIR", str(shared_data))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    at.button(key="cmp_ready:β = 0.5 / 1 / 4").click().run()
    assert not at.exception, at.exception
    return at


def _kl_per_dim(name: str, shared_data) -> np.ndarray:
    """Mean KL(q(t_i|x) || N(0, 1)) per dimension over the page's test images, from torch."""
    model = load_checkpoint(CKPT_DIR / f"{name}.pt").build_model().eval()
    x = load_dataset("mnist", data_dir=str(shared_data)).test_x[:N_POINTS].float() / 255.0
    with torch.no_grad():
        mu, logvar = model.encode(x)
    q = Normal(mu.double(), torch.exp(0.5 * logvar.double()))
    return kl_divergence(q, Normal(0.0, 1.0)).mean(0).numpy()


def test_beta_comparison_shows_the_checkpoints_values(beta_page, shared_data):
    at = beta_page
    table = at.dataframe[0].value
    assert list(table["model"]) == list(BETA)
    assert list(table["β (training)"]) == list(BETA.values())
    for name, beta in BETA.items():  # the β the checkpoint was really trained with
        assert load_checkpoint(CKPT_DIR / f"{name}.pt").train_config["beta"] == beta
    ckpts = {n: load_checkpoint(CKPT_DIR / f"{n}.pt") for n in BETA}
    epochs = [ckpts[n].train_config["epochs"] for n in BETA]
    assert list(table["epochs"]) == epochs
    if len(set(epochs)) > 1:  # trained unequally: mnist_2d's figures at the pair's last epoch
        short = min(epochs)
        row = ckpts["mnist_2d"].history[short - 1]
        assert row["epoch"] == short
        note = next(c.value for c in at.caption if "Not trained equally long" in c.value)
        assert f"After epoch {short}, " in note
        assert f"test ELBO of {row['test_elbo']:.2f} and a KL of {row['test_kl']:.2f} nats" in note, note
    # The ELBO shown is the model's own, re-evaluated on the split it was scored on.
    for name, shown in zip(table["model"], table["test ELBO (nats)"], strict=True):
        ckpt = load_checkpoint(CKPT_DIR / f"{name}.pt")
        elbo = evaluate(ckpt.build_model(), _stored_test_split(ckpt, shared_data))["elbo"]
        assert shown == pytest.approx(elbo, abs=0.05), name
    # KL per dimension: the bars and the "... nats in all" totals are torch's values.
    totals = {}
    for name in BETA:
        want = _kl_per_dim(name, shared_data)
        spec = json.loads(next(e for e in at.get("plotly_chart") if e.key == f"cmp_kl:{name}").proto.spec)
        bars = _array(spec["data"][0]["y"]).astype(np.float64)
        np.testing.assert_allclose(bars, np.sort(want)[::-1], rtol=1e-4, atol=1e-5)
        line = next(v for v in (m.value.replace("\\", "") for m in at.markdown) if v.startswith(f"**{name}**:"))
        totals[name] = float(re.search(r"([\d.]+) nats in all", line).group(1))
        assert totals[name] == pytest.approx(want.sum(), abs=0.006), line
    # The point of the comparison: a larger β, a smaller KL (per image, on both measures).
    kl_table = list(table["KL (nats)"])
    assert kl_table[0] > kl_table[1] > kl_table[2], kl_table
    assert totals["mnist_beta05_2d"] > totals["mnist_2d"] > totals["mnist_beta4_2d"], totals


def test_the_beta_pair_is_mnist_2d_with_only_beta_changed():
    """Same data, architecture and recipe as mnist_2d: β is the only difference, apart from the
    number of epochs (which the page states, with mnist_2d's figures at that epoch)."""
    ref = load_checkpoint(CKPT_DIR / "mnist_2d.pt")
    for name, beta in BETA.items():
        ckpt = load_checkpoint(CKPT_DIR / f"{name}.pt")
        assert ckpt.model_config == ref.model_config and ckpt.dataset == ref.dataset
        assert {k: v for k, v in ckpt.train_config.items() if k not in ("beta", "epochs")} == {
            k: v for k, v in ref.train_config.items() if k not in ("beta", "epochs")
        }
        assert ckpt.train_config["beta"] == beta and ckpt.snapshots is not None
