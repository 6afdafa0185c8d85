"""Latent sliders: one slider per latent dimension; the decoder runs in the browser while the
user drags, and Python hears only the released vector (``pages/_lib/live_decoder.py``).

When the model's decoder cannot be exported to the browser, the same controls fall back to
native ``st.slider``s that decode on the server when released.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._lib import display, models, share, state, testset
from pages._lib.live_decoder import latent_sliders
from vae.app import inference

# Dimensions shown open; the rest go under a collapsed "N more dimensions". Up to ALL_OPEN
# dimensions are all shown: collapsing one or two rows would only hide them.
TOP = 8
ALL_OPEN = 10
RANGES = [2, 3, 4]
IMAGE_PX = 300  # the decoded image's longest side on screen: readable from the back row

st.title("Latent sliders")
st.markdown(
    "Every image this VAE can draw comes from a short list of numbers, the **latent vector t**. "
    "Each slider below sets one of them, in units of the prior's standard deviation (0 is the "
    "prior mean); the decoder redraws the image **while you drag**, right in your browser. "
    "Find out what each dimension controls: thickness, slant, which digit, a smile…"
)

cur = models.require_model()
d = cur.config.latent_dim
split = testset.test_split(cur, stop=False)
order, kl = testset.dims_by_activity(split, d)
payload, export_error = models.decoder_payload(cur)

ss = st.session_state
values_key = f"sl_values:{cur.name}"  # the latest command's latent (buttons, remounts)
nonce_key = f"sl_nonce:{cur.name}"  # bumped by every button: the browser applies values again
live_key = f"sl_live:{cur.name}"
test_key = f"sl_test:{cur.name}"
fallback_keys = [f"sl_fb:{cur.name}:{i}" for i in range(d)]


def _mean_of(i: int) -> list[float]:
    return [float(v) for v in split.mu[i]]


def _range_for(z: list[float], at_least: float = 3) -> int:
    """The narrowest slider range (prior SDs) holding every value of ``z``, never below
    ``at_least``: a test image's mean can pass ±3 (mnist_2d's #0 has t₁ = +3.10, and its knob
    sat pinned at the end of a ±3 slider beside the number +3.10)."""
    need = max([abs(float(v)) for v in z] + [float(at_least)])
    return next((v for v in RANGES if v >= need), RANGES[-1])


def _command(z: list[float]) -> None:
    """New values from Python (a button): the sliders jump there, live or native, on sliders
    wide enough for them (never narrower than now)."""
    ss[values_key] = [float(v) for v in z]
    ss[nonce_key] = ss.get(nonce_key, 0) + 1
    ss["sl_range"] = r = _range_for(z, ss.get("sl_range", 3))
    for i, k in enumerate(fallback_keys):
        ss[k] = float(np.clip(z[i], -r, r))


def _sample_prior() -> None:
    # One generator per session, seeded once: reproducible within a session, different
    # between students, and never touching numpy's global state (shared by every session).
    seed = ss.setdefault("sl_seed", int(np.random.SeedSequence().entropy % 2**32))
    rng = ss.setdefault("sl_rng", np.random.default_rng(seed))
    _command(rng.standard_normal(d).tolist())


def _reset_to_test() -> None:
    # Read the number input here, not when the button was drawn: a number typed just before
    # the click is already in session state when callbacks run.
    _command(_mean_of(int(ss[test_key])))


mounting = live_key not in ss if payload else fallback_keys[0] not in ss
if values_key not in ss or len(ss[values_key]) != d:
    ss[values_key] = _mean_of(0) if split is not None else [0.0] * d
if mounting:
    # The widget's state was dropped while another page was shown: start from the latent the
    # user left here, or pinned on the 2-D plane page, rather than the last button's.
    back = state.shared_latent(cur)
    if back is not None:
        ss[values_key] = back.tolist()
link = share.take(cur)  # a shared link's latent and test image, on its first run
if "img" in link and split is not None:
    ss[test_key] = min(link["img"], len(split.labels) - 1)
if "z" in link:
    _command(link["z"])

# --------------------------------------------------------------------------- controls
c_prior, c_test, c_range = st.columns([1.25, 2.2, 1], gap="large", vertical_alignment="bottom")
with c_prior:
    st.button(
        "Sample from the prior", icon=":material/casino:", key="sl_sample", on_click=_sample_prior,
        help="Draw a new t ~ N(0, I): what the VAE generates on its own.", width="stretch",
        type="primary",
    )  # fmt: skip
    st.button(
        "Reset to 0, the prior mean", icon=":material/restart_alt:", key="sl_zero",
        on_click=_command, args=([0.0] * d,), width="stretch",
    )  # fmt: skip
with c_test:
    if split is None:
        st.caption("Without the test images, only the prior's samples and mean are available.")
    else:
        n = len(split.labels)
        pick, thumb = st.columns([4, 1], gap="small", vertical_alignment="bottom")
        with pick:
            i = int(st.number_input(f"Test image # (0-{n - 1})", 0, n - 1, 0, step=1, key=test_key))
            st.button(
                f"Reset to the mean of test image #{i}", icon=":material/image_search:",
                key="sl_reset", on_click=_reset_to_test, width="stretch",
                help="Encode this test image and set every slider to its posterior mean m(x).",
            )  # fmt: skip
        with thumb:
            display.show_image(
                split.images[i].astype(np.float32) / 255.0,
                display.text(split.label_names[split.labels[i]]), width=84,
            )  # fmt: skip
with c_range:
    r = st.segmented_control(
        "Slider range (prior SD)", RANGES, default=_range_for(ss[values_key]), required=True, key="sl_range",
        format_func=lambda v: f"±{v}",
        help="Each slider spans ± this many standard deviations of the prior N(0, 1). "
        "Almost all of the prior's mass is within ±3.",
    )  # fmt: skip

if d <= 2:
    order = list(range(d))  # t₁ then t₂, as on the plane's axes: nothing to rank
shown = order if d <= ALL_OPEN else order[:TOP]
collapsed = [] if d <= ALL_OPEN else order[TOP:]
# The KL after each name explains the order; with nothing ranked it would be noise.
labels = {
    i: display.t_name(i) if kl is None or d <= 2 else f"{display.t_name(i)} · {kl[i]:.1f}"
    for i in range(d)
}
if testset.posterior_collapsed(kl):
    st.info(
        "This model's decoder ignores its latent vector: every dimension's KL is about 0 (a "
        "*posterior collapse*), so the sliders barely change the image. Train longer, or with "
        "KL warm-up, to get a model whose latent space is worth exploring.",
        icon=":material/info:",
    )
elif kl is not None and d > 2:
    st.caption(
        "Sliders are sorted by how much the model uses each dimension: the number after t₁, t₂, … "
        "is its average KL(q(t|x) ‖ p(t)) over the test images, in nats. Near 0 means the decoder "
        "ignores that dimension; try one and see."
    )

# --------------------------------------------------------------------------- the sliders
if payload is not None:
    z = latent_sliders(
        payload, dims=shown, collapsed_dims=collapsed, values=ss[values_key],
        nonce=ss.get(nonce_key, 0), labels=labels, range_sd=float(r), image_px=IMAGE_PX,
        key=live_key, persist_to=state.LATENT_VECTOR_KEY,
    )  # fmt: skip
    state.remember_latent(cur, z)  # tags the persisted vector with its model
else:
    st.warning(
        "This model's decoder cannot run in your browser, so the image is decoded on the "
        f"server each time you **release** a slider. ({export_error})",
        icon=":material/cloud:",
    )
    for k, v in zip(fallback_keys, ss[values_key], strict=True):
        # A widget's value must lie in its range, which the range control may just have shrunk.
        ss[k] = float(np.clip(ss.get(k, v), -r, r))
    img_col, slider_col = st.columns([1, 2], gap="large")

    def _slider(i: int) -> float:
        return st.slider(labels[i], -float(r), float(r), step=0.01, key=fallback_keys[i])

    with slider_col:
        for i in shown:
            _slider(i)
        if collapsed:
            with st.expander(f"{len(collapsed)} more dimensions"):
                for i in collapsed:
                    _slider(i)
    z = [float(ss[k]) for k in fallback_keys]
    with img_col:
        display.show_image(
            inference.decode(cur.model, np.asarray(z)[None])[0],
            "decoded on the server",
            width=IMAGE_PX,
        )
    state.remember_latent(cur, z)

share.publish(cur, z=z, img=ss.get(test_key))

# --------------------------------------------------------------------------- the numbers
with st.expander(
    "The latent vector t as numbers (updated when you release a slider)",
    icon=":material/data_array:",
):
    st.code("t = [" + ", ".join(f"{v:+.3f}" for v in z) + "]", language=None, wrap_lines=True)
    st.caption(
        "This vector is also available on the **2-D latent plane** page, which can hold the "
        "other dimensions at these values while you explore two of them."
        if d > 2
        else "On the **2-D latent plane** page these two dimensions are a map: hover over it "
        "to decode every t at once, next to where the test images land."
    )
    st.page_link("pages/plane.py", label="Open the 2-D latent plane", icon=":material/grid_on:")
