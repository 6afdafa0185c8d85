"""Many users on one server: trainings side by side, shared models never mutated, closed tabs.

* Two ``TrainingJob``s at once (different names and configs) each save their own, correct
  checkpoint: its config, settings and history are its job's, and its weights reproduce the
  test ELBO its job reported (recomputed here with ``vae.core.fit.evaluate``).
* A model another user is looking at (loaded through the app's own cached loader,
  ``pages/_lib/models._load``) is never changed by a training: not by one that saves a new
  checkpoint, not by one that overwrites the very file it came from.
* Every inference helper in ``vae.app.inference`` and ``vae.lecture`` leaves the model exactly as
  it was: weights, ``requires_grad``, ``.grad``, ``.training``, and the global RNGs.
* Closing the tab mid-training (all references to the session dropped): the job finishes,
  saves a complete checkpoint, and is then garbage-collected.
"""

from __future__ import annotations

import functools
import gc
import inspect
import threading
import time
import weakref

import numpy as np
import pytest
import torch

from vae.app import inference
from vae.app.jobs import TrainingJob
from vae.core import fit as training
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, evaluate
from vae.core.model import VAE, VAEConfig
from vae.data.registry import load_dataset, to_float
from vae.lecture import ae_vs_vae, common, elbo, gradients, interpolation, noise

TIMEOUT = 180  # seconds; the test machine is small and shared
SMALL = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(32, 16))


def _frozen_copy(model: VAE) -> dict:
    """Everything about a model that a reader could change."""
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "grad": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "training": {n: m.training for n, m in model.named_modules()},
    }


def _assert_unchanged(model: VAE, before: dict, what: str) -> None:
    after = _frozen_copy(model)
    assert after["state"].keys() == before["state"].keys(), what
    changed = [k for k in before["state"] if not torch.equal(before["state"][k], after["state"][k])]
    assert not changed, f"{what} changed the weights {changed}"
    assert after["requires_grad"] == before["requires_grad"], f"{what} changed requires_grad"
    assert after["training"] == before["training"], f"{what} changed train/eval mode"
    for n, g in before["grad"].items():
        h = after["grad"][n]
        assert (g is None and h is None) or (g is not None and h is not None and torch.equal(g, h)), (
            f"{what} wrote .grad of {n}"
        )


# --------------------------------------------------------------------------- two jobs at once


def test_two_users_training_at_once_each_get_their_own_checkpoint(tmp_path):
    data = load_dataset("digits")
    specs = {
        "alice": (
            VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(32, 16)),
            TrainConfig(epochs=2, batch_size=128, lr=2e-3, seed=0),
        ),
        "bob": (
            VAEConfig(image_shape=(1, 8, 8), latent_dim=3, hidden=(24,), variant="noisy_ae"),
            TrainConfig(epochs=3, batch_size=64, lr=1e-3, seed=7),
        ),
    }
    started = {
        name: TrainingJob(cfg, tc, "digits", tmp_path / "user" / f"{name}.pt", {"title": f"{name}'s"}).start()
        for name, (cfg, tc) in specs.items()
    }
    snaps = {name: job.wait(TIMEOUT) for name, job in started.items()}
    test_x = to_float(data.test_x)
    for name, (cfg, tc) in specs.items():
        snap = snaps[name]
        assert snap.status == "done", snap.error
        assert snap.checkpoint_path == tmp_path / "user" / f"{name}.pt"
        ckpt = load_checkpoint(snap.checkpoint_path)
        assert ckpt.model_config == cfg and ckpt.train_config == tc.to_dict()
        assert ckpt.meta["title"] == f"{name}'s" and ckpt.meta["epochs_done"] == tc.epochs
        assert ckpt.history == [h.to_dict() for h in snap.history] and len(ckpt.history) == tc.epochs
        # The saved weights are the ones this job trained: they reproduce its last test ELBO
        # (fit scores each epoch with evaluate(..., seed=seed + 2)).
        recomputed = evaluate(ckpt.build_model(), test_x, tc.eval_batch_size, seed=tc.seed + 2)
        assert recomputed["elbo"] == pytest.approx(ckpt.history[-1]["test_elbo"], rel=1e-5, abs=1e-4)
    assert sorted(p.name for p in (tmp_path / "user").iterdir()) == ["alice.pt", "bob.pt"]


def test_concurrent_trainings_are_reproducible(tmp_path, monkeypatch):
    """Two jobs that initialise their models at the same moment must still train exactly as
    each would alone (and as the CLI command stored in their checkpoints would).

    fit() seeds torch's process-global RNG to build the model; without its lock, two jobs
    took each other's random numbers. The worst interleaving is forced here: job a seeds,
    then job b seeds, then a builds its model, then b. Each wait gives up after 2 s, so with
    the lock in place (b cannot seed while a holds it) the jobs simply run one after the other."""
    specs = {
        "a": TrainConfig(epochs=1, batch_size=256, seed=0),
        "b": TrainConfig(epochs=1, batch_size=256, seed=1),
    }
    data = load_dataset("digits")
    alone = {n: training.fit(SMALL, tc, data, "cpu")[0].state_dict() for n, tc in specs.items()}

    a_seeded, b_seeded, a_built = threading.Event(), threading.Event(), threading.Event()
    real_vae = training.VAE

    def interleaved_vae(config):  # called by fit() right after it seeded the global RNG
        if threading.current_thread().name == "train-a":
            a_seeded.set()
            b_seeded.wait(2)
            model = real_vae(config)
            a_built.set()
            return model
        b_seeded.set()
        a_built.wait(2)
        return real_vae(config)

    monkeypatch.setattr(training, "VAE", interleaved_vae)
    job_a = TrainingJob(SMALL, specs["a"], "digits", tmp_path / "a.pt").start()
    assert a_seeded.wait(TIMEOUT)
    job_b = TrainingJob(SMALL, specs["b"], "digits", tmp_path / "b.pt").start()
    for n, job in (("a", job_a), ("b", job_b)):
        snap = job.wait(TIMEOUT)
        assert snap.status == "done", snap.error
        together = load_checkpoint(snap.checkpoint_path).state_dict
        assert all(torch.equal(together[k], alone[n][k]) for k in alone[n]), f"job {n} differs from the same run alone"


# --------------------------------------------------------------- a shared model is never changed


def test_training_never_changes_a_model_another_user_is_looking_at(tmp_path, monkeypatch):
    from pages._lib import models

    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    torch.manual_seed(3)
    path = save_checkpoint(folder / "user" / "mine.pt", VAE(SMALL), dataset="digits", meta={"title": "v1"})

    def app_key(p):  # the key models.current() passes to the cached loader
        st_ = p.stat()
        return f"{st_.st_size}:{st_.st_mtime_ns}"

    key = app_key(path)
    ckpt, model = models._load(str(path), key)
    assert models._load(str(path), key)[1] is model  # one object, shared by every session
    before = _frozen_copy(model)
    ckpt_before = {k: v.clone() for k, v in ckpt.state_dict.items()}
    z = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    picture = inference.decode(model, z)  # what the other user sees

    # Meanwhile: one user trains a new model, another retrains "mine" under the same name.
    tc = TrainConfig(epochs=2, batch_size=128, seed=11)
    new = TrainingJob(SMALL, tc, "digits", folder / "user" / "new.pt").start()
    same_name = TrainingJob(SMALL, tc, "digits", path, {"title": "v2"}).start()
    while new.is_alive() or same_name.is_alive():  # the viewer keeps decoding while they train
        assert np.array_equal(inference.decode(model, z), picture)
        time.sleep(0.05)
    assert new.wait(0).status == same_name.wait(0).status == "done"

    _assert_unchanged(model, before, "training another model")
    assert all(torch.equal(ckpt.state_dict[k], ckpt_before[k]) for k in ckpt_before)
    assert ckpt.meta["title"] == "v1"
    assert np.array_equal(inference.decode(model, z), picture)
    # The cache still hands the old object to sessions holding the old key, unchanged; the
    # replaced file is a new key and so a new, separate object with the new weights.
    assert models._load(str(path), key)[1] is model
    new_ckpt, new_model = models._load(str(path), app_key(path))
    assert new_model is not model and new_ckpt.meta["title"] == "v2"
    on_disk = load_checkpoint(path).state_dict
    assert all(torch.equal(new_model.state_dict()[k], on_disk[k]) for k in on_disk)
    assert any(not torch.equal(new_model.state_dict()[k], before["state"][k]) for k in on_disk)


# ------------------------------------------------------------- inference helpers never mutate

X = np.random.default_rng(1).random((1, 8, 8)).astype(np.float32)
X2 = np.random.default_rng(2).random((1, 8, 8)).astype(np.float32)
BATCH = np.random.default_rng(3).random((5, 1, 8, 8)).astype(np.float32)
Z = np.random.default_rng(4).normal(size=(6, 2)).astype(np.float32)
MU, LOGVAR = torch.tensor([0.3, -0.2]), torch.tensor([-0.5, 0.1])  # the model's dtype

@functools.cache
def _tiny_classifier():
    """A digit classifier fitted on the 8x8 digits (about a second; built once)."""
    from vae.app.classifier import train_digit_classifier

    return train_digit_classifier(load_dataset("digits"), n_train=300, n_test=50, k=3)


# One small call per helper that reads a model (directly, or through model_log_lik's closure).
CALLS = {
    "inference.encode": lambda m: inference.encode(m, BATCH),
    "inference.decode": lambda m: inference.decode(m, Z),
    "inference.reconstruct": lambda m: inference.reconstruct(m, X, n_samples=3),
    "inference.prior_draws": lambda m: inference.prior_draws(m, 4),
    "inference.manifold": lambda m: inference.manifold(m, n=3),
    "inference.elbo_per_image": lambda m: inference.elbo_per_image(m, BATCH, n_samples=2),
    "common.param": lambda m: common.param(m),
    "common.as_image_batch": lambda m: common.as_image_batch(m, X),
    "common.posterior_params": lambda m: common.posterior_params(m, X),
    "common.model_log_lik": lambda m: common.model_log_lik(m, X)(torch.zeros(3, 2)),
    "common.log_lik_chunked": lambda m: common.log_lik_chunked(common.model_log_lik(m, X), torch.zeros(3, 2)),
    "noise.noise_samples": lambda m: noise.noise_samples(m, X, 4),
    "noise.noise_walk": lambda m: noise.noise_walk(m, X, 4),
    "gradients.reparam_gradient_samples": lambda m: gradients.reparam_gradient_samples(m, X, 4),
    "gradients.score_function_gradient_samples": lambda m: gradients.score_function_gradient_samples(m, X, 4, baseline=True),
    "gradients.reparam_gradients": lambda m: gradients.reparam_gradients(common.model_log_lik(m, X), MU, LOGVAR, 4),
    "gradients.score_function_gradients": lambda m: gradients.score_function_gradients(common.model_log_lik(m, X), MU, LOGVAR, 4),
    "gradients.variance_curve": lambda m: gradients.variance_curve(common.model_log_lik(m, X), MU, LOGVAR, (1, 4), repeats=3),
    "gradients.estimator_variance_curve": lambda m: gradients.estimator_variance_curve(m, X, (1, 4), repeats=3),
    "elbo.elbo_vs_logpx": lambda m: elbo.elbo_vs_logpx(m, X, ks=(1, 5), n_elbo=20),
    "elbo.grid_posterior": lambda m: elbo.grid_posterior(m, X, n=9),
    "elbo.focused_grid_posterior": lambda m: elbo.focused_grid_posterior(m, X, n=9, coarse_n=9),
    "interpolation.interpolate": lambda m: interpolation.interpolate(m, X, X2, n_steps=3),
    "ae_vs_vae.twin_view": lambda m: ae_vs_vae.twin_view(m, BATCH, recon_index=(0, 2), n_prior=4),
    "ae_vs_vae.code_range_grid": lambda m: ae_vs_vae.code_range_grid(m, Z),
    "ae_vs_vae.code_walk": lambda m: ae_vs_vae.code_walk(m, Z[0], Z[1], 3),
    "ae_vs_vae.code_walks": lambda m: ae_vs_vae.code_walks(m, Z, np.arange(6), n_pairs=2, n_steps=3),
    "ae_vs_vae.twin_scores": lambda m: ae_vs_vae.twin_scores(m, _tiny_classifier(), BATCH, np.array([0, 1, 0, 1, 0]), n_prior=4, grid_n=3, n_walks=2, walk_steps=3),
}


def _model_readers() -> set[str]:
    """Public functions of vae.app.inference / vae.lecture that take a model or a log-likelihood."""
    found = set()
    for mod in (inference, common, noise, gradients, elbo, interpolation, ae_vs_vae):
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ != mod.__name__ or name.startswith("_"):
                continue
            params = inspect.signature(fn).parameters.values()
            if any(str(p.annotation) == "VAE" or p.annotation is VAE or p.name == "log_lik" for p in params):
                found.add(f"{mod.__name__.split('.')[-1]}.{name}")
    return found


def test_every_model_reading_helper_is_covered():
    missing = _model_readers() - set(CALLS)
    assert not missing, f"add a call for {sorted(missing)} to CALLS (they read a shared model)"
    assert set(CALLS) <= _model_readers() | {"common.model_log_lik", "common.log_lik_chunked"}


def _app_model(arch: str, folder) -> VAE:
    """A model as the app holds it: from a checkpoint, eval mode, requires_grad off."""
    torch.manual_seed(5)
    cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, architecture=arch, hidden=(16,), conv_channels=(4, 8))
    return load_checkpoint(save_checkpoint(folder / "m.pt", VAE(cfg), dataset="digits")).build_model()


def _np_state() -> tuple:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return name, keys.tobytes(), pos, has_gauss, gauss


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("state", ["as the app holds it", "trainable, in train mode"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_inference_helpers_never_mutate_the_model(call, state, arch, tmp_path):
    model = _app_model(arch, tmp_path)
    if state != "as the app holds it":
        # Stricter than the app: a helper must not write .grad or flip the mode even then.
        model.train()
        for p in model.parameters():
            p.requires_grad_(True)
    before = _frozen_copy(model)
    torch_rng, np_rng = torch.get_rng_state(), _np_state()
    CALLS[call](model)
    _assert_unchanged(model, before, call)
    assert torch.equal(torch.get_rng_state(), torch_rng), f"{call} used torch's global RNG"
    assert _np_state() == np_rng, f"{call} used numpy's global RNG"


# --------------------------------------------------------------------------- closing the tab


def test_closing_the_tab_mid_training_still_saves_and_frees_the_job(tmp_path):
    out = tmp_path / "user" / "left-behind.pt"
    session = {"train_job": TrainingJob(SMALL, TrainConfig(epochs=3, batch_size=64), "digits", out).start()}
    job_ref = weakref.ref(session["train_job"])
    thread_name = f"train-{out.stem}"
    del session  # the tab is closed and Streamlit drops the session state
    gc.collect()
    assert any(t.name == thread_name for t in threading.enumerate()), "the training stopped with the tab"
    deadline = time.monotonic() + TIMEOUT
    while any(t.name == thread_name for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.exists(), "the job of a closed tab did not save"
    ckpt = load_checkpoint(out)
    assert len(ckpt.history) == 3 and not ckpt.meta["stopped_early"]
    gc.collect()
    assert job_ref() is None, "a finished job of a closed tab is never freed"
