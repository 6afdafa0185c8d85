"""The VAE: q(t|x) = N(m, diag(s^2)) from the encoder, t = m + s * eps, p(x|t) from the decoder.

Shapes: images are ``(B, C, H, W)`` floats in [0, 1]; latents are ``(B, latent_dim)``.
The decoder is a plain ``nn.Sequential`` of a few standard layer types so that it can be
exported to the browser (see ``vae.app.export``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

Architecture = Literal["mlp", "conv"]
Likelihood = Literal["bernoulli", "gaussian"]
Variant = Literal["vae", "ae", "noisy_ae"]
Activation = Literal["relu", "elu", "tanh"]

ARCHITECTURES: tuple[str, ...] = ("mlp", "conv")
LIKELIHOODS: tuple[str, ...] = ("bernoulli", "gaussian")
VARIANTS: tuple[str, ...] = ("vae", "ae", "noisy_ae")
ACTIVATIONS: tuple[str, ...] = ("relu", "elu", "tanh")


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild a model; stored in every checkpoint.

    ``variant``: ``"vae"`` (noise + KL), ``"noisy_ae"`` (noise, no KL) or ``"ae"`` (a plain
    autoencoder: t = m, no noise, no KL): the course's "a VAE is an autoencoder plus noise
    plus a KL regulariser", one switch at a time.
    ``hidden``: MLP hidden widths (encoder order; the decoder mirrors them).
    ``conv_channels``: conv encoder channels, each layer halving the spatial size.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 2
    architecture: Architecture = "mlp"
    hidden: tuple[int, ...] = (512, 256)
    conv_channels: tuple[int, ...] = (32, 64)
    likelihood: Likelihood = "bernoulli"
    variant: Variant = "vae"
    activation: Activation = "relu"

    def __post_init__(self) -> None:
        # Checkpoints come back as lists from JSON-like dicts: normalise to tuples.
        object.__setattr__(self, "image_shape", tuple(int(v) for v in self.image_shape))
        object.__setattr__(self, "hidden", tuple(int(v) for v in self.hidden))
        object.__setattr__(self, "conv_channels", tuple(int(v) for v in self.conv_channels))
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W), got {self.image_shape}")
        if self.latent_dim < 1:
            raise ValueError("latent_dim must be >= 1")
        for name, value, allowed in (
            ("architecture", self.architecture, ARCHITECTURES),
            ("likelihood", self.likelihood, LIKELIHOODS),
            ("variant", self.variant, VARIANTS),
            ("activation", self.activation, ACTIVATIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.architecture == "mlp" and not self.hidden:
            raise ValueError("an MLP needs at least one hidden layer")
        if self.architecture == "conv" and not self.conv_channels:
            raise ValueError("a conv model needs at least one conv layer")

    @property
    def n_pixels(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh}[name]()


class Crop2d(nn.Module):
    """Keep the top-left ``(H, W)`` of a ``(B, C, H', W')`` map (H' >= H, W' >= W)."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., : self.height, : self.width]


def _conv_grid(size: int, n_layers: int) -> int:
    """Spatial size of the decoder's first map: doubling it n times covers ``size``."""
    return max(1, math.ceil(size / 2**n_layers))


class VAE(nn.Module):
    """``encode(x) -> (mu, logvar)``, ``reparameterize``, ``decode(t) -> logits``.

    The decoder always returns logits ``(B, C, H, W)``; the image is ``sigmoid(logits)``.
    For the Gaussian likelihood, sigmoid(logits) is the mean and ``dec_logvar`` (one learned
    log-variance per pixel) the noise level.
    """

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        c, h, w = config.image_shape
        d = config.latent_dim
        if config.architecture == "mlp":
            enc: list[nn.Module] = [nn.Flatten()]
            width = config.n_pixels
            for hid in config.hidden:
                enc += [nn.Linear(width, hid), _act(config.activation)]
                width = hid
            self.encoder = nn.Sequential(*enc)
            enc_width = width
            dec: list[nn.Module] = []
            width = d
            for hid in reversed(config.hidden):
                dec += [nn.Linear(width, hid), _act(config.activation)]
                width = hid
            dec += [nn.Linear(width, config.n_pixels), nn.Unflatten(1, (c, h, w))]
            self.decoder = nn.Sequential(*dec)
        else:
            chans = config.conv_channels
            n = len(chans)
            enc = []
            cin = c
            for ch in chans:
                enc += [nn.Conv2d(cin, ch, 4, stride=2, padding=1), _act(config.activation)]
                cin = ch
            enc.append(nn.Flatten())
            with torch.no_grad():
                width = nn.Sequential(*enc)(torch.zeros(1, c, h, w)).shape[1]
            hid = config.hidden[-1] if config.hidden else 256
            enc += [nn.Linear(width, hid), _act(config.activation)]
            self.encoder = nn.Sequential(*enc)
            enc_width = hid
            h0, w0 = _conv_grid(h, n), _conv_grid(w, n)
            dec = [
                nn.Linear(d, hid),
                _act(config.activation),
                nn.Linear(hid, chans[-1] * h0 * w0),
                _act(config.activation),
                nn.Unflatten(1, (chans[-1], h0, w0)),
            ]
            rev = list(reversed(chans))
            for i, ch in enumerate(rev):
                cout = rev[i + 1] if i + 1 < n else rev[-1]
                dec += [
                    nn.ConvTranspose2d(ch, cout, 4, stride=2, padding=1),
                    _act(config.activation),
                ]
            dec += [nn.Conv2d(rev[-1], c, 3, padding=1)]
            if (h0 * 2**n, w0 * 2**n) != (h, w):
                dec.append(Crop2d(h, w))
            self.decoder = nn.Sequential(*dec)
        self.to_mu = nn.Linear(enc_width, d)
        self.to_logvar = nn.Linear(enc_width, d)
        if config.likelihood == "gaussian":
            self.dec_logvar = nn.Parameter(torch.full((c, h, w), -3.0))
        else:
            self.register_parameter("dec_logvar", None)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, H, W)`` in [0, 1] -> ``mu, logvar`` each ``(B, D)``."""
        hidden = self.encoder(x)
        return self.to_mu(hidden), self.to_logvar(hidden)

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """t = m + s * eps with s = exp(logvar / 2) and eps ~ N(0, I) unless given.

        Differentiable in ``mu`` and ``logvar``: the noise is the only random input.
        A plain autoencoder (``variant="ae"``) returns ``mu``.
        """
        if self.config.variant == "ae":
            return mu
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)
        return mu + std * eps

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        """``t (B, D)`` -> logits ``(B, C, H, W)``; the image mean is ``sigmoid(logits)``."""
        return self.decoder(t)

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass: ``(logits, mu, logvar)``."""
        mu, logvar = self.encode(x)
        t = self.reparameterize(mu, logvar, eps)
        return self.decode(t), mu, logvar
