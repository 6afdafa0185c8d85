"""Two students, one name (issue 19, item 6) and look-alike names (item 8).

A name is claimed when a training starts: a second student asking for it is told at once,
before any training, and the first student's model is the one saved. A training that saves
nothing gives the name back. Only the session that saved a model may replace it.
"""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from bench.harness.hostile_files import good
from vae.app import names
from vae.app.jobs import TrainingJob
from vae.core.checkpoints import load_checkpoint, validate_name
from vae.core.fit import TrainConfig
from vae.core.model import VAEConfig

pytestmark = pytest.mark.usefixtures("navigation_only")
CFG = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))


def _job(out, owner, epochs=1, title="x"):
    tc = TrainConfig(epochs=epochs, batch_size=256)
    return TrainingJob(CFG, tc, "digits", out, {"title": title}, device="cpu", owner=owner)


@pytest.mark.parametrize(
    ("typed", "why"),
    [("abc.", "cannot end with '.'"), ("Mnist_32.PT", "bundled model"), ("MNIST_32.pt", "bundled model")],
)
def test_look_alike_names_are_refused_with_a_reason(typed, why):
    with pytest.raises(ValueError, match=why):
        validate_name(typed, reserved={"mnist_32"})


def test_the_second_student_is_told_at_once_and_the_first_model_is_kept(tmp_path):
    out = tmp_path / "user" / "twin.pt"
    first = _job(out, "alice", title="alice's").start()
    with pytest.raises(names.NameTaken, match="Another student"):
        _job(out, "bob", title="bob's").start()
    with pytest.raises(names.NameTaken):  # the same name in another letter case
        _job(tmp_path / "user" / "TWIN.pt", "bob").start()
    assert first.wait(120).status == "done"
    assert load_checkpoint(out).meta["title"] == "alice's"
    assert names.status(out, "alice") == names.YOURS and names.status(out, "bob") == names.TAKEN
    # A file nobody claimed in this server (saved earlier) is nobody's to replace either.
    good(tmp_path / "user" / "earlier.pt")
    with pytest.raises(names.NameTaken, match="already exists"):
        _job(tmp_path / "user" / "earlier.pt", "bob").start()


def test_a_training_that_saves_nothing_gives_the_name_back(tmp_path):
    out = tmp_path / "user" / "stopped.pt"
    job = _job(out, "alice", epochs=50)
    job.stop()  # stopped before it starts: nothing saved
    assert job.start().wait(60).status == "stopped" and not out.exists()
    assert names.status(out, "bob") == names.FREE
    assert _job(out, "bob").start().wait(120).status == "done"


def _train_page(folder, monkeypatch) -> AppTest:
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file("../app.py", default_timeout=90).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    at.slider(key="train_epochs_digits").set_value(1).run()
    return at


def test_two_tabs_training_the_same_new_name(tmp_path, monkeypatch):
    """The user's path: two sessions type the same new name; the first presses Train; the
    second is told at once, with Train disabled, and nothing of the first is replaced."""
    folder = tmp_path / "ckpts"
    good(folder / "tiny.pt")
    alice, bob = _train_page(folder, monkeypatch), _train_page(folder, monkeypatch)
    for at in (alice, bob):
        at.text_input(key="train_name").set_value("same-name").run()
        assert not at.button(key="train_start").disabled
    alice.button(key="train_start").click().run()
    assert not alice.exception and not alice.error, alice.error
    bob.run()
    assert any("Another student" in e.value for e in bob.error), [e.value for e in bob.error]
    assert bob.button(key="train_start").disabled
    def saved_note():  # success, or the warning of a model that barely uses its latent
        return [m.value for m in (*alice.success, *alice.warning) if "is trained" in m.value]

    end = time.monotonic() + 180
    while not saved_note() and time.monotonic() < end:
        time.sleep(0.5)
        alice.run()
    assert saved_note() and "same-name" in saved_note()[0]
    bob.run()
    assert any("Another student" in e.value for e in bob.error) and bob.button(key="train_start").disabled
    saved = load_checkpoint(folder / "user" / "same-name.pt")
    assert saved.history and len(saved.history) == 1
