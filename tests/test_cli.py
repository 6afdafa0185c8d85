"""The command line: train, evaluate, and a clear error for a bad checkpoint."""

import torch

from vae import evaluate, train
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.model import VAE, VAEConfig


def test_train_then_evaluate_on_digits(tmp_path, capsys):
    out = tmp_path / "d.pt"
    argv = ["--dataset", "digits", "--latent-dim", "2", "--hidden", "32", "--epochs", "2",
            "--batch-size", "128", "--iw-k", "10", "--iw-n", "50", "--out", str(out)]
    assert train.main(argv) == 0
    printed = capsys.readouterr().out
    assert "epoch   1" in printed and "epoch   2" in printed and "saved" in printed
    ckpt = load_checkpoint(out)
    assert ckpt.meta["command"] == "python -m vae.train " + " ".join(argv)
    assert len(ckpt.history) == 2 and ckpt.metrics["log_px_k"] == 10
    assert evaluate.main([str(out), "--k", "10", "--n", "50"]) == 0
    line = capsys.readouterr().out
    assert f"test ELBO {ckpt.metrics['test_elbo']:.2f}" in line  # the same fixed-seed figure


def test_evaluate_a_users_own_images_checkpoint(tmp_path, capsys):
    cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    x = (torch.rand(6, 1, 8, 8) * 255).to(torch.uint8)
    meta = {"test_set": {"images": x, "labels": torch.zeros(6, dtype=torch.int64), "label_names": ["mine"]}}
    path = save_checkpoint(tmp_path / "c.pt", VAE(cfg), dataset="custom", meta=meta)
    assert evaluate.main([str(path), "--k", "5", "--n", "0"]) == 0
    assert "n=6" in capsys.readouterr().out


def test_evaluate_refuses_a_corrupt_file_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert evaluate.main([str(bad)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().out
