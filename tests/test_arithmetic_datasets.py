"""Selections, latent arithmetic and nearest neighbours beyond grey digits: the bundled Frey
faces model (no classes: the direction comes from two map selections) and a small colour model
trained here on a folder of drawn RGB shapes (its test images live in the checkpoint). Every
value is checked against torch-encoded means and numpy brute force, not the app's own code."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.test_arithmetic import (
    LIVE,
    _array,
    _brute,
    _figure,
    _map,
    _neighbour_captions,
    _ok,
    _sent,
)

pytestmark = pytest.mark.usefixtures("navigation_only")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """frey_2d (bundled) and ``shapes``: a conv VAE (3x16x16, 4-D latent) trained on 160 drawn
    discs and squares, its 16 test images kept in the checkpoint."""
    from tests.test_colour import _shapes, _zip
    from vae.core.checkpoints import save_checkpoint
    from vae.core.fit import TrainConfig, fit
    from vae.core.model import VAEConfig
    from vae.data.folders import load_image_folder
    from vae.data.kept_test_set import custom_test_set

    out = tmp_path_factory.mktemp("datasets_ckpts")
    shutil.copy2(REPO / "checkpoints" / "frey_2d.pt", out / "frey_2d.pt")
    zpath = out.parent / "shapes.zip"
    zpath.write_bytes(_zip(_shapes(160)[0]))
    data = load_image_folder(zpath, size=(16, 16), channels=3, name="shapes")
    cfg = VAEConfig(image_shape=(3, 16, 16), latent_dim=4, architecture="conv", conv_channels=(8, 16), hidden=(32,))
    model, _ = fit(cfg, TrainConfig(epochs=8, batch_size=16, lr=3e-3, seed=0), data, device="cpu")
    save_checkpoint(out / "shapes.pt", model, dataset=data.name, meta={"test_set": custom_test_set(data)})
    (out / "default.txt").write_text("frey_2d\n")
    return out


def _means(folder: Path, name: str, images: np.ndarray):
    """The model and the posterior means of ``images`` (uint8, N C H W), with torch only."""
    from vae.core.checkpoints import load_checkpoint

    model = load_checkpoint(folder / f"{name}.pt").build_model().eval()
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(np.asarray(images)).float() / 255.0)
    return model, mu.double().numpy()


def _select_and_save(at: AppTest, key: str, lo: float, hi: float, coords: np.ndarray, name: str) -> list[int]:
    """Box-select the map points whose x is in the [lo, hi] percentiles (as Plotly reports
    them: trace and index), save them as group ``name``; returns the test rows they are, found
    here by matching each point's coordinates to ``coords (N, 2)`` (sign-free for PCA)."""
    spec = _figure(at, key)
    xs = np.concatenate([_array(t["x"]) for t in spec["data"] if "customdata" in t])
    x0, x1 = np.percentile(xs, [lo, hi])
    points, rows = [], []
    for c, trace in enumerate(spec["data"]):
        if "customdata" not in trace:
            continue
        x, y = _array(trace["x"]), _array(trace["y"])
        for i in np.flatnonzero((x >= x0) & (x <= x1)):
            points.append({"curve_number": c, "point_index": int(i), "x": float(x[i]), "y": float(y[i])})
            dist = np.linalg.norm(np.abs(coords) - np.abs([x[i], y[i]]), axis=1)
            assert dist.min() < 1e-3, "a map point matches no test image"
            rows.append(int(dist.argmin()))
    box = [{"x": [float(x0), float(x1)], "y": [-1e9, 1e9]}]
    at.session_state[key] = {"selection": {"points": points, "box": box, "lasso": []}}
    at.run()
    _ok(at)
    want = sorted(set(rows))
    assert any(h.value.startswith(f"Your selection: {len(want)} test images") for h in at.subheader)
    next(b for b in at.button if b.label == f"Save as group {name}").click().run()
    _ok(at)
    return want


def _check_direction_and_neighbours(at: AppTest, name: str, model, mu: np.ndarray, a, b, ref_images) -> None:
    """The live slider's direction is mean(mu[b]) - mean(mu[a]); the neighbours of the start
    (test image #0 at alpha 0) equal brute force over ``ref_images`` in both spaces."""
    sent = _sent(at, LIVE.format(name))
    want_v = mu[b].mean(0) - mu[a].mean(0)
    np.testing.assert_allclose(sent["direction"], want_v, atol=1e-5)
    np.testing.assert_allclose(sent["base"], mu[0], atol=1e-5)
    t = torch.as_tensor(mu[0], dtype=torch.float32)
    ref = np.asarray(ref_images)
    with torch.no_grad():
        img = torch.sigmoid(model.decode(t[None]))[0].double().numpy().reshape(-1)
        ref_mu, _ = model.encode(torch.from_numpy(ref).float() / 255.0)
    pixels = ref.reshape(len(ref), -1) / 255.0
    want = _brute(pixels, img) + _brute(ref_mu.double().numpy(), mu[0])
    found = _neighbour_captions(at)
    assert [i for i, _ in found] == [i for i, _ in want]
    np.testing.assert_allclose([d for _, d in found], [d for _, d in want], atol=0.006)


def test_frey_direction_from_two_map_selections(folder, monkeypatch, shared_data):
    """Frey faces have no classes: two box selections saved on the map are the only groups,
    and the attribute vector is the difference of their torch-encoded means."""
    from vae.data.registry import load_dataset

    data = load_dataset("frey")  # shared_data: skipped without the datasets, failed in CI
    model, mu = _means(folder, "frey_2d", data.test_x.numpy())
    at = _map(folder, monkeypatch, "frey_2d", None)
    key = "map_chart:frey_2d:latent"
    rows_a = _select_and_save(at, key, 0, 25, mu, "A")
    rows_b = _select_and_save(at, key, 75, 100, mu, "B")
    at.switch_page("pages/arithmetic.py").run()
    _ok(at)
    opts = at.selectbox(key="ar:a").options
    assert opts == [f"selection A ({len(rows_a)} images)", f"selection B ({len(rows_b)} images)"]
    _check_direction_and_neighbours(at, "frey_2d", model, mu, rows_a, rows_b, data.train_x.numpy())


def test_colour_folder_model_classes_selections_and_neighbours(folder, monkeypatch):
    """A colour model from a folder: class groups and a PCA-map selection, and neighbours among
    the kept test images (its training images are not kept)."""
    from sklearn.decomposition import PCA

    from vae.core.checkpoints import load_checkpoint

    kept = load_checkpoint(folder / "shapes.pt").meta["test_set"]
    images, labels = np.asarray(kept["images"]), np.asarray(kept["labels"])
    assert images.shape[1:] == (3, 16, 16) and len(images) == 16
    model, mu = _means(folder, "shapes", images)
    at = _map(folder, monkeypatch, "shapes", "pca")
    rows_b = _select_and_save(at, "map_chart:shapes:pca", 50, 100, PCA(2).fit_transform(mu), "B")
    at.switch_page("pages/arithmetic.py").run()
    _ok(at)
    # Default groups: the saved selection B first, then the classes; A = selection B, B = discs.
    opts = at.selectbox(key="ar:a").options
    assert opts == [f"selection B ({len(rows_b)} images)"] + [
        f"class {n} ({(labels == k).sum()} images)" for k, n in enumerate(kept["label_names"])
    ]
    _check_direction_and_neighbours(at, "shapes", model, mu, rows_b, np.flatnonzero(labels == 0), images)
    # Nearest in pixels over 3 channels: the start's own test image is among the kept ones.
    at.selectbox(key="ar:a").set_value(opts[2]).run()
    _ok(at)
    _check_direction_and_neighbours(at, "shapes", model, mu, labels == 1, labels == 0, images)
