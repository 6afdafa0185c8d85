"""Links that open a view (issue 17, ``pages/_lib/share.py``): a teacher's view, copied from
the sidebar's "Link to this view", opens in a fresh browser context (a new session, nothing
shared but the URL) on the same page with the same model, test image and latent."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from playwright.sync_api import expect

from .conftest import act, assert_no_error, new_session, screenshot, wait_idle

pytestmark = pytest.mark.e2e

SLIDERS_READY = '[data-testid=vae-live-sliders][data-ready="true"]'
PLANE_READY = '[data-testid=vae-live-plane][data-ready="true"]'
MODEL = "mnist_2d"  # not the server's default (digits_2d): the link must carry it


def _link(page) -> str:  # noqa: ANN001
    """The URL in the sidebar's "Link to this view" popover."""
    page.locator("[data-testid=stSidebar] [data-testid=stPopover] button").filter(has_text="Link to this view").click()
    code = page.locator("[data-testid=stPopoverBody] [data-testid=stCode] code")
    code.wait_for()
    url = code.inner_text().strip()
    page.keyboard.press("Escape")
    return url


def _model(page) -> str:  # noqa: ANN001
    return page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").get_by_role("combobox").input_value()


def _latent(page) -> list[float]:  # noqa: ANN001
    return json.loads(page.locator("[data-testid=vae-latent-vector]").get_attribute("data-latent"))


def test_a_sliders_link_opens_the_same_model_image_and_latent(browser, app_server) -> None:  # noqa: ANN001
    teacher_ctx, teacher = new_session(browser, f"{app_server.url}/sliders?model={MODEL}")
    student_ctx = None
    try:
        teacher.wait_for_selector(SLIDERS_READY)
        assert _model(teacher).startswith(MODEL), "the URL's model was not selected"
        act(teacher, teacher.get_by_role("button", name="Sample from the prior").click)
        number = teacher.locator("[data-testid=stNumberInput] input").first
        number.fill("7")
        act(teacher, lambda: number.press("Enter"))
        teacher.wait_for_selector(SLIDERS_READY)
        z = _latent(teacher)
        assert any(abs(v) > 1e-3 for v in z)
        url = _link(teacher)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert urllib.parse.urlsplit(url).path == "/sliders", url
        assert query["model"] == [MODEL] and query["img"] == ["7"], url
        assert teacher.url.split("?", 1)[1] and "z=" in teacher.url, teacher.url  # the address bar too

        student_ctx, student = new_session(browser, url)
        student.wait_for_selector(SLIDERS_READY)
        wait_idle(student)
        assert student.locator("h1").first.inner_text().startswith("Latent sliders")
        assert _model(student).startswith(MODEL)
        assert student.locator("[data-testid=stNumberInput] input").first.input_value() == "7"
        assert _latent(student) == pytest.approx(z, abs=1e-4)
        printed = student.locator("[data-testid=stCode] code").filter(has_text="t = [").first
        assert printed.text_content().startswith("t = [" + ", ".join(f"{v:+.3f}" for v in z)[:6])
        assert_no_error(student, "the shared sliders link")
        screenshot(student, "share-sliders-opened")
    finally:
        teacher_ctx.close()
        if student_ctx is not None:
            student_ctx.close()


def test_a_plane_link_opens_the_same_pinned_point(browser, app_server) -> None:  # noqa: ANN001
    teacher_ctx, teacher = new_session(browser, f"{app_server.url}/plane?model={MODEL}")
    student_ctx = None
    try:
        teacher.wait_for_selector(PLANE_READY)
        canvas = teacher.locator("canvas[data-testid=vae-plane-canvas]")
        box = canvas.bounding_box()
        act(teacher, lambda: canvas.click(position={"x": box["width"] * 0.7, "y": box["height"] * 0.3}))
        pinned = json.loads(teacher.locator("[data-testid=vae-plane-pinned]").get_attribute("data-pinned"))
        assert pinned[0] > 0 and pinned[1] > 0  # right of and above the centre
        url = _link(teacher)
        assert urllib.parse.urlsplit(url).path == "/plane" and "pin=" in url, url

        student_ctx, student = new_session(browser, url)
        student.wait_for_selector(PLANE_READY)
        wait_idle(student)
        assert _model(student).startswith(MODEL)
        got = json.loads(student.locator("[data-testid=vae-plane-pinned]").get_attribute("data-pinned"))
        assert got == pytest.approx(pinned, abs=1e-4)
        # Python decoded the same point: the page's caption names it.
        caption = student.get_by_text("Pinned at t = (").first.inner_text()
        assert f"{pinned[0]:+.2f}"[:4] in caption.replace("−", "-") or f"{pinned[0]:.2f}" in caption, caption
        assert_no_error(student, "the shared plane link")
        screenshot(student, "share-plane-opened")
    finally:
        teacher_ctx.close()
        if student_ctx is not None:
            student_ctx.close()


def _number(page, label: str):  # noqa: ANN001, ANN202
    return page.locator("[data-testid=stNumberInput]").filter(has_text=label).locator("input")


def test_a_lecture_link_opens_the_same_image_and_seed(browser, app_server) -> None:  # noqa: ANN001
    """The noise page's seed and test image are widget-bound query parameters: the student's
    page draws the same ε, so the same formulas and numbers."""
    teacher_ctx, teacher = new_session(browser, f"{app_server.url}/noise?model={MODEL}")
    student_ctx = None
    try:
        for label, value in (("noise seed", "42"), ("test image #", "5")):
            box = _number(teacher, label)
            box.fill(value)
            act(teacher, lambda box=box: box.press("Enter"))
        wait_idle(teacher)
        maths = teacher.locator("[data-testid=stMain] .katex-html").all_inner_texts()
        url = _link(teacher)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        assert urllib.parse.urlsplit(url).path == "/noise", url
        assert query["noise:seed"] == ["42"] and query["noise:a:index"] == ["5"], url

        student_ctx, student = new_session(browser, url)
        wait_idle(student)
        assert _model(student).startswith(MODEL)
        # The inputs can show their default for a moment after the first run ends (the
        # page's numbers already use the link's values): wait for the browser to catch up.
        expect(_number(student, "noise seed")).to_have_value("42", timeout=10_000)
        expect(_number(student, "test image #")).to_have_value("5", timeout=10_000)
        # KaTeX draws the formulas after the run: wait (10 s) for as many as the teacher's.
        formulas = student.locator("[data-testid=stMain] .katex-html")
        expect(formulas).to_have_count(len(maths), timeout=10_000)
        assert formulas.all_inner_texts() == maths
        assert_no_error(student, "the shared noise-page link")
        screenshot(student, "share-noise-opened")
    finally:
        teacher_ctx.close()
        if student_ctx is not None:
            student_ctx.close()
