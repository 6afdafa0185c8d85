"""Reference training benchmark (issue: VAE core).

Trains the reference configuration (MLP 784-400-20, Bernoulli on non-binarized [0, 1]
pixels, Adam 1e-3, batch 128) on MNIST with ``vae.core.fit.fit`` (whole dataset as one
tensor, no per-sample Python) and prints seconds per epoch, images per second and the test
loss (summed BCE + KL per test image, the figure PyTorch's VAE example prints). In the same
run it times one epoch of the same model through a plain ``DataLoader`` loop over a
per-sample dataset (the usual way) and prints the throughput ratio.

    python bench/train_mnist.py [--epochs 10]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import data_dir
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from vae.core.fit import TrainConfig, fit
from vae.core.losses import elbo_terms
from vae.core.model import VAE, VAEConfig
from vae.data.registry import load_dataset

CONFIG = VAEConfig(image_shape=(1, 28, 28), latent_dim=20, hidden=(400,))


class PerSampleMNIST(TorchDataset):
    """One image at a time, converted like torchvision's ToTensor: the usual input pipeline."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].float().div(255.0)


def dataloader_epoch(images: torch.Tensor, seed: int = 0) -> float:
    """Seconds for one epoch of the same model trained through a DataLoader loop."""
    torch.manual_seed(seed)
    model = VAE(CONFIG).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(PerSampleMNIST(images), batch_size=128, shuffle=True)
    t0 = time.perf_counter()
    for xb in loader:
        terms = elbo_terms(model, xb)
        opt.zero_grad()
        terms.loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    args = p.parse_args()
    data = load_dataset("mnist", data_dir=data_dir())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, MNIST {tuple(data.train_x.shape)}")
    print("epoch  seconds  images/s  test loss (BCE+KL per image)")

    def report(s, _model):
        print(f"{s.epoch:5d}  {s.seconds:7.2f}  {s.images_per_second:8.0f}  {-s.test_elbo:9.2f}", flush=True)

    tc = TrainConfig(epochs=args.epochs, batch_size=128, lr=1e-3, seed=0)
    _, history = fit(CONFIG, tc, data, device="cpu", on_epoch_end=report)
    ours = sum(e.seconds for e in history.epochs) / len(history.epochs)
    dl = dataloader_epoch(data.train_x)
    n = data.train_x.shape[0]
    print(f"vae.core.fit.fit: {ours:.2f} s/epoch ({n / ours:.0f} img/s)")
    print(f"DataLoader loop : {dl:.2f} s/epoch ({n / dl:.0f} img/s)")
    print(f"throughput ratio (fit / DataLoader): {dl / ours:.2f}x")
    print(f"final test loss: {-history.epochs[-1].test_elbo:.2f} nats per image")


if __name__ == "__main__":
    main()
