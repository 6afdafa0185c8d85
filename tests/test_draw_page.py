"""The Draw page's Python side: the browser's lift event is validated (a forged or stale one is
ignored, never a traceback), the drawing becomes "your last drawing" and is checked on the
server with PyTorch, and Your image offers it. AppTest with a tiny digits model; the browser
half is tested in tests/test_draw_preprocess_browser.py and tests/e2e/test_draw.py."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from pages._lib.live_draw import parse_drawing
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.model import VAEConfig
from vae.data.registry import load_dataset

APP = "../app.py"
TIMEOUT = 60
pytestmark = pytest.mark.usefixtures("navigation_only")
SHAPE = (1, 8, 8)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("draw_checkpoints")
    cfg = VAEConfig(image_shape=SHAPE, latent_dim=2, hidden=(32,))
    model, _ = fit(cfg, TrainConfig(epochs=3, batch_size=128, lr=3e-3), load_dataset("digits"), "cpu")
    save_checkpoint(folder / "tiny2d.pt", model, dataset="digits")
    (folder / "default.txt").write_text("tiny2d")
    return folder


def _event(**kw) -> dict:
    ev = {"action": "lift", "n": 3, "x": [0.5] * 64, "mu": [0.1, -0.2], "std": [0.5, 0.4]}
    return {**ev, **kw}



def _server_line(checkpoint, x: np.ndarray) -> str:  # noqa: ANN001
    """The page's "Server m = (...)" line expected for input ``x`` ``(C, H, W)``: the model's
    own encoding, by an independent torch call."""
    model = load_checkpoint(checkpoint).build_model()
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(x[None]))
    shown = ", ".join(f"{v:+.2f}".replace("-", "−") for v in mu[0].tolist())
    return f"**Server** m = ({shown})"

def test_parse_drawing_accepts_a_lift_and_refuses_forgeries() -> None:
    d = parse_drawing(_event(x=[2.0] + [0.25] * 63, recon=12.5, kl=3), SHAPE, 2)
    assert d is not None and d.n == 3 and d.x.shape == SHAPE and d.x.dtype == np.float32
    assert d.x[0, 0, 0] == 1.0 and d.x[0, 0, 1] == 0.25  # clipped to [0, 1]
    np.testing.assert_array_equal(d.mu, [0.1, -0.2])
    assert (d.recon, d.kl) == (12.5, 3.0)
    for bad in (
        _event(x=[0.5] * 63),  # wrong size
        _event(mu=[0.1, float("nan")]),
        _event(mu=[0.1, "0.2"]),
        _event(std=[10**400, 1]),  # a huge int: no OverflowError
        _event(x=[True] * 64),
        _event(action="weights"),
        _event(n="3"),
        {"action": "lift", "n": 1, "png": "data:image/png;base64,@@@"},
    ):
        assert parse_drawing(bad, SHAPE, 2) is None, bad
    png = parse_drawing({"action": "lift", "n": 1, "png": "data:image/png;base64," + base64.b64encode(b"x").decode()}, SHAPE, 2)
    assert png is not None and png.png == b"x" and png.x is None


def _draw_page(models) -> AppTest:  # noqa: ANN001
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/draw.py").run()
    assert not at.exception, at.exception
    return at


def test_a_lifted_drawing_is_stored_and_checked_on_the_server(models) -> None:  # noqa: ANN001
    at = _draw_page(models)
    assert not at.error
    assert any("Lift the pen" in c.value for c in at.caption)
    x = np.zeros(SHAPE, np.float32)
    x[0, 1:7, 3:5] = 1.0  # a "1"
    at.session_state["draw_pad:tiny2d"] = {"event": _event(x=x.ravel().tolist(), n=1)}
    at.run()
    assert not at.exception, at.exception
    stored = at.session_state["last_drawing"]
    np.testing.assert_array_equal(stored, x)
    np.testing.assert_array_equal(at.session_state["last_upload"], x)
    # The server's m is the model's own encoding of the same x (an independent torch call).
    text = " ".join(m.value for m in at.markdown)
    assert _server_line(models / "tiny2d.pt", x) in text
    assert "of 20 are" in text
    # Your image offers the drawing and reconstructs exactly it.
    at.switch_page("pages/reconstruct.py").run()
    assert not at.exception, at.exception
    at.radio(key="rec_source").set_value("drawing").run()
    assert not at.exception and not at.error
    assert "model input x (8x8)" in [c for im in at.get("image") for c in im.captions]


def test_two_elbos_on_the_page_are_explained_with_their_kl_terms(models) -> None:  # noqa: ANN001
    """The browser's ELBO (its own ε) and the server's differ by sampling noise: the page says
    so beside both numbers, and the server's KL equals the closed form (torch.distributions)."""
    x = np.zeros(SHAPE, np.float32)
    x[0, 1:7, 3:5] = 1.0
    model = load_checkpoint(models / "tiny2d.pt").build_model()
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(x[None]))
    q = torch.distributions.Normal(mu[0], (0.5 * logvar[0]).exp())
    kl = float(torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum())

    def why(browser_kl: float) -> str:
        at = _draw_page(models)
        at.session_state["draw_pad:tiny2d"] = {"event": _event(x=x.ravel().tolist(), n=1, recon=63.6, kl=browser_kl)}
        at.run()
        assert not at.exception, at.exception
        found = [c.value for c in at.caption if c.value.startswith("Why two ELBOs")]
        assert len(found) == 1, [c.value for c in at.caption]
        return found[0]

    text = why(25.8)
    assert text.startswith("Why two ELBOs (−89.4 in your browser, "), text
    assert f"needs no sampling (25.8 and {kl:.1f}: not the same drawing?)".replace("-", "−") in text, text
    # The browser's own KL (the same closed form) is said to be the same.
    assert f"({kl:.1f} and {kl:.1f}: the same)".replace("-", "−") in why(kl)


@pytest.fixture
def no_export(models, monkeypatch):  # noqa: ANN001
    """A model the browser export refuses (as for an architecture it cannot run)."""
    import streamlit as st

    from vae.app import export

    def refuse(*args, **kwargs):  # noqa: ARG001  (the model, encoder=...)
        raise export.ExportError("encoder layer 2 (Mystery) is not supported by the browser")

    monkeypatch.setattr(export, "export_payload", refuse)
    st.cache_data.clear()  # drop payloads exported by earlier tests
    st.cache_resource.clear()  # the browser payloads are shared resources
    yield models
    st.cache_data.clear()
    st.cache_resource.clear()  # the browser payloads are shared resources


def _png(img: np.ndarray) -> str:
    """A grey uint8 (H, W) picture as the pad's ``toDataURL`` sends it."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_an_unexportable_model_says_so_and_encodes_each_lift_on_the_server(no_export) -> None:  # noqa: ANN001
    at = _draw_page(no_export)
    assert not at.error
    warning = at.warning[0].value
    assert "cannot run in your browser" in warning and "server encodes your drawing" in warning
    assert "Mystery" in warning  # the export's own reason
    # A drawn "7" on the 280x280 pad (white ink on black), sent as the pad's PNG.
    pad = np.zeros((280, 280), np.uint8)
    pad[40:70, 60:220] = 255
    for r in range(70, 250):
        c = 200 - (r - 70) // 2
        pad[r, c - 14 : c + 14] = 255
    png = _png(pad)
    at.session_state["draw_pad:tiny2d"] = {"event": {"action": "lift", "png": png, "n": 1}}
    at.run()
    assert not at.exception, at.exception
    assert not at.error
    # The server prepared x like an upload of that PNG, and encoded it with the model.
    from vae.data.upload import preprocess_upload

    want_x = preprocess_upload(base64.b64decode(png.split(",", 1)[1]), SHAPE, style="digit").model_input
    stored = at.session_state["last_drawing"]
    np.testing.assert_allclose(stored, want_x, atol=1e-6)
    assert stored.max() == pytest.approx(1.0) and stored.mean() > 0.05  # ink, not a blank
    text = " ".join(m.value for m in at.markdown)
    assert _server_line(no_export / "tiny2d.pt", want_x) in text
    assert "**Browser** m" not in text  # nothing was encoded in the browser
    # A second lift (a new counter) is encoded again: an empty pad is the blank input.
    at.session_state["draw_pad:tiny2d"] = {"event": {"action": "lift", "png": _png(np.zeros((280, 280), np.uint8)), "n": 2}}
    at.run()
    assert not at.exception and not at.error
    np.testing.assert_array_equal(at.session_state["last_drawing"], np.zeros(SHAPE, np.float32))


def test_the_model_picker_defaults_to_the_chosen_model_not_its_first_option(model_dir, models) -> None:  # noqa: ANN001
    """At a page switch Streamlit's frontend can drop the picker's stored value and remount it
    from the element's ``default``; the next rerun then sends that option back as the user's
    choice (seen in Chromium: a session on mnist_2d moved to frey_2d, option 0, when the Draw
    page's pad asked for its weights). So the element's default must be the chosen model."""
    save_checkpoint(model_dir / "aaa_first.pt", load_checkpoint(model_dir / "tiny2d.pt").build_model(), dataset="digits")
    try:
        at = _draw_page(models)
        picker = at.selectbox(key="model_name")
        assert picker.options[0].startswith("aaa_first") and picker.value == "tiny2d"
        assert picker.proto.options[picker.proto.default].startswith("tiny2d")
    finally:
        (model_dir / "aaa_first.pt").unlink()
