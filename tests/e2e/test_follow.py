"""Follow the teacher (issue 17, ``pages/_lib/follow.py``), two browser contexts on one server
started with ``VAE_PRESENTER_KEY``: a student who ticks "Follow the teacher" gets the
teacher's page, model and latent; a student with a wrong key cannot broadcast. ``-s`` prints
how long the follower took (not asserted: the machine is shared; issue 17 asks for < 1 s)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bench.harness import find_shared_data
from bench.harness.server import Server, app_env, prepare_checkpoints, start_server

from .conftest import act, assert_no_error, new_session, open_page, screenshot

pytestmark = pytest.mark.e2e

KEY = "correct horse battery"
SLIDERS_READY = '[data-testid=vae-live-sliders][data-ready="true"]'
MODEL = "mnist_2d"


@pytest.fixture(scope="module")
def key_server(browser_available, tmp_path_factory) -> Iterator[Server]:  # noqa: ANN001
    root = tmp_path_factory.mktemp("follow")
    ck = root / "checkpoints"
    prepare_checkpoints(ck)
    env = {**app_env(ck, find_shared_data()), "VAE_PRESENTER_KEY": KEY}
    server = start_server(root / "streamlit.log", env=env)
    yield server
    server.stop()


def _unlock(page, key: str) -> None:  # noqa: ANN001
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("Teacher: broadcast this view").click()
    box = sidebar.get_by_label("Presenter key", exact=True).and_(sidebar.locator("input"))
    box.fill(key)
    act(page, lambda: box.press("Enter"))


def _follow(page) -> None:  # noqa: ANN001
    toggle = page.locator("[data-testid=stSidebar] [data-testid=stCheckbox]").filter(has_text="Follow the teacher")
    act(page, toggle.click)


def _latent(page) -> list[float] | None:  # noqa: ANN001
    el = page.locator("[data-testid=vae-latent-vector]")
    # A component still mounting has the element but not yet its data (CI read None once).
    raw = el.get_attribute("data-latent") if el.count() else None
    return json.loads(raw) if raw else None


def _wait_for(page, check, timeout_s: float = 30.0) -> float:  # noqa: ANN001
    """Poll ``check()`` every 20 ms; the seconds it took to hold (TimeoutError after timeout_s)."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError("the follower never showed the teacher's view")
        page.wait_for_timeout(20)
    return time.monotonic() - t0


def test_a_student_follows_the_teacher(browser, key_server) -> None:  # noqa: ANN001
    # A reload is a new session, which has to unlock again: the teacher opens the page first.
    t_ctx, teacher = new_session(browser, f"{key_server.url}/sliders?model={MODEL}")
    s_ctx, student = new_session(browser, key_server.url + "/")
    try:
        teacher.wait_for_selector(SLIDERS_READY)
        _unlock(teacher, KEY)
        assert teacher.get_by_text("You are broadcasting").count() == 1
        _follow(student)

        # The teacher samples on the sliders page of another model: the student follows.
        act(teacher, teacher.get_by_role("button", name="Sample from the prior").click)
        teacher.wait_for_selector(SLIDERS_READY)
        z = _latent(teacher)

        def same() -> bool:
            got = _latent(student)
            return got is not None and got == pytest.approx(z, abs=1e-4)

        took = _wait_for(student, same)
        print(f"\nfollower showed the teacher's latent {took:.2f} s after the teacher's run finished")
        assert student.locator("h1").first.inner_text().startswith("Latent sliders")
        picker = student.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").get_by_role("combobox")
        assert picker.input_value().startswith(MODEL)

        # Another change on the same page.
        act(teacher, teacher.get_by_role("button", name="Sample from the prior").click)
        teacher.wait_for_selector(SLIDERS_READY)
        z = _latent(teacher)
        took = _wait_for(student, same)
        print(f"second sample followed in {took:.2f} s")
        assert_no_error(student, "the follower")
        screenshot(student, "follow-student")
        screenshot(teacher, "follow-teacher")

        # Unticked: the student stays where they are when the teacher moves on.
        _follow(student)
        open_page(teacher, "Home")
        student.wait_for_timeout(2000)
        assert student.locator("h1").first.inner_text().startswith("Latent sliders")
    finally:
        t_ctx.close()
        s_ctx.close()


def test_a_wrong_key_cannot_broadcast(browser, key_server) -> None:  # noqa: ANN001
    i_ctx, impostor = new_session(browser, key_server.url + "/")
    s_ctx, student = new_session(browser, key_server.url + "/")
    try:
        _follow(student)
        before = student.locator("h1").first.inner_text()
        _unlock(impostor, "not the key")
        assert impostor.get_by_text("That is not the presenter key.").count() == 1
        assert impostor.get_by_text("You are broadcasting").count() == 0
        open_page(impostor, "Latent sliders")
        student.wait_for_timeout(2000)  # several polls of the follower
        assert student.locator("h1").first.inner_text() == before
    finally:
        i_ctx.close()
        s_ctx.close()
