"""Latent arithmetic: an attribute vector v = mean(m | B) - mean(m | A) added to a start code
(t = m + α v, α dragged live in the browser), a strip of α values, analogies a - b + c, how far
each result sits from the prior, and the nearest training images of a result.
Maths in ``vae/app/arithmetic.py``."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._lib import display, groups, models, nearest, state, testset
from pages._lib import lecture_ui as ui
from pages._lib.live_direction import latent_direction
from vae.app import arithmetic as ar
from vae.app import inference

IMAGE_PX = 256
SEED_KEY = "ar:seed"

st.title("Latent arithmetic")
st.markdown(
    "Average the codes of two groups of images and subtract: the difference "
    "**v = mean(m | B) − mean(m | A)** is a direction in latent space that turns A's look into "
    "B's (a 1 into a 7, thin into bold, a straight face into a smile). Add α·v to any code and "
    "decode: **t = m + α v**."
)

cur = models.require_model()
split = testset.test_split(cur)
payload, export_error = models.decoder_payload(cur)
ss = st.session_state


def _place_text(p: ar.PriorPlace) -> str:
    return f"log N(t; 0, I) = {p.log_density:.1f} nats, percentile {p.percentile:.0f} of the test codes"


def _prior_note(places: list[ar.PriorPlace]) -> None:
    lo, mid, hi = places[0].typical
    st.caption(
        f"**How far from the prior?** The test images' means have log N(m; 0, I) between {lo:.1f} "
        f"and {hi:.1f} nats (5th to 95th percentile, median {mid:.1f}). A result below all but "
        f"{ar.FAR_PERCENTILE:g}% of them has left the region the decoder was trained on: expect a "
        "blurry or strange image there. The % under each image of the strip is that percentile: "
        "the share of test images' means less likely under the prior than its code."
    )


# --------------------------------------------------------------------------- the direction
options = groups.choices(cur, split)
if len(options) < 2:
    st.info(
        "This dataset has no classes to compare. Make two selections on the **Latent map** "
        "(lasso or box, then *Save as group A* / *B*) and come back.",
        icon=":material/gesture_select:",
    )
    st.page_link("pages/latent_map.py", label="Open the Latent map", icon=":material/scatter_plot:")
    st.stop()
labels = [g.label for g in options]
ca, cb = st.columns(2, gap="large")
# Select-box options are plain text (no Markdown), so names from files need no escaping.
a_label = ca.selectbox("Group A (from)", labels, index=0, key="ar:a")
b_label = cb.selectbox("Group B (to)", labels, index=min(1, len(labels) - 1), key="ar:b")
group_a = options[labels.index(a_label)]
group_b = options[labels.index(b_label)]
if a_label == b_label:
    st.warning("Pick two different groups: the same group twice gives v = 0.")
v = ar.attribute_vector(split.mu, group_a.rows, group_b.rows)
mean_a = ar.group_mean(split.mu, group_a.rows)
mean_b = ar.group_mean(split.mu, group_b.rows)
means_img = inference.decode(cur.model, np.stack([mean_a, mean_b]))
g1, g2, g3 = st.columns([1, 1, 3], gap="medium", vertical_alignment="center")
with g1:
    display.show_image(means_img[0], "decode(mean of A)", width=120)
with g2:
    display.show_image(means_img[1], "decode(mean of B)", width=120)
with g3:
    st.latex(r"v = \bar m_B - \bar m_A,\qquad \lVert v\rVert = " + f"{np.linalg.norm(v):.2f}")
    st.caption(
        f"Both means over this model's encoded test images ({len(group_a.rows)} in A, "
        f"{len(group_b.rows)} in B). ‖v‖ is in prior standard deviations: a typical code "
        f"is about √D = {np.sqrt(len(v)):.1f} from the origin."
    )

# --------------------------------------------------------------------------- the start
st.subheader("Apply it to a start code", divider="gray")
sources = ["a test image", "a prior sample"]
upload = ss.get(state.LAST_UPLOAD_KEY)
if upload is not None and np.shape(upload) == tuple(cur.config.image_shape):
    sources.insert(1, "your last upload")
s1, s2 = st.columns([2, 1], gap="large", vertical_alignment="bottom")
source = s1.segmented_control("Start from", sources, default=sources[0], required=True, key="ar:source")
if source == "a test image":
    n_test = len(split.labels)
    i = int(s2.number_input(f"test image # (0-{n_test - 1})", 0, n_test - 1, 0, key="ar:start"))
    start, start_name = split.mu[i].astype(np.float64), f"test image #{i}"
elif source == "your last upload":
    mu, _ = inference.encode(cur.model, np.asarray(upload, np.float32)[None])
    start, start_name = mu[0].astype(np.float64), "your upload"
else:
    seed = int(s2.number_input("prior sample seed", 0, 10**6, 0, key=SEED_KEY))
    start = np.random.default_rng(seed).standard_normal(len(v))
    start_name = f"prior sample (seed {seed})"

if payload is not None:
    alpha = latent_direction(
        payload, base=start, direction=v, alpha=0.0, alpha_range=3.0, image_px=IMAGE_PX,
        title=f"t = m + α v, from {start_name}: drag α", key=f"ar_live:{cur.name}",
    )  # fmt: skip
else:
    st.warning(
        f"This model's decoder cannot run in your browser: α is decoded on release. ({export_error})",
        icon=":material/cloud:",
    )
    alpha = float(st.slider("α", -3.0, 3.0, 0.0, 0.05, key="ar:alpha_fb"))
    display.show_image(inference.decode(cur.model, ar.walk(start, v, [alpha]))[0], width=IMAGE_PX)

strip_t = ar.walk(start, v, ar.STRIP_ALPHAS)
strip_places = ar.prior_place(strip_t, split.mu)
ui.strip(
    inference.decode(cur.model, strip_t),
    [f"α = {a:+.1f} · {p.percentile:.0f}%" + (" · far out" if p.far else "")
     for a, p in zip(ar.STRIP_ALPHAS, strip_places, strict=True)],
    width=96,
)  # fmt: skip
t_alpha = ar.walk(start, v, [alpha])[0]
here = ar.prior_place(t_alpha, split.mu)[0]
st.markdown(f"At the released **α = {alpha:+.2f}**: {_place_text(here)}.")
if here.far:
    st.warning("This code is far outside where the test images' codes live.", icon=":material/warning:")
_prior_note(strip_places)
if st.toggle("Is it new? Show the nearest training images of t", value=True, key="ar:nn"):
    nearest.show_neighbours(cur, inference.decode(cur.model, t_alpha[None])[0], t_alpha, caption=f"α = {alpha:+.2f}")

# --------------------------------------------------------------------------- analogies
st.subheader("Analogies: t = a − b + c", divider="gray")
st.markdown(
    "Take image **a**, remove what **b** has and add what **c** has: with a = a bold 3, b = a "
    "thin 3 and c = a thin 8, the result is a bold 8, if the latent space is regular enough."
)
n_test = len(split.labels)
picks = st.columns(3, gap="medium")
codes = []
for col, name, default in zip(picks, "abc", (0, 1, 2), strict=True):
    with col:
        j = int(st.number_input(f"{name}: test image #", 0, n_test - 1, default, key=f"ar:an_{name}"))
        display.show_image(
            split.images[j].astype(np.float32) / 255.0,
            f"{name} = #{j} ({display.text(split.label_names[split.labels[j]])})", width=96,
        )  # fmt: skip
        codes.append(split.mu[j])
t_an = ar.analogy(*codes)
an_place = ar.prior_place(t_an, split.mu)[0]
r1, r2 = st.columns([1, 3], gap="medium", vertical_alignment="center")
with r1:
    display.show_image(inference.decode(cur.model, t_an[None])[0], "decode(a − b + c)", width=140)
with r2:
    st.latex(r"t = m_a - m_b + m_c")
    st.markdown(_place_text(an_place) + ".")
    if an_place.far:
        st.warning("The analogy's code is far outside the test codes: the decoder is guessing.", icon=":material/warning:")
if st.toggle("Nearest training images of the analogy", key="ar:an_nn"):
    nearest.show_neighbours(cur, inference.decode(cur.model, t_an[None])[0], t_an, caption="a − b + c")
