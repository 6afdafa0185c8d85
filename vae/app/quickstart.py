"""The default model the app trains itself when it finds no checkpoint: digits, 2-D latent."""

from __future__ import annotations

from pathlib import Path

from vae.core.checkpoints import save_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.metrics import summarize
from vae.core.model import VAEConfig
from vae.data.registry import load_dataset

QUICKSTART_MODEL = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(256, 128))
QUICKSTART_TRAIN = TrainConfig(epochs=40, batch_size=64, lr=2e-3)


def train_quickstart(out: Path, epochs: int | None = None) -> Path:
    """Train the digits default (seconds on a CPU) and save it to ``out``."""
    data = load_dataset("digits")
    cfg = QUICKSTART_TRAIN if epochs is None else TrainConfig(**{**QUICKSTART_TRAIN.to_dict(), "epochs": epochs})
    model, history = fit(QUICKSTART_MODEL, cfg, data)
    metrics = summarize(model, data, binarized=False, iw_k=100, iw_n=None)
    return save_checkpoint(
        out, model.cpu(), dataset="digits", train_config=cfg.to_dict(), metrics=metrics,
        history=history.to_list(),
        meta={"title": "Digits quick-start (trained by the app)", "device": history.device,
              "command": "vae.app.quickstart.train_quickstart"},
    )
