"""Latent arithmetic (vae/app/arithmetic.py, pages/arithmetic.py) and the nearest-neighbour
panel (pages/_lib/nearest.py) against numpy / torch references computed from the encoded
means. Models: tiny digits VAEs trained here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from vae.app import arithmetic as ar
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, fit
from vae.core.model import VAEConfig
from vae.data.registry import load_dataset

APP = "../app.py"
TIMEOUT = 60
LIVE = "ar_live:{}"

pytestmark = pytest.mark.usefixtures("navigation_only")


def _train(path: Path, latent_dim: int) -> None:
    cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=latent_dim, hidden=(64,))
    model, _ = fit(cfg, TrainConfig(epochs=5, batch_size=64, lr=3e-3), load_dataset("digits"), device="cpu")
    save_checkpoint(path, model, dataset="digits")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """Two digits models, 2-D (the default) and 5-D; one torch thread while training (two
    were several times slower on a busy 2-core machine)."""
    folder = tmp_path_factory.mktemp("arith_ckpts")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _train(folder / "d2.pt", 2)
        _train(folder / "d5.pt", 5)
    finally:
        torch.set_num_threads(threads)
    (folder / "default.txt").write_text("d2\n")
    return folder


def _reference(folder: Path, name: str):
    """The model, the digits test means (torch, no app code) and the split's labels."""
    model = load_checkpoint(folder / f"{name}.pt").build_model()
    data = load_dataset("digits")
    with torch.no_grad():
        mu, _ = model.encode(data.test_x.float() / 255.0)
    return model, data, mu.double().numpy(), data.test_y.numpy()


# --------------------------------------------------------------------------- the maths


def test_vectors_walks_analogies_and_prior_density_match_numpy(model_dir):
    _, _, mu, y = _reference(model_dir, "d5")
    v = ar.attribute_vector(mu, np.flatnonzero(y == 3), y == 8)  # rows or a mask
    want = mu[y == 8].sum(0) / (y == 8).sum() - mu[y == 3].sum(0) / (y == 3).sum()
    np.testing.assert_allclose(v, want, atol=1e-12)
    t = ar.walk(mu[0], v, [-2.0, 0.5, 1.5])
    np.testing.assert_allclose(t, np.stack([mu[0] - 2 * want, mu[0] + 0.5 * want, mu[0] + 1.5 * want]), atol=1e-12)
    np.testing.assert_allclose(ar.analogy(mu[4], mu[5], mu[6]), mu[4] - mu[5] + mu[6], atol=1e-12)
    prior = torch.distributions.Normal(0.0, 1.0)
    want_lp = prior.log_prob(torch.as_tensor(t)).sum(-1).numpy()
    np.testing.assert_allclose(ar.prior_log_density(t), want_lp, rtol=1e-12)
    places = ar.prior_place(t, mu)
    ref_lp = prior.log_prob(torch.as_tensor(mu)).sum(-1).numpy()
    for p, lp in zip(places, want_lp, strict=True):
        assert p.percentile == pytest.approx(100.0 * (ref_lp < lp).mean(), abs=1e-9)
    far = ar.prior_place(np.full(5, 6.0), mu)[0]
    assert far.far and far.percentile == 0.0
    with pytest.raises(ValueError, match="at least one"):
        ar.group_mean(mu, np.zeros(len(mu), bool))


# --------------------------------------------------------------------------- the page


@pytest.fixture
def app(model_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(model_dir))

    def open_page(model: str = "d2", **state) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.run()
        if model != "d2":
            at.selectbox(key="model_name").set_value(model).run()
        for k, v in state.items():
            at.session_state[k] = v
        at.switch_page("pages/arithmetic.py").run()
        _ok(at)
        return at

    return open_page


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _sent(at: AppTest, key: str) -> dict:
    (el,) = [e for e in at.get("bidi_component") if e.key == key]
    return json.loads(el.proto.json)


def _captions(at: AppTest) -> list[str]:
    return [c for im in at.get("image") for c in im.captions]


def _neighbour_captions(at: AppTest) -> list[tuple[int, float]]:
    """(index, distance) of every neighbour thumbnail, in page order."""
    out = []
    for c in _captions(at):
        m = re.fullmatch(r"#(\d+) · .* · d = ([\d.]+)", c)
        if m:
            out.append((int(m.group(1)), float(m.group(2))))
    return out


def _brute(points: np.ndarray, q: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    d = np.sqrt(((points - q) ** 2).sum(axis=1))
    order = sorted(range(len(d)), key=lambda i: (d[i], i))[:k]
    return [(i, float(d[i])) for i in order]


def test_page_direction_live_slider_strip_and_neighbours(app, model_dir):
    at = app("d5")
    model, data, mu, y = _reference(model_dir, "d5")
    # Default groups: class 0 -> class 1; start: test image #0.
    want_v = mu[y == 1].mean(0) - mu[y == 0].mean(0)
    sent = _sent(at, LIVE.format("d5"))
    assert sent["mode"] == "direction"
    np.testing.assert_allclose(sent["direction"], want_v, atol=1e-5)
    np.testing.assert_allclose(sent["base"], mu[0], atol=1e-5)
    assert f"= {np.linalg.norm(want_v):.2f}" in "\n".join(e.value for e in at.latex)
    strip = [c for c in _captions(at) if c.startswith("α = ") and "%" in c]
    assert [c.split(" · ")[0] for c in strip] == [f"α = {a:+.1f}" for a in ar.STRIP_ALPHAS]

    # The browser reports a release at alpha = 1.5: the neighbours are those of m + 1.5 v.
    at.session_state[LIVE.format("d5")] = {
        "event": {"action": "release", "alpha": 1.5, "cmd": sent["cmd"], "model_id": sent["model"]["id"]}
    }
    at.run()
    _ok(at)
    assert any("α = +1.50" in m.value for m in at.markdown)
    t = torch.as_tensor(mu[0] + 1.5 * want_v, dtype=torch.float32)
    with torch.no_grad():
        img = torch.sigmoid(model.decode(t[None]))[0].double().numpy().reshape(-1)
        train_mu, _ = model.encode(data.train_x.float() / 255.0)
    found = _neighbour_captions(at)
    pixels = data.train_x.numpy().reshape(len(data.train_x), -1) / 255.0
    want = _brute(pixels, img) + _brute(train_mu.double().numpy(), t.double().numpy())
    assert [i for i, _ in found] == [i for i, _ in want]
    np.testing.assert_allclose([d for _, d in found], [d for _, d in want], atol=0.006)  # shown with 2 decimals


def test_page_analogy_and_unlabelled_data_use_saved_groups(app, model_dir, monkeypatch):
    at = app("d2")
    _, _, mu, _ = _reference(model_dir, "d2")
    for name, j in zip("abc", (7, 11, 13), strict=True):
        at.number_input(key=f"ar:an_{name}").set_value(j)
    at.run()
    _ok(at)
    t = mu[7] - mu[11] + mu[13]
    lp = -0.5 * (t @ t + 2 * np.log(2 * np.pi))
    assert any(f"log N(t; 0, I) = {lp:.1f} nats" in m.value for m in at.markdown)

    # Data without classes (Frey): no groups until two selections are saved on the map.
    from pages._lib import groups

    monkeypatch.setattr(groups, "UNLABELLED", frozenset({"digits"}))
    at = app("d2")
    assert any("Latent map" in i.value for i in at.info)
    from vae.core.checkpoints import file_identity

    saved = {file_identity(model_dir / "d2.pt"): {"A": [0, 1, 2], "B": [5, 6]}}
    at = app("d2", **{groups.SAVED_KEY: saved})
    assert at.selectbox(key="ar:a").options == ["selection A (3 images)", "selection B (2 images)"]
    sent = _sent(at, LIVE.format("d2"))
    np.testing.assert_allclose(sent["direction"], mu[[5, 6]].mean(0) - mu[[0, 1, 2]].mean(0), atol=1e-5)


def test_generation_page_shows_a_tiles_nearest_training_images(model_dir, monkeypatch):
    from pages._lib import navigation
    from vae.app import inference

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(model_dir))
    monkeypatch.setattr(navigation, "leave_pages_directory_mode", lambda: None)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["gen:nn"] = True
    at.session_state["gen:nn_tile"] = 3
    at.switch_page("pages/generation.py").run()
    _ok(at)
    model, data, _, _ = _reference(model_dir, "d2")
    draws = inference.prior_draws(model, 36, seed=0)  # the page's default tiles (the query)
    with torch.no_grad():
        train_mu, _ = model.encode(data.train_x.float() / 255.0)
    pixels = data.train_x.numpy().reshape(len(data.train_x), -1) / 255.0
    want = _brute(pixels, draws.images[2].reshape(-1).astype(np.float64))
    want += _brute(train_mu.double().numpy(), draws.t[2].astype(np.float64))
    found = _neighbour_captions(at)
    assert [i for i, _ in found] == [i for i, _ in want]
    np.testing.assert_allclose([d for _, d in found], [d for _, d in want], atol=0.006)


# --------------------------------------------------------------------------- map selections


def _figure(at: AppTest, key: str) -> dict:
    return json.loads(next(e for e in at.get("plotly_chart") if e.key == key).proto.spec)


def _array(a) -> np.ndarray:
    if isinstance(a, dict):  # plotly 7: a base64 typed array
        import base64

        return np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"]))
    return np.asarray(a)


def _box_select(at: AppTest, key: str, box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """Select every map point inside ``box`` (x0, x1, y0, y1) as Plotly reports a box selection:
    (trace, index in trace) for each point. Returns the points' (x, y)."""
    spec = _figure(at, key)
    points, xy = [], []
    for c, trace in enumerate(spec["data"]):
        if "customdata" not in trace:
            continue
        x, y = _array(trace["x"]), _array(trace["y"])
        for i in np.flatnonzero((x >= box[0]) & (x <= box[1]) & (y >= box[2]) & (y <= box[3])):
            points.append({"curve_number": c, "point_index": int(i), "x": float(x[i]), "y": float(y[i])})
            xy.append((float(x[i]), float(y[i])))
    at.session_state[key] = {"selection": {
        "points": points, "box": [{"x": [box[0], box[1]], "y": [box[2], box[3]]}], "lasso": [],
    }}  # fmt: skip
    at.run()
    _ok(at)
    return xy


def _map(model_dir: Path, monkeypatch, model: str, method: str | None = None) -> AppTest:
    from pages._lib import navigation

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(model_dir))
    monkeypatch.setattr(navigation, "leave_pages_directory_mode", lambda: None)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model_name"] = model
    at.switch_page("pages/latent_map.py").run()
    if method:
        at.radio(key="map_method").set_value(method).run()
    _ok(at)
    return at


def _check_selection(at: AppTest, model_dir: Path, name: str, want: list[int]) -> None:
    """The page shows ``want`` (test rows): its count, its labels counted, and saves it."""
    from pages._lib import groups
    from vae.core.checkpoints import file_identity

    y = load_dataset("digits").test_y.numpy()
    assert any(s.startswith(f"Your selection: {len(want)} test images") for s in (h.value for h in at.subheader))
    table = at.dataframe[0].value
    labels, counts = np.unique(y[want], return_counts=True)
    assert table["label"].tolist() == [str(v) for v in labels]
    assert table["images"].tolist() == counts.tolist()
    next(b for b in at.button if b.label == "Save as group B").click().run()
    _ok(at)
    assert at.session_state[groups.SAVED_KEY][file_identity(model_dir / f"{name}.pt")]["B"] == sorted(want)


@pytest.mark.parametrize("view", ["latent", "pca", "tsne"])
def test_box_selection_maps_points_to_test_images(model_dir, monkeypatch, view):
    """A box selection's (trace, index) pairs become the test images drawn there: found here
    independently from each point's coordinates (torch-encoded means; sklearn's PCA; the
    t-SNE of a 150-point sample, whose rows say which images it holds)."""
    from sklearn.decomposition import PCA

    from vae.app import projection

    monkeypatch.setattr(projection, "TSNE_SAMPLE", 150)  # fewer than the 360 digits test images
    name = "d2" if view == "latent" else "d5"
    at = _map(model_dir, monkeypatch, name, None if view == "latent" else view)
    _, _, mu, _ = _reference(model_dir, name)
    key = f"map_chart:{name}:{view}"
    if view == "latent":
        coords, rows = mu, np.arange(len(mu))
    elif view == "pca":
        coords, rows = PCA(2).fit_transform(mu), np.arange(len(mu))
    else:
        proj = projection.project(mu.astype(np.float32), method="tsne", seed=0, max_points=150)
        coords, rows = proj.xy, proj.rows
        assert len(rows) == 150
    spec = _figure(at, key)
    x_all = np.concatenate([_array(t["x"]) for t in spec["data"] if "customdata" in t])
    y_all = np.concatenate([_array(t["y"]) for t in spec["data"] if "customdata" in t])
    x0, x1 = np.percentile(x_all, [20, 60])
    y0, y1 = np.percentile(y_all, [30, 80])
    xy = _box_select(at, key, (x0, x1, y0, y1))
    assert 5 <= len(xy) < len(x_all)
    want = []
    for px, py in xy:
        # PCA's axes are defined up to sign: match the point's |coordinates| against both.
        c = np.abs(coords) if view == "pca" else coords
        p = np.abs([px, py]) if view == "pca" else np.array([px, py])
        dist = np.linalg.norm(c - p, axis=1)
        assert dist.min() < 1e-3, "a selected point matches no test image's coordinates"
        want.append(int(rows[int(dist.argmin())]))
    _check_selection(at, model_dir, name, sorted(set(want)))


def test_3d_view_for_a_3d_latent_and_pca_of_larger_ones(model_dir, monkeypatch):
    at = _map(model_dir, monkeypatch, "d5", "3d")
    spec = _figure(at, "map_chart:d5:pca:3d")
    traces = [t for t in spec["data"] if t["type"] == "scatter3d"]
    assert len(traces) >= 10 and "PC 3" in json.dumps(spec["layout"])
    assert any("Clicking cannot pick a point in 3-D" in c.value for c in at.caption)
    at.number_input(key="map_pick:d5").set_value(42).run()
    _ok(at)
    spec = _figure(at, "map_chart:d5:pca:1:3d")  # a typed number: a new chart key
    star = [t for t in spec["data"] if t["type"] == "scatter3d" and t["name"].startswith("#42 ")]
    assert len(star) == 1
    assert any(h.value.startswith("Test image #42: ") for h in at.subheader)
