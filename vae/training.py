"""Training: whole datasets as tensors on the device, no per-sample Python in the loop.

``fit`` is what the CLI, the app's Train page and the benchmarks call. It reports each
finished epoch through ``on_epoch_end`` and checks ``should_stop`` between batches, so a UI
can draw live curves and stop cleanly (keeping the model of the last finished epoch).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from vae.data import Dataset, binarize, to_float
from vae.losses import elbo_terms
from vae.model import VAE, VAEConfig


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; stored in every checkpoint.

    ``kl_warmup_epochs``: the KL weight rises linearly from 0 to ``beta`` over this many
    epochs (0 = off), a standard guard against inactive latent units.
    ``test_subset``: evaluate each epoch on at most this many test images (None = all).
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0
    binarize: bool = False
    seed: int = 0
    amp: bool = True
    kl_warmup_epochs: int = 0
    lr_decay: float = 1.0
    test_subset: int | None = None
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs, batch_size and lr must be positive")
        if self.beta < 0:
            raise ValueError("beta must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch, in nats per image (ELBO = -(recon + KL))."""

    epoch: int
    train_loss: float
    train_elbo: float
    train_recon: float
    train_kl: float
    test_elbo: float
    test_recon: float
    test_kl: float
    seconds: float
    images_per_second: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    device: str
    epochs: list[EpochStats] = field(default_factory=list)
    stopped_early: bool = False

    def to_list(self) -> list[dict]:
        return [e.to_dict() for e in self.epochs]


def pick_device(prefer: str | None = None) -> torch.device:
    """``prefer`` if given, else CUDA, then Apple MPS, then CPU."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | str) -> str:
    """A human name: ``"CPU (2 threads)"`` or the GPU's name."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


@torch.no_grad()
def evaluate(
    model: VAE,
    x: torch.Tensor,
    batch_size: int = 1000,
    seed: int = 1234,
) -> dict[str, float]:
    """Mean test ELBO, reconstruction and KL of float images ``x (N, C, H, W)``.

    Uses a fixed noise seed so two evaluations of the same model agree exactly.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    sums = {"elbo": 0.0, "recon": 0.0, "kl": 0.0}
    n = x.shape[0]
    for start in range(0, n, batch_size):
        xb = x[start : start + batch_size].to(device)
        terms = elbo_terms(model, xb, generator=gen)
        w = xb.shape[0]
        sums["elbo"] += terms.elbo.item() * w
        sums["recon"] += terms.recon.item() * w
        sums["kl"] += terms.kl.item() * w
    model.train(was_training)
    return {k: v / n for k, v in sums.items()}


def prepare_images(
    dataset: Dataset, device: torch.device, binarize_test: bool, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test images as float32 on ``device``; a fixed binarization of the test set
    when training binarized, so test figures are comparable across epochs."""
    train = to_float(dataset.train_x).to(device)
    test = to_float(dataset.test_x).to(device)
    if binarize_test:
        test = binarize(test, torch.Generator(device=device).manual_seed(seed + 1))
    return train, test


def fit(
    model_config: VAEConfig,
    train_config: TrainConfig,
    dataset: Dataset,
    device: torch.device | str | None = None,
    on_epoch_end: Callable[[EpochStats, VAE], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[VAE, History]:
    """Train a new model on ``dataset``; returns ``(model, history)`` with the model in eval mode.

    Reproducible: parameters, batch order, binarization and noise all come from generators
    seeded with ``train_config.seed``. If ``should_stop()`` turns true mid-epoch, the weights
    of the last finished epoch are restored (or the untrained ones, before the first).
    """
    if tuple(model_config.image_shape) != dataset.image_shape:
        raise ValueError(
            f"model expects {model_config.image_shape}, dataset {dataset.name} has "
            f"{dataset.image_shape}"
        )
    device = pick_device(str(device) if device is not None else None)
    cfg = train_config
    # Parameter init from a local generator: fork_rng keeps the global state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = VAE(model_config)
    model.to(device).train()
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    cpu_gen = torch.Generator().manual_seed(cfg.seed)
    train_x, test_x = prepare_images(dataset, device, cfg.binarize, cfg.seed)
    if cfg.test_subset is not None:
        test_x = test_x[: cfg.test_subset]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    # bf16 autocast is safe here: losses are computed in float32 (see losses.elbo_terms).
    use_amp = cfg.amp and device.type == "cuda" and torch.cuda.is_bf16_supported()
    history = History(device=describe_device(device))
    last_good = copy.deepcopy(model.state_dict())
    n = train_x.shape[0]
    n_batches = math.ceil(n / cfg.batch_size)
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        beta = cfg.beta
        if cfg.kl_warmup_epochs > 0:
            beta = cfg.beta * min(1.0, epoch / cfg.kl_warmup_epochs)
        perm = torch.randperm(n, generator=cpu_gen).to(device)
        sums = torch.zeros(3, device=device)
        stopped = False
        for b in range(n_batches):
            if should_stop is not None and should_stop():
                stopped = True
                break
            xb = train_x[perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]]
            if cfg.binarize:
                xb = binarize(xb, gen)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                terms = elbo_terms(model, xb, beta=beta, generator=gen)
            opt.zero_grad(set_to_none=True)
            terms.loss.backward()
            opt.step()
            w = xb.shape[0]
            sums += torch.stack([terms.loss.detach(), terms.recon.detach(), terms.kl.detach()]) * w
        if stopped:
            model.load_state_dict(last_good)
            history.stopped_early = True
            break
        sched.step()
        seconds = time.perf_counter() - t0
        loss, recon, kl = (sums / n).tolist()
        test = evaluate(model, test_x, cfg.eval_batch_size, seed=cfg.seed + 2)
        model.train()
        stats = EpochStats(
            epoch=epoch,
            train_loss=loss,
            train_elbo=-(recon + kl),
            train_recon=recon,
            train_kl=kl,
            test_elbo=test["elbo"],
            test_recon=test["recon"],
            test_kl=test["kl"],
            seconds=seconds,
            images_per_second=n / seconds if seconds > 0 else float("inf"),
        )
        history.epochs.append(stats)
        last_good = copy.deepcopy(model.state_dict())
        if on_epoch_end is not None:
            model.eval()
            on_epoch_end(stats, model)
            model.train()
    model.eval()
    return model, history
