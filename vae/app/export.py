"""Export a VAE decoder (and optionally its encoder) to JSON-able layer lists + one flat weight
buffer, for the browser.

The browser decoder (``pages/_lib/live/decoder*.js``) redoes ``sigmoid(model.decode(z))`` in
JavaScript while the user drags a slider, so no round trip to Python is needed per frame; the
browser encoder (``encoder.js``) redoes ``model.encode(x)`` while the user draws.
This module is the contract between the two sides; ``tests/export_reference.py`` is a second,
independent implementation of it in numpy that the tests hold both the export and the browser to.

Format (``DecoderExport.to_payload()``, ``format == "vae-model/3"``)::

    {"format": "vae-model/3", "id": "<16 hex, content hash>",
     "latent_dim": D, "output_shape": [C, H, W], "n_floats": N, "dtype": "float16",
     "layers": [{"op": "linear", "in": 2, "out": 256, "w": 0, "b": 512}, {"op": "relu"}, ...],
     "weights_b64": "<base64 of N little-endian values of dtype>",
     "encoder": null | {"input_shape": [C, H, W], "layers": [...]}}

``encoder`` (only with ``export_decoder(..., encoder=True)``) uses the same layer ops and the
same flat buffer (its offsets point past the decoder's weights). Its input is the image
``(C, H, W)`` in [0, 1]; its last layer is one ``linear`` with ``out == 2 * D`` whose output is
``concat(mu, logvar)``: ``model.to_mu`` and ``model.to_logvar`` stacked row-wise, the same dot
products as ``model.encode``. A payload with an encoder is stored in float32 (``"auto"``):
float16 weights move ``mu`` by ~1e-3, more than the browser's 1e-4 budget against PyTorch.

``dtype`` is ``"float16"`` (half the bytes; the browser computes in float32) when that keeps
every decoded pixel within ``F16_MAX_PIXEL_ERROR`` of the float32 decoder on probe latents,
else ``"float32"``. Offsets (``"w"``, ``"b"``) count *elements* into the flat buffer, not bytes.
Weights keep PyTorch's layouts: Linear ``(out, in)``, Conv2d ``(out, in, kh, kw)``,
ConvTranspose2d ``(in, out, kh, kw)``. Layer ops and their keys:

- ``linear``: ``in``, ``out``, ``w``, ``b`` (``b`` is ``null`` without bias)
- ``relu`` | ``tanh`` | ``sigmoid`` | ``elu`` (``alpha``) | ``leaky_relu`` (``slope``)
- ``unflatten``: ``shape`` ``[C, H, W]`` (the vector is read in C, H, W order)
- ``flatten``: ``in_shape`` ``[C, H, W]``
- ``conv2d`` / ``conv_transpose2d``: ``in_ch``, ``out_ch``, ``kernel`` ``[kh, kw]``,
  ``stride`` ``[sh, sw]``, ``padding`` ``[ph, pw]``, ``output_padding`` ``[oh, ow]``
  (transposed only), ``in_hw`` ``[H, W]``, ``out_hw`` ``[H', W']``, ``w``, ``b``
- ``crop2d``: ``height``, ``width`` (keep the top-left corner, as ``vae.core.model.Crop2d``)

Every layer also carries ``in_shape`` / ``out_shape`` (the per-sample tensor shapes), so a
consumer can check its own shape bookkeeping. The decoder's output is logits; the image is
``sigmoid(logits)`` of shape ``(C, H, W)``.

Only ``export_decoder`` needs torch, and imports it lazily: pages can import this module (for
``FORMAT``) without torch.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = "vae-model/3"
DTYPES = {"float32": "<f4", "float16": "<f2"}
# Float16 storage is used when no probed pixel moves by more than this (the browser's budget
# is 2e-3 per pixel against PyTorch; half of it leaves room for latents the probe missed).
F16_MAX_PIXEL_ERROR = 1e-3


class ExportError(ValueError):
    """The decoder uses a layer (or layer option) the browser decoder cannot run.

    Pages catch it and fall back to decoding on the server when the user releases a slider.
    """


@dataclass(frozen=True)
class DecoderExport:
    """An exported decoder: ``layers`` (JSON-able dicts) + ``weights`` (little-endian float32).

    ``output_shape`` is ``(C, H, W)`` of one decoded image; ``latent_dim`` is D of ``z (D,)``.
    ``dtype`` is how the weights travel and are stored in the browser; with ``"float16"`` every
    value in ``weights`` is exactly a float16. ``id`` is a content hash of layers, dtype and
    weights: the browser keeps weights by it (memory, then IndexedDB).
    """

    layers: list[dict[str, Any]]
    weights: bytes = field(repr=False)
    latent_dim: int
    output_shape: tuple[int, int, int]
    dtype: str = "float32"
    id: str = ""
    encoder: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.weights) % 4:
            raise ExportError("weights must be a whole number of float32 values")
        if self.dtype not in DTYPES:
            raise ExportError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        w = self.weights_array()
        if self.dtype == "float16" and not np.array_equal(w, w.astype("<f2").astype("<f4")):
            raise ExportError("dtype float16 needs weights that are exactly float16 values")
        if not self.id:
            parts = self.layers if self.encoder is None else [self.layers, self.encoder]
            object.__setattr__(self, "id", _content_id(parts, self.dtype, self.weights))

    @property
    def n_floats(self) -> int:
        return len(self.weights) // 4

    def weights_array(self) -> np.ndarray:
        """The flat buffer as a read-only float32 array ``(n_floats,)`` (no copy)."""
        return np.frombuffer(self.weights, dtype="<f4")

    def wire_weights(self) -> bytes:
        """The flat buffer as it travels to the browser: little-endian ``dtype`` values."""
        return self.weights_array().astype(DTYPES[self.dtype]).tobytes()

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON-able dict for the browser (see the module docstring for the format).

        ``weights_b64`` is the base64 of ``wire_weights()``; the live component sends those
        bytes to a browser in binary, once, and only when it lacks them.
        """
        return {
            "format": FORMAT,
            "id": self.id,
            "latent_dim": self.latent_dim,
            "output_shape": list(self.output_shape),
            "n_floats": self.n_floats,
            "dtype": self.dtype,
            "layers": self.layers,
            "weights_b64": base64.b64encode(self.wire_weights()).decode("ascii"),
            "encoder": self.encoder,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DecoderExport:
        """Inverse of ``to_payload`` (validates the format tag and the buffer size)."""
        if payload.get("format") != FORMAT:
            raise ExportError(f"not a {FORMAT} payload: format={payload.get('format')!r}")
        if "weights_b64" not in payload:
            raise ExportError("payload has no weights_b64 (was it stripped for the browser cache?)")
        dtype = payload.get("dtype", "float32")
        if dtype not in DTYPES:
            raise ExportError(f"unknown weights dtype {dtype!r}")
        wire = np.frombuffer(base64.b64decode(payload["weights_b64"]), dtype=DTYPES[dtype])
        if wire.size != int(payload["n_floats"]):
            raise ExportError(f"weights_b64 does not hold n_floats {dtype} values")
        out = cls(
            layers=[dict(layer) for layer in payload["layers"]],
            weights=wire.astype("<f4").tobytes(),
            latent_dim=int(payload["latent_dim"]),
            output_shape=tuple(int(v) for v in payload["output_shape"]),  # type: ignore[arg-type]
            dtype=dtype,
            encoder=dict(payload["encoder"]) if payload.get("encoder") else None,
        )
        if payload.get("id") and payload["id"] != out.id:
            raise ExportError("payload id does not match its content")
        return out


def _content_id(layers: list[Any], dtype: str, weights: bytes) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps([layers, dtype], sort_keys=True).encode())
    h.update(weights)
    return h.hexdigest()


_Shapes = tuple[tuple[int, ...], tuple[int, ...]]  # (in_shape, out_shape) per sample


def _pair(v: Any) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


class _Packer:
    """Appends float32 arrays to one flat buffer and hands out element offsets."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.n = 0

    def add(self, t: Any) -> int | None:
        if t is None:
            return None
        a = np.ascontiguousarray(t.detach().cpu().to(dtype=_torch().float32).numpy()).ravel()
        off = self.n
        self.chunks.append(a)
        self.n += a.size
        return off

    def to_bytes(self) -> bytes:
        if not self.chunks:
            return b""
        return np.concatenate(self.chunks).astype("<f4", copy=False).tobytes()


def _torch():  # noqa: ANN202 - imported lazily so pages can use the numpy side without torch
    import torch

    return torch


def _flat_modules(module: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Leaf modules in forward order, walking into (nested) ``nn.Sequential`` only.

    Any other container is returned as one leaf, so a custom ``forward`` (skip connections,
    reordering) is never assumed to be sequential: it fails the type check instead.
    """
    from torch import nn

    if not isinstance(module, nn.Sequential):
        return [(prefix or type(module).__name__, module)]
    out: list[tuple[str, Any]] = []
    for name, child in module.named_children():
        out += _flat_modules(child, f"{prefix}.{name}" if prefix else name)
    return out


def _supported_types() -> tuple[type, ...]:
    return tuple(_exporters())


def _unsupported(name: str, m: Any, part: str = "decoder") -> ExportError:
    names = ", ".join(t.__name__ for t in _supported_types())
    return ExportError(
        f"{part} layer {name} ({type(m).__name__}) is not supported by the browser {part}; "
        f"supported: {names}"
    )


def _need(name: str, m: Any, cond: bool, what: str) -> None:
    if not cond:
        raise ExportError(f"decoder layer {name} ({type(m).__name__}): {what}")


def _linear(name: str, m: Any, shapes: _Shapes, pack: _Packer) -> dict[str, Any]:
    _need(name, m, len(shapes[0]) == 1, f"expects a vector input, got shape {shapes[0]}")
    w, b = pack.add(m.weight), pack.add(m.bias)
    return {"op": "linear", "in": m.in_features, "out": m.out_features, "w": w, "b": b}


def _activation(name: str, m: Any, shapes: _Shapes, pack: _Packer) -> dict[str, Any] | None:
    from torch import nn

    t = type(m)
    if t in (nn.Identity, nn.Dropout):
        # Dropout is the identity at inference time, which is all the browser ever does.
        return None
    if t is nn.ELU:
        return {"op": "elu", "alpha": float(m.alpha)}
    if t is nn.LeakyReLU:
        return {"op": "leaky_relu", "slope": float(m.negative_slope)}
    return {"op": {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}[t]}


def _unflatten(name: str, m: Any, shapes: _Shapes, pack: _Packer) -> dict[str, Any]:
    in_shape, out_shape = shapes
    _need(
        name, m, len(in_shape) == 1 and len(out_shape) == 3,
        f"only (B, N) -> (B, C, H, W) is supported, got {in_shape} -> {out_shape}",
    )  # fmt: skip
    return {"op": "unflatten", "shape": list(out_shape)}


def _flatten(name: str, m: Any, shapes: _Shapes, pack: _Packer) -> dict[str, Any] | None:
    in_shape, out_shape = shapes
    _need(name, m, len(out_shape) == 1, f"only flattening to (B, N) is supported, got {out_shape}")
    if len(in_shape) == 1:
        return None
    _need(name, m, len(in_shape) == 3, f"expects (B, C, H, W) input, got {in_shape}")
    return {"op": "flatten"}


def _conv(name: str, m: Any, shapes: _Shapes, pack: _Packer) -> dict[str, Any]:
    from torch import nn

    in_shape, out_shape = shapes
    transposed = type(m) is nn.ConvTranspose2d
    _need(name, m, len(in_shape) == 3, f"expects (B, C, H, W) input, got {in_shape}")
    _need(name, m, m.groups == 1, "groups != 1 is not supported")
    _need(name, m, tuple(m.dilation) == (1, 1), "dilation != 1 is not supported")
    _need(name, m, m.padding_mode == "zeros", f"padding_mode {m.padding_mode!r} is not supported")
    padding = m.padding
    if isinstance(padding, str):
        # 'valid' is 0; 'same' (stride 1 only) is symmetric only for odd kernels.
        _need(
            name, m, padding == "valid" or all(k % 2 == 1 for k in m.kernel_size),
            "padding='same' with an even kernel is not supported",
        )  # fmt: skip
        padding = (0, 0) if padding == "valid" else tuple(k // 2 for k in m.kernel_size)
    layer = {
        "op": "conv_transpose2d" if transposed else "conv2d",
        "in_ch": m.in_channels,
        "out_ch": m.out_channels,
        "kernel": _pair(m.kernel_size),
        "stride": _pair(m.stride),
        "padding": _pair(padding),
        "in_hw": list(in_shape[1:]),
        "out_hw": list(out_shape[1:]),
        "w": pack.add(m.weight),
        "b": pack.add(m.bias),
    }
    if transposed:
        layer["output_padding"] = _pair(m.output_padding)
    return layer


def _crop(name: str, m: Any, shapes: _Shapes, pack: _Packer) -> dict[str, Any]:
    _need(name, m, len(shapes[0]) == 3, f"expects (B, C, H, W) input, got {shapes[0]}")
    return {"op": "crop2d", "height": int(m.height), "width": int(m.width)}


def _exporters() -> dict[type, Any]:
    """Exact module type -> its exporter. Exact types: a subclass may override forward() with
    something we would silently get wrong."""
    from torch import nn

    from vae.core.model import Crop2d

    acts = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.LeakyReLU, nn.Identity, nn.Dropout)
    return {
        nn.Linear: _linear,
        **{t: _activation for t in acts},
        nn.Unflatten: _unflatten,
        nn.Flatten: _flatten,
        nn.Conv2d: _conv,
        nn.ConvTranspose2d: _conv,
        Crop2d: _crop,
    }


def _export_layer(
    name: str, m: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...], pack: _Packer
) -> dict[str, Any] | None:
    """One module -> one layer dict (``None`` for no-ops); raises ExportError if unsupported."""
    exporter = _exporters().get(type(m))
    if exporter is None:
        raise _unsupported(name, m)
    layer = exporter(name, m, (in_shape, out_shape), pack)
    if layer is None:
        return None
    return {**layer, "in_shape": list(in_shape), "out_shape": list(out_shape)}


def export_decoder(
    model: Any, *, latent_dim: int | None = None, dtype: str = "auto", encoder: bool = False
) -> DecoderExport:
    """Walk ``model.decoder`` (or ``model`` itself if it is the decoder) and export it.

    ``model``: a ``vae.core.model.VAE`` (uses ``.decoder`` and ``.latent_dim``) or any decoder
    ``nn.Module`` built from the supported layer types (then pass ``latent_dim``).
    Shapes are found by pushing a ``(1, D)`` zero latent through each layer in turn, so the
    exported shapes are exactly what PyTorch computes. Raises ``ExportError`` for unsupported
    layers, before anything is sent to a browser. ``dtype``: ``"float32"``, ``"float16"``, or
    ``"auto"`` (float16 when ``float16_pixel_error`` is at most ``F16_MAX_PIXEL_ERROR``; always
    float32 with ``encoder``). ``encoder=True`` also exports ``model.encoder`` + its two heads
    (a ``VAE`` is then required), into the same buffer.
    """
    if dtype not in (*DTYPES, "auto"):
        raise ExportError(f"dtype must be 'auto' or one of {sorted(DTYPES)}, got {dtype!r}")
    decoder = getattr(model, "decoder", model)
    d = latent_dim if latent_dim is not None else getattr(model, "latent_dim", None)
    if d is None:
        raise ExportError("latent_dim is unknown: pass latent_dim= for a bare decoder module")
    pack = _Packer()
    layers, out_shape = _walk(decoder, (int(d),), pack, "decoder")
    if len(out_shape) != 3:
        raise ExportError(f"decoder must output (B, C, H, W) logits, got shape {(1, *out_shape)}")
    enc = _export_encoder(model, int(d), pack) if encoder else None
    if dtype == "auto":
        small = enc is None and float16_pixel_error(decoder, int(d)) <= F16_MAX_PIXEL_ERROR
        dtype = "float16" if small else "float32"
    weights = pack.to_bytes()
    if dtype == "float16":
        weights = np.frombuffer(weights, "<f4").astype("<f2").astype("<f4").tobytes()
    return DecoderExport(
        layers=layers,
        weights=weights,
        latent_dim=int(d),
        output_shape=out_shape,  # type: ignore[arg-type]
        dtype=dtype,
        encoder=enc,
    )


def _export_encoder(model: Any, d: int, pack: _Packer) -> dict[str, Any]:
    """``model.encoder`` then ``to_mu`` / ``to_logvar`` stacked into one ``linear`` (D -> 2D)."""
    torch = _torch()
    config = getattr(model, "config", None)
    heads = (getattr(model, "to_mu", None), getattr(model, "to_logvar", None))
    if config is None or not hasattr(model, "encoder") or None in heads:
        raise ExportError("encoder=True needs a VAE (encoder, to_mu, to_logvar, config)")
    image_shape = tuple(int(v) for v in config.image_shape)
    layers, out_shape = _walk(model.encoder, image_shape, pack, "encoder")
    mu, logvar = heads
    ok = all(type(h) is torch.nn.Linear and h.bias is not None for h in heads)
    if not ok or out_shape != (mu.in_features,) or mu.out_features != d:
        raise ExportError("encoder heads must be two biased nn.Linear(hidden, D)")
    w = pack.add(torch.cat([mu.weight, logvar.weight]))
    b = pack.add(torch.cat([mu.bias, logvar.bias]))
    head = {"op": "linear", "in": mu.in_features, "out": 2 * d, "w": w, "b": b}
    layers.append({**head, "in_shape": [mu.in_features], "out_shape": [2 * d]})
    return {"input_shape": list(image_shape), "layers": layers}


def _walk(
    module: Any, in_shape: tuple[int, ...], pack: _Packer, part: str
) -> tuple[list[dict[str, Any]], tuple[int, ...]]:
    """``module``'s layer dicts (weights appended to ``pack``) and its per-sample output shape,
    pushing a zero input of shape ``(1, *in_shape)`` through it."""
    torch = _torch()
    supported = _supported_types()
    layers: list[dict[str, Any]] = []
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(1, *in_shape)
            for name, m in _flat_modules(module):
                # Type check first: an unsupported layer must raise ExportError even when
                # its forward would fail on our probe input.
                if type(m) not in supported:
                    raise _unsupported(name, m, part)
                try:
                    y = m(x)
                except Exception as err:
                    raise ExportError(
                        f"{part} layer {name} ({type(m).__name__}) failed on "
                        f"input of shape {tuple(x.shape)}: {err}"
                    ) from err
                try:
                    layer = _export_layer(name, m, tuple(x.shape[1:]), tuple(y.shape[1:]), pack)
                except ExportError as err:
                    raise ExportError(
                        str(err).replace("decoder layer", f"{part} layer", 1)
                    ) from None
                if layer is not None:
                    layers.append(layer)
                x = y
    finally:
        module.train(was_training)
    return layers, tuple(int(v) for v in x.shape[1:])


def float16_pixel_error(decoder: Any, latent_dim: int, n: int = 256) -> float:
    """Largest ``|sigmoid(decoder(z))|`` change, over ``n`` probe latents, when every weight is
    rounded to float16 (computing in float32, as the browser does). Probes: ``z ~ N(0, I)``,
    half of them scaled by 2.5 to reach the edges of the sliders and plane (±3 prior SD)."""
    torch = _torch()
    rounded = copy.deepcopy(decoder).eval()
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.to(torch.float16).to(torch.float32))
        z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(0))
        z[n // 2 :] *= 2.5
        was_training = decoder.training
        decoder.eval()
        try:
            ref = torch.sigmoid(decoder(z))
        finally:
            decoder.train(was_training)
        err = (torch.sigmoid(rounded(z)) - ref).abs().max()
    return float(err) if torch.isfinite(err) else float("inf")


def export_payload(model: Any, *, encoder: bool = False) -> dict[str, Any]:
    """``export_decoder(model, encoder=encoder).to_payload()``: what the live components take
    (the Draw page asks for the encoder too)."""
    return export_decoder(model, encoder=encoder).to_payload()
