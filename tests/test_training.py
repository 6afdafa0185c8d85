"""Training on the bundled digits: it learns, it is reproducible, it stops cleanly."""

import torch

from vae.core.fit import TrainConfig, evaluate, fit, kl_weight, prepare_images
from vae.core.losses import iwae_log_likelihood
from vae.core.metrics import summarize
from vae.core.model import VAEConfig
from vae.data.registry import load_dataset

CFG = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(128, 64))


def test_training_lowers_test_loss_and_is_reproducible():
    data = load_dataset("digits")
    tc = TrainConfig(epochs=6, batch_size=64, lr=2e-3, seed=3)
    seen = []
    model, history = fit(CFG, tc, data, device="cpu", on_epoch_end=lambda s, m: seen.append(s.epoch))
    assert seen == [1, 2, 3, 4, 5, 6]
    first, last = history.epochs[0], history.epochs[-1]
    # An untrained model scores about -44 nats on 8x8 digits; a few epochs gain a clear margin.
    with torch.random.fork_rng():
        torch.manual_seed(3)
        from vae.core.model import VAE

        untrained = VAE(CFG)
    _, test = prepare_images(data, torch.device("cpu"), False, 0)
    before = evaluate(untrained, test)["elbo"]
    after = evaluate(model, test)["elbo"]
    assert after > before + 8, (before, after)
    assert last.test_elbo > first.test_elbo
    assert last.train_recon < first.train_recon
    model2, history2 = fit(CFG, tc, data, device="cpu")
    assert [e.test_elbo for e in history2.epochs] == [e.test_elbo for e in history.epochs]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True))


def test_global_rng_untouched():
    data = load_dataset("digits")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(CFG, TrainConfig(epochs=1, batch_size=256), data, device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_stop_keeps_last_finished_epoch():
    data = load_dataset("digits")
    snapshots = {}
    calls = {"n": 0}
    n_batches = -(-data.train_x.shape[0] // 64)

    def on_epoch_end(stats, model):
        snapshots[stats.epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    def should_stop():  # stop in the middle of epoch 3
        calls["n"] += 1
        return calls["n"] > 2 * n_batches + n_batches // 2

    model, history = fit(CFG, TrainConfig(epochs=5, batch_size=64), data, "cpu", on_epoch_end, should_stop)
    assert history.stopped_early and len(history.epochs) == 2
    assert all(torch.equal(v, snapshots[2][k]) for k, v in model.state_dict().items())


def test_iwae_beats_elbo_and_grows_with_k_on_a_trained_model():
    data = load_dataset("digits")
    # Binarized data: a looser ELBO than on grey pixels, so the gain from k is visible.
    model, _ = fit(CFG, TrainConfig(epochs=15, batch_size=64, lr=2e-3, binarize=True), data, device="cpu")
    _, x = prepare_images(data, torch.device("cpu"), True, 0)
    elbo = evaluate(model, x)["elbo"]
    gen = torch.Generator().manual_seed(0)
    lls = [iwae_log_likelihood(model, x, k=k, generator=gen).mean().item() for k in (1, 10, 100, 1000)]
    assert abs(lls[0] - elbo) < 1.0  # k = 1 is the ELBO up to Monte Carlo noise
    assert lls[0] < lls[1] < lls[2] < lls[3], lls
    m = summarize(model, data, binarized=True, iw_k=50, iw_n=None)
    assert m["log_px"] > m["test_elbo"] and m["active_units"] == 2


def test_kl_warmup_rises_linearly_to_beta_then_stays():
    warm = TrainConfig(beta=2.0, kl_warmup_epochs=4)
    assert [kl_weight(warm, e) for e in range(1, 7)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert [kl_weight(TrainConfig(beta=0.5), e) for e in (1, 2, 9)] == [0.5, 0.5, 0.5]
