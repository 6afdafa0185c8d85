"""Export a VAE decoder to a JSON-able layer list + one flat float32 buffer, for the browser.

The browser decoder (``pages/_lib/live_decoder.js``) redoes ``sigmoid(model.decode(z))`` in
JavaScript while the user drags a slider, so no round trip to Python is needed per frame.
This module is the contract between the two sides, and ``decode_exported_numpy`` is a second,
independent implementation of that contract (tests; a torch-free server-side fallback).

Format (``DecoderExport.to_payload()``, ``format == "vae-decoder/1"``)::

    {"format": "vae-decoder/1", "id": "<16 hex, content hash>",
     "latent_dim": D, "output_shape": [C, H, W], "n_floats": N,
     "layers": [{"op": "linear", "in": 2, "out": 256, "w": 0, "b": 512}, {"op": "relu"}, ...],
     "weights_b64": "<base64 of N little-endian float32>"}

Offsets (``"w"``, ``"b"``) count float32 *elements* into the flat buffer, not bytes.
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

Only ``export_decoder`` needs torch, and imports it lazily: pages can load payloads and use
``decode_exported_numpy`` without torch.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = "vae-decoder/1"


class ExportError(ValueError):
    """The decoder uses a layer (or layer option) the browser decoder cannot run.

    Pages catch it and fall back to decoding on the server when the user releases a slider.
    """


@dataclass(frozen=True)
class DecoderExport:
    """An exported decoder: ``layers`` (JSON-able dicts) + ``weights`` (little-endian float32).

    ``output_shape`` is ``(C, H, W)`` of one decoded image; ``latent_dim`` is D of ``z (D,)``.
    ``id`` is a content hash of layers + weights: the browser caches parsed models by it.
    """

    layers: list[dict[str, Any]]
    weights: bytes = field(repr=False)
    latent_dim: int
    output_shape: tuple[int, int, int]
    id: str = ""

    def __post_init__(self) -> None:
        if len(self.weights) % 4:
            raise ExportError("weights must be a whole number of float32 values")
        if not self.id:
            object.__setattr__(self, "id", _content_id(self.layers, self.weights))

    @property
    def n_floats(self) -> int:
        return len(self.weights) // 4

    def weights_array(self) -> np.ndarray:
        """The flat buffer as a read-only float32 array ``(n_floats,)`` (no copy)."""
        return np.frombuffer(self.weights, dtype="<f4")

    def weights_b64(self) -> str:
        """Base64 of the raw float32 bytes: the form JSON can carry to the browser."""
        return base64.b64encode(self.weights).decode("ascii")

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON-able dict for the browser (see the module docstring for the format).

        Size: about 4/3 * 4 bytes per parameter (base64 of float32), e.g. ~2.9 MB for the
        default MNIST MLP decoder (2 -> 256 -> 512 -> 784, 534,544 parameters).
        """
        return {
            "format": FORMAT,
            "id": self.id,
            "latent_dim": self.latent_dim,
            "output_shape": list(self.output_shape),
            "n_floats": self.n_floats,
            "layers": self.layers,
            "weights_b64": self.weights_b64(),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DecoderExport:
        """Inverse of ``to_payload`` (validates the format tag and the buffer size)."""
        if payload.get("format") != FORMAT:
            raise ExportError(f"not a {FORMAT} payload: format={payload.get('format')!r}")
        if "weights_b64" not in payload:
            raise ExportError("payload has no weights_b64 (was it stripped for the browser cache?)")
        weights = base64.b64decode(payload["weights_b64"])
        if len(weights) != 4 * int(payload["n_floats"]):
            raise ExportError("weights_b64 does not hold n_floats float32 values")
        out = cls(
            layers=[dict(layer) for layer in payload["layers"]],
            weights=weights,
            latent_dim=int(payload["latent_dim"]),
            output_shape=tuple(int(v) for v in payload["output_shape"]),  # type: ignore[arg-type]
        )
        if payload.get("id") and payload["id"] != out.id:
            raise ExportError("payload id does not match its content")
        return out


def _content_id(layers: list[dict[str, Any]], weights: bytes) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps(layers, sort_keys=True).encode())
    h.update(weights)
    return h.hexdigest()


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
    from torch import nn

    from vae.core.model import Crop2d

    return (
        nn.Linear,
        nn.ReLU,
        nn.Tanh,
        nn.Sigmoid,
        nn.ELU,
        nn.LeakyReLU,
        nn.Identity,
        nn.Dropout,
        nn.Unflatten,
        nn.Flatten,
        nn.Conv2d,
        nn.ConvTranspose2d,
        Crop2d,
    )


def _unsupported(name: str, m: Any) -> ExportError:
    names = ", ".join(t.__name__ for t in _supported_types())
    return ExportError(
        f"decoder layer {name} ({type(m).__name__}) is not supported by the browser decoder; "
        f"supported: {names}"
    )


def _export_layer(
    name: str, m: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...], pack: _Packer
) -> dict[str, Any] | None:
    """One module -> one layer dict (``None`` for no-ops); raises ExportError if unsupported."""
    from torch import nn

    from vae.core.model import Crop2d

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise ExportError(f"decoder layer {name} ({type(m).__name__}): {what}")

    base = {"in_shape": list(in_shape), "out_shape": list(out_shape)}
    # Exact type checks: a subclass may override forward() with something we'd silently get wrong.
    t = type(m)
    if t is nn.Linear:
        need(len(in_shape) == 1, f"expects a vector input, got shape {in_shape}")
        return {
            "op": "linear",
            "in": m.in_features,
            "out": m.out_features,
            "w": pack.add(m.weight),
            "b": pack.add(m.bias),
            **base,
        }
    if t is nn.ReLU:
        return {"op": "relu", **base}
    if t is nn.Tanh:
        return {"op": "tanh", **base}
    if t is nn.Sigmoid:
        return {"op": "sigmoid", **base}
    if t is nn.ELU:
        return {"op": "elu", "alpha": float(m.alpha), **base}
    if t is nn.LeakyReLU:
        return {"op": "leaky_relu", "slope": float(m.negative_slope), **base}
    if t in (nn.Identity, nn.Dropout):
        # Dropout is the identity at inference time, which is all the browser ever does.
        return None
    if t is nn.Unflatten:
        need(
            len(in_shape) == 1 and len(out_shape) == 3,
            f"only (B, N) -> (B, C, H, W) is supported, got {in_shape} -> {out_shape}",
        )
        return {"op": "unflatten", "shape": list(out_shape), **base}
    if t is nn.Flatten:
        need(len(out_shape) == 1, f"only flattening to (B, N) is supported, got {out_shape}")
        if len(in_shape) == 1:
            return None
        need(len(in_shape) == 3, f"expects (B, C, H, W) input, got {in_shape}")
        return {"op": "flatten", **base}
    if t in (nn.Conv2d, nn.ConvTranspose2d):
        transposed = t is nn.ConvTranspose2d
        need(len(in_shape) == 3, f"expects (B, C, H, W) input, got {in_shape}")
        need(m.groups == 1, "groups != 1 is not supported")
        need(tuple(m.dilation) == (1, 1), "dilation != 1 is not supported")
        need(m.padding_mode == "zeros", f"padding_mode {m.padding_mode!r} is not supported")
        padding = m.padding
        if isinstance(padding, str):
            # 'valid' is 0; 'same' (stride 1 only) is symmetric only for odd kernels.
            need(
                padding == "valid" or all(k % 2 == 1 for k in m.kernel_size),
                "padding='same' with an even kernel is not supported",
            )
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
            **base,
        }
        if transposed:
            layer["output_padding"] = _pair(m.output_padding)
        return layer
    if t is Crop2d:
        need(len(in_shape) == 3, f"expects (B, C, H, W) input, got {in_shape}")
        return {"op": "crop2d", "height": int(m.height), "width": int(m.width), **base}
    raise _unsupported(name, m)


def export_decoder(model: Any, *, latent_dim: int | None = None) -> DecoderExport:
    """Walk ``model.decoder`` (or ``model`` itself if it is the decoder) and export it.

    ``model``: a ``vae.core.model.VAE`` (uses ``.decoder`` and ``.latent_dim``) or any decoder
    ``nn.Module`` built from the supported layer types (then pass ``latent_dim``).
    Shapes are found by pushing a ``(1, D)`` zero latent through each layer in turn, so the
    exported shapes are exactly what PyTorch computes. Raises ``ExportError`` for unsupported
    layers, before anything is sent to a browser.
    """
    torch = _torch()
    supported = _supported_types()
    decoder = getattr(model, "decoder", model)
    d = latent_dim if latent_dim is not None else getattr(model, "latent_dim", None)
    if d is None:
        raise ExportError("latent_dim is unknown: pass latent_dim= for a bare decoder module")
    pack = _Packer()
    layers: list[dict[str, Any]] = []
    was_training = decoder.training
    decoder.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(1, int(d))
            for name, m in _flat_modules(decoder):
                # Type check first: an unsupported layer must raise ExportError even when
                # its forward would fail on our probe input.
                if type(m) not in supported:
                    raise _unsupported(name, m)
                try:
                    y = m(x)
                except Exception as err:
                    raise ExportError(
                        f"decoder layer {name} ({type(m).__name__}) failed on "
                        f"input of shape {tuple(x.shape)}: {err}"
                    ) from err
                layer = _export_layer(name, m, tuple(x.shape[1:]), tuple(y.shape[1:]), pack)
                if layer is not None:
                    layers.append(layer)
                x = y
    finally:
        decoder.train(was_training)
    if x.dim() != 4:
        raise ExportError(f"decoder must output (B, C, H, W) logits, got shape {tuple(x.shape)}")
    return DecoderExport(
        layers=layers,
        weights=pack.to_bytes(),
        latent_dim=int(d),
        output_shape=tuple(int(v) for v in x.shape[1:]),  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------------------------
# Reference decoder in numpy: reads only the exported format, never the torch module.
# ---------------------------------------------------------------------------------------------


def _conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: list[int],
    padding: list[int],
    out_hw: list[int],
) -> np.ndarray:
    """``x (B, Ci, H, W)``, ``w (Co, Ci, kh, kw)`` -> ``(B, Co, H', W')`` by summing over taps."""
    (sh, sw), (ph, pw), (ho, wo) = stride, padding, out_hw
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((x.shape[0], w.shape[0], ho, wo), dtype=np.float64)
    for ky in range(w.shape[2]):
        for kx in range(w.shape[3]):
            patch = xp[:, :, ky : ky + sh * (ho - 1) + 1 : sh, kx : kx + sw * (wo - 1) + 1 : sw]
            out += np.einsum("oc,bchw->bohw", w[:, :, ky, kx], patch)
    if b is not None:
        out += b[None, :, None, None]
    return out


def _conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: list[int],
    padding: list[int],
    out_hw: list[int],
) -> np.ndarray:
    """``x (B, Ci, H, W)``, ``w (Ci, Co, kh, kw)`` -> ``(B, Co, H', W')``.

    Scatter form: input pixel (iy, ix) adds ``w[:, :, ky, kx]`` at full-map position
    (iy * s + ky, ix * s + kx); the output is that full map with ``padding`` cut off each side.
    """
    (sh, sw), (ph, pw), (ho, wo) = stride, padding, out_hw
    bsz, _, hi, wi = x.shape
    kh, kw = w.shape[2], w.shape[3]
    # Big enough for the taps and for output_padding rows/cols past the last tap.
    full = np.zeros(
        (bsz, w.shape[1], max((hi - 1) * sh + kh, ph + ho), max((wi - 1) * sw + kw, pw + wo)),
        dtype=np.float64,
    )
    for ky in range(kh):
        for kx in range(kw):
            full[:, :, ky : ky + sh * (hi - 1) + 1 : sh, kx : kx + sw * (wi - 1) + 1 : sw] += (
                np.einsum("co,bchw->bohw", w[:, :, ky, kx], x)
            )
    out = full[:, :, ph : ph + ho, pw : pw + wo]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def decode_exported_numpy(export: DecoderExport | Mapping[str, Any], z: np.ndarray) -> np.ndarray:
    """``sigmoid(decoder(z))`` from the exported format alone, in float64 numpy.

    ``z``: ``(D,)`` or ``(B, D)``. Returns float32 images ``(C, H, W)`` or ``(B, C, H, W)``
    in [0, 1]. ``export`` may also be a payload dict (``to_payload()`` output).
    """
    if not isinstance(export, DecoderExport):
        export = DecoderExport.from_payload(export)
    flat = export.weights_array().astype(np.float64)
    z = np.asarray(z, dtype=np.float64)
    single = z.ndim == 1
    x = z[None] if single else z
    if x.ndim != 2 or x.shape[1] != export.latent_dim:
        raise ValueError(f"z must be (D,) or (B, D) with D={export.latent_dim}, got {z.shape}")

    def take(off: int | None, shape: tuple[int, ...]) -> np.ndarray | None:
        if off is None:
            return None
        n = int(np.prod(shape))
        return flat[off : off + n].reshape(shape)

    for layer in export.layers:
        op = layer["op"]
        if op == "linear":
            w = take(layer["w"], (layer["out"], layer["in"]))
            b = take(layer["b"], (layer["out"],))
            x = x @ w.T + (0.0 if b is None else b)
        elif op == "relu":
            x = np.maximum(x, 0.0)
        elif op == "tanh":
            x = np.tanh(x)
        elif op == "sigmoid":
            x = np.exp(-np.logaddexp(0.0, -x))
        elif op == "elu":
            x = np.where(x > 0, x, layer["alpha"] * np.expm1(np.minimum(x, 0.0)))
        elif op == "leaky_relu":
            x = np.where(x >= 0, x, layer["slope"] * x)
        elif op == "unflatten":
            x = x.reshape((x.shape[0], *layer["shape"]))
        elif op == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif op in ("conv2d", "conv_transpose2d"):
            ci, co = layer["in_ch"], layer["out_ch"]
            kh, kw = layer["kernel"]
            wshape = (co, ci, kh, kw) if op == "conv2d" else (ci, co, kh, kw)
            w = take(layer["w"], wshape)
            b = take(layer["b"], (co,))
            fn = _conv2d if op == "conv2d" else _conv_transpose2d
            x = fn(x, w, b, layer["stride"], layer["padding"], layer["out_hw"])
        elif op == "crop2d":
            x = x[:, :, : layer["height"], : layer["width"]]
        else:
            raise ExportError(f"unknown op {op!r} in exported decoder")
        if tuple(x.shape[1:]) != tuple(layer["out_shape"]):
            raise ExportError(f"{op}: got shape {x.shape[1:]}, export says {layer['out_shape']}")
    # sigmoid as exp(-softplus(-x)): no overflow warning for very negative logits.
    img = np.exp(-np.logaddexp(0.0, -x)).astype(np.float32)
    return img[0] if single else img


def export_payload(model: Any) -> dict[str, Any]:
    """``export_decoder(model).to_payload()``: what the live-decoder components take."""
    return export_decoder(model).to_payload()
