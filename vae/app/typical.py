"""Is an image like the test images? Its ELBO and its amount of ink placed among theirs, with
the reasons a student should not read a high ELBO as "looks like the data".

A likelihood model scores how cheaply it can encode the pixels, not whether they show a digit:
an almost empty image (a photo that preprocessing turned into a small blob) is cheap, so it can
get a *better* ELBO than a real handwritten digit (Nalisnick et al., 2019, "Do deep generative
models know what they don't know?"). So the ELBO's percentile alone cannot flag such inputs;
the amount of ink (mean pixel value) catches the empty ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Outside these percentiles of the test images an input is flagged as unlike them.
ELBO_RANGE = (1.0, 99.0)
INK_RANGE = (0.5, 99.5)


@dataclass(frozen=True)
class Placement:
    """Where one image sits among the test images (percentiles in 0..100)."""

    elbo: float
    elbo_pct: float  # share of test images with a lower ELBO, %
    ink: float  # mean pixel value in [0, 1]
    ink_pct: float
    reasons: tuple[str, ...]  # why it looks unlike the test images; empty if it does not

    @property
    def unusual(self) -> bool:
        return bool(self.reasons)


def percentile_of(value: float, reference: np.ndarray) -> float:
    """Share of ``reference (N,)`` strictly below ``value``, plus half the ties, in %."""
    ref = np.asarray(reference, np.float64)
    below, ties = (ref < value).sum(), (ref == value).sum()
    return float(100.0 * (below + 0.5 * ties) / max(len(ref), 1))


def ink(x: np.ndarray) -> np.ndarray:
    """Mean pixel value of each image: ``(N, C, H, W) -> (N,)`` (or ``(C, H, W) -> ()``)."""
    x = np.asarray(x, np.float64)
    return x.reshape(x.shape[0], -1).mean(1) if x.ndim == 4 else np.float64(x.mean())


def place(elbo: float, x: np.ndarray, test_elbo: np.ndarray, test_ink: np.ndarray) -> Placement:
    """``x (C, H, W)`` in [0, 1] with ELBO ``elbo`` among the test images' ``test_elbo (N,)``
    (same estimator) and ``test_ink (N,)`` (``ink`` of the test images)."""
    e_pct = percentile_of(elbo, test_elbo)
    k = float(ink(x))
    k_pct = percentile_of(k, test_ink)
    reasons = []
    lo, hi = np.percentile(test_ink, INK_RANGE)
    if k < lo:
        reasons.append(
            f"it is much emptier than the test images (mean pixel {k:.3f}; "
            f"{INK_RANGE[0]:g}% of them are below {lo:.3f})"
        )
    elif k > hi:
        reasons.append(
            f"it has much more ink than the test images (mean pixel {k:.3f}; "
            f"{100 - INK_RANGE[1]:g}% of them are above {hi:.3f})"
        )
    if e_pct > ELBO_RANGE[1]:
        reasons.append(f"its ELBO is higher than {ELBO_RANGE[1]:g}% of the test images'")
    elif e_pct < ELBO_RANGE[0]:
        reasons.append(f"its ELBO is lower than {100 - ELBO_RANGE[0]:g}% of the test images'")
    return Placement(float(elbo), e_pct, k, k_pct, tuple(reasons))
