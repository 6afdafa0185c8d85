"""Training snapshots (vae.core.snapshots): which epochs, what is stored, that it matches a
model trained separately to that epoch, and that bad snapshot fields are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vae import train
from vae.core.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from vae.core.model import VAE, VAEConfig
from vae.core.snapshots import Snapshots, snapshot_epochs
from vae.data.registry import load_dataset

ARGS = ["--dataset", "digits", "--latent-dim", "2", "--hidden", "32", "--batch-size", "128",
        "--iw-k", "2", "--iw-n", "20", "--seed", "3"]  # fmt: skip


def test_log_spaced_epochs():
    assert snapshot_epochs(1) == [1]
    assert snapshot_epochs(13) == [1, 2, 3, 5, 8, 13]
    assert snapshot_epochs(20) == [1, 2, 3, 5, 8, 13, 20]
    assert snapshot_epochs(150) == [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 150]
    many = snapshot_epochs(100_000)
    assert len(many) == 16 and many[0] == 1 and many[-1] == 100_000 and many == sorted(set(many))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One CLI run with --snapshots (6 epochs) and one to epoch 3 alone, same seed."""
    d = tmp_path_factory.mktemp("snap")
    assert train.main([*ARGS, "--epochs", "6", "--snapshots", "--out", str(d / "six.pt")]) == 0
    assert train.main([*ARGS, "--epochs", "3", "--out", str(d / "three.pt")]) == 0
    return load_checkpoint(d / "six.pt"), load_checkpoint(d / "three.pt")


def test_cli_stores_the_requested_epochs_and_their_figures(cli_run):
    six, three = cli_run
    s = six.snapshots
    assert s.epochs == [1, 2, 3, 5, 6]
    assert three.snapshots is None  # no --snapshots: nothing stored, the rest loads as before
    digits = load_dataset("digits")
    n = min(2000, len(digits.test_x))
    assert s.mu.shape == (5, n, 2) and s.mu.dtype == np.float16
    assert len(set(s.indices.tolist())) == n
    np.testing.assert_array_equal(s.labels, digits.test_y.numpy()[s.indices])
    assert s.prior.shape == (5, 16, 1, 8, 8) and s.prior.dtype == np.uint8
    assert s.manifold.shape == (5, 8, 8, 1, 8, 8) and s.manifold.dtype == np.uint8
    # The snapshot's figures are the history's of the same epoch.
    for row in s.stats:
        h = six.history[row["epoch"] - 1]
        assert row["test_elbo"] == pytest.approx(h["test_elbo"]) and row["test_kl"] == pytest.approx(h["test_kl"])
    # The last snapshot is the saved model: its decoded prior codes, rounded to bytes.
    model = six.build_model()
    with torch.no_grad():
        prior = torch.sigmoid(model.decode(torch.from_numpy(s.prior_t))).numpy()
    assert np.abs(s.prior[-1] / 255.0 - prior).max() <= 0.5 / 255 + 1e-6
    coords = torch.distributions.Normal(0, 1).icdf(torch.linspace(0.05, 0.95, 8)).numpy()
    np.testing.assert_allclose(s.grid_coords, coords, atol=1e-5)
    with torch.no_grad():  # top-left tile: t1 at the lowest quantile, t2 at the highest
        tile = torch.sigmoid(model.decode(torch.tensor([[coords[0], coords[-1]]]))).numpy()[0]
    assert np.abs(s.manifold[-1, 0, 0] / 255.0 - tile).max() <= 0.5 / 255 + 1e-6


def test_a_snapshot_equals_a_model_trained_to_that_epoch(cli_run):
    six, three = cli_run
    s = six.snapshots
    k = s.epochs.index(3)
    x = torch.from_numpy(load_dataset("digits").test_x.numpy()[s.indices]).float() / 255
    with torch.no_grad():
        mu = three.build_model().encode(x)[0].numpy()
    # float16 keeps 11 significant bits: a relative error of at most 2^-11.
    np.testing.assert_allclose(s.mu[k].astype(np.float32), mu, rtol=2**-11, atol=1e-7)
    assert not np.allclose(s.mu[-1].astype(np.float32), mu, rtol=1e-2)  # epoch 6 differs


def _snaps(d: int = 2, s: int = 2, n: int = 5, shape=(1, 8, 8)) -> Snapshots:
    rng = np.random.default_rng(0)
    return Snapshots(
        epochs=list(range(1, s + 1)), indices=np.arange(n), labels=np.zeros(n, np.int64),
        mu=rng.normal(size=(s, n, d)).astype(np.float16), prior_t=rng.normal(size=(3, d)).astype(np.float32),
        prior=np.zeros((s, 3, *shape), np.uint8), grid_coords=np.linspace(-1, 1, 4).astype(np.float32),
        manifold=np.zeros((s, 4, 4, *shape), np.uint8),
        stats=[{"epoch": e, "test_elbo": -1.0} for e in range(1, s + 1)],
    )  # fmt: skip


def _save_with(tmp_path, payload_change) -> str:
    cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    path = save_checkpoint(tmp_path / "c.pt", VAE(cfg), dataset="digits", snapshots=_snaps())
    payload = torch.load(path, weights_only=True)
    payload_change(payload["snapshots"])
    torch.save(payload, path)
    return path


def test_round_trip(tmp_path):
    path = _save_with(tmp_path, lambda s: None)
    got = load_checkpoint(path).snapshots
    want = _snaps()
    assert got.epochs == want.epochs and got.stats == want.stats
    for key in ("indices", "labels", "mu", "prior_t", "prior", "grid_coords", "manifold"):
        np.testing.assert_array_equal(getattr(got, key), getattr(want, key))


BAD = {
    "not a table": lambda s: s.clear() or s.update(epochs="x"),
    "decreasing epochs": lambda s: s.update(epochs=[2, 1]),
    "float32 means": lambda s: s.update(mu=s["mu"].float()),
    "a latent size of 3": lambda s: s.update(mu=torch.zeros(2, 5, 3, dtype=torch.float16)),
    "NaN means": lambda s: s["mu"].fill_(float("nan")),
    "one snapshot's images missing": lambda s: s.update(prior=s["prior"][:1].clone()),
    "a manifold of the wrong image size": lambda s: s.update(manifold=torch.zeros(2, 4, 4, 1, 8, 9, dtype=torch.uint8)),
    "labels of another length": lambda s: s.update(labels=torch.zeros(4, dtype=torch.int64)),
    "a negative index": lambda s: s["indices"].sub_(9),
    "an infinite figure": lambda s: s["stats"][0].update(test_elbo=float("inf")),
    "stats for one epoch": lambda s: s.update(stats=s["stats"][:1]),
    "17 * 4 epochs": lambda s: s.update(epochs=list(range(1, 70))),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_snapshots_are_refused_with_a_reason(tmp_path, kind):
    path = _save_with(tmp_path, BAD[kind])
    with pytest.raises(CheckpointError, match="snapshots"):
        load_checkpoint(path)


def test_a_training_job_gains_a_frame_per_snapshot_epoch_while_it_runs(tmp_path):
    import time

    from vae.app.jobs import TrainingJob
    from vae.core.fit import TrainConfig

    cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(32, 16))
    job = TrainingJob(cfg, TrainConfig(epochs=500, batch_size=16), "digits", tmp_path / "j.pt").start()
    seen: list[list[int]] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        snap = job.snapshot()
        assert not snap.finished, "the job ended before 5 epochs"
        if snap.snapshots is not None and (not seen or snap.snapshots.epochs != seen[-1]):
            seen.append(list(snap.snapshots.epochs))
            # A frame appears once its epoch is done, never for an epoch not yet trained.
            assert snap.snapshots.epochs[-1] <= snap.epoch
        if seen and seen[-1][-1] >= 5:
            break
        time.sleep(0.05)
    job.stop()
    done = job.wait(120)
    assert [s[-1] for s in seen][:4] == [1, 2, 3, 5]  # one new frame per snapshot epoch
    assert all(a == b[: len(a)] for a, b in zip(seen, seen[1:], strict=False))  # frames only added
    saved = load_checkpoint(done.checkpoint_path).snapshots
    assert saved.epochs[:4] == [1, 2, 3, 5] and saved.mu.shape[1] == 360
