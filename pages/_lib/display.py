"""Display helpers every page uses: crisp images and grids, latent names, and the boundary
that turns a user's mistake into a message instead of a traceback."""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import streamlit as st

from vae.data.display import to_display
from vae.data.registry import DatasetUnavailable

# One colour per class label on every page's maps (plotly's default palette), so a digit has
# the same colour everywhere.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


# Markdown punctuation that acts anywhere in a line: CommonMark's backslash makes each one
# literal, which disarms links, images, emphasis, code, math ($), emoji and colour directives
# (:), tables, strike-through and HTML. '-', '+', '=', '.' act only at the start of a line
# (lists, headings): escaped there only, so ordinary names read the same in tests and logs.
# '_' inside a word (digits_2d) never emphasises, so only one at a word's edge is escaped.
_MD_INLINE = re.compile(r"([\\`*\[\]()<>!#$:|~{}&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_MD_LINE_START = re.compile(r"^(\d*)([-+=.])")
# Bare URLs and e-mail addresses are linked after escapes are resolved (GFM autolink
# literals, seen in a browser): an invisible word joiner before '@', ':' and the dot of
# "www." stops ``www.x``, ``https://x`` and ``a@b.c`` from matching.
_AUTOLINK = re.compile(r"(?i)(www)(?=\.)|(?=[@:])")
MAX_SHOWN_CHARS = 200


def _printable(value: object) -> str:
    """``value`` as one short line: control, format (bidi) and line-break characters become
    spaces, so a name cannot start a heading or a list or reorder the text around it."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def text(value: object) -> str:
    """A string that came from a file (checkpoint name or metadata, class or folder name) made
    literal for every Streamlit element that renders Markdown: ``st.markdown``/``caption``/
    ``subheader``/``info``/``error``, widget labels, ``st.metric`` values, image captions and
    radio options. Never a link, an image, HTML or a request to another server."""
    line = _AUTOLINK.sub(lambda m: (m.group(1) or "") + "\u2060", _printable(value))
    return _MD_LINE_START.sub(r"\1\\\2", _MD_INLINE.sub(r"\\\1", line))


def plot_text(value: object) -> str:
    """A string from a file made literal for Plotly (trace names, titles, hover text): Plotly
    reads a subset of HTML (``<a href>``) and ``%{...}`` placeholders, so both are escaped
    as character entities (Plotly turns them back into the characters)."""
    return html.escape(_printable(value), quote=False).replace("%", "&#37;")


def show_image(arr: np.ndarray, caption: str | None = None, width: int = 160) -> None:
    """One (C, H, W) or (H, W) float image, upscaled crisply."""
    scale = max(1, width // max(arr.shape[-2], arr.shape[-1]))
    st.image(to_display(arr, scale), caption=caption, width=width)


def show_grid(
    arr: np.ndarray, ncols: int, caption: str | None = None, width: int | str = "content",
    scale: int | None = None, inline: bool = False, pad: int = 1,
) -> None:
    """Images ``(N, C, H, W)`` in [0, 1] tiled ``ncols`` wide and upscaled crisply (nearest
    neighbour: the browser would blur tiny images). ``scale`` defaults to about 4 px per pixel
    for 28x28 images and more for small ones.

    ``inline=True`` sends the PNG inside the page (a data: URL) instead of as a media file.
    Use it in fragments that rerun every second: Streamlit deletes a run's media files when
    the next run ends, so a slow browser would fetch a file that is already gone (blank image).
    """
    from vae.data.display import tile_images

    grid = tile_images(arr, ncols, pad=pad)
    if scale is None:
        scale = max(2, 112 // max(arr.shape[-2], arr.shape[-1]))
    image = to_display(grid, scale)
    if inline:
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=False)
        image = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    st.image(image, caption=caption, width=width)


def ellipse(mu, std, k: float, n: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """x, y of the contour at ``k`` standard deviations of an axis-aligned 2-D Gaussian with
    mean ``mu (2,)`` and standard deviations ``std (2,)`` (the prior: ``(0, 0), (1, 1)``)."""
    a = np.linspace(0, 2 * np.pi, n)
    return mu[0] + k * std[0] * np.cos(a), mu[1] + k * std[1] * np.sin(a)


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Show errors a user can cause as a clear message; nothing is raised into the page."""
    from vae.core.checkpoints import CheckpointError
    from vae.data.images import UploadError

    handled = kinds or (UploadError, CheckpointError, DatasetUnavailable, ValueError)
    try:
        yield
    except handled as e:
        st.error(str(e))

# Why a Gaussian-likelihood model (Frey faces) can report a positive ELBO: shown beside its numbers.
GAUSSIAN_NOTE = (
    "**Why can the ELBO be positive?** This model's pixels are continuous, with a Gaussian "
    "likelihood: p(x|t) is a *density*, not a probability, and a density can be larger than 1 "
    "(a narrow Gaussian peaks far above 1). So log p(x|t), and the ELBO, can be positive. "
    "Compare ELBOs only between models of the same data with the same likelihood."
)

_SUBSCRIPT_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A small Markdown table, cells made literal with ``text`` (which escapes ``|`` too): for
    a few rows where ``st.dataframe`` would load its data-grid code (0.5 MB of JavaScript)."""
    lines = ["| " + " | ".join(text(c) for c in cells) + " |" for cells in (header, *rows)]
    return "\n".join([lines[0], "|" + " ---: |" * len(header), *lines[1:]])


def t_name(dim: int) -> str:
    """The lecture's name for latent dimension ``dim`` (0-based index): ``t₁``, ``t₂``, … ``t₁₀``.

    The lecture writes the latent as t = m + s ⊙ ε and numbers its coordinates from 1; every
    user-visible label uses this (``tName`` in ``pages/_lib/live/ui.js`` is the same in the browser).
    """
    return "t" + str(int(dim) + 1).translate(_SUBSCRIPT_DIGITS)
