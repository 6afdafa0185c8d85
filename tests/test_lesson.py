"""The lesson plan (``vae.lecture.plan``) against the app it walks through, and the Lesson page.

The references are independent of the plan module: the navigation is read from app.py's
source (its ``PAGES`` dict), the page files from disk, and the schedule is written out here.
The Lesson page runs through the real app.py in AppTest on two untrained digits models.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vae.lecture import plan

REPO = Path(__file__).resolve().parent.parent
LECTURE_SECTION = "The lecture, live"

pytestmark = pytest.mark.usefixtures("navigation_only")


def registered_pages() -> list[tuple[str, str, str]]:
    """``(section, script path, title)`` of every ``st.Page`` in app.py's ``_pages()`` (its ``PAGES``), in order."""
    tree = ast.parse((REPO / "app.py").read_text(encoding="utf-8"))
    build = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_pages")
    pages_dict = next(n.value for n in ast.walk(build) if isinstance(n, ast.Return))
    out = []
    for key, value in zip(pages_dict.keys, pages_dict.values, strict=True):
        for call in value.elts:
            title = next(k.value.value for k in call.keywords if k.arg == "title")
            out.append((key.value, call.args[0].value, title))
    return out


# --------------------------------------------------------------------------- the plan


def test_beats_follow_the_lecture_navigation():
    lecture = [(path, title) for section, path, title in registered_pages() if section == LECTURE_SECTION]
    assert len(lecture) == 6
    assert [(b.page, b.title) for b in plan.BEATS] == lecture


def test_every_step_opens_a_registered_page_that_exists():
    registered = {path for _, path, _ in registered_pages()}
    for beat in plan.STEPS:
        assert beat.page in registered, f"{beat.key}: {beat.page} is not in app.py's navigation"
        assert (REPO / beat.page).is_file(), beat.page
    assert "pages/lesson.py" in registered and (REPO / "pages/lesson.py").is_file()
    # The lesson page is at the top of the navigation, right after Home.
    assert [p for _, p, _ in registered_pages()][:2] == ["pages/home.py", "pages/lesson.py"]


def test_home_links_every_page():
    """Home's "Where to go" lists every page of the navigation (it had lost the Lesson, Watch it
    learn, Compare models and Latent arithmetic, so a teacher opening the app never saw the
    lesson plan outside the sidebar)."""
    tree = ast.parse((REPO / "pages" / "home.py").read_text(encoding="utf-8"))
    where = next(
        n.value for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "WHERE_TO_GO" for t in n.targets)
    )  # fmt: skip
    linked = {link.elts[0].value for group in where.values for link in group.elts}
    pages = {p for _, p, _ in registered_pages()} - {"pages/home.py"}
    assert linked == pages, f"missing: {sorted(pages - linked)}, unknown: {sorted(linked - pages)}"


def test_the_minutes_make_45():
    assert plan.schedule() == [None, (0, 8), (8, 16), (16, 23), (23, 31), (31, 36), (36, 40), (40, 45)]
    assert sum(b.minutes for b in plan.STEPS if b.counted) == 45 == plan.LESSON_MINUTES
    assert [b.key for b in plan.STEPS] == [
        "before", "noise", "gradients", "ae_vs_vae", "elbo", "generation", "interpolation", "wrap_up",
    ]  # fmt: skip
    assert len({b.key for b in plan.STEPS}) == len({b.short for b in plan.STEPS}) == len(plan.STEPS)
    for beat in plan.STEPS:
        assert beat.goal and beat.click, beat.key
    for beat in plan.BEATS:
        assert beat.ask, f"{beat.key}: a lecture beat asks the class something"


def test_the_controls_a_beat_names_are_on_its_page():
    """A **bold** control in a beat's clicks ("Press **Resample ε**") is a label in its page's
    source (or the shared lecture widgets): a renamed button makes the plan stale."""
    shared = "".join(p.read_text(encoding="utf-8") for p in (REPO / "pages" / "_lib").glob("*.py"))
    for beat in plan.BEATS:
        source = (REPO / beat.page).read_text(encoding="utf-8") + shared
        names = [n for c in beat.click for n in re.findall(r"\*\*(.+?)\*\*", c)]
        assert names, f"{beat.key}: its clicks name no control"
        missing = [n for n in names if f'"{n}' not in source]
        assert not missing, (
            f"{beat.key}: {missing} not found in {beat.page}: update vae/lecture/plan.py, then "
            "`python -m vae.lecture.plan --write`"
        )


def test_docs_teaching_is_the_plan():
    text = (REPO / "docs" / "teaching.md").read_text(encoding="utf-8")
    section = plan.plan_section(text)
    assert section is not None, "docs/teaching.md lost its lesson-plan markers"
    assert section == plan.to_markdown(), (
        "docs/teaching.md is stale: run `python -m vae.lecture.plan --write`"
    )
    # Read back without the generator: the headings in order, with their minutes.
    headings = re.findall(r"^### (.+) \((\d+) minutes\)$", section, re.M)
    lecture = [t for s, _, t in registered_pages() if s == LECTURE_SECTION]
    assert [h for h, _ in headings] == [
        "Before class", *[f"{i}. {t}" for i, t in enumerate(lecture, 1)], "Wrap-up",
    ]  # fmt: skip
    assert sum(int(m) for _, m in headings[1:]) == 45
    for beat in plan.STEPS:
        for text_ in (*beat.click, *(q.ask for q in beat.ask), *(q.answer for q in beat.ask), *beat.notes):
            assert text_ in section, f"{beat.key}: {text_[:40]!r} missing from docs/teaching.md"


def test_refresh_doc_rewrites_only_the_section(tmp_path):
    doc = tmp_path / "teaching.md"
    doc.write_text(f"# Intro\n\nkept\n\n{plan.DOC_START}\nold plan\n{plan.DOC_END}\n\ntail\n")
    assert plan.refresh_doc(doc) is True
    text = doc.read_text()
    assert text.startswith("# Intro\n\nkept\n\n") and text.endswith(f"{plan.DOC_END}\n\ntail\n")
    assert plan.plan_section(text) == plan.to_markdown()
    assert plan.refresh_doc(doc) is False  # already up to date
    doc.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        plan.refresh_doc(doc)


# --------------------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def lesson_ckpts(tmp_path_factory) -> Path:
    """Untrained digits VAEs, 5-D (the default) and 2-D: the Lesson page only needs names."""
    from tests.conftest import seeded_model
    from vae.core.checkpoints import save_checkpoint
    from vae.core.model import VAEConfig

    folder = tmp_path_factory.mktemp("lesson_ckpts")
    for name, d in (("digits5d", 5), ("digits2d", 2)):
        cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=d, hidden=(32,))
        save_checkpoint(folder / f"{name}.pt", seeded_model(cfg), dataset="digits")
    (folder / "default.txt").write_text("digits5d\n")
    return folder


def _lesson(monkeypatch, folder: Path) -> AppTest:
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.switch_page("pages/lesson.py").run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _step(at: AppTest) -> str:
    """The step the page shows: its header."""
    return at.header[0].value


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def _expected_headings() -> list[str]:
    lecture = [t for s, _, t in registered_pages() if s == LECTURE_SECTION]
    return ["Before class", *[f"{i}. {t}" for i, t in enumerate(lecture, 1)], "Wrap-up"]


def test_next_and_previous_walk_the_plan_in_order(monkeypatch, lesson_ckpts):
    at = _lesson(monkeypatch, lesson_ckpts)
    seen = [_step(at)]
    assert _button(at, "lesson:prev").disabled
    while not _button(at, "lesson:next").disabled:
        _button(at, "lesson:next").click().run()
        _ok(at)
        seen.append(_step(at))
    assert seen == _expected_headings()
    back = [_step(at)]
    while not _button(at, "lesson:prev").disabled:
        _button(at, "lesson:prev").click().run()
        back.append(_step(at))
    assert back == seen[::-1]
    # The step picker jumps straight to a beat.
    at.pills(key="lesson:picker").set_value("elbo").run()
    assert _step(at) == _expected_headings()[4]


def test_each_step_shows_its_plan(monkeypatch, lesson_ckpts):
    at = _lesson(monkeypatch, lesson_ckpts)
    for i, beat in enumerate(plan.STEPS):
        if i:
            _button(at, "lesson:next").click().run()
        md = "\n".join(m.value for m in at.markdown)
        for text in (beat.goal, *beat.click, *(q.ask for q in beat.ask), *beat.notes):
            assert text in md, f"{beat.key}: {text[:40]!r} not shown"
        # Answers are folded away, one expander per answered question.
        answered = [q for q in beat.ask if q.answer]
        assert len(at.expander) == len(answered)
        for q in answered:
            assert q.answer in md
        slot = plan.schedule()[i]
        if slot is not None:
            assert at.get("progress")[0].proto.text.endswith(f"minute {slot[0]} to {slot[1]} of 45")


def test_open_button_targets_the_step_page(monkeypatch, lesson_ckpts):
    """Each step's button asks for its page's file; the real switch then runs that page."""
    import streamlit as st

    at = _lesson(monkeypatch, lesson_ckpts)
    targets = []

    class Switched(Exception):
        pass

    def record(page, **kw):
        targets.append(str(page))
        raise Switched

    with monkeypatch.context() as m:
        m.setattr(st, "switch_page", record)
        for i in range(len(plan.STEPS)):
            if i:
                _button(at, "lesson:next").click().run()
            _button(at, "lesson:open").click().run()
    registered = {title: path for _, path, title in registered_pages()}
    expected = [registered[t] for t in ("Autoencoder vs VAE", *[b.title for b in plan.BEATS], "ELBO vs log p(x)")]
    assert targets == expected
    # Unpatched: step 1's button opens the noise page, whose title says so.
    at.pills(key="lesson:picker").set_value("noise").run()
    _button(at, "lesson:open").click().run()
    _ok(at)
    assert "Noise" in at.title[0].value and "Lesson" not in at.title[0].value


def test_position_and_presenter_mode_survive_page_switches(monkeypatch, lesson_ckpts):
    at = _lesson(monkeypatch, lesson_ckpts)
    assert not at.get("page_link"), "no link back to the lesson on the lesson page itself"
    for _ in range(3):
        _button(at, "lesson:next").click().run()
    at.toggle(key="presenter_mode").set_value(True).run()
    at.switch_page("pages/home.py").run()
    _ok(at)
    assert at.toggle(key="presenter_mode").value is True
    css = [h.proto.body for h in at.get("html")]
    assert any("font-size: 20px" in b for b in css), "presenter CSS not injected on Home"
    back = [p.proto for p in at.get("page_link") if "lesson" in p.proto.label.lower()]
    assert back and back[0].label == "Lesson: 3 · AE vs VAE", [b.label for b in back]
    assert back[0].help.endswith(_expected_headings()[3])
    assert back[0].page.endswith("lesson") or back[0].page == "pages/lesson.py"
    at.switch_page("pages/lesson.py").run()
    assert _step(at) == _expected_headings()[3]
    at.toggle(key="presenter_mode").set_value(False).run()
    assert not any("font-size: 20px" in h.proto.body for h in at.get("html"))


def test_before_class_offers_a_2d_model(monkeypatch, lesson_ckpts):
    at = _lesson(monkeypatch, lesson_ckpts)
    assert at.selectbox(key="model_name").value == "digits5d"
    assert any("5-D latent" in m.value for m in at.markdown)
    _button(at, "lesson:use_2d").click().run()
    _ok(at)
    assert at.selectbox(key="model_name").value == "digits2d"
    assert not any(b.key == "lesson:use_2d" for b in at.button)
