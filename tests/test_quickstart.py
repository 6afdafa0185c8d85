"""With no checkpoint at all, the app trains the digits default instead of failing."""

from streamlit.testing.v1 import AppTest

from vae.core.checkpoints import list_checkpoints


def test_empty_checkpoint_folder_trains_the_digits_default(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file("../app.py", default_timeout=120).run()
    assert not at.exception
    assert any("Model loaded: digits-quickstart" in h.value for h in at.subheader)
    assert [m.value for m in at.metric][:2] == ["digits", "2"]
    (entry,) = list_checkpoints(tmp_path)
    assert entry.ok and not entry.bundled and entry.header.dataset == "digits"
    assert entry.header.metrics["test_elbo"] > -40  # it learned (untrained: about -44)


def test_a_model_whose_data_cannot_be_had_still_opens_with_a_message(tmp_path, monkeypatch):
    """Offline, with no MNIST on disk: the map says what is missing and where to put it; the
    sliders still work (they only need the decoder)."""
    import dataclasses

    from vae.core.checkpoints import save_checkpoint
    from vae.core.model import VAE, VAEConfig
    from vae.data import registry as data

    save_checkpoint(tmp_path / "m.pt", VAE(VAEConfig(latent_dim=2, hidden=(16,))), dataset="mnist")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # No network: a closed local port stands in for the public mirrors.
    closed = dataclasses.replace(data.DATASETS["mnist"], mirrors=("http://127.0.0.1:9/",))
    monkeypatch.setitem(data.DATASETS, "mnist", closed)
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception
    (warning,) = [w.value for w in at.warning]
    assert "not on this machine" in warning and "VAE_DATA_DIR" in warning
    assert "Could not download" in warning and "train-images-idx3-ubyte.gz" in warning
    at.switch_page("pages/sliders.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Latent sliders"]
    assert any("Sample from the prior" in b.label for b in at.button)  # the live sliders are there
