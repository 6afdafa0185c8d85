"""With no checkpoint at all, the app trains the digits default instead of failing."""

from streamlit.testing.v1 import AppTest

from vae.checkpoints import list_checkpoints


def test_empty_checkpoint_folder_trains_the_digits_default(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file("../app.py", default_timeout=120).run()
    assert not at.exception
    assert any("Model loaded: digits-quickstart" in h.value for h in at.subheader)
    assert [m.value for m in at.metric][:2] == ["digits", "2"]
    (entry,) = list_checkpoints(tmp_path)
    assert entry.ok and not entry.bundled and entry.checkpoint.dataset == "digits"
    assert entry.checkpoint.metrics["test_elbo"] > -40  # it learned (untrained: about -44)
