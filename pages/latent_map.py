"""Latent map: where the test images land in latent space, and one of them through the model.

Each dot is the posterior mean m(x) of a test image. Click a dot (or type its number) to see
the image, its reconstruction and its whole posterior q(t|x) = N(m, diag(s^2)).
"""

from __future__ import annotations

import time
import zlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, map_3d, map_selection, models, testset
from vae.app import inference, projection

PALETTE = display.PALETTE
METHODS = {
    "lda": "LDA (separates the classes)",
    "pca": "PCA (largest spread, no labels)",
    "tsne": "t-SNE (keeps neighbours)",
    "3d": "3-D (rotate it)",
}
AXES = {"latent": ("t₁", "t₂"), "lda": ("LD 1", "LD 2"), "pca": ("PC 1", "PC 2"), "tsne": ("t-SNE 1", "t-SNE 2")}
Q = 1.6449  # Phi^-1(0.95): the manifold grid spans the prior's 5%..95% quantiles


@st.cache_data(show_spinner=False, max_entries=16)
def _project(key: str, method: str, sample: int, _mu: np.ndarray, _labels: np.ndarray) -> projection.Projection:
    return projection.project(_mu, _labels, method, seed=0, max_points=sample)


@st.cache_data(show_spinner=False, max_entries=16)
def _sha256(key: str, path: str) -> str:
    return projection.file_sha256(path)


def _view(cur: models.Current, method: str, split: testset.TestSplit) -> tuple[projection.Projection, str]:
    """The map's projection and how it was made (for the caption). t-SNE: the file shipped
    beside a bundled checkpoint when it matches, else computed here once per model file."""
    if method == "tsne":
        path = projection.tsne_path(cur.path)
        if path.exists():
            found = projection.load_tsne(path, _sha256(cur.key, str(cur.path)), len(split.labels))
            if found is not None:
                every = "all" if len(found.rows) == len(split.labels) else f"{len(found.rows):,} of the"
                return found, f"precomputed for this model over {every} {len(split.labels):,} points"
        n = min(projection.TSNE_SAMPLE, len(split.labels))
        with st.spinner(
            f"Running t-SNE on {n:,} test images: about a minute on a small server, once per "
            "model (bundled models ship theirs precomputed)…"
        ):  # fmt: skip
            t0 = time.perf_counter()
            proj = _project(cur.key, method, n, split.mu, split.labels)
        took = time.perf_counter() - t0
        how = f"computed on this server on a random sample of {len(proj.rows):,} of {len(split.labels):,}"
        return proj, how + (f" ({took:.0f} s)" if took > 1 else "")
    return _project(cur.key, method, 0, split.mu, split.labels), ""


@st.cache_data(show_spinner="Decoding the manifold…", max_entries=8)
def _manifold(key: str, _model, n: int) -> np.ndarray:
    images, _ = inference.manifold(_model, n=n)
    return images.reshape(-1, *images.shape[2:])


def _clicked(state, rows_by_trace: list[np.ndarray]) -> int | None:
    """The test index of the clicked point in the chart's selection state, if any. The point's
    own trace and index decide (its customdata is the same number, written by us)."""
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in points or []:
        curve, i = p.get("curve_number"), p.get("point_index", p.get("point_number"))
        if curve is not None and i is not None and curve < len(rows_by_trace) and 0 <= i < len(rows_by_trace[curve]):
            return int(rows_by_trace[curve][i])
        if p.get("customdata") is not None:
            cd = p["customdata"]
            return int(cd[0] if isinstance(cd, list | tuple) else cd)
    return None


def _caption(method: str, d: int, k: int, how: str) -> str:
    """What the map's axes are, honestly: a student will read distances off it."""
    if method == "latent":
        return "The latent space is 2-D, so this is the model's own plane: no projection."
    if method == "lda":
        return (
            f"**LDA** (linear discriminant analysis): of all flat 2-D views of the {d}-D means, "
            f"the one that best separates the {k} labelled classes. It uses the labels, so the "
            "classes look more apart than a label-blind view shows; LD 1 and LD 2 mix all "
            f"{d} dimensions and have no unit."
        )
    if method == "pca":
        return (
            f"**PCA**: the flat 2-D view of the {d}-D means with the largest spread, made without "
            f"the labels. A shadow of a {d}-D cloud: classes that are apart in {d}-D can overlap here."
        )
    return (
        f"**t-SNE** ({how}): a non-linear map that keeps each point's nearest neighbours, not "
        "distances: clusters are real, but their sizes and the gaps between them mean little."
    )


@st.cache_resource(show_spinner=False, max_entries=16)
def _map_figure(
    key: str, method: str, n_rows: int, d: int, _proj: projection.Projection, _labels: np.ndarray,
    _label_names: tuple[str, ...],
) -> tuple[go.Figure, list[np.ndarray]]:
    """The map's figure, one trace per label (the legend names and toggles classes), and the
    test rows of each trace's points. Built once per model file and view and SHARED: never
    mutate it. One object every run means one spec, so the browser keeps the chart mounted
    (Streamlit remounts a chart whose spec changed: ~1 s per 5,000 SVG points here)."""
    xy, rows = _proj.xy, _proj.rows
    labels = _labels[rows]
    traces, rows_by_trace = [], []
    for k, label_name in enumerate(_label_names):
        mask = labels == k
        if not mask.any():
            continue
        rows_by_trace.append(rows[mask])
        name = display.plot_text(label_name)
        traces.append(go.Scatter(
            x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=name, customdata=rows[mask],
            marker={"size": 7 if len(rows) <= 1000 else 5, "color": PALETTE[k % len(PALETTE)], "opacity": 0.8},
            hovertemplate=f"<b>{name}</b><br>test image #%{{customdata}}<extra></extra>",
            # The clicked point: large and black (the inspector below names it).
            selected={"marker": {"size": 13, "color": "black", "opacity": 1}},
            unselected={"marker": {"opacity": 0.8}},
        ))  # fmt: skip
    fig = go.Figure(traces)
    if d == 2:  # the region the manifold grid beside the map covers
        fig.add_shape(
            type="rect", x0=-Q, y0=-Q, x1=Q, y1=Q, line={"color": "#888", "dash": "dash", "width": 1},
            layer="below",
        )  # fmt: skip
    x_title, y_title = AXES[method]
    if d == 1:
        y_title = "(a 1-D latent: no second axis)"
    fig.update_layout(
        height=620, margin={"l": 10, "r": 10, "t": 40, "b": 10}, clickmode="event+select",
        xaxis_title=x_title, yaxis_title=y_title, font_size=14, hoverlabel={"font_size": 15},
        legend={"itemsizing": "constant", "orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
        datarevision=zlib.crc32(f"{key}:{method}".encode()),  # same data: Plotly.react skips recomputing it
    )  # fmt: skip
    if d == 2:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)  # a circle in latent space looks round
    return fig, rows_by_trace


def _where_figure(
    split: testset.TestSplit, proj: projection.Projection, sel: int, std: np.ndarray | None, d: int, method: str,
) -> go.Figure:
    """The selected image's neighbourhood on the map, zoomed: its star, for a 2-D latent the
    contours of q(t|x) (standard deviations ``std (2,)``), and the test points around it. Small, so it is cheap to redraw per pick."""
    where = np.flatnonzero(proj.rows == sel)
    # Outside a t-SNE sample the star still shows, placed by its neighbours (and says so).
    star = proj.xy[where[0]] if where.size else proj.place(split.mu[sel][None], split.mu)[0]
    span = np.ptp(proj.xy, axis=0).max() if len(proj.xy) else 1.0
    half = 0.12 * span
    has_posterior = d == 2 and std is not None
    if has_posterior:
        half = max(half, 2.4 * float(np.max(std)))
    near = np.all(np.abs(proj.xy - star) <= half, axis=1)
    fig = go.Figure()
    for k, label_name in enumerate(split.label_names):
        m = near & (split.labels[proj.rows] == k)
        if m.any():
            fig.add_trace(go.Scatter(
                x=proj.xy[m, 0], y=proj.xy[m, 1], mode="markers", name=display.plot_text(label_name),
                marker={"size": 7, "color": PALETTE[k % len(PALETTE)], "opacity": 0.7}, hoverinfo="skip",
                showlegend=False,
            ))  # fmt: skip
    if has_posterior:
        for k, dash in ((2, "dot"), (1, "solid")):
            ex, ey = display.ellipse(star, std, k)
            fig.add_trace(go.Scatter(
                x=ex, y=ey, mode="lines", line={"color": "black", "width": 2, "dash": dash},
                name=f"q(t|x): {k} s.d.", hoverinfo="skip",
            ))  # fmt: skip
    star_name = f"#{sel} ({display.plot_text(split.label_names[split.labels[sel]])})"
    if not where.size:
        star_name += f": not in the sample, placed by its {projection.NEIGHBOURS} nearest neighbours"
    fig.add_trace(go.Scatter(
        x=[star[0]], y=[star[1]], mode="markers", name=star_name,
        marker={"symbol": "star", "size": 20, "color": "gold", "line": {"color": "black", "width": 1.5}},
        hoverinfo="skip",
    ))  # fmt: skip
    x_title, y_title = AXES[method]
    fig.update_layout(
        height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, font_size=13,
        title={"text": "where it sits on the map (zoomed in)", "font_size": 13},
        xaxis={"title": x_title, "range": [star[0] - half, star[0] + half]},
        yaxis={"title": y_title if d != 1 else "", "range": [star[1] - half, star[1] + half]},
        legend={"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0},  # below the axis title
    )  # fmt: skip
    if d == 2:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


@st.fragment
def _map_and_inspector(
    cur: models.Current, method: str, split: testset.TestSplit, proj: projection.Projection,
    fig: go.Figure, rows_by_trace: list[np.ndarray], map_col, view_3d: bool = False,
) -> None:
    """The map (drawn into ``map_col``), the picker and the selected image through the model."""
    d, n = cur.config.latent_dim, len(split.labels)
    pick_key = f"map_pick:{cur.name}"
    seen_key = f"map_clicked:{cur.name}:{method}"
    gen_key = f"map_gen:{cur.name}:{method}"
    st.session_state.setdefault(pick_key, 0)
    # A number typed in clears the chart's selection (a new chart key: Plotly keeps no state
    # across it), so the black highlight never marks another image than the inspector's.
    gen = st.session_state.get(gen_key, 0)
    chart_key = f"map_chart:{cur.name}:{method}" + (f":{gen}" if gen else "")

    # A click on the chart (a new one since the last run) wins over the number input.
    state = st.session_state.get(chart_key)
    clicked = None if map_selection.is_region(state) else _clicked(state, rows_by_trace)
    if clicked is not None and clicked != st.session_state.get(seen_key):
        st.session_state[seen_key] = clicked
        st.session_state[pick_key] = clicked
    with map_col:
        if view_3d:
            map_3d.show(cur, split, int(st.session_state[pick_key]), f"{chart_key}:3d")
        else:
            drag = map_selection.drag_mode(f"map_drag:{cur.name}")
            st.plotly_chart(
                map_selection.figure_for(fig, f"{cur.key}:{method}:{len(proj.rows)}", drag), key=chart_key,
                on_select="rerun", selection_mode=map_selection.SELECTION_MODES, config={"displayModeBar": False},
            )  # fmt: skip
    if not view_3d:
        map_selection.panel(cur, split, state, rows_by_trace)

    def typed() -> None:
        st.session_state[gen_key] = gen + 1
        st.session_state.pop(seen_key, None)

    pick_col, _ = st.columns([1, 3])
    sel = int(pick_col.number_input(
        f"…or pick test image # (0-{n - 1})", 0, n - 1, step=1, key=pick_key, on_change=typed,
    ))  # fmt: skip

    # The selected image through the model (the shared model is only read).
    x = split.images[sel].astype(np.float32) / 255.0
    rec = inference.reconstruct(cur.model, x, n_samples=8, seed=sel)
    # A plain autoencoder has no posterior spread (t = m): its encoder's variance is never trained.
    has_posterior = cur.config.variant != "ae"

    st.subheader(f"Test image #{sel}: {display.text(split.label_names[split.labels[sel]])}", divider="gray")
    c1, c2, c3, c4 = st.columns([1, 1, 2, 3], gap="medium")
    with c1:
        display.show_grid(x[None], 1, "the image x", width="stretch")
    with c2:
        display.show_grid(rec.recon[None], 1, "reconstruction decode(m)", width="stretch")
    with c3:
        display.show_grid(rec.samples, ncols=4, caption="decode(t), t ~ q(t|x): 8 samples", width="stretch")
        st.caption(f"ELBO ≈ {rec.elbo:.1f} nats · KL(q ‖ p) = {rec.kl:.2f} nats")
        if not has_posterior:
            st.caption("A plain autoencoder: t = m exactly, so these samples use an untrained spread.")
    with c4:
        st.plotly_chart(
            _where_figure(split, proj, sel, rec.std if has_posterior else None, d, method),
            config={"displayModeBar": False}, key=f"map_where:{cur.name}",
        )  # fmt: skip
        dims = [display.t_name(i) for i in range(d)]
        bar = go.Figure(go.Bar(
            x=dims, y=rec.mu, error_y={"type": "data", "array": rec.std, "thickness": 1.5, "width": 4, "visible": has_posterior},
            marker_color="#4f46e5", name="m ± s", hovertemplate="%{x}: m = %{y:.2f}<extra></extra>",
        ))  # fmt: skip
        bar.add_hrect(y0=-1, y1=1, fillcolor="#f97316", opacity=0.12, line_width=0)
        bar.update_layout(  # a two-line title: Plotly titles never wrap (cut on a phone)
            height=260, margin={"l": 10, "r": 10, "t": 50, "b": 10},
            title={"text": "posterior q(t|x): mean m ± s.d. s per dimension<br>(shaded: the prior's ±1)", "font_size": 13},
        )  # fmt: skip
        st.plotly_chart(bar, config={"displayModeBar": False}, key=f"map_posterior:{cur.name}")
        with st.expander("as a table"):  # markdown: no data-grid code to load for a few rows
            st.markdown(display.markdown_table(
                ["dimension", "mean m", "s.d. s"], [[t, f"{m:.3f}", f"{s:.3f}"] for t, m, s in zip(dims, rec.mu, rec.std, strict=True)],
            ))  # fmt: skip


st.title("Latent map")
cur = models.require_model()
if cur.checkpoint.snapshots is not None:  # stored while it trained: see how this map formed
    st.page_link("pages/timelapse.py", label="Watch it learn: this map forming, epoch by epoch", icon=":material/slow_motion_video:")
split = testset.test_split(cur)
d = cur.config.latent_dim
n = len(split.labels)

views = projection.available(d, len(split.label_names))
if map_3d.offered(d):  # first for a 3-D latent: its own axes, nothing projected
    views = ("3d", *views) if d == 3 else (*views, "3d")
method = views[0]
if len(views) > 1:
    method = st.radio(
        f"The latent space has {d} dimensions: show it with",
        views, format_func=METHODS.get, horizontal=True, key="map_method",
    )  # fmt: skip
view_3d = method == "3d"
if view_3d:
    method = "pca"  # the inspector's zoomed 2-D chart
proj, how = _view(cur, method, split)
st.caption(
    f"{len(proj.rows):,} test images of **{display.text(cur.dataset)}**, each at its posterior mean m(x), coloured by "
    "label. Click a point, or pick one by number below, to look at it through the model. "
    + ("" if view_3d else _caption(method, d, len(split.label_names), how))
)

# The map and the inspector rerun on their own (a fragment): a click re-sends the inspector, not
# the page, and the map's figure is the same object every run, so Streamlit keeps the chart
# mounted instead of redrawing 5,000 points (bench/latent_map.py: a click took 2.6-3.3 s before).
if d == 2:
    map_col, grid_col = st.columns([3, 2], gap="medium")
    with grid_col:
        st.markdown("**What the decoder draws across the latent plane**")
        # Tiny 8x8 digits read better on a coarser grid, with a thin line between tiles.
        small = max(cur.config.image_shape[1:]) <= 12
        n_grid = 10 if small else 15
        display.show_grid(_manifold(cur.key, cur.model, n_grid), ncols=n_grid, width="stretch", pad=int(small))
        st.caption(
            f"decode(t) on a {n_grid}x{n_grid} grid of t₁, t₂ from −1.64 to 1.64 (the prior's "
            "5%-95% quantiles): the dashed square on the map. Top right = large t₁ and t₂."
        )
else:
    map_col = st.container()
fig, rows_by_trace = _map_figure(cur.key, method, len(proj.rows), d, proj, split.labels, split.label_names)
_map_and_inspector(cur, method, split, proj, fig, rows_by_trace, map_col, view_3d)
