"""Follow the teacher (issue 17): the teacher broadcasts their view, students who tick
"Follow the teacher" see it within about a second.

- The server's operator sets ``VAE_PRESENTER_KEY``; without it there is no broadcast and no
  follow switch at all. The teacher unlocks broadcasting in the sidebar by typing the key
  (compared in constant time); the latest session to unlock is the one broadcast.
- The view is the URL's query (``pages/_lib/share.py``): page path, model, latent, pinned
  point, test image, the lecture pages' bound seeds and images. After each of the teacher's
  runs app.py calls ``after_run``, which posts (path, query) to a ``Board``: one per server
  process (``st.cache_resource``), guarded by a lock.
- A following student's sidebar holds a fragment that reruns every ``POLL_S`` s and only
  compares the board's sequence number with the last one applied; on a change it hands the
  view to ``share`` (as if the student opened the teacher's link) and switches page. Unticking
  stops the fragment: the student explores alone from where they are.

Across replicas the board is per process: followers must reach the teacher's replica (see
docs/deploying.md, "Follow the teacher with several replicas").
"""

from __future__ import annotations

import hmac
import os
import threading
from dataclasses import dataclass, field

import streamlit as st

from pages._lib import models, share

KEY_ENV = "VAE_PRESENTER_KEY"
POLL_S = 0.5  # a student sees a change within one poll plus one run
FOLLOW_KEY = "follow:on"
TEACHER_KEY = "follow:teacher"  # this session unlocked broadcasting
_SEEN = "follow:seen"  # the board's sequence number this student applied last


@dataclass
class Board:
    """The teacher's latest view in this server process."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: int = 0
    path: str = ""
    params: dict[str, str] = field(default_factory=dict)
    teacher: str = ""  # a per-session token: only the latest unlocked session posts

    def post(self, token: str, path: str, params: dict[str, str]) -> None:
        with self.lock:
            if token and token == self.teacher and (path, params) != (self.path, self.params):
                self.path, self.params = path, dict(params)
                self.seq += 1

    def claim(self, token: str) -> None:
        with self.lock:
            self.teacher = token

    def read(self) -> tuple[int, str, dict[str, str]]:
        with self.lock:
            return self.seq, self.path, dict(self.params)


@st.cache_resource(show_spinner=False)
def board() -> Board:
    return Board()


def operator_key() -> str:
    return os.environ.get(KEY_ENV, "")


def sidebar(pages: dict[str, st.Page]) -> None:
    """app.py, every run: the teacher's unlock and the students' follow switch (nothing
    without ``VAE_PRESENTER_KEY``). ``pages``: url_path -> page, to switch to the teacher's."""
    key = operator_key()
    if not key:
        return
    ss = st.session_state
    if ss.get(TEACHER_KEY):
        st.sidebar.success("You are broadcasting: students who follow see this view.", icon=":material/cast:")
        return
    if st.sidebar.toggle("Follow the teacher", key=FOLLOW_KEY,
                         help="Show what the teacher shows; untick to explore alone."):  # fmt: skip
        with st.sidebar:  # the fragment's elements go where it is called
            _follow(pages)
    with st.sidebar.expander("Teacher: broadcast this view", icon=":material/cast:"):
        typed = st.text_input("Presenter key", type="password", key="follow:typed",
                              help="Set by the server's operator (VAE_PRESENTER_KEY).")  # fmt: skip
        if typed:
            if hmac.compare_digest(typed.encode(), key.encode()):
                ss[TEACHER_KEY] = os.urandom(8).hex()
                board().claim(ss[TEACHER_KEY])
                st.rerun()
            st.error("That is not the presenter key.")


@st.fragment(run_every=POLL_S)
def _follow(pages: dict[str, st.Page]) -> None:
    seq, path, params = board().read()
    ss = st.session_state
    if seq == 0:
        st.caption("The teacher has not started broadcasting yet.")
        return
    st.caption("Following the teacher.")
    if ss.get(_SEEN) == seq or path not in pages:
        return
    ss[_SEEN] = seq
    name = params.get("model")
    if name:
        models.select_model(name)
    share.receive(path, params)
    st.switch_page(pages[path], query_params=params)


def after_run(path: str) -> None:
    """app.py, after every run (also one ended by ``st.stop``): the teacher's view to the
    board."""
    token = st.session_state.get(TEACHER_KEY)
    if token:
        board().post(token, path, st.query_params.to_dict())
