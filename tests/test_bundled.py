"""Every bundled checkpoint loads, carries its provenance, and has the numbers it claims:
the stored test ELBO, KL, active units and log p(x) are recomputed here (log p(x) on a random
subset, with a tolerance from that estimate's own standard error), and the README's models
table is compared with the stored figures."""

import functools
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vae.core.checkpoints import list_checkpoints
from vae.core.fit import evaluate, prepare_images
from vae.data.registry import load_dataset

REPO = Path(__file__).resolve().parent.parent
CKPT_DIR = REPO / "checkpoints"
BUNDLED = [e for e in list_checkpoints(CKPT_DIR) if e.bundled]
EXPECTED = {
    "digits_2d", "mnist_2d", "mnist_3d", "mnist_32", "fashion_2d", "frey_2d", "mnist_ae_2d", "mnist_noisy_ae_2d",
    "mnist_beta05_2d", "mnist_beta4_2d",
}


def test_the_bundled_set_is_complete_and_small():
    names = {e.name for e in BUNDLED}
    assert names >= EXPECTED, EXPECTED - names
    sizes = [e.path.stat().st_size for e in BUNDLED]
    assert max(sizes) < 10e6 and sum(sizes) < 40e6
    default = (CKPT_DIR / "default.txt").read_text().strip()
    assert default in names


@pytest.mark.parametrize("entry", BUNDLED, ids=lambda e: e.name)
def test_bundled_checkpoint_matches_its_claims(entry, shared_data):
    assert entry.ok, entry.error
    ckpt = entry.load()
    assert ckpt.meta["command"].startswith("python -m vae.train ")
    assert f"--dataset {ckpt.dataset}" in ckpt.meta["command"]
    for key in ("test_elbo", "log_px", "log_px_k", "active_units"):
        assert key in ckpt.metrics
    assert ckpt.history and ckpt.history[-1]["epoch"] == ckpt.train_config["epochs"]
    # Re-evaluate the stored test ELBO exactly as it was computed (vae.core.metrics.summarize).
    test = _stored_test_split(ckpt, shared_data)
    assert tuple(test.shape[1:]) == tuple(ckpt.image_shape)
    elbo = evaluate(ckpt.build_model(), test)["elbo"]
    assert elbo == pytest.approx(ckpt.metrics["test_elbo"], abs=0.05)
    if ckpt.model_config.variant == "vae":  # an autoencoder's q is not a posterior: no bound
        assert ckpt.metrics["log_px"] >= ckpt.metrics["test_elbo"] - 0.05


# --------------------------------------------------------------------------- claims recomputed


@functools.lru_cache(maxsize=2)
def _test_split(dataset: str, binarized: bool, data_dir: str | None) -> torch.Tensor:
    """The test images exactly as ``vae.core.metrics.summarize`` scored them (seed 0)."""
    data = load_dataset(dataset, data_dir=data_dir)
    return prepare_images(data, torch.device("cpu"), binarized, 0)[1]


def _stored_test_split(ckpt, shared_data) -> torch.Tensor:  # noqa: ANN001
    data_dir = None if ckpt.dataset == "digits" else str(shared_data)
    return _test_split(ckpt.dataset, bool(ckpt.train_config.get("binarize")), data_dir)


def _likelihood(model, logits: torch.Tensor) -> torch.distributions.Distribution:  # noqa: ANN001
    """p(x|t) as a torch distribution over (C, H, W), independent of vae.core.losses."""
    if model.config.likelihood == "gaussian":
        return Independent(Normal(torch.sigmoid(logits), torch.exp(0.5 * model.dec_logvar)), 3)
    # Grey pixels (not binarized): the usual continuous cross-entropy, as the model was trained.
    return Independent(Bernoulli(logits=logits, validate_args=False), 3)


@torch.no_grad()
def _iwae_per_image(model, x: torch.Tensor, k: int, gen: torch.Generator, chunk: int = 200) -> torch.Tensor:  # noqa: ANN001
    """log (1/k) sum_i p(x|t_i) p(t_i) / q(t_i|x), t_i ~ q(t|x), per image ``(B,)``, written
    with torch.distributions (not with the library's estimator)."""
    mu, logvar = model.encode(x)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    log_w = []
    for start in range(0, k, chunk):
        t = mu + torch.exp(0.5 * logvar) * torch.randn((min(chunk, k - start), *mu.shape), generator=gen)
        n, b, d = t.shape
        logits = model.decode(t.reshape(n * b, d)).reshape(n, *x.shape)
        log_w.append(_likelihood(model, logits).log_prob(x.expand(n, *x.shape)) + prior.log_prob(t) - q.log_prob(t))
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)


IW_SUBSET = 24  # images per checkpoint for the log p(x) re-estimate (CI time: ~1 s each)


@pytest.mark.parametrize("entry", BUNDLED, ids=lambda e: e.name)
def test_stored_kl_active_units_and_log_px_recomputed(entry, shared_data):
    """KL (analytic, whole test split) and active units are deterministic: recomputed exactly.
    log p(x) was stored as the mean IWAE_k over the first ``log_px_n`` test images, with the
    stored k: re-estimated with that same k on a random subset of those images, with the
    ELBO at the posterior mean (computed on all of them) as a control variate, so the
    estimate is unbiased for the stored mean and its standard error is the spread of
    (IWAE - control) over the subset / sqrt(n), with the finite-population correction. The
    Monte Carlo noise of each IWAE value is part of that spread."""
    ckpt = entry.load()
    model = ckpt.build_model().eval()
    x = _stored_test_split(ckpt, shared_data)
    m = ckpt.metrics
    with torch.no_grad():
        mu, logvar = model.encode(x)
    q = Independent(Normal(mu.double(), torch.exp(0.5 * logvar.double())), 1)
    prior = Independent(Normal(torch.zeros_like(mu.double()), torch.ones_like(mu.double())), 1)
    kl = kl_divergence(q, prior)  # (N,)
    assert kl.mean().item() == pytest.approx(m["test_kl"], abs=2e-3)
    var = np.var(mu.double().numpy(), axis=0, ddof=1)  # Burda et al.: Cov_x E_q[t] > 0.01
    assert int((var > 0.01).sum()) == m["active_units"], np.sort(var)[:4]

    n_all, k = int(m["log_px_n"]), int(m["log_px_k"])
    xs = x[:n_all]
    with torch.no_grad():
        control = _likelihood(model, model.decode(mu[:n_all])).log_prob(xs).double() - kl[:n_all]
    pick = torch.randperm(n_all, generator=torch.Generator().manual_seed(0))[:IW_SUBSET]
    iw = _iwae_per_image(model, xs[pick], k, torch.Generator().manual_seed(1)).double()
    diff = iw - control[pick]
    estimate = control.mean().item() + diff.mean().item()
    se = diff.std().item() / math.sqrt(len(pick)) * math.sqrt(1 - len(pick) / n_all)
    off = estimate - m["log_px"]
    assert abs(off) <= 4 * se + 0.01, (
        f"stored log p(x) {m['log_px']}, re-estimated {estimate:.3f} ± {se:.3f} (k = {k}, "
        f"{len(pick)} of the first {n_all} test images): {off / max(se, 1e-9):+.1f} SE"
    )
    print(f"{entry.name}: log p(x) stored {m['log_px']}, re-estimated {estimate:.3f} ± {se:.3f}")


# --------------------------------------------------------------------------- README table

_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


def _number(cell: str) -> float | None:
    """The first number in a table cell (``**−85.85** (k = 5000 ...)`` -> -85.85), or None."""
    found = _NUMBER.search(cell.replace("−", "-").replace("*", ""))
    return float(found.group().replace(",", "")) if found else None


def readme_models_table(text: str) -> dict[str, dict[str, str]]:
    """{checkpoint name: {column header (lower case): cell}} from the README's models table:
    the first Markdown table whose header has a ``model`` column and a ``test ELBO`` column;
    a row's name is the first backticked word of its first cell."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip().lower() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or "test elbo" not in cells or not cells[0].startswith("model"):
            continue
        rows = {}
        for row in lines[i + 2 :]:
            if not row.lstrip().startswith("|"):
                break
            values = [c.strip() for c in row.strip().strip("|").split("|")]
            name = re.search(r"`([^`]+)`", values[0])
            if name:
                rows[name.group(1)] = dict(zip(cells, values, strict=False))
        return rows
    return {}


def _column(row: dict[str, str], *words: str) -> str:
    for header, cell in row.items():
        if all(w in header for w in words):
            return cell
    raise AssertionError(f"README models table: no column with {words} in {list(row)}")


def test_readme_models_table_matches_the_checkpoints():
    table = readme_models_table((REPO / "README.md").read_text(encoding="utf-8"))
    assert table, "README.md has no models table (| model | ... | test ELBO | ... |)"
    bundled = {e.name: e.load() for e in BUNDLED}
    assert set(table) <= set(bundled), set(table) - set(bundled)
    assert set(table) >= EXPECTED, f"models missing from the README table: {EXPECTED - set(table)}"
    wrong = []
    for name, row in table.items():
        m, cfg = bundled[name].metrics, bundled[name].model_config
        for words, key in ((("test elbo",), "test_elbo"), (("log p(x)",), "log_px"), (("kl",), "test_kl")):
            shown = _number(_column(row, *words))
            if shown is None and key == "log_px" and cfg.variant != "vae":
                continue  # "n/a": an autoencoder's q is not a posterior
            if shown is None or abs(shown - m[key]) > 0.006:  # the README rounds to 2 decimals
                wrong.append(f"{name} {key}: README {_column(row, *words)!r}, checkpoint {m[key]}")
        units = re.findall(r"\d+", _column(row, "active"))
        if [int(u) for u in units[:2]] != [m["active_units"], cfg.latent_dim]:
            wrong.append(f"{name} active units: README {units}, checkpoint {m['active_units']}/{cfg.latent_dim}")
    assert not wrong, "\n".join(wrong)


def test_readme_table_parser_reads_the_formats_in_use():
    text = "intro\n\n| model | use | test ELBO | log p(x), IS | KL | active units |\n|---|---|--:|--:|--:|--:|\n" \
        "| `m32` (MLP) | x | −91.04 | **−85.85** (k = 5000, all 10,000: −86.33) | 26.23 | 23/32 |\n" \
        "| `ae` | y | −157.40 | n/a | 1,023.5 | 2/2 |\n\nafter | not a row |\n"
    table = readme_models_table(text)
    assert set(table) == {"m32", "ae"}
    assert _number(_column(table["m32"], "log p(x)")) == -85.85
    assert _number(_column(table["ae"], "log p(x)")) is None
    assert _number(_column(table["ae"], "kl")) == 1023.5
    assert _number(_column(table["m32"], "test elbo")) == -91.04
