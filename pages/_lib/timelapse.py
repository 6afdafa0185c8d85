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


TITLES = ("Latent map: posterior means of the same test images", "Manifold (grid over t₁, t₂)",
          "Samples: the same prior codes", "Test ELBO (nats)", "Test KL (nats)")  # fmt: skip
# (row, col) of the map, manifold, samples, ELBO and KL panels: beside each other on wide
# screens, the map above the rest on phones.
WIDE = ((1, 1), (1, 2), (1, 3), (2, 2), (2, 3))
STACKED = ((1, 1), (2, 1), (2, 2), (3, 1), (3, 2))


def _grid(stacked: bool) -> go.Figure:
    if stacked:
        return make_subplots(
            rows=3, cols=2, specs=[[{"colspan": 2}, None], [{}, {}], [{}, {}]], row_heights=[0.5, 0.25, 0.25],
            vertical_spacing=0.08, horizontal_spacing=0.14,
            subplot_titles=("Latent map: the same test images", "Manifold", "Same prior codes", "Test ELBO", "Test KL"),
        )  # fmt: skip
    return make_subplots(
        rows=2, cols=3, specs=[[{"rowspan": 2}, {}, {}], [None, {}, {}]], column_widths=[0.5, 0.25, 0.25],
        horizontal_spacing=0.06, vertical_spacing=0.14, subplot_titles=TITLES,
    )  # fmt: skip


def figure(
    p: Player, names: Sequence[str], curve: Sequence[tuple[int, float, float]], stacked: bool = False
) -> go.Figure:
    """The animated figure. ``curve``: ``(epoch, test ELBO, test KL)`` for every epoch trained;
    ``stacked``: the narrow layout (phones)."""
    fig = _grid(stacked)
    at = STACKED if stacked else WIDE
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
        fig.add_trace(tr, *at[0])
    fig.add_trace(go.Image(source=p.manifold[last], hoverinfo="skip"), *at[1])
    fig.add_trace(go.Image(source=p.prior[last], hoverinfo="skip"), *at[2])
    ep = [c[0] for c in curve]
    line = {"mode": "lines", "line": {"color": "#444", "width": 1.5}, "showlegend": False}
    fig.add_trace(go.Scatter(x=ep, y=[c[1] for c in curve], hovertemplate="epoch %{x}: ELBO %{y:.2f}<extra></extra>", **line), *at[3])
    fig.add_trace(go.Scatter(x=ep, y=[c[2] for c in curve], hovertemplate="epoch %{x}: KL %{y:.2f}<extra></extra>", **line), *at[4])
    elbo_mark, kl_mark = marks(last)
    fig.add_trace(elbo_mark, *at[3])
    fig.add_trace(kl_mark, *at[4])
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
        height=1000 if stacked else 640, margin={"l": 40, "r": 10, "t": 40, "b": 10}, legend={"itemsizing": "constant"},
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
    for row, col in at[1:3]:
        fig.update_xaxes(visible=False, row=row, col=col)
        fig.update_yaxes(visible=False, row=row, col=col)
    for row, col in at[3:]:
        fig.update_xaxes(title_text="epoch", type="log" if ep and max(ep) > 30 else "linear", row=row, col=col)
    if stacked:
        # The slider across the whole width, the buttons below it (they covered its start).
        fig.update_layout(
            legend={"orientation": "h", "yanchor": "bottom", "y": 1.03, "x": 0}, margin={"l": 30, "r": 5, "t": 90, "b": 70}
        )
        fig.layout.sliders[0].update(x=0.0, len=1.0)
        fig.layout.updatemenus[0].update(pad={"t": 125, "r": 10})
    return fig


@st.cache_resource(show_spinner=False, max_entries=8)
def _figure(key: str, _p: Player, names: tuple[str, ...], curve: tuple, stacked: bool) -> go.Figure:
    """``figure`` once per model file: building a dozen frames' plotly objects takes about a
    second (validation); Streamlit only serialises a ready figure (never mutated here)."""
    return figure(_p, names, curve, stacked)


def _phone() -> bool:
    """A phone's browser (its user agent says Mobile): start with the stacked layout."""
    try:
        return "Mobile" in (st.context.headers.get("User-Agent") or "")
    except Exception:  # no request headers (AppTest, a bare script run)
        return False


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
    stacked = st.toggle("Stacked layout (for phones)", value=_phone(), key=f"tl_stacked:{live}")
    st.plotly_chart(
        _figure(key, p, tuple(names), tuple(curve), stacked), key=f"timelapse-{key}",
        config={"displayModeBar": False}, width="stretch",
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
