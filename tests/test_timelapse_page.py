"""Watch it learn (pages/timelapse.py, pages/_lib/timelapse.py, vae/app/timelapse.py): the
frames hold the stored snapshots, one fixed projection, and models without snapshots still
load and say so."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from vae.app.timelapse import build_player
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.model import VAEConfig
from vae.core.snapshots import SnapshotRecorder
from vae.data.registry import load_dataset

APP = "../app.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """``snap`` (5 epochs with snapshots at 1, 2, 3, 5) and ``plain`` (none): digits, 2-D;
    ``snap8d``: 8-D with snapshots."""
    folder = tmp_path_factory.mktemp("checkpoints")
    data = load_dataset("digits")
    for name, d, snaps in (("snap", 2, True), ("plain", 2, False), ("snap8d", 8, True)):
        cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=d, hidden=(32,))
        rec = SnapshotRecorder(data, [1, 2, 3, 5], latent_dim=d, n_images=300) if snaps else None
        model, history = fit(cfg, TrainConfig(epochs=5, batch_size=128, lr=3e-3), data, "cpu", on_epoch_end=rec)
        save_checkpoint(
            folder / f"{name}.pt", model, dataset="digits", history=history.to_list(),
            snapshots=rec.result() if rec else None,
        )  # fmt: skip
    (folder / "default.txt").write_text("plain")
    return folder


def _app(model: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.selectbox(key="model_name").set_value(model).run()
    at.switch_page("pages/timelapse.py").run()
    assert not at.exception, at.exception
    return at


def _array(v) -> np.ndarray:
    """A plotly JSON array: a list, or plotly 7's ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def test_a_model_without_snapshots_loads_and_says_so(models):
    at = _app("plain")
    assert "trained without snapshots" in at.info[0].value
    assert not at.get("plotly_chart")
    assert any(b.label == "snap" for b in at.button)  # offers the models that have one
    at.button(key="tl_pick:snap").click().run()
    at.run()
    assert at.get("plotly_chart"), "choosing the offered model shows its time-lapse"


def test_the_frames_are_the_stored_snapshots(models, model_dir):
    at = _app("snap")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    snaps = load_checkpoint(model_dir / "snap.pt").snapshots
    assert [f["name"] for f in spec["frames"]] == ["1", "2", "3", "5"]
    classes = np.unique(snaps.labels)
    for k, frame in enumerate(spec["frames"]):
        for j, c in enumerate(classes):  # trace j = class c: its dots in the stored order
            want = snaps.mu[k][snaps.labels == c].astype(np.float32)
            np.testing.assert_allclose(_array(frame["data"][j]["x"]), want[:, 0], rtol=1e-6)
            np.testing.assert_allclose(_array(frame["data"][j]["y"]), want[:, 1], rtol=1e-6)
    # The curves' markers sit at the frame's epoch and its stored test ELBO.
    marker = spec["frames"][2]["data"][-2]
    assert marker["x"] == [3] and marker["y"][0] == pytest.approx(snaps.stats[2]["test_elbo"])


def test_more_than_two_dims_use_one_pca_fitted_on_the_last_snapshot(model_dir):
    from sklearn.decomposition import PCA

    snaps = load_checkpoint(model_dir / "snap8d.pt").snapshots
    p = build_player(snaps)
    pca = PCA(2).fit(snaps.mu[-1].astype(np.float64))
    # PCA's sign convention may differ per axis: fixed once, on the last frame.
    signs = np.sign((pca.transform(snaps.mu[-1].astype(np.float64)) * p.xy[-1]).sum(0))
    for k in range(len(snaps)):
        want = pca.transform(snaps.mu[k].astype(np.float64))
        np.testing.assert_allclose(p.xy[k], want * signs, atol=1e-4)
    assert "fitted on the last snapshot (epoch 5)" in p.projection


def test_the_train_page_time_lapse_gains_frames_while_training(model_dir, tmp_path, monkeypatch):
    import shutil
    import time

    from vae.core.snapshots import snapshot_epochs

    folder = tmp_path / "ckpts"
    folder.mkdir()
    shutil.copy(model_dir / "plain.pt", folder / "plain.pt")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    at.text_input(key="train_name").set_value("growing").run()
    at.slider(key="train_epochs_digits").set_value(100).run()
    at.select_slider(key="train_batch").set_value(32).run()
    at.button(key="train_start").click().run()
    seen: list[list[str]] = []
    end = time.monotonic() + 240
    while time.monotonic() < end and (not seen or len(seen[-1]) < 4):
        at.run()
        assert not at.exception, at.exception
        charts = [e for e in at.get("plotly_chart") if (e.key or "").startswith("timelapse-")]
        running = any(b.key == "train_stop" for b in at.button)
        if charts:
            assert running, "the training ended before its 4th snapshot"  # checked while it runs
            names = [f["name"] for f in json.loads(charts[0].proto.spec)["frames"]]
            if not seen or names != seen[-1]:
                seen.append(names)
        time.sleep(0.2)
    at.button(key="train_stop").click().run()
    want = [str(e) for e in snapshot_epochs(100)]
    assert len(seen) >= 2 and len(seen[-1]) >= 4, seen
    for names in seen:  # every view: the first snapshot epochs, in order, one frame each
        assert names == want[: len(names)]
    assert [len(n) for n in seen] == sorted({len(n) for n in seen})  # frames only ever added
