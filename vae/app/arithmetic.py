"""Latent arithmetic on posterior means m(x): attribute vectors, walks along them, analogies,
and how far a result sits from the prior (where the decoder has seen codes).

Codes are ``(D,)`` / ``(N, D)`` float arrays; a group is a set of rows of the encoded test
images' means (a class label's rows or a selection made on the Latent map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vae.app.typical import percentile_of

# The strip of decoded results shown under the live slider.
STRIP_ALPHAS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)
# Below this percentile of the test codes' prior log-density a result is flagged as far out.
FAR_PERCENTILE = 1.0
# Datasets whose labels are not classes (Frey: time buckets of one video): groups come from
# selections on the map only.
UNLABELLED = frozenset({"frey"})


def group_mean(mu: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Mean code of a group: ``mu (N, D)``, ``members`` row indices or an ``(N,)`` bool mask."""
    rows = np.asarray(members)
    picked = np.asarray(mu, np.float64)[rows]
    if picked.shape[0] == 0:
        raise ValueError("A group needs at least one image.")
    return picked.mean(axis=0)


def attribute_vector(mu: np.ndarray, group_a: np.ndarray, group_b: np.ndarray) -> np.ndarray:
    """v = mean(m | B) - mean(m | A) ``(D,)``: adding v moves a code from A's look to B's."""
    return group_mean(mu, group_b) - group_mean(mu, group_a)


def walk(start: np.ndarray, v: np.ndarray, alphas) -> np.ndarray:
    """t = start + alpha v for each alpha: ``(A, D)``."""
    a = np.asarray(alphas, np.float64).reshape(-1, 1)
    return np.asarray(start, np.float64)[None, :] + a * np.asarray(v, np.float64)[None, :]


def analogy(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """t = a - b + c ("a is to b as ? is to c"): b's features swapped for c's in a."""
    return np.asarray(a, np.float64) - np.asarray(b, np.float64) + np.asarray(c, np.float64)


def prior_log_density(t: np.ndarray) -> np.ndarray:
    """log N(t; 0, I) in nats: ``(..., D) -> (...)``."""
    t = np.asarray(t, np.float64)
    d = t.shape[-1]
    return -0.5 * ((t**2).sum(axis=-1) + d * np.log(2 * np.pi))


@dataclass(frozen=True)
class PriorPlace:
    """Where a code sits under the prior, against the test images' means."""

    log_density: float  # log N(t; 0, I), nats
    percentile: float  # share of test means with a lower log-density, %
    typical: tuple[float, float, float]  # 5th, 50th, 95th percentile of the test means'

    @property
    def far(self) -> bool:
        return self.percentile < FAR_PERCENTILE


def prior_place(t: np.ndarray, test_mu: np.ndarray) -> list[PriorPlace]:
    """Each code of ``t (N, D)`` (or ``(D,)``) placed among ``test_mu (M, D)``."""
    ref = prior_log_density(test_mu)
    typ = tuple(float(v) for v in np.percentile(ref, [5, 50, 95]))
    lp = np.atleast_1d(prior_log_density(np.atleast_2d(t)))
    return [PriorPlace(float(v), percentile_of(float(v), ref), typ) for v in lp]  # type: ignore[arg-type]
