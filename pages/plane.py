"""2-D latent plane: a slice through latent space with the encoded test images on it. Moving
the pointer decodes live in the browser (``pages/_lib/live_decoder.py``); a click pins a point,
which comes back here and is decoded again on the server, for comparison.

Without a browser-exportable decoder, the same slice is explored with two native sliders and
a plotly map, decoding on the server.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._lib import display, models, share, state, testset
from pages._lib.live_decoder import latent_plane
from vae.app import inference

# The Latent map page's palette, so a label has the same colour on both pages.
PALETTE = display.PALETTE
# Points drawn: the clusters are plain with far fewer, and each point is JSON sent per rerun.
MAX_POINTS = 3000
EXTENTS = [2, 3, 4, 5]
BASES = {
    "zero": "0, the prior mean",
    "test": "the mean of a test image",
    "sliders": "the Latent sliders vector",
}
PLANE_PX = 480  # fits beside the decoded image at 1400 px wide, with the sidebar open
IMAGE_PX = 240


def fmt(v: float) -> str:
    return f"{v:+.2f}".replace("-", "−")


st.title("2-D latent plane")
cur = models.require_model()
d = cur.config.latent_dim
st.markdown(
    "Every point of this square is a latent vector t: move your pointer over it and the decoder "
    "draws that t **live, in your browser**; **click** to pin one. Dots are test images at their "
    "encoder means, coloured by label; dashed circles are the prior N(0, I) at 1 and 2 standard "
    "deviations."
    + (f" This model has {d} latent dimensions: pick two to move along; the others stay fixed." if d > 2 else "")
)  # fmt: skip
if d < 2:
    st.info(
        f"**{display.text(cur.name)}** has a 1-D latent space: there is no plane. Try the Latent sliders page."
    )
    st.stop()

split = testset.test_split(cur, stop=False)
order, kl = testset.dims_by_activity(split, d)
payload, export_error = models.decoder_payload(cur)
ss = st.session_state
url_pin_key = f"pl_urlpin:{cur.name}"
link = share.take(cur)  # a shared link's axes and pinned latent, on its first run
axes = link.get("axes") or (order[:2] if d > 2 else [0, 1])
if d > 2 and "axes" in link:
    ss[f"pl_x:{cur.name}"], ss[f"pl_y:{cur.name}"] = axes
if "pin" in link:
    ss[url_pin_key] = {"z": link["pin"], "axes": axes}
    if d > 2:  # the slice through the pinned latent: its axes, the others at its values
        ss[f"pl_x:{cur.name}"], ss[f"pl_y:{cur.name}"] = axes
        ss[f"pl_base:{cur.name}"] = "sliders"
        state.remember_latent(cur, link["pin"])
from_sliders = state.shared_latent(cur)
clears_key = f"pl_clears:{cur.name}"


def _clear_pin() -> None:
    ss[clears_key] = ss.get(clears_key, 0) + 1  # part of the plane's nonce: a new one unpins


def _two_d_twin(cur: models.Current) -> str | None:
    """A usable 2-D VAE of the same dataset (bundled first), for the one-click switch."""
    fits = [
        e for e in models.model_entries()
        if e.ok and e.header.dataset == cur.dataset and e.header.model_config.latent_dim == 2
        and e.header.model_config.variant == "vae"
    ]  # fmt: skip
    fits.sort(key=lambda e: not e.bundled)
    return fits[0].name if fits else None


def _dim_name(i: int) -> str:
    return display.t_name(i) if kl is None else f"{display.t_name(i)}  ·  KL {kl[i]:.1f} nats"


# --------------------------------------------------------------------------- controls
test_i = 0
if d > 2:
    c_x, c_y, c_base, c_test, c_ext = st.columns(
        [1.1, 1.1, 1.4, 1, 1.3], gap="small", vertical_alignment="bottom"
    )
    # The two most used dimensions by default: they have the most to show.
    dx = c_x.selectbox(
        "Horizontal axis", order, index=0, format_func=_dim_name, key=f"pl_x:{cur.name}"
    )
    dy = c_y.selectbox(
        "Vertical axis", order, index=1, format_func=_dim_name, key=f"pl_y:{cur.name}"
    )
    bases = [
        k
        for k in BASES
        if (k != "test" or split is not None) and (k != "sliders" or from_sliders is not None)
    ]
    base_kind = c_base.selectbox(
        "Other dimensions fixed at", bases, format_func=BASES.get, key=f"pl_base:{cur.name}"
    )
    if base_kind == "test":
        n = len(split.labels)
        test_i = int(
            c_test.number_input(f"Test image # (0-{n - 1})", 0, n - 1, 0, key=f"pl_test:{cur.name}")
        )
else:
    c_ext, _ = st.columns([1.3, 4])
    dx, dy, base_kind = 0, 1, "zero"
extent = c_ext.segmented_control(
    "Plane extent (prior SD)", EXTENTS, default=3, required=True, key="pl_extent",
    format_func=lambda v: f"±{v}", help="Each axis spans ± this many prior standard deviations.",
)  # fmt: skip
if testset.posterior_collapsed(kl):
    st.info(
        "This model's decoder ignores its latent vector (every dimension's KL is about 0, a "
        "*posterior collapse*): the test images all sit at the centre and the image barely "
        "changes across the plane.",
        icon=":material/info:",
    )
if dx == dy:
    st.warning("Pick two different dimensions for the two axes.")
    st.stop()

if base_kind == "test":
    base = split.mu[test_i].astype(np.float64)
elif base_kind == "sliders":
    base = from_sliders.astype(np.float64)
else:
    base = np.zeros(d)
base_text = {
    "test": f"the mean of test image #{test_i}",
    "zero": "0",
    "sliders": "the Latent sliders vector",
}[base_kind]

if d > 2:
    twin = _two_d_twin(cur)
    note, switch = st.columns([4, 1.2], vertical_alignment="center")
    note.info(
        f"**A slice, not the whole space.** This model has {d} latent dimensions: the plane moves "
        f"{display.t_name(dx)} and {display.t_name(dy)}"
        + (" (the two it uses most)" if [dx, dy] == order[:2] else "")
        + f" and holds the other {d - 2} at {base_text}. The dots show only these two "
        "coordinates of each test image, so a dot's label need not match the image decoded "
        "under it. "
        + (
            f"On a 2-D model such as **{display.text(twin)}** the plane *is* the whole latent space: every "
            "dot sits where its image decodes."
            if twin else "On a 2-D model the plane *is* the whole latent space."
        ),
        icon=":material/layers:",
    )  # fmt: skip
    if twin and switch.button(f"Use {display.text(twin)} (2-D) here", icon=":material/swap_horiz:", key="pl_twin", width="stretch"):
        models.select_model(twin)
        st.rerun()

if split is not None:
    pts = split.mu[:MAX_POINTS][:, [dx, dy]]
    point_labels = split.labels[:MAX_POINTS]
    names = list(split.label_names)
else:
    pts, point_labels, names = np.zeros((0, 2)), None, []
colors = [PALETTE[k % len(PALETTE)] for k in range(len(names))]

# --------------------------------------------------------------------------- the plane
if payload is not None:
    # A new slice (axes, fixed values) or "Clear the pin" starts without a pin.
    nonce = json.dumps([dx, dy, base_kind, test_i, ss.get(clears_key, 0)])
    url_pin = ss.get(url_pin_key)
    if url_pin and (url_pin["axes"] != [dx, dy] or (d > 2 and base_kind != "sliders") or ss.get(clears_key)):
        url_pin = ss[url_pin_key] = None  # the user moved on from the link's slice
    pinned = latent_plane(
        payload, points_xy=pts, point_labels=point_labels, label_colors=colors,
        label_names=names, dims=(dx, dy), base_latent=base, extent=float(extent), nonce=nonce,
        pin_xy=[url_pin["z"][dx], url_pin["z"][dy]] if url_pin else None,
        plane_px=PLANE_PX, image_px=IMAGE_PX, key=f"pl_live:{cur.name}",
    )  # fmt: skip
    if split is not None and len(split.labels) > MAX_POINTS:
        st.caption(
            f"Showing the first {MAX_POINTS:,} of {len(split.labels):,} encoded test images."
        )
else:
    st.warning(
        "This model's decoder cannot run in your browser, so the plane is explored with two "
        f"sliders and decoded on the server when you release them. ({export_error})",
        icon=":material/cloud:",
    )
    r = float(extent)
    nonce_base = f"{dx}:{dy}:{base_kind}:{test_i}"  # a new slice starts at its base values
    map_col, ctl_col = st.columns([3, 2], gap="large")
    with ctl_col:  # one slider per axis, starting at the base clipped to the extent
        x, y = (
            st.slider(
                display.t_name(dim),
                -r,
                r,
                float(np.clip(base[dim], -r, r)),
                0.01,
                key=f"pl_fb{axis}:{cur.name}:{nonce_base}",
            )
            for dim, axis in ((dx, "x"), (dy, "y"))
        )
    pinned = base.copy()
    pinned[[dx, dy]] = x, y
    fig = go.Figure()
    for k, name in enumerate(names):
        m = point_labels == k
        if m.any():
            fig.add_trace(go.Scattergl(
                x=pts[m, 0], y=pts[m, 1], mode="markers", name=name, hoverinfo="skip",
                marker={"size": 5, "color": colors[k], "opacity": 0.75},
            ))  # fmt: skip
    for s in (1, 2):
        cx, cy = display.ellipse((0, 0), (1, 1), s)
        fig.add_trace(go.Scatter(
            x=cx, y=cy, mode="lines", name=f"prior {s} SD",
            line={"color": "#31333f", "dash": "dash", "width": 1.5}, hoverinfo="skip",
        ))  # fmt: skip
    fig.add_trace(go.Scatter(
        x=[x], y=[y], mode="markers", name="t", marker={"size": 16, "color": "#4f46e5", "line": {"color": "white", "width": 2}},
    ))  # fmt: skip
    fig.update_layout(
        height=PLANE_PX, width=PLANE_PX + 140, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"range": [-r, r], "title": display.t_name(dx)},
        yaxis={"range": [-r, r], "title": display.t_name(dy), "scaleanchor": "x"},
        font={"size": 15}, legend={"itemsizing": "constant"},
    )  # fmt: skip
    with map_col:
        st.plotly_chart(fig, config={"displayModeBar": False}, key=f"pl_fbmap:{cur.name}")

share.publish(cur, pin=pinned, axes=[dx, dy] if d > 2 else None)

# --------------------------------------------------------------------------- the pinned point
if pinned is None:
    st.caption(
        "Click the plane to pin a point (or focus it and use the arrow keys, then Enter): the "
        "pinned latent comes back to Python and is decoded again on the server, for comparison."
    )
    st.stop()

pinned = np.asarray(pinned, dtype=np.float64)
# Everything slow first, then the elements: the heading and its images arrive together.
server_image = inference.decode(cur.model, pinned[None])[0]
near = None
if split is not None:
    # The test image whose mean is closest to the pinned latent, in all D dimensions.
    near = int(np.argmin(((split.mu - pinned) ** 2).sum(axis=1)))
    dist = float(np.sqrt(((split.mu[near] - pinned) ** 2).sum()))
where = f"{display.t_name(dx)} = {fmt(pinned[dx])}, {display.t_name(dy)} = {fmt(pinned[dy])}"
st.subheader(
    f"Pinned at t = ({', '.join(fmt(v) for v in pinned)})" if d == 2 else f"Pinned at {where}",
    divider="gray",
)
c_img, c_near, c_text = st.columns([1, 1, 2.2], gap="medium")
with c_img:
    display.show_image(server_image, "decoded on the server (PyTorch)", width=180)
if near is not None:
    with c_near:
        display.show_image(
            split.images[near].astype(np.float32) / 255.0,
            f"nearest test image: #{near} ({display.text(split.label_names[split.labels[near]])}), {dist:.2f} away",
            width=180,
        )  # fmt: skip
with c_text:
    if d > 2:
        st.markdown(f"The other {d - 2} dimensions are fixed at {base_text}. The full vector:")
    else:
        st.markdown(
            "The server decodes the same latent with PyTorch: it should match the browser's image."
        )
    st.code("t = [" + ", ".join(f"{v:+.3f}" for v in pinned) + "]", language=None, wrap_lines=True)
    b1, b2 = st.columns(2)
    b1.button(
        "Clear the pin", icon=":material/close:", key="pl_clear", width="stretch",
        on_click=_clear_pin,
    )  # fmt: skip
    if b2.button(
        "Open in Latent sliders",
        icon=":material/tune:",
        key="pl_to_sliders",
        width="stretch",
    ):
        state.remember_latent(cur, pinned)
        # st.switch_page does not carry the sidebar's widget values: re-select this model.
        models.select_model(cur.name)
        st.switch_page("pages/sliders.py")
