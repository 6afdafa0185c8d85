"""The Latent sliders and 2-D latent plane pages through Streamlit's AppTest.

The browser half (the live component) is simulated the way ``tests/test_live_decoder.py``
does it: what Python sends is read off the component's proto, and what the browser reports on
release / click is written into the component's session state. Models: tiny ones trained here
on scikit-learn's digits (a 2-D MLP, a 6-D conv, a 12-D MLP for the collapsed dimensions), an
RGB conv on a synthetic "folder" dataset whose test images live in the checkpoint, and the 6-D
conv again as a model whose test images are nowhere to be found.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest
from torch.distributions import Normal, kl_divergence

from tests.conftest import sent_points
from vae.app import export
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.model import VAEConfig
from vae.data.registry import Dataset, load_dataset

APP = "../app.py"  # AppTest resolves it against this file
TIMEOUT = 60
MODELS = {
    "mlp2": VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(64, 32)),
    "conv6": VAEConfig(
        image_shape=(1, 8, 8), latent_dim=6, architecture="conv", conv_channels=(8, 16), hidden=(32,)
    ),
    "mlp12": VAEConfig(image_shape=(1, 8, 8), latent_dim=12, hidden=(32,)),
}


# AppTest quirk (Streamlit 1.67): keep runs after the first on ``st.navigation`` (app.py with
# its sidebar), not on the page file alone; see ``navigation_only`` in tests/conftest.py.
pytestmark = pytest.mark.usefixtures("navigation_only")


def _shapes_dataset() -> Dataset:
    """Coloured squares on a dark background, 3x12x12, 3 classes (red, green, blue)."""
    rng = np.random.default_rng(0)
    n = 240
    x = np.zeros((n, 3, 12, 12), np.uint8)
    y = np.arange(n) % 3
    for i in range(n):
        r0, c0 = rng.integers(0, 7, size=2)
        x[i, y[i], r0 : r0 + 5, c0 : c0 + 5] = 230
    t = torch.from_numpy
    return Dataset(
        "folder:shapes", t(x[:200]), t(y[:200]), t(x[200:]), t(y[200:]), ("red", "green", "blue")
    )


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    data = load_dataset("digits")
    trained = {}
    for name, cfg in MODELS.items():
        model, history = fit(cfg, TrainConfig(epochs=8, batch_size=128, lr=3e-3), data, "cpu")
        save_checkpoint(folder / f"{name}.pt", model, dataset="digits", history=history.to_list())
        trained[name] = model
    # A model whose test images this app cannot get (its folder dataset is gone).
    save_checkpoint(folder / "nodata6.pt", trained["conv6"], dataset="folder:gone")
    shapes = _shapes_dataset()
    cfg = VAEConfig(
        image_shape=(3, 12, 12), latent_dim=3, architecture="conv", conv_channels=(4, 8), hidden=(16,)
    )
    model, history = fit(cfg, TrainConfig(epochs=3, batch_size=64, lr=3e-3), shapes, "cpu")
    test_set = {
        "images": shapes.test_x.clone(),
        "labels": shapes.test_y.clone(),
        "label_names": list(shapes.label_names),
    }
    save_checkpoint(
        folder / "rgb3.pt", model, dataset="folder:shapes", history=history.to_list(),
        meta={"test_set": test_set},
    )  # fmt: skip
    (folder / "default.txt").write_text("mlp2")
    return folder


@pytest.fixture(scope="session")
def encoded(model_dir) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each digits model's (mu, logvar) on the digits test split, computed here directly with
    the model's own encoder (not the page's ``inference.encode``)."""
    x = load_dataset("digits").test_x.float() / 255.0
    out = {}
    for name in MODELS:
        model = load_checkpoint(model_dir / f"{name}.pt").build_model()
        with torch.no_grad():
            mu, logvar = model.encode(x)
        out[name] = (mu.numpy(), logvar.numpy())
    return out


def _kl_per_dim(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Average KL(q(t_j|x) || N(0, 1)) per dimension ``(D,)``, from torch.distributions: an
    independent check of ``inference.kl_per_dim``, which orders the sliders and the plane's axes."""
    q = Normal(torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(logvar, dtype=torch.float64).mul(0.5).exp())
    return kl_divergence(q, Normal(0.0, 1.0)).mean(0).numpy()


def _app(page: str, model: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if model is not None:
        at.selectbox(key="model_name").set_value(model).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _sent(at: AppTest, key: str) -> dict:
    """The data the page sent to the live component with this key."""
    (el,) = [e for e in at.get("bidi_component") if e.key == key]
    return json.loads(el.proto.json)


def _numbers(at: AppTest) -> list[float]:
    """The latent vector the page prints, ``t = [+0.123, ...]``."""
    (text,) = [c.value for c in at.code if c.value.startswith("t = [")]
    return [float(v) for v in re.findall(r"[-+]\d+\.\d+", text)]


def _release(at: AppTest, key: str, latent: list[float]) -> None:
    """What the browser reports when the user releases a slider (see pages/_lib/live/ui.js, BaseView.report)."""
    sent = _sent(at, key)
    event = {"action": "release", "latent": latent, "cmd": sent["cmd"]}
    at.session_state[key] = {"event": {**event, "model_id": sent["model"]["id"]}}
    at.run()
    assert not at.exception, at.exception


def _captions(at: AppTest) -> list[str]:
    return [c for im in at.get("image") for c in im.captions]


# --------------------------------------------------------------------------- sliders


def test_sliders_2d_mlp_sends_the_decoder_and_starts_at_test_image_0(models, encoded):
    at = _app("pages/sliders.py")
    sent = _sent(at, "sl_live:mlp2")
    assert sent["mode"] == "sliders"
    assert sorted(sent["dims"]) == [0, 1] and sent["collapsed"] == []
    assert sent["model"]["latent_dim"] == 2 and "weights_b64" not in sent["model"]  # asked for
    assert sent["model"]["output_shape"] == [1, 8, 8]
    mu0 = encoded["mlp2"][0][0]
    np.testing.assert_allclose(sent["values"], mu0, atol=1e-5)
    np.testing.assert_allclose(_numbers(at), mu0, atol=1e-3)
    # Stored for other pages, tagged with the model it belongs to.
    np.testing.assert_allclose(at.session_state["latent_vector"], mu0, atol=1e-5)
    assert at.session_state["latent_vector_model"].startswith(str(models / "mlp2.pt"))
    assert not at.warning  # live decoding works: no fallback notice


def test_sliders_sort_by_kl_and_sample_from_the_prior(models, encoded):
    at = _app("pages/sliders.py", model="conv6")
    sent = _sent(at, "sl_live:conv6")
    kl = _kl_per_dim(*encoded["conv6"])
    assert sent["dims"] == [int(i) for i in np.argsort(-kl, kind="stable")]
    top = sent["dims"][0]
    assert sent["labels"][str(top)] == f"t{'₁₂₃₄₅₆'[top]} · {kl[top]:.1f}"  # 1-based, as lectured
    before = sent["values"]
    seen = [before]
    for _ in range(2):
        at.button(key="sl_sample").click().run()
        assert not at.exception, at.exception
        now = _sent(at, "sl_live:conv6")
        assert len(now["values"]) == 6 and all(v not in seen for v in [now["values"]])
        assert now["cmd"] != sent["cmd"]  # a new command: the browser applies the values
        np.testing.assert_allclose(_numbers(at), now["values"], atol=1e-3)
        seen.append(now["values"])
    # A release after a command is what the page then reports.
    _release(at, "sl_live:conv6", [0.5, -0.5, 1.0, 0.0, 0.0, 2.0])
    assert _numbers(at) == [0.5, -0.5, 1.0, 0.0, 0.0, 2.0]
    assert at.session_state["latent_vector"] == [0.5, -0.5, 1.0, 0.0, 0.0, 2.0]
    # Reset to 0 sends zeros as a new command.
    at.button(key="sl_zero").click().run()
    assert _sent(at, "sl_live:conv6")["values"] == [0.0] * 6 and _numbers(at) == [0.0] * 6


def test_reset_to_a_test_image_sets_the_encoder_mean(models, encoded):
    at = _app("pages/sliders.py", model="conv6")
    at.number_input(key="sl_test:conv6").set_value(3).run()
    _release(at, "sl_live:conv6", [1.0] * 6)  # the user moved away from it first
    at.button(key="sl_reset").click().run()
    assert not at.exception, at.exception
    mu3 = encoded["conv6"][0][3]
    np.testing.assert_allclose(_sent(at, "sl_live:conv6")["values"], mu3, atol=1e-5)
    np.testing.assert_allclose(_numbers(at), mu3, atol=1e-3)
    np.testing.assert_allclose(at.session_state["latent_vector"], mu3, atol=1e-5)
    label = int(load_dataset("digits").test_y[3])
    assert str(label) in _captions(at)  # the chosen test image is shown with its label


def test_sliders_are_wide_enough_for_the_values_they_start_at(models, encoded):
    """Values beyond ±3 widen the sliders (mnist_2d's test image #0 has t₁ = +3.10 and its knob
    sat pinned at the end of a ±3 slider beside the number +3.10)."""
    at = _app("pages/sliders.py")
    need = max(3.0, float(np.abs(encoded["mlp2"][0][0]).max()))  # test image #0's mean
    assert _sent(at, "sl_live:mlp2")["range_sd"] == next((r for r in (2, 3, 4) if r >= need), 4)
    # A latent pinned elsewhere (the plane) at t₁ = 3.5: the sliders open on it, at ±4.
    at.switch_page("pages/home.py").run()
    at.session_state["latent_vector"] = [3.5, -0.25]
    at.switch_page("pages/sliders.py").run()
    assert not at.exception, at.exception
    sent = _sent(at, "sl_live:mlp2")
    assert sent["values"] == [3.5, -0.25]
    assert sent["range_sd"] == 4 and at.segmented_control(key="sl_range").value == 4


def test_many_dimensions_show_the_top_8_and_collapse_the_rest(models, encoded):
    at = _app("pages/sliders.py", model="mlp12")
    sent = _sent(at, "sl_live:mlp12")
    order = [int(i) for i in np.argsort(-_kl_per_dim(*encoded["mlp12"]), kind="stable")]
    assert sent["dims"] == order[:8] and sent["collapsed"] == order[8:]
    assert len(_numbers(at)) == 12


def test_released_latent_survives_a_page_switch_and_feeds_the_plane(models):
    at = _app("pages/sliders.py", model="conv6")
    released = [0.25, -1.0, 0.5, 1.5, -0.75, 0.0]
    _release(at, "sl_live:conv6", released)
    at.switch_page("pages/plane.py").run()
    assert not at.exception, at.exception
    assert "the Latent sliders vector" in at.selectbox(key="pl_base:conv6").options
    at.selectbox(key="pl_base:conv6").set_value("sliders").run()
    assert _sent(at, "pl_live:conv6")["base_latent"] == released
    # Back on the sliders page (its widget state was dropped meanwhile), the sliders start
    # where the user left them.
    at.switch_page("pages/sliders.py").run()
    assert _sent(at, "sl_live:conv6")["values"] == released and _numbers(at) == released


def test_rgb_model_with_its_own_test_images(models):
    at = _app("pages/sliders.py", model="rgb3")
    sent = _sent(at, "sl_live:rgb3")
    assert sent["model"]["output_shape"] == [3, 12, 12] and len(sent["values"]) == 3
    assert {"red", "green", "blue"} & set(_captions(at))
    at.switch_page("pages/plane.py").run()
    assert not at.exception, at.exception
    plane = _sent(at, "pl_live:rgb3")
    assert plane["label_names"] == {"0": "red", "1": "green", "2": "blue"}
    assert len(sent_points(plane)[0]) == 40


def test_without_test_images_all_dimensions_count_the_same(models):
    from pages._lib import display, testset

    assert testset.dims_by_activity(None, 4) == ([0, 1, 2, 3], None)
    assert [display.t_name(i) for i in (0, 1, 9, 11)] == ["t₁", "t₂", "t₁₀", "t₁₂"]
    at = _app("pages/sliders.py", model="nodata6")
    assert any("does not have" in w.value for w in at.warning)  # said once, by test_split
    sent = _sent(at, "sl_live:nodata6")
    assert sent["dims"] == list(range(6)) and sent["values"] == [0.0] * 6
    assert sent["labels"] == {str(i): f"t{'₁₂₃₄₅₆'[i]}" for i in range(6)}
    assert at.button(key="sl_sample") and not [b for b in at.button if b.key == "sl_reset"]
    at.button(key="sl_sample").click().run()
    assert not at.exception and len(set(_numbers(at))) == 6
    at.switch_page("pages/plane.py").run()
    assert not at.exception, at.exception
    plane = _sent(at, "pl_live:nodata6")
    assert sent_points(plane)[0].shape == (0, 2) and plane["dims"] == [0, 1]
    assert at.selectbox(key="pl_base:nodata6").options == [
        "0, the prior mean",
        "the Latent sliders vector",
    ]


# --------------------------------------------------------------------------- fallback


def _live_widgets(at: AppTest) -> list:
    """The page's live decoder components (app.py's sidebar code element is one too: not counted)."""
    return [e for e in at.get("bidi_component") if e.key != "vae_browser_code"]



@pytest.fixture
def no_export(models, monkeypatch):
    """An architecture the browser decoder cannot run: every export fails."""

    def refuse(*args, **kwargs):  # noqa: ARG001  (the model, encoder=...)
        raise export.ExportError("decoder layer 3 (Mystery) is not supported by the browser decoder")

    monkeypatch.setattr(export, "export_payload", refuse)
    st.cache_data.clear()  # drop payloads exported by earlier tests
    st.cache_resource.clear()  # the browser payloads are shared resources
    yield
    st.cache_data.clear()
    st.cache_resource.clear()  # the browser payloads are shared resources


def test_sliders_fall_back_to_native_sliders_and_a_server_image(no_export, encoded):
    at = _app("pages/sliders.py", model="conv6")
    assert not _live_widgets(at)
    assert "cannot run in your browser" in at.warning[0].value and "Mystery" in at.warning[0].value
    sliders = [s for s in at.slider if s.key.startswith("sl_fb:conv6:")]
    assert len(sliders) == 6
    assert "decoded on the server" in _captions(at)
    mu0 = encoded["conv6"][0][0]
    np.testing.assert_allclose(_numbers(at), np.clip(mu0, -3, 3), atol=1e-2)
    at.slider(key="sl_fb:conv6:2").set_value(1.25).run()
    assert not at.exception, at.exception
    assert _numbers(at)[2] == 1.25 and at.session_state["latent_vector"][2] == 1.25
    at.button(key="sl_zero").click().run()
    assert _numbers(at) == [0.0] * 6 and at.slider(key="sl_fb:conv6:2").value == 0.0


def test_plane_falls_back_to_sliders_and_a_map(no_export):
    at = _app("pages/plane.py")
    assert not _live_widgets(at) and at.get("plotly_chart")
    assert "cannot run in your browser" in at.warning[0].value
    x_slider = next(s for s in at.slider if s.key.startswith("pl_fbx:mlp2:"))
    x_slider.set_value(1.5).run()
    assert not at.exception, at.exception
    assert any(h.value.startswith("Pinned at t = (+1.50, ") for h in at.subheader)
    assert "decoded on the server (PyTorch)" in _captions(at)


# --------------------------------------------------------------------------- plane


def test_plane_2d_shows_points_and_reports_a_pin(models, encoded):
    at = _app("pages/plane.py")
    sent = _sent(at, "pl_live:mlp2")
    assert sent["mode"] == "plane" and sent["dims"] == [0, 1]
    assert sent["extent"] == [-3.0, 3.0, -3.0, 3.0]
    xy, labels = sent_points(sent)
    assert xy.shape == (360, 2) and labels.shape == (360,)
    np.testing.assert_allclose(xy[0], encoded["mlp2"][0][0], atol=1e-4)
    assert sent["label_names"]["7"] == "7"
    assert not at.subheader  # nothing pinned yet

    # The browser reports a click at (0.5, -1.25).
    at.session_state["pl_live:mlp2"] = {"event": {
        "action": "pin", "pinned": [0.5, -1.25], "pinned_xy": [0.5, -1.25], "cmd": sent["cmd"],
        "model_id": sent["model"]["id"],
    }}  # fmt: skip
    at.run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == ["Pinned at t = (+0.50, −1.25)"]
    assert "decoded on the server (PyTorch)" in _captions(at)
    assert any(c.startswith("nearest test image: #") for c in _captions(at))
    assert _numbers(at) == [0.5, -1.25]

    at.button(key="pl_clear").click().run()
    assert not at.exception and not at.subheader
    assert _sent(at, "pl_live:mlp2")["pinned_xy"] is None


def test_plane_pin_opens_on_the_sliders_page(models):
    at = _app("pages/plane.py", model="conv6")
    sent = _sent(at, "pl_live:conv6")
    pinned = [0.5, 0.1, 0.2, 0.3, 0.4, -1.0]
    at.session_state["pl_live:conv6"] = {"event": {
        "action": "pin", "pinned": pinned, "pinned_xy": [pinned[d] for d in sent["dims"]],
        "cmd": sent["cmd"], "model_id": sent["model"]["id"],
    }}  # fmt: skip
    at.run()
    at.button(key="pl_to_sliders").click().run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Latent sliders"]
    assert at.selectbox(key="model_name").value == "conv6"
    assert _sent(at, "sl_live:conv6")["values"] == pinned


def test_plane_picks_two_dimensions_and_a_test_image_base(models, encoded):
    at = _app("pages/plane.py", model="conv6")
    mu = encoded["conv6"][0]
    order = [int(i) for i in np.argsort(-_kl_per_dim(*encoded["conv6"]), kind="stable")]
    sent = _sent(at, "pl_live:conv6")
    assert sent["dims"] == order[:2]  # the two most used dimensions
    # The others at the prior mean, not at some test image's code, and the page says so.
    assert sent["base_latent"] == [0.0] * 6
    note = next(i.value for i in at.info if "A slice, not the whole space" in i.value)
    assert "holds the other 4 at 0" in note and "(the two it uses most)" in note
    assert "mlp2" in note  # the 2-D model of the same data, one click away
    np.testing.assert_allclose(sent_points(sent)[0][0], mu[0, order[:2]], atol=1e-4)

    at.selectbox(key="pl_base:conv6").set_value("test").run()
    at.selectbox(key="pl_x:conv6").set_value(4).run()
    at.selectbox(key="pl_y:conv6").set_value(1).run()
    at.number_input(key="pl_test:conv6").set_value(9).run()
    assert not at.exception, at.exception
    now = _sent(at, "pl_live:conv6")
    assert now["dims"] == [4, 1] and now["cmd"] != sent["cmd"]  # a new slice: no old pin
    np.testing.assert_allclose(now["base_latent"], mu[9], atol=1e-5)
    np.testing.assert_allclose(sent_points(now)[0][0], mu[0, [4, 1]], atol=1e-4)

    assert "holds the other 4 at the mean of test image #9" in " ".join(i.value for i in at.info)
    at.selectbox(key="pl_base:conv6").set_value("zero").run()
    assert _sent(at, "pl_live:conv6")["base_latent"] == [0.0] * 6

    at.selectbox(key="pl_y:conv6").set_value(4).run()  # the same dimension twice
    assert not at.exception and "two different dimensions" in at.warning[0].value


def test_plane_switches_to_the_2d_model_of_the_same_data_in_one_click(models):
    at = _app("pages/plane.py", model="mlp12")
    at.button(key="pl_twin").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model_name").value == "mlp2"
    assert _sent(at, "pl_live:mlp2")["dims"] == [0, 1]
    assert not [i for i in at.info if "A slice" in i.value]
