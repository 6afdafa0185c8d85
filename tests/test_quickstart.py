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


def test_a_failed_download_is_not_tried_again_on_every_run(tmp_path, monkeypatch):
    """Offline, every page showing test images used to try the download again on every run
    (where a network drops packets, a 30 s timeout per mirror per run). After one failure the
    pages look on disk only, say when the next try comes, and try again after RETRY_S."""
    import dataclasses
    import urllib.error

    from pages._lib import testset
    from vae.core.checkpoints import save_checkpoint
    from vae.core.model import VAE, VAEConfig
    from vae.data import download
    from vae.data import registry as data

    save_checkpoint(tmp_path / "m.pt", VAE(VAEConfig(latent_dim=2, hidden=(16,))), dataset="mnist")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mirrors = ("http://mirror-a.invalid/", "http://mirror-b.invalid/")
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(data.DATASETS["mnist"], mirrors=mirrors))
    tries: list[str] = []

    def offline(url, timeout=None):  # noqa: ANN001, ANN202
        tries.append(url)
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    testset._failed_downloads.clear()
    try:
        at = AppTest.from_file("../app.py", default_timeout=60).run()
        at.switch_page("pages/latent_map.py").run()
        assert not at.exception
        assert len(tries) == len(mirrors)  # the first missing file, from each mirror, once
        first = at.warning[0].value
        assert "Could not download" in first and "tries the download again in 120 s" in first
        for page in ("pages/sliders.py", "pages/latent_map.py", "pages/plane.py"):
            at.switch_page(page).run()
            assert not at.exception
        assert len(tries) == len(mirrors), tries  # no new try within RETRY_S
        again = at.warning[0].value
        assert "Could not download" in again and "tries the download again in" in again
        monkeypatch.setattr(testset, "RETRY_S", 0.0)  # the back-off has passed
        at.switch_page("pages/latent_map.py").run()
        assert len(tries) == 2 * len(mirrors)
    finally:
        testset._failed_downloads.clear()
