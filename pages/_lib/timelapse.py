"""The time-lapse player: how a model's latent space formed while it trained.

One plotly figure with frames, so play, pause and scrubbing run in the browser (no Streamlit
rerun): the latent map of a fixed set of test images (each dot keeps its place in its class's
trace, so one can follow a digit), the manifold and prior samples decoded at that epoch, and
the test ELBO and KL curves with a marker at the epoch shown. Data: ``vae.app.timelapse``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages._lib.display import PALETTE, plot_text, text
from vae.app.timelapse import Player, build_player
from vae.core.snapshots import Snapshots
from vae.data.registry import DATASETS

FRAME_MS = 900


@st.cache_data(show_spinner="Preparing the time-lapse…", max_entries=8)
def player(key: str, _snaps: Snapshots) -> Player:
    """The model's player, built once per model file (``key``) or live snapshot count."""
    return build_player(_snaps)


def label_names(dataset: str, meta: dict, n: int) -> list[str]:
    """Class names for the legend: the dataset's, a user dataset's stored ones, or numbers."""
    if dataset in DATASETS:
        return list(DATASETS[dataset].label_names)
    stored = (meta.get("test_set") or {}).get("label_names")
    return [str(v) for v in stored] if stored else [str(i) for i in range(n)]


def _range(values: np.ndarray) -> list[float]:
    """Fixed axis range over every frame (robust to a few far points), so motion is motion."""
    lo, hi = np.percentile(values, [0.5, 99.5])
    pad = 0.08 * (hi - lo or 1.0)
    return [float(lo - pad), float(hi + pad)]


def figure(p: Player, names: Sequence[str], curve: Sequence[tuple[int, float, float]], height: int = 640) -> go.Figure:
    """The animated figure. ``curve``: ``(epoch, test ELBO, test KL)`` for every epoch trained."""
    fig = make_subplots(
        rows=2, cols=3, specs=[[{"rowspan": 2}, {}, {}], [None, {}, {}]],
        column_widths=[0.5, 0.25, 0.25], horizontal_spacing=0.06, vertical_spacing=0.14,
        subplot_titles=("Latent map: posterior means of the same test images", "Manifold (grid over t₁, t₂)",
                        "Samples: the same prior codes", "Test ELBO (nats)", "Test KL (nats)"),
    )  # fmt: skip
    classes = [int(c) for c in np.unique(p.labels)]
    masks = [p.labels == c for c in classes]

    def points(k: int) -> list[go.Scatter]:
        return [
            go.Scatter(
                x=p.xy[k, m, 0], y=p.xy[k, m, 1], mode="markers", customdata=p.indices[m],
                marker={"size": 4, "color": PALETTE[c % len(PALETTE)], "opacity": 0.75},
                name=plot_text(names[c] if c < len(names) else c), legendgroup=str(c),
                hovertemplate="test image %{customdata}<extra>%{fullData.name}</extra>",
            )  # fmt: skip
            for c, m in zip(classes, masks, strict=True)
        ]

    def marks(k: int) -> list[go.Scatter]:
        s = p.stats[k]
        style = {"mode": "markers", "marker": {"size": 11, "color": "#d62728"}, "showlegend": False}
        return [
            go.Scatter(x=[p.epochs[k]], y=[s.get("test_elbo")], hovertemplate="epoch %{x}: ELBO %{y:.2f}<extra></extra>", **style),
            go.Scatter(x=[p.epochs[k]], y=[s.get("test_kl")], hovertemplate="epoch %{x}: KL %{y:.2f}<extra></extra>", **style),
        ]  # fmt: skip

    last = len(p.epochs) - 1
    for tr in points(last):
        fig.add_trace(tr, row=1, col=1)
    fig.add_trace(go.Image(source=p.manifold[last], hoverinfo="skip"), row=1, col=2)
    fig.add_trace(go.Image(source=p.prior[last], hoverinfo="skip"), row=1, col=3)
    ep = [c[0] for c in curve]
    line = {"mode": "lines", "line": {"color": "#444", "width": 1.5}, "showlegend": False}
    fig.add_trace(go.Scatter(x=ep, y=[c[1] for c in curve], hovertemplate="epoch %{x}: ELBO %{y:.2f}<extra></extra>", **line), row=2, col=2)
    fig.add_trace(go.Scatter(x=ep, y=[c[2] for c in curve], hovertemplate="epoch %{x}: KL %{y:.2f}<extra></extra>", **line), row=2, col=3)
    elbo_mark, kl_mark = marks(last)
    fig.add_trace(elbo_mark, row=2, col=2)
    fig.add_trace(kl_mark, row=2, col=3)
    n = len(classes)
    animated = [*range(n), n, n + 1, n + 4, n + 5]  # points, manifold, prior, the two markers
    fig.frames = [
        go.Frame(
            name=str(e), traces=animated,
            data=[*points(k), go.Image(source=p.manifold[k]), go.Image(source=p.prior[k]), *marks(k)],
        )  # fmt: skip
        for k, e in enumerate(p.epochs)
    ]
    step_args = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}
    fig.update_layout(
        height=height, margin={"l": 40, "r": 10, "t": 40, "b": 10}, legend={"itemsizing": "constant"},
        sliders=[{
            "active": last, "currentvalue": {"prefix": "Epoch "}, "pad": {"t": 50, "b": 0}, "len": 0.8, "x": 0.2,
            "steps": [{"label": str(e), "method": "animate", "args": [[str(e)], step_args]} for e in p.epochs],
        }],
        updatemenus=[{
            "type": "buttons", "direction": "left", "x": 0.0, "y": 0, "yanchor": "top", "xanchor": "left",
            "pad": {"t": 80, "r": 10}, "showactive": False,
            "buttons": [
                {"label": "▶ Play", "method": "animate", "args": [None, {
                    "mode": "immediate", "fromcurrent": True, "frame": {"duration": FRAME_MS, "redraw": True},
                    "transition": {"duration": 0}}]},
                {"label": "❚❚ Pause", "method": "animate", "args": [[None], {
                    "mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}]},
            ],
        }],
    )  # fmt: skip
    fig.update_xaxes(range=_range(p.xy[..., 0]), title_text=p.axis_names[0], row=1, col=1)
    fig.update_yaxes(range=_range(p.xy[..., 1]), title_text=p.axis_names[1], row=1, col=1)
    for col in (2, 3):
        fig.update_xaxes(visible=False, row=1, col=col)
        fig.update_yaxes(visible=False, row=1, col=col)
        fig.update_xaxes(title_text="epoch", type="log" if ep and max(ep) > 30 else "linear", row=2, col=col)
    return fig


@st.cache_resource(show_spinner=False, max_entries=8)
def _figure(key: str, _p: Player, names: tuple[str, ...], curve: tuple) -> go.Figure:
    """``figure`` once per model file: building a dozen frames' plotly objects takes about a
    second (validation); Streamlit only serialises a ready figure (never mutated here)."""
    return figure(_p, names, curve)


def history_curve(history: Sequence) -> list[tuple[int, float, float]]:
    """``(epoch, test ELBO, test KL)`` from a checkpoint's history (dicts) or ``EpochStats``."""
    rows = []
    for h in history:
        get = h.get if isinstance(h, dict) else lambda k, _h=h: getattr(_h, k, None)
        if get("epoch") is not None and get("test_elbo") is not None:
            rows.append((int(get("epoch")), float(get("test_elbo")), float(get("test_kl") or 0.0)))
    return rows


def show(
    key: str, snaps: Snapshots, *, dataset: str, meta: dict, history: Sequence, live: bool = False
) -> None:
    """Render the player for ``snaps`` (``key``: the model file's identity, or a live job's id
    and snapshot count), with its caption."""
    p = player(key, snaps)
    names = label_names(dataset, meta, int(p.labels.max()) + 1 if len(p.labels) else 0)
    curve = history_curve(history) or [(s["epoch"], s.get("test_elbo"), s.get("test_kl")) for s in p.stats]
    st.plotly_chart(
        _figure(key, p, tuple(names), tuple(curve)), key=f"timelapse-{key}", config={"displayModeBar": False},
        width="stretch",
    )  # fmt: skip
    epochs = ", ".join(str(e) for e in p.epochs)
    st.caption(
        f"{'So far: ' if live else ''}{len(p.epochs)} snapshots, at epochs {epochs}. Each dot is the "
        f"posterior mean of one of the same {len(p.labels):,} test images at that epoch, on fixed axes: "
        f"{text(p.projection)}. Press ▶ Play or drag the slider (this runs in your browser). The manifold "
        "and samples are decoded by the model of the same epoch; the red dots mark the epoch on the curves."
    )


def show_job(job) -> None:  # noqa: ANN001 (a vae.app.jobs.TrainingJob)
    """A training job's time-lapse so far (the Train page), with a heading."""
    snap = job.snapshot()
    st.markdown("**Watch it learn: the latent space, snapshot by snapshot**")
    if snap.snapshots is None:
        st.caption("The first snapshot appears when epoch 1 ends (then at epochs 2, 3, 5, 8, 13, … and the last).")
        return
    s = snap.snapshots
    show(
        f"{job.id}:{len(s)}", s, dataset=job.dataset_name, meta={}, history=snap.history,
        live=not snap.finished,
    )  # fmt: skip
