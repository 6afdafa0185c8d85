"""Lesson: the 45-minute plan (``vae.lecture.plan``) one step at a time, for the teacher.

Per step: its place in the 45 minutes, what to click, what to ask (answers folded away so the
projector shows only the question), the notes, and a button that opens the step's page. The
position is plain session state (``pages/_lib/lesson_state.py``): the teacher demos on the
lecture page and comes back here to the same step.
"""

from __future__ import annotations

import streamlit as st

from pages._lib import display, lesson_state, models
from vae.lecture.plan import BEATS, LESSON_MINUTES, STEPS, heading, schedule

PICKER_KEY = "lesson:picker"


def _page_title(path: str) -> str:
    """The navigation title of a lecture page (a lecture beat's title is its page's title)."""
    return next(b.title for b in BEATS if b.page == path)


def _picked() -> None:
    key = st.session_state.get(PICKER_KEY)
    if key is not None:
        lesson_state.go_to([b.key for b in STEPS].index(key))


def _model_check() -> None:
    """Before class: the lecture pages draw the most with a 2-D latent; offer a 2-D VAE of
    the same data when another model is chosen."""
    cur = models.current()
    if cur is None or cur.config.latent_dim == 2:
        return
    two_d = [
        e.name for e in models.model_entries()
        if e.ok and e.header.dataset == cur.dataset
        and e.header.model_config.latent_dim == 2 and e.header.model_config.variant == "vae"
    ]  # fmt: skip
    with st.container(border=True):
        st.markdown(
            f"The chosen model, **{display.text(cur.name)}**, has a {cur.config.latent_dim}-D latent: the "
            "noise, ELBO and generation pages draw their maps and posterior grids for 2-D "
            "models only."
        )
        if two_d and st.button(
            f"Use {display.text(two_d[0])} for the lesson", key="lesson:use_2d", icon=":material/swap_horiz:"
        ):
            models.select_model(two_d[0])
            st.rerun()


index = lesson_state.position()
beat = STEPS[index]
slot = schedule()[index]

st.title("Lesson: the VAE in 45 minutes")
st.caption(
    "For the teacher: the plan of `docs/teaching.md`, one step at a time. Open a step's page "
    "to demo it; the **Lesson: …** link in the sidebar returns here, at the same step."
)

st.session_state[PICKER_KEY] = beat.key  # before the widget exists in this run: allowed
st.pills(
    "Step", [b.key for b in STEPS], key=PICKER_KEY, required=True, on_change=_picked,
    format_func={b.key: b.short for b in STEPS}.get, label_visibility="collapsed",
)  # fmt: skip

prev_col, open_col, next_col = st.columns([1.25, 1.5, 1.25], vertical_alignment="center")
prev_col.button(
    f"Previous: {STEPS[index - 1].short}" if index > 0 else "Previous",
    key="lesson:prev", icon=":material/arrow_back:", disabled=index == 0,
    on_click=lesson_state.go_to, args=(index - 1,), width="stretch", shortcut="PageUp",
    help="Also a presentation clicker's back key (Page Up).",
)  # fmt: skip
open_page = open_col.button(
    f"Open {_page_title(beat.page)}", key="lesson:open", type="primary",
    icon=":material/open_in_new:", width="stretch",
)  # fmt: skip
next_col.button(
    f"Next: {STEPS[index + 1].short}" if index < len(STEPS) - 1 else "Next",
    key="lesson:next", icon=":material/arrow_forward:", icon_position="right",
    disabled=index == len(STEPS) - 1, on_click=lesson_state.go_to, args=(index + 1,),
    width="stretch", shortcut="PageDown", help="Also a presentation clicker's forward key (Page Down).",
)  # fmt: skip
if open_page:
    st.switch_page(beat.page)

st.header(heading(beat), divider="gray")
if slot is None:
    st.caption(f"{beat.minutes} minutes before the lesson (not counted in the {LESSON_MINUTES})")
else:
    st.progress(
        slot[1] / LESSON_MINUTES,
        text=f"{beat.minutes} minutes: minute {slot[0]} to {slot[1]} of {LESSON_MINUTES}",
    )
st.markdown(f"**Goal.** {beat.goal}")
if beat.key == "before":
    _model_check()

# Steps without questions (before class, wrap-up) use the whole width.
left, right = st.columns([1.1, 1], gap="large") if beat.ask else (st.container(), None)
with left:
    st.subheader("What to click")
    st.markdown("\n".join(f"{i}. {c}" for i, c in enumerate(beat.click, 1)))
    if beat.notes:
        st.subheader("Notes")
        st.markdown("\n".join(f"- {n}" for n in beat.notes))
if right is not None:
    with right:
        st.subheader("Ask the class")
        for q in beat.ask:
            st.markdown(f"**“{q.ask}”**")
            if q.answer:
                with st.expander("What to listen for"):
                    st.markdown(q.answer)
