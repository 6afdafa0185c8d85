"""What every run of every session reads is built once per server and shared, not rebuilt or
copied per run: the encoded test split (with its ink and per-dimension KL), the checkpoint
listing, and the navigation's pages (``bench/classroom.py`` measured each of them under load).
Each test checks the shared values against an independent computation and that the sharing
cannot leak one session's change into another's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import streamlit as st
import torch
from torch.distributions import Normal, kl_divergence

from pages._lib import models, navigation, testset
from tests.conftest import seeded_model
from vae.core import checkpoints
from vae.core.model import VAEConfig
from vae.data.registry import load_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


# --------------------------------------------------------------------------- the test split


def test_test_split_is_shared_read_only_with_ink_and_kl_computed_once():
    model = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=(32,)), seed=3)
    a = testset._encode_split("k", "digits", model)
    b = testset._encode_split("k", "digits", model)
    assert a is b  # no per-run copy (st.cache_data would unpickle a new one every run)

    data = load_dataset("digits")
    n = len(a.labels)
    np.testing.assert_array_equal(a.images, data.test_x[:n].numpy())
    # Ink, brute force: the mean of every pixel of every image, in [0, 1].
    want_ink = [float(np.mean([p / 255.0 for p in img.ravel()])) for img in data.test_x[:n].numpy()[:50]]
    np.testing.assert_allclose(a.ink[:50], want_ink, rtol=1e-6)
    # Per-dimension KL against torch.distributions, averaged over the split.
    mu, logvar = torch.tensor(np.array(a.mu, np.float64)), torch.tensor(np.array(a.logvar, np.float64))
    q = Normal(mu, torch.exp(0.5 * logvar))
    want_kl = kl_divergence(q, Normal(0.0, 1.0)).mean(0).numpy()
    np.testing.assert_allclose(a.kl, want_kl, rtol=1e-5, atol=1e-7)
    order, kl = testset.dims_by_activity(a, 3)
    assert order == [int(i) for i in np.argsort(-want_kl, kind="stable")] and kl is a.kl

    # Shared by every session: an edit raises instead of changing what other students see.
    for arr in (a.images, a.labels, a.mu, a.logvar, a.ink, a.kl):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0


def test_inference_takes_the_shared_read_only_arrays_without_torch_warnings():
    # torch warns once per process about a read-only array: a fresh interpreter, warnings as errors.
    code = (
        "import numpy as np, torch\n"
        "from vae.app import inference\n"
        "from vae.core.model import VAE, VAEConfig\n"
        "torch.manual_seed(1)\n"
        "m = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))).eval()\n"
        "x = (np.arange(7 * 64, dtype=np.uint8) % 251).reshape(7, 1, 8, 8)\n"
        "want = inference.encode(m, x.copy())[0]\n"
        "x.setflags(write=False)\n"
        "got = inference.encode(m, x)[0]\n"
        "assert np.array_equal(got, want), (got, want)\n"
    )
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


# --------------------------------------------------------------------------- the listing


def _ckpt_folder(tmp_path, monkeypatch, names):
    src = os.path.join(REPO, "checkpoints", "digits_2d.pt")
    if not os.path.exists(src):
        pytest.skip("the bundled digits_2d model is not in this checkout")
    folder = tmp_path / "ckpts"
    (folder / "user").mkdir(parents=True)
    for n in names:
        shutil.copy(src, folder / f"{n}.pt")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    return folder, src


def test_listing_is_taken_once_while_the_folder_is_unchanged(tmp_path, monkeypatch):
    _ckpt_folder(tmp_path, monkeypatch, ["a", "b"])
    calls = []
    real = models.checkpoint_files
    monkeypatch.setattr(models, "checkpoint_files", lambda f: calls.append(f) or real(f))
    for _ in range(5):
        assert [e.name for e in models.model_entries()] == ["a", "b"]
    assert len(calls) == 1


def test_listing_shows_a_new_saved_or_deleted_file_at_once(tmp_path, monkeypatch):
    folder, src = _ckpt_folder(tmp_path, monkeypatch, ["a"])
    assert [(e.name, e.bundled) for e in models.model_entries()] == [("a", True)]
    shutil.copy(src, folder / "user" / "mine.pt")  # a user's model, e.g. from another replica
    assert [(e.name, e.bundled) for e in models.model_entries()] == [("a", True), ("mine", False)]
    # A save is a temp file renamed into place: the new file's identity is listed at once.
    old = {e.name: e.identity for e in models.model_entries()}
    tmp = folder / "user" / ".mine.pt.tmp"
    shutil.copy(src, tmp)
    os.utime(tmp, ns=(time.time_ns() + 10**9,) * 2)
    os.replace(tmp, folder / "user" / "mine.pt")
    new = {e.name: e.identity for e in models.model_entries()}
    assert new["mine"] != old["mine"] and new["a"] == old["a"]
    (folder / "a.pt").unlink()
    assert [e.name for e in models.model_entries()] == ["mine"]


def test_listing_sees_a_file_overwritten_in_place_within_its_ttl(tmp_path, monkeypatch):
    folder, _ = _ckpt_folder(tmp_path, monkeypatch, ["a"])
    stamp = checkpoints.folder_stamp(folder)
    assert models.model_entries()[0].ok
    (folder / "a.pt").write_bytes(b"not a checkpoint")  # in place: the folder's stamp is kept
    os.utime(folder, ns=(stamp[0], stamp[0]))
    assert checkpoints.folder_stamp(folder) == stamp
    models.forget_listing()  # what the Train page does after its own save
    entry = models.model_entries()[0]
    assert not entry.ok and entry.error
    # Without forgetting, the listing's time-to-live bounds how long a stale entry can last.
    assert models.LISTING_TTL_S <= 2.0


# --------------------------------------------------------------------------- the pages


def test_pages_are_built_once_and_each_run_gets_its_own_copies():
    built = []

    def build():
        built.append(1)
        return {"Start": [types.SimpleNamespace(url_path="home", _can_be_called=False)],
                "More": [types.SimpleNamespace(url_path="other", _can_be_called=False)]}  # fmt: skip

    first = navigation.pages_once("/app", build)
    second = navigation.pages_once("/app", build)
    assert len(built) == 1
    for g in ("Start", "More"):
        for p, q in zip(first[g], second[g], strict=True):
            assert p is not q and p.url_path == q.url_path
    # st.navigation marks its own run's page as the one that may run: never seen by another run.
    first["More"][0]._can_be_called = True
    assert not second["More"][0]._can_be_called
    navigation.pages_once("/other-app", build)  # another app folder builds its own
    assert len(built) == 2


def test_the_app_constructs_its_pages_on_the_first_run_only(monkeypatch, navigation_only):
    from streamlit.testing.v1 import AppTest

    made = []
    real = st.Page

    def counting_page(*args, **kwargs):
        made.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "Page", counting_page)
    for _ in range(2):  # two sessions, each with a page switch
        at = AppTest.from_file(os.path.join(REPO, "app.py"), default_timeout=60)
        at.run()
        at.switch_page("pages/noise.py").run()
        assert not at.exception, at.exception
        assert any("reparameterization" in t.value for t in at.title)
    assert len(made) == len(set(made)) >= 17  # each page once, for the whole server


# --------------------------------------------------------------------------- the browser's decoder


def test_decoder_payload_is_exported_once_shared_and_read_only():
    from vae.app import export

    model = seeded_model(VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=(16,)), seed=2)
    a, err = models._decoder_payload("k", model)
    b, _ = models._decoder_payload("k", model)
    assert err is None and a is b  # no per-run copy of the weights
    fresh = export.export_payload(model)
    assert dict(a) == fresh  # the same export, weights and header
    with pytest.raises(TypeError):
        a["weights_b64"] = ""  # shared by every session: not to be edited
    with_encoder, _ = models._decoder_payload("k", model, True)
    assert with_encoder is not a and with_encoder["encoder"] and not a["encoder"]
