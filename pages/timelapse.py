"""Watch it learn: the time-lapse of the chosen model's training, from its stored snapshots.

At the first epochs the codes sit in a blob at the prior; the classes split apart while the
KL term fights the reconstruction term. Models trained with snapshots (the bundled 2-D ones,
``python -m vae.train --snapshots``, the Train page) have it; others say how to get one.
"""

from __future__ import annotations

import streamlit as st

from pages._lib import display, models, timelapse

st.title("Watch it learn")
cur = models.require_model()
snaps = cur.checkpoint.snapshots
if snaps is None:
    having = [e.name for e in models.model_entries() if e.ok and e.header.snapshot_epochs]
    st.info(
        f"**{display.text(cur.name)}** was trained without snapshots, so there is no time-lapse "
        "to show (everything else about it works as usual). Models trained with "
        "`python -m vae.train --snapshots` or on the Train page have one."
    )
    if having:
        st.markdown("Models with a time-lapse:")
        # One row of buttons side by side (in equal columns two names sat half a page apart).
        row = st.container(horizontal=True)
        for name in having:
            if row.button(name, key=f"tl_pick:{name}", icon=":material/slow_motion_video:"):
                models.select_model(name)
                st.rerun()
    st.stop()

st.markdown(
    f"How **{display.text(cur.name)}** formed its latent space while it trained. Early on the "
    "codes of all images sit together near the prior N(0, I); then the reconstruction term "
    "pulls the classes apart while the KL term keeps them close to the origin. Follow one "
    "colour, or one dot: each keeps its identity across the frames."
)
timelapse.show(cur.key, snaps, dataset=cur.dataset, meta=cur.checkpoint.meta, history=cur.checkpoint.history)
