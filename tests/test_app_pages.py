"""The app's pages through Streamlit's AppTest: Home, Train, Latent map and Your image.

Every test runs the real ``app.py`` (navigation + sidebar model picker) against a temporary
checkpoints folder holding two tiny digits models made here in seconds.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.metrics import summarize
from vae.core.model import VAEConfig
from vae.data.formats import read_idx
from vae.data.registry import load_dataset

REPO = Path(__file__).resolve().parent.parent
APP = "../app.py"  # AppTest resolves it against this file
TIMEOUT = 60


# AppTest quirk (Streamlit 1.67): keep runs after the first on ``st.navigation`` (app.py with
# its sidebar), not on the page file alone; see ``navigation_only`` in tests/conftest.py.
pytestmark = pytest.mark.usefixtures("navigation_only")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """Two tiny digits models (2-D and 16-D latent), as bundled checkpoints; 2-D is the default."""
    folder = tmp_path_factory.mktemp("checkpoints")
    data = load_dataset("digits")
    for name, d in (("tiny2d", 2), ("tiny16d", 16)):
        cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=d, hidden=(64, 32))
        model, history = fit(cfg, TrainConfig(epochs=10, batch_size=128, lr=3e-3), data, "cpu")
        save_checkpoint(
            folder / f"{name}.pt", model, dataset="digits", history=history.to_list(),
            metrics=summarize(model, data, binarized=False, iw_k=5, iw_n=50),
            meta={"title": f"tiny {d}-D test model", "device": history.device},
        )  # fmt: skip
    (folder / "default.txt").write_text("tiny2d")
    return folder


def _app(page: str | None = None, model: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    if model is not None:
        at.selectbox(key="model_name").set_value(model).run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def _captions(at: AppTest) -> list[str]:
    return [c for im in at.get("image") for c in im.captions]


def _figure(at: AppTest, key: str) -> str:
    return next(e for e in at.get("plotly_chart") if e.key == key).proto.spec


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- home


def test_home_shows_the_model_card(models):
    at = _app()
    assert "Model loaded: tiny2d" in _texts(at.subheader)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Dataset"] == "digits" and metrics["Latent dimensions"] == "2"
    assert "Test ELBO (nats / image)" in metrics
    picker = at.selectbox(key="model_name")
    assert picker.value == "tiny2d" and set(picker.options) >= {"tiny2d (digits, 2-D)", "tiny16d (digits, 16-D)"}
    at.selectbox(key="model_name").set_value("tiny16d").run()
    assert not at.exception and {m.label: m.value for m in at.metric}["Latent dimensions"] == "16"


def test_home_explains_positive_elbos_of_a_gaussian_model(tmp_path, monkeypatch):
    """The bundled Frey model (Gaussian likelihood) reports a positive test ELBO: the page must
    say why (a density can exceed 1), and a Bernoulli model's page must not."""
    src = REPO / "checkpoints" / "frey_2d.pt"
    if not src.exists():
        pytest.skip("the bundled frey_2d model is not in this checkout")
    assert load_checkpoint(src).metrics["test_elbo"] > 0  # the number the note explains
    shutil.copy(src, tmp_path / "frey_2d.pt")
    (tmp_path / "default.txt").write_text("frey_2d")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    at = _app()
    assert any("a density can be larger than 1" in i.value for i in at.info), _texts(at.info)


# --------------------------------------------------------------------------- train


def test_train_page_trains_saves_and_selects_the_model(model_dir, tmp_path, monkeypatch):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    shutil.copy(model_dir / "tiny2d.pt", folder / "tiny2d.pt")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    at = _app("pages/train.py")
    assert any("CPU" in c or "GPU" in c for c in _texts(at.caption))  # the device it will use
    assert at.selectbox(key="train_dataset").value == "digits"

    # Names are validated: bundled names and paths are refused, and Train stays disabled.
    for bad, why in (("tiny2d", "bundled"), ("../evil", "cannot contain")):
        at.text_input(key="train_name").set_value(bad).run()
        assert any(why in e.value for e in at.error) and at.button(key="train_start").disabled

    at.text_input(key="train_name").set_value("pytest-new").run()
    assert not at.error and not at.button(key="train_start").disabled
    at.slider(key="train_epochs_digits").set_value(2).run()
    at.number_input(key="train_latent").set_value(2).run()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    end = time.monotonic() + 180

    def done() -> list[str]:
        # 2 epochs on digits leave a 2-D model collapsed (0 active units): then the page says
        # so in a warning instead of a green success (test_train_page_warns_...).
        return [e.value for e in [*at.success, *at.warning] if "is trained" in e.value]

    while not done() and time.monotonic() < end:
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
        assert not at.error, _texts(at.error)
    assert done(), "training did not finish in time"
    assert "pytest-new" in done()[0]
    assert (folder / "user" / "pytest-new.pt").exists()
    assert len(load_checkpoint(folder / "user" / "pytest-new.pt").history) == 2
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs"] == "2 / 2" and "Test ELBO" in metrics
    assert at.get("plotly_chart"), "the curves are shown"
    assert any("Reconstructions after epoch 2" in m.value for m in at.markdown)
    # The new model is in the picker, selected, and loads on the Home page.
    picker = at.selectbox(key="model_name")
    assert picker.value == "pytest-new" and "pytest-new (digits, 2-D · yours)" in picker.options
    at.switch_page("pages/home.py").run()
    assert not at.exception and "Model loaded: pytest-new" in _texts(at.subheader)
    # A later visit to the picker's key is the user's again (the pending choice was consumed).
    at.selectbox(key="model_name").set_value("tiny2d").run()
    assert at.selectbox(key="model_name").value == "tiny2d"


def _train_until_finished(at: AppTest, timeout: float = 180) -> None:
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    end = time.monotonic() + timeout
    while not (at.success or at.error or at.warning) and time.monotonic() < end:
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception


def test_train_page_warns_when_the_trained_model_collapsed(model_dir, tmp_path, monkeypatch):
    """β = 20 on digits for 2 epochs: the KL term wins, no latent unit is active (checked on the
    saved file with vae.core.metrics, independently of the page), and the page must say so
    instead of a green "done"."""
    from vae.core.metrics import active_units

    folder = tmp_path / "ckpts"
    folder.mkdir()
    shutil.copy(model_dir / "tiny2d.pt", folder / "tiny2d.pt")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    at = _app("pages/train.py")
    at.text_input(key="train_name").set_value("collapsed").run()
    at.slider(key="train_epochs_digits").set_value(2).run()
    at.number_input(key="train_beta").set_value(20.0).run()
    _train_until_finished(at)
    ckpt = load_checkpoint(folder / "user" / "collapsed.pt")
    assert active_units(ckpt.build_model(), load_dataset("digits").test_x.float() / 255.0) == 0
    assert not at.success, "a collapsed model is not a green 'done'"
    note = next(w.value for w in at.warning if "is trained" in w.value)
    assert "uses **0** of its latent dimensions" in note and "posterior collapse" in note
    assert "smaller β (it was 20" in note and "more epochs (it had 2)" in note
    assert {m.label: m.value for m in at.metric}["Active latent units"] == "0 / 2"


def test_too_few_active_units():
    from pages._lib.testset import too_few_active

    assert too_few_active(0, 2) and too_few_active(0, 32) and too_few_active(7, 32)
    assert not too_few_active(2, 2) and not too_few_active(1, 2) and not too_few_active(8, 32)
    assert not too_few_active(1, 4) and not too_few_active(None, 32)


def test_train_on_a_zip_of_my_images_then_map_it(model_dir, tmp_path, monkeypatch):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    shutil.copy(model_dir / "tiny2d.pt", folder / "tiny2d.pt")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls, box in (("circles", "ellipse"), ("squares", "rectangle")):
            for i in range(12):
                img = Image.new("L", (40, 40), 0)
                r = int(rng.integers(8, 16))
                getattr(ImageDraw.Draw(img), box)((20 - r, 20 - r, 20 + r, 20 + r), fill=255)
                zf.writestr(f"shapes/{cls}/{i}.png", _png(np.asarray(img)))
    at = _app("pages/train.py")
    at.selectbox(key="train_dataset").set_value("zip").run()
    assert at.button(key="train_start").disabled  # nothing uploaded yet
    at.file_uploader(key="train_zip").set_value(("shapes.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception and not at.error, _texts(at.error)
    assert any("circles (" in c and "squares (" in c for c in _texts(at.caption))
    at.slider(key="train_epochs_zip").set_value(2).run()
    at.text_input(key="train_name").set_value("my-shapes").run()
    _train_until_finished(at)
    assert at.success and "my-shapes" in at.success[0].value, _texts(at.error)
    assert load_checkpoint(folder / "user" / "my-shapes.pt").dataset == "custom"
    # The test images travel in the checkpoint, so the map works without the zip.
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception and not at.warning
    assert any(s.startswith("Test image #0: ") for s in _texts(at.subheader))
    assert "circles" in _figure(at, "map_chart:my-shapes:latent")


def test_train_page_explains_every_broken_zip(models, tmp_path, monkeypatch):
    """Each hostile zip (bench/harness/hostile_zips.py) through the Train page: a clear message, on
    upload when the zip itself cannot be opened, else when the training job reads it; never
    an exception, and nothing saved."""
    from bench.harness import hostile_zips as hz

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path / "ckpts"))
    shutil.copytree(models, tmp_path / "ckpts")
    for k, (case, (build, expected)) in enumerate(sorted(hz.FAILURES.items())):
        at = _app("pages/train.py")  # a fresh session: no earlier job's message on screen
        at.selectbox(key="train_dataset").set_value("zip").run()
        at.slider(key="train_epochs_zip").set_value(1).run()
        at.text_input(key="train_name").set_value(f"broken-{k}").run()
        at.file_uploader(key="train_zip").set_value((f"{k}.zip", build(), "application/zip")).run()
        assert not at.exception, (case, at.exception)
        if not at.error:  # the table of contents was readable: the job reads the images
            _train_until_finished(at)
            assert not at.success, case
        messages = _texts(at.error)
        assert len(messages) == 1 and expected in messages[0], (case, messages)
        assert "Error" not in messages[0] and "Traceback" not in messages[0], messages
        assert not (tmp_path / "ckpts" / "user" / f"broken-{k}.pt").exists()


def test_train_without_network_says_what_to_do(models, tmp_path, monkeypatch):
    import urllib.error

    from vae.data import download as data

    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path / "ckpts"))
    shutil.copytree(models, tmp_path / "ckpts")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    at = _app("pages/train.py")
    at.selectbox(key="train_dataset").set_value("fashion-mnist").run()
    assert "downloads when training starts" in at.selectbox(key="train_dataset").format_func("fashion-mnist")
    assert any("not on this machine" in i.value for i in at.info)
    at.slider(key="train_epochs_fashion-mnist").set_value(1).run()
    at.text_input(key="train_name").set_value("offline").run()
    _train_until_finished(at)
    assert not at.success and len(at.error) == 1
    message = at.error[0].value
    assert "did not finish" in message and "Could not download" in message and "VAE_DATA_DIR" in message
    assert not (tmp_path / "ckpts" / "user" / "offline.pt").exists()


# --------------------------------------------------------------------------- latent map


def test_map_2d_shows_posterior_and_manifold_and_follows_a_click(models):
    at = _app("pages/latent_map.py")
    assert "Test image #0: " in " ".join(_texts(at.subheader))
    spec = _figure(at, "map_chart:tiny2d:latent")
    assert "test image #" in spec and "q(t|x)" not in spec  # the big map never changes per pick
    where = _figure(at, "map_where:tiny2d")  # the inspector's zoom: the posterior's contours
    assert "q(t|x): 1 s.d." in where and "q(t|x): 2 s.d." in where and "#0 (" in where
    assert any("10x10 grid" in c for c in _texts(at.caption))  # 8x8 digits: a coarser grid
    assert {"the image x", "reconstruction decode(m)"} <= set(_captions(at))
    table = next(m.value for m in at.markdown if m.value.startswith("| dimension | mean m | s.d. s |"))
    assert [r.split(" | ")[0] for r in table.splitlines()[2:]] == ["| t₁", "| t₂"]  # mean, s.d. per dimension

    # A click on the chart (the selection Streamlit stores under the chart's key)...
    at.session_state["map_chart:tiny2d:latent"] = {"selection": {"points": [{"customdata": 7}]}}
    at.run()
    assert not at.exception
    assert any(s.startswith("Test image #7: ") for s in _texts(at.subheader))
    assert at.number_input(key="map_pick:tiny2d").value == 7
    # The map is sent unchanged (so the browser keeps it mounted); the zoom follows the click.
    assert _figure(at, "map_chart:tiny2d:latent") == spec
    assert "#7 (" in _figure(at, "map_where:tiny2d")
    # ... and the number input for keyboard users.
    at.number_input(key="map_pick:tiny2d").set_value(3).run()
    assert not at.exception and any(s.startswith("Test image #3: ") for s in _texts(at.subheader))
    assert "reconstruction decode(m)" in _captions(at)


@pytest.mark.parametrize("method", ["lda", "pca", "tsne"])
def test_map_16d_projects_and_shows_a_selected_point(models, method):
    at = _app("pages/latent_map.py", model="tiny16d")
    assert at.radio(key="map_method").value == "lda"  # the view that separates the classes
    if method != "lda":
        at.radio(key="map_method").set_value(method).run()
        assert not at.exception
    spec = _figure(at, f"map_chart:tiny16d:{method}")
    assert {"lda": "LD 1", "pca": "PC 1", "tsne": "t-SNE 1"}[method] in spec
    assert "q(t|x): 1 s.d." not in _figure(at, "map_where:tiny16d")  # ellipses only for a 2-D latent
    assert any({"lda": "**LDA**", "pca": "**PCA**", "tsne": "**t-SNE**"}[method] in c for c in _texts(at.caption))
    at.session_state[f"map_chart:tiny16d:{method}"] = {"selection": {"points": [{"customdata": 11}]}}
    at.run()
    assert not at.exception
    assert any(s.startswith("Test image #11: ") for s in _texts(at.subheader))
    assert "reconstruction decode(m)" in _captions(at)
    table = next(m.value for m in at.markdown if m.value.startswith("| dimension | mean m | s.d. s |"))
    assert len(table.splitlines()) == 2 + 16  # header, rule, a mean and s.d. per latent dimension


def _customdata(trace: dict) -> list[int]:
    cd = trace["customdata"]
    if isinstance(cd, dict):  # plotly 7: a base64 typed array
        cd = np.frombuffer(base64.b64decode(cd["bdata"]), dtype=np.dtype(cd["dtype"]))
    return [int(v) for v in np.ravel(cd)]


def test_map_click_follows_the_clicked_trace_and_point(models):
    """Plotly reports a click as (trace, index in that trace): the page must turn that into the
    test image drawn there, whatever the trace's order of points."""
    at = _app("pages/latent_map.py")
    fig = json.loads(_figure(at, "map_chart:tiny2d:latent"))
    cd = _customdata(fig["data"][3])  # the points of one label, in the order the page drew them
    labels = load_dataset("digits").test_y.numpy()
    assert all(labels[i] == 3 for i in cd)  # trace 3 holds the 3s
    at.session_state["map_chart:tiny2d:latent"] = {
        "selection": {"points": [{"curve_number": 3, "point_index": 5, "x": 0.0, "y": 0.0}]}
    }
    at.run()
    assert any(s.startswith(f"Test image #{cd[5]}: 3") for s in _texts(at.subheader)), _texts(at.subheader)


def test_tsne_star_is_placed_when_the_selected_image_is_outside_the_sample(models, monkeypatch):
    from vae.app import projection

    monkeypatch.setattr(projection, "TSNE_SAMPLE", 100)  # fewer than the digits test images
    at = _app("pages/latent_map.py", model="tiny16d")
    at.radio(key="map_method").set_value("tsne").run()
    spec = _figure(at, "map_chart:tiny16d:tsne")
    assert "computed on this server on a random sample of 100" in " ".join(_texts(at.caption))
    shown = {i for t in json.loads(spec)["data"] if "customdata" in t for i in _customdata(t)}
    assert len(shown) == 100
    outside = next(i for i in range(200) if i not in shown)
    at.number_input(key="map_pick:tiny16d").set_value(outside).run()
    assert _figure(at, "map_chart:tiny16d:tsne:1") == spec  # a new key (no stale selection), same map
    spec = _figure(at, "map_where:tiny16d")
    assert f"#{outside} (" in spec and "placed by its 10 nearest neighbours" in spec


# --------------------------------------------------------------------------- your image


def test_reconstruct_a_real_mnist_digit(models, shared_data):
    digit = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")[0]  # a 7
    at = _app("pages/reconstruct.py")
    assert not at.error
    at.file_uploader(key="rec_upload").set_value(("seven.png", _png(digit), "image/png")).run()
    assert not at.exception, at.exception
    assert not at.error, _texts(at.error)
    assert {"reconstruction decode(m)", "decode(t) for 8 samples t ~ q(t|x)"} <= set(_captions(at))
    assert any(c.startswith("your file (PNG, 28x28)") for c in _captions(at))
    steps = next(m.value for m in at.markdown if m.value.startswith("1. "))
    assert len(steps.splitlines()) >= 2
    x = at.session_state["last_upload"]
    assert x.shape == (1, 8, 8) and x.dtype == np.float32 and x.max() > 0.5
    assert "your image" in _figure(at, "rec_map")


def test_reconstruct_a_photo_with_a_16d_model(models):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:360, 0:480]
    photo = np.stack([xx * 255 // 480, yy * 255 // 360, np.full_like(xx, 120)], -1).astype(np.uint8)
    img = Image.fromarray(photo)
    ImageDraw.Draw(img).ellipse((150, 80, 330, 280), fill=(240, 230, 200))
    noisy = np.clip(np.asarray(img) + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noisy).save(buf, format="JPEG", quality=85)
    at = _app("pages/reconstruct.py", model="tiny16d")
    at.file_uploader(key="rec_upload").set_value(("photo.jpg", buf.getvalue(), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert not at.error, _texts(at.error)
    assert any(c.startswith("your file (JPEG, 480x360)") for c in _captions(at))
    # 16-D: placed on the Latent map's default view, LDA of the test means (sklearn's own).
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from vae.app import inference

    spec = json.loads(_figure(at, "rec_map"))
    assert spec["layout"]["xaxis"]["title"]["text"] == "LD 1"
    model = load_checkpoint(models / "tiny16d.pt").build_model()
    test = load_dataset("digits")
    mu, _ = inference.encode(model, test.test_x[:5000])
    up, _ = inference.encode(model, at.session_state["last_upload"][None])
    want = LinearDiscriminantAnalysis(n_components=2).fit(mu, test.test_y[:5000].numpy()).transform(up)[0]
    star = spec["data"][-1]
    assert star["name"] == "your image"
    np.testing.assert_allclose([star["x"][0], star["y"][0]], want, rtol=1e-3, atol=1e-3)
    assert at.session_state["last_upload"].shape == (1, 8, 8)
    assert at.get("plotly_chart")[0].key == "rec_elbo_hist"  # the ELBO among the test images'
    assert any(m.label == "ELBO (nats)" for m in at.metric)


def test_reconstruct_accepts_every_format_the_decoder_reads(models):
    """The uploader offers exactly the decoder's formats (TIFF was refused by the page while
    the decoder and the README accepted it), and a TIFF goes through."""
    from vae.data.images import ALLOWED_FORMATS, FILE_EXTENSIONS

    at = _app("pages/reconstruct.py")
    offered = {t.lstrip(".") for t in at.get("file_uploader")[0].proto.type}
    assert offered == set(FILE_EXTENSIONS) and {"tif", "tiff"} <= offered
    assert {Image.registered_extensions()["." + e] for e in offered} == set(ALLOWED_FORMATS)
    buf = io.BytesIO()
    Image.fromarray(np.tri(28, dtype=np.uint8) * 255).save(buf, format="TIFF")
    at.file_uploader(key="rec_upload").set_value(("scan.tif", buf.getvalue(), "image/tiff")).run()
    assert not at.exception and not at.error, _texts(at.error)
    assert any(c.startswith("your file (TIFF, 28x28)") for c in _captions(at))


def test_reconstruct_refuses_a_text_file_clearly(models):
    at = _app("pages/reconstruct.py")
    at.file_uploader(key="rec_upload").set_value(("notes.png", b"just some text, not a picture\n", "image/png")).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and at.error[0].value  # a message, not a traceback
    assert "Traceback" not in at.error[0].value
    assert "reconstruction decode(m)" not in _captions(at)
    assert "last_upload" not in at.session_state


def test_reconstruct_with_a_test_image(models):
    at = _app("pages/reconstruct.py")
    at.radio(key="rec_source").set_value("test").run()
    at.number_input(key="rec_test:tiny2d").set_value(4).run()
    assert not at.exception and not at.error
    assert "reconstruction decode(m)" in _captions(at) and "this image" in _figure(at, "rec_map")
