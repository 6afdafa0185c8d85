"""Streamlit pieces shared by the six lecture pages (noise, gradients, AE vs VAE, ELBO,
generation, interpolation): the page header with its note for the teacher, the image picker,
cached calls into ``vae.lecture`` and the plot styling that reads well on a projector.

No torch here: every number comes from ``vae.lecture`` / ``vae.app.inference``. Images
arrive as ``(N, C, H, W)`` / ``(C, H, W)`` floats in [0, 1], as everything from ``vae``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, models, state, testset

PALETTE = display.PALETTE
ACCENT = "#4f46e5"  # the theme's primary colour
ORANGE = "#ea580c"
# Test points drawn on the lecture pages' maps: the structure is visible with far fewer
# than the 5000 encoded, and SVG scatter stays responsive.
MAP_POINTS = 1500
# Plot text is sized for the back row of a lecture hall.
FONT_SIZE = 16
CHART_CONFIG = {"displayModeBar": False}


# --------------------------------------------------------------------------- page header


def header(title: str, student: str, teacher: str) -> None:
    """The page title, two or three sentences for a student and a collapsed note for the
    teacher (collapsed: on a projector the class sees the student text, not the script)."""
    st.title(title)
    st.markdown(student)
    with st.expander("For the teacher: how to demo this page", icon=":material/school:"):
        st.markdown(teacher)


def variant_note(cur: models.Current, what: str) -> None:
    """Say when the chosen model is one of the autoencoder twins, whose q(t|x) is not a
    trained posterior."""
    v = cur.config.variant
    if v == "ae":
        st.info(
            f"**{cur.name}** is a plain autoencoder: its code is t = m, with no noise, so "
            f"s is 0 here and {what}. Pick a VAE in the sidebar to see the real thing.",
            icon=":material/info:",
        )
    elif v == "noisy_ae":
        st.info(
            f"**{cur.name}** is an autoencoder trained with noise but without the KL term: "
            f"its s was never pulled towards the prior, so {what}.",
            icon=":material/info:",
        )


def _two_d_model(cur: models.Current) -> str | None:
    """A usable 2-D VAE to suggest: bundled on the same dataset first, then any bundled one,
    then any."""
    found = [e for e in models.model_entries()
             if e.ok and e.header.model_config.latent_dim == 2 and e.header.model_config.variant == "vae"]  # fmt: skip
    found.sort(key=lambda e: (e.header.dataset != cur.dataset, not e.bundled, e.name))
    return found[0].name if found else None


def suggest_2d(cur: models.Current, why: str, page: str) -> None:
    """With a model whose latent space is not 2-D, say what this page shows better in 2-D
    and offer a one-click switch (the model choice is shared by every page)."""
    if cur.config.latent_dim == 2:
        return
    name = _two_d_model(cur)
    if name is None:
        return
    text, button = st.columns([4, 1.2], vertical_alignment="center")
    text.info(f"**{cur.name}** has a {cur.config.latent_dim}-D latent space. {why}", icon=":material/info:")
    # The sidebar's model selectbox is already drawn in this run: queue the choice for the
    # next run (models.select_model) and start it.
    if button.button(f"Use {name} (2-D)", key=f"{page}:use_2d", icon=":material/swap_horiz:", width="stretch"):
        models.select_model(name)
        st.rerun()


def lecture_model(page: str, unfit: str, why_2d: str) -> tuple[models.Current, testset.TestSplit]:
    """The chosen model and its encoded test split, with the notes every lecture page gives:
    ``unfit`` says what goes wrong with an autoencoder twin, ``why_2d`` what 2-D shows better."""
    cur = models.require_model()
    split = testset.test_split(cur)
    variant_note(cur, unfit)
    suggest_2d(cur, why_2d, page)
    return cur, split


# --------------------------------------------------------------------------- numbers


def vec_latex(v: Sequence[float] | np.ndarray, fmt: str = "{:+.2f}", max_rows: int = 6) -> str:
    """A column vector for ``st.latex``; long vectors show their first rows and a ⋮."""
    v = np.asarray(v, dtype=float).reshape(-1)
    rows = [fmt.format(float(a)) for a in v[:max_rows]]
    if v.size > max_rows:
        rows.append(r"\vdots")
    return r"\begin{pmatrix}" + r"\\".join(rows) + r"\end{pmatrix}"


def dim_names(d: int) -> list[str]:
    return [display.t_name(i) for i in range(d)]


# --------------------------------------------------------------------------- images


def grid(images: np.ndarray, ncols: int, caption: str | None = None, scale: int | None = None) -> None:
    """Images ``(N, C, H, W)`` as one crisp tiled picture, as wide as its column."""
    display.show_grid(np.asarray(images), ncols=ncols, caption=caption, width="stretch", scale=scale)


def image(img: np.ndarray, caption: str | None = None, width: int = 150) -> None:
    """One image ``(C, H, W)``."""
    display.show_image(np.asarray(img), caption, width=width)


def strip(images: np.ndarray, captions: Sequence[str] | None = None, width: int = 76) -> None:
    """Images ``(N, C, H, W)`` side by side, one ``st.image`` entry each (upscaled crisply),
    wrapping onto more rows on a narrow screen."""
    from vae.data.display import to_display

    a = np.asarray(images)
    scale = max(1, width // max(a.shape[-2], a.shape[-1]))
    st.image([to_display(im, scale) for im in a], caption=list(captions) if captions else None, width=width)


def image_layer(img: np.ndarray, xref: str = "x2", yref: str = "y2") -> dict:
    """A decoded image ``(C, H, W)`` in [0, 1] as a plotly layout image filling the axes
    ``xref``/``yref`` over [0, W] x [0, H] (y pointing down), for figures that animate it.

    A layout image, not a heatmap trace: plotly.js does not redraw a heatmap that sits in a
    second subplot while an animation plays (the panel stayed empty until the last frame;
    tests/e2e/test_lecture_browser.py), but it does apply each frame's layout."""
    import base64
    import io

    from vae.data.display import to_display

    a = np.asarray(img, dtype=np.float32)
    h, w = a.shape[-2:]
    buf = io.BytesIO()
    # Upscaled with crisp pixels: the browser would blur a 28x28 picture stretched to 300 px.
    to_display(a, max(1, 112 // max(h, w))).save(buf, format="PNG")
    return {
        "source": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"),
        "xref": xref, "yref": yref, "x": 0, "y": 0, "sizex": w, "sizey": h,
        "xanchor": "left", "yanchor": "top", "sizing": "stretch", "layer": "above",
    }  # fmt: skip


# --------------------------------------------------------------------------- plots


def classroom(fig: go.Figure, height: int = 420, **layout) -> go.Figure:
    """Large type, white background, tight margins: legible when projected. ``layout``
    overrides any of these (``legend`` is merged)."""
    legend = {"itemsizing": "constant", "font": {"size": FONT_SIZE - 2}, **layout.pop("legend", {})}
    base = {
        "template": "plotly_white",
        "height": height,
        "font": {"size": FONT_SIZE},
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "hoverlabel": {"font_size": FONT_SIZE},
        "legend": legend,
    }
    fig.update_layout(**{**base, **layout})
    return fig


def plot(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, config=CHART_CONFIG, key=key)


def add_points(
    fig: go.Figure,
    xy: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    *,
    opacity: float = 0.45,
    size: int = 5,
    showlegend: bool = True,
    legendgroup_prefix: str = "",
    **trace_kw,
) -> None:
    """Test means coloured by label, one trace per label (the legend toggles classes);
    at most ``MAP_POINTS`` of them, the first ones (the test split is already shuffled)."""
    xy, labels = xy[:MAP_POINTS], labels[:MAP_POINTS]
    for k, name in enumerate(label_names):
        mask = labels == k
        if not mask.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=display.plot_text(name),
                marker={"size": size, "color": PALETTE[k % len(PALETTE)], "opacity": opacity},
                hovertemplate="%{fullData.name}<extra></extra>", showlegend=showlegend,
                legendgroup=f"{legendgroup_prefix}{name}", **trace_kw,
            )
        )  # fmt: skip


def add_q_ellipses(
    fig: go.Figure, mu: np.ndarray, std: np.ndarray, row: int | None = None, col: int | None = None
) -> None:
    """q(t|x) as its 1 s.d. (solid) and 2 s.d. (dotted) contours, and its mean m."""
    where = {} if row is None else {"row": row, "col": col}
    for k, dash in ((2, "dot"), (1, "solid")):
        ex, ey = display.ellipse(mu, std, k)
        fig.add_trace(
            go.Scatter(
                x=ex, y=ey, mode="lines", name=f"q(t|x): {k}σ",
                line={"color": "black", "width": 2.5, "dash": dash}, hoverinfo="skip",
            ),
            **where,
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=[mu[0]], y=[mu[1]], mode="markers", name="m (the mean)",
            marker={"symbol": "x", "size": 14, "color": "black", "line": {"width": 1}},
            hovertemplate="m = (%{x:.2f}, %{y:.2f})<extra></extra>",
        ),
        **where,
    )  # fmt: skip


# --------------------------------------------------------------------------- cached calls


@st.cache_data(show_spinner=False, max_entries=64)
def _lecture_call(name: str, model_key: str, _fn: Callable, _model, args: tuple, kwargs: dict):
    # ``_fn`` and ``_model`` are not hashed: ``name`` (module and qualified name) identifies the
    # function and ``model_key`` the shared model; the image arrays in ``args`` are hashed,
    # so each image gets its own entry.
    return _fn(_model, *args, **kwargs)


def compute(fn: Callable, model_key: str, model, *args, spinner: str = "Computing…", **kwargs):
    """``fn(model, *args, **kwargs)`` (a ``vae.lecture`` / ``vae.app.inference`` function),
    cached per function, model file and arguments for all sessions. ``model_key`` must change
    when the weights do (``Current.key``)."""
    name = f"{fn.__module__}.{fn.__qualname__}"
    with st.spinner(spinner):
        return _lecture_call(name, model_key, fn, model, tuple(args), dict(kwargs))


# --------------------------------------------------------------------------- image picker


@dataclass(frozen=True, eq=False)
class Picked:
    """The image a lecture page works on: ``x`` float32 ``(C, H, W)`` in [0, 1]."""

    x: np.ndarray
    title: str
    index: int | None  # the test index, None for the upload


def _persist_key(slot: str) -> str:
    return f"lecture_image:{slot}"


def _randomize(widget_key: str, n: int) -> None:
    # A local generator: the random pick never touches global random state.
    st.session_state[widget_key] = int(np.random.default_rng().integers(n))


def pick_image(
    cur: models.Current,
    split: testset.TestSplit,
    *,
    page: str,
    slot: str = "a",
    label: str = "Image",
    default_index: int = 0,
    show: bool = True,
) -> Picked:
    """Pick a test image by number (or at random), or the last upload from "Your image".

    The choice is shared by every lecture page (per ``slot``): the teacher picks a digit once
    and the next page shows the same one. Widget state is dropped when a page is left, so
    the choice lives in a plain session key and seeds each page's widgets.
    """
    n = len(split.labels)
    saved = st.session_state.setdefault(_persist_key(slot), {"source": "test", "index": default_index})
    src_key, idx_key = f"{page}:{slot}:source", f"{page}:{slot}:index"

    upload = st.session_state.get(state.LAST_UPLOAD_KEY)
    upload_ok = isinstance(upload, np.ndarray) and upload.shape == tuple(cur.config.image_shape)
    sources = ["test", "upload"] if upload_ok else ["test"]
    if src_key not in st.session_state or st.session_state[src_key] not in sources:
        st.session_state[src_key] = saved["source"] if saved["source"] in sources else "test"
    # The widget may remember an index from a model with a bigger test set: clamp it first.
    if idx_key not in st.session_state or not 0 <= int(st.session_state[idx_key]) < n:
        st.session_state[idx_key] = min(max(int(saved["index"]), 0), n - 1)

    cols = st.columns([2.2, 1.6, 1.0, 1.0], vertical_alignment="bottom")
    with cols[0]:
        if upload_ok:
            source = st.radio(
                label, sources, key=src_key, horizontal=True,
                format_func={"test": "a test image", "upload": "your last upload"}.get,
            )  # fmt: skip
        else:
            # No usable upload: a one-option radio would only puzzle; say how to get one.
            source = "test"
            st.markdown(f"**{label}**: a test image")
            st.caption("Upload your own on **Your image** to use it here too.")
    if source == "test":
        index = int(cols[1].number_input(f"test image # (0-{n - 1})", 0, n - 1, step=1, key=idx_key, bind="query-params"))
        cols[2].button(
            "Random", key=f"{page}:{slot}:random", icon=":material/shuffle:",
            on_click=_randomize, args=(idx_key, n), width="stretch",
        )  # fmt: skip
        x = split.images[index].astype(np.float32) / 255.0
        name = split.label_names[int(split.labels[index])]
        title = f"test image #{index} ({display.text(name)})"  # Markdown-safe: pages show it in headers
    else:
        index = int(st.session_state[idx_key])
        x = np.asarray(upload, dtype=np.float32)
        title = "your last upload"
        cols[1].caption("The image you uploaded on **Your image**, preprocessed for this model.")
    st.session_state[_persist_key(slot)] = {"source": source, "index": index}
    if show:
        with cols[3]:
            display.show_image(x, None, width=72)
    if not upload_ok and upload is not None:
        st.caption(
            "Your last upload was prepared for a model with another image size; upload it "
            "again on **Your image** with this model to use it here."
        )
    return Picked(x=x, title=title, index=index if source == "test" else None)
