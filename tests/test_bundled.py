"""Every bundled checkpoint loads, carries its provenance, and has the numbers it claims."""

from pathlib import Path

import pytest
import torch

from vae.core.checkpoints import list_checkpoints
from vae.core.fit import evaluate, prepare_images
from vae.data.registry import load_dataset

CKPT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
BUNDLED = [e for e in list_checkpoints(CKPT_DIR) if e.bundled]
EXPECTED = {"digits_2d", "mnist_2d", "mnist_32", "fashion_2d", "frey_2d", "mnist_ae_2d", "mnist_noisy_ae_2d"}


def test_the_bundled_set_is_complete_and_small():
    names = {e.name for e in BUNDLED}
    assert names >= EXPECTED, EXPECTED - names
    sizes = [e.path.stat().st_size for e in BUNDLED]
    assert max(sizes) < 10e6 and sum(sizes) < 40e6
    default = (CKPT_DIR / "default.txt").read_text().strip()
    assert default in names


@pytest.mark.parametrize("entry", BUNDLED, ids=lambda e: e.name)
def test_bundled_checkpoint_matches_its_claims(entry, shared_data):
    assert entry.ok, entry.error
    ckpt = entry.load()
    assert ckpt.meta["command"].startswith("python -m vae.train ")
    assert f"--dataset {ckpt.dataset}" in ckpt.meta["command"]
    for key in ("test_elbo", "log_px", "log_px_k", "active_units"):
        assert key in ckpt.metrics
    assert ckpt.history and ckpt.history[-1]["epoch"] == ckpt.train_config["epochs"]
    data = load_dataset(ckpt.dataset, data_dir=None if ckpt.dataset == "digits" else shared_data)
    assert data.image_shape == ckpt.image_shape
    # Re-evaluate the stored test ELBO exactly as it was computed (vae.core.metrics.summarize).
    _, test = prepare_images(data, torch.device("cpu"), bool(ckpt.train_config.get("binarize")), 0)
    elbo = evaluate(ckpt.build_model(), test)["elbo"]
    assert elbo == pytest.approx(ckpt.metrics["test_elbo"], abs=0.05)
    if ckpt.model_config.variant == "vae":  # an autoencoder's q is not a posterior: no bound
        assert ckpt.metrics["log_px"] >= ckpt.metrics["test_elbo"] - 0.05
