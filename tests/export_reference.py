"""A reference decoder and encoder for the ``vae-model`` export format, in float64 numpy.

It reads only the exported format (``vae.app.export``'s module docstring), never the torch
module, so the tests can hold both the export (against PyTorch) and the browser decoder
(``pages/_lib/live``) to a second, independent implementation of the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vae.app.export import DecoderExport, ExportError


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
    z = np.asarray(z, dtype=np.float64)
    single = z.ndim == 1
    x = z[None] if single else z
    if x.ndim != 2 or x.shape[1] != export.latent_dim:
        raise ValueError(f"z must be (D,) or (B, D) with D={export.latent_dim}, got {z.shape}")
    x = _run(export.layers, export.weights_array().astype(np.float64), x)
    # sigmoid as exp(-softplus(-x)): no overflow warning for very negative logits.
    img = np.exp(-np.logaddexp(0.0, -x)).astype(np.float32)
    return img[0] if single else img


def encode_exported_numpy(
    export: DecoderExport | Mapping[str, Any], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``model.encode(x)`` from the exported ``encoder`` alone: ``x (B, C, H, W)`` in [0, 1]
    -> float64 ``mu, logvar`` each ``(B, D)``."""
    if not isinstance(export, DecoderExport):
        export = DecoderExport.from_payload(export)
    if export.encoder is None:
        raise ExportError("this export has no encoder")
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1:] != tuple(export.encoder["input_shape"]):
        raise ValueError(f"x must be (B, *{export.encoder['input_shape']}), got {x.shape}")
    out = _run(export.encoder["layers"], export.weights_array().astype(np.float64), x)
    d = export.latent_dim
    if out.shape != (x.shape[0], 2 * d):
        raise ExportError(f"encoder output {out.shape}, expected (B, {2 * d})")
    return out[:, :d], out[:, d:]


def _run(layers: list[dict[str, Any]], flat: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Apply exported ``layers`` (weights in ``flat``) to a batch ``x``."""

    def take(off: int | None, shape: tuple[int, ...]) -> np.ndarray | None:
        if off is None:
            return None
        n = int(np.prod(shape))
        return flat[off : off + n].reshape(shape)

    for layer in layers:
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
    return x
