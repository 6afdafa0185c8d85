"""The Your image page's two charts, redrawn on every upload: where the image's ELBO falls among
the test images' (a histogram) and where its posterior mean lands among theirs (a map).

Both are built from plain dicts with Plotly's per-property validation off (``_validate=False``,
Plotly's own switch for this): for the map's 11 traces it took ~8 ms of the server's CPU per
upload, against ~1.5 ms without, and every upload in a class of 100 pays it.
``tests/test_landing.py`` builds each figure again *with* validation, so a misspelt property
still fails a test. Coordinates travel as float32 (half the bytes of float64, far finer than a
screen pixel) and the histogram as its 60 bars rather than its 5,000 values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from pages._lib.display import PALETTE, plot_text
from pages._lib.lecture_ui import ACCENT

BINS = 60


def _figure(data: list[dict], layout: dict) -> go.Figure:
    return go.Figure(data=data, layout=layout, _validate=False)


def elbo_histogram(test_elbo: np.ndarray, elbo: float, label: str) -> go.Figure:
    """Bars: how many of ``test_elbo (N,)`` fall in each of ``BINS`` equal bins; a line and
    ``label`` at ``elbo`` (the range widens to include it)."""
    lo, hi = float(min(test_elbo.min(), elbo)), float(max(test_elbo.max(), elbo))
    counts, edges = np.histogram(test_elbo, bins=BINS, range=(lo, hi if hi > lo else lo + 1))
    bar = {
        "type": "bar", "x": ((edges[:-1] + edges[1:]) / 2).astype(np.float32), "y": counts.astype(np.int32),
        "width": float(edges[1] - edges[0]), "marker": {"color": "#94a3b8"}, "name": "test images",
        "customdata": np.stack([edges[:-1], edges[1:]], axis=1).astype(np.float32),
        "hovertemplate": "ELBO %{customdata[0]:.1f} to %{customdata[1]:.1f}: %{y} test images<extra></extra>",
    }  # fmt: skip
    layout = {
        "height": 210, "margin": {"l": 10, "r": 10, "t": 28, "b": 10}, "showlegend": False,
        "font": {"size": 15}, "bargap": 0.02, "yaxis": {"visible": False},
        "xaxis": {"title": {"text": f"ELBO of {len(test_elbo):,} test images (nats; higher = cheaper to encode)"}},
        "shapes": [{"type": "line", "xref": "x", "yref": "paper", "x0": elbo, "x1": elbo, "y0": 0, "y1": 1,
                    "line": {"color": ACCENT, "width": 4}}],
        "annotations": [{"x": elbo, "y": 1, "yref": "paper", "text": label, "showarrow": False,
                         "yanchor": "bottom", "font": {"size": 16, "color": ACCENT}}],
    }  # fmt: skip
    return _figure([bar], layout)


def landing_map(
    xy: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    star: np.ndarray,
    star_name: str,
    axes: tuple[str, str],
    equal_aspect: bool,
) -> go.Figure:
    """One marker trace per class of the test points ``xy (N, 2)`` (``labels (N,)``, colours
    as on every map) and a gold star at ``star (2,)``; ``equal_aspect`` keeps a latent plane's
    true shape."""
    data = []
    for k, name in enumerate(label_names):
        mask = labels == k
        if mask.any():
            data.append({
                "type": "scattergl", "x": xy[mask, 0].astype(np.float32), "y": xy[mask, 1].astype(np.float32),
                "mode": "markers", "name": plot_text(name),
                "marker": {"size": 6, "opacity": 0.6, "color": PALETTE[k % len(PALETTE)]},
                "hovertemplate": f"{plot_text(name)}<extra></extra>",
            })  # fmt: skip
    # The star in the points' WebGL layer, drawn after them: as an SVG trace it sat under the
    # WebGL canvas, and on a phone the grey 7s hid it.
    data.append({
        "type": "scattergl", "x": [float(star[0])], "y": [float(star[1])], "mode": "markers", "name": star_name,
        "marker": {"symbol": "star", "size": 24, "color": "gold", "line": {"color": "black", "width": 2}},
    })  # fmt: skip
    # The legend sits under the map: at its right it took a third of a phone's width, and the
    # 2-D plane, kept square, shrank to a strip. "constrain": "domain" keeps that square by
    # narrowing the plot rather than padding the range with empty space (seen at 390x844).
    square = {"constrain": "domain"} if equal_aspect else {}
    layout = {
        "height": 520, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "legend": {"itemsizing": "constant", "orientation": "h", "x": 0, "y": -0.16, "yanchor": "top"},
        "xaxis": {"title": {"text": axes[0]}, **square},
        "yaxis": {"title": {"text": axes[1]}, **square, **({"scaleanchor": "x", "scaleratio": 1} if equal_aspect else {})},
    }  # fmt: skip
    return _figure(data, layout)
