"""Where the teacher is in the lesson (``vae.lecture.plan.STEPS``), kept in plain session state
so it survives trips to the lecture pages, and the sidebar link back to the Lesson page."""

from __future__ import annotations

import streamlit as st

from vae.lecture.plan import STEPS, Beat, heading

LESSON_PAGE = "pages/lesson.py"
LESSON_URL = "lesson"  # its url_path (the file name, as app.py sets no other)
POSITION_KEY = "lesson:step"  # the ``Beat.key`` of the current step (a key survives edits)


def position() -> int:
    """Index in ``STEPS`` of the current step (0 before the lesson page was ever opened)."""
    keys = [b.key for b in STEPS]
    key = st.session_state.get(POSITION_KEY)
    return keys.index(key) if key in keys else 0


def go_to(index: int) -> None:
    """Make ``STEPS[index]`` (clamped to the plan) the current step."""
    st.session_state[POSITION_KEY] = STEPS[min(max(index, 0), len(STEPS) - 1)].key


def current() -> Beat:
    return STEPS[position()]


def sidebar_link(url_path: str) -> None:
    """In the sidebar of every other page, once a lesson has begun: a link back to the
    Lesson page at the current step. ``url_path``: the shown page's (``st.Page.url_path``)."""
    if POSITION_KEY not in st.session_state or url_path == LESSON_URL:
        return
    beat = current()
    # Short ("Lesson: 4 · ELBO"): the sidebar cuts longer labels, more so in presenter mode.
    st.sidebar.page_link(
        LESSON_PAGE, label=f"Lesson: {beat.short}", icon=":material/undo:",
        help=f"Back to the lesson plan, at step {heading(beat)}",
    )  # fmt: skip
