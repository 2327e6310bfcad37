"""The paper's convergence fit, A·(1 − e^(−k·x)) with x = optimizer step (driver side, pure).

A is the accuracy the curve converges to, k its rate per optimizer step. The fit runs on x
rescaled to [0, 1] so that k is of order one for the optimizer, whatever the number of steps.
A curve the model cannot describe says why instead of giving numbers that mean nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

FLAT = 1e-9
"""A curve whose values span less than this is flat: A is its value, k is undefined."""
RESOLVED = 10.0
"""k is unresolved when the curve is already at 1 − e^(−10) of A at the first step after 0."""
A_MAX = 1.0
"""Accuracy never exceeds 1: a larger A is an extrapolation, not a plateau the curve shows."""
HALF = np.log(2.0)
"""A fit that reaches less than half of A by the last evaluation has no plateau in the data: A and
k then trade off freely (a straight line fits any large A with a small k)."""
A_BOUND = 10.0  # keeps the optimizer finite on straight lines, which then fail the HALF test


@dataclass(frozen=True)
class Fit:
    """A and k (per optimizer step), or None each with `note` saying why there is no number."""

    a: float | None
    k: float | None
    note: str = ""


def saturation(x: np.ndarray, a: float, k: float) -> np.ndarray:
    return a * (1.0 - np.exp(-k * x))


def fit_saturation(steps: Sequence[int], values: Sequence[float]) -> Fit:
    """Least-squares fit with A ≥ 0 and k ≥ 0; degenerate curves are reported, not fitted."""
    x = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(x) < 3:
        return Fit(None, None, "fewer than 3 points")
    if np.ptp(y) < FLAT:
        return Fit(None, None, "flat")
    if y[np.argmin(x)] >= y.max():
        return Fit(None, None, "does not rise")
    scale = float(x.max())
    u = x / scale
    first = float(u[u > 0].min())
    k_max = 10 * RESOLVED / first
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", OptimizeWarning)
            (a, k), _ = curve_fit(
                saturation,
                u,
                y,
                p0=(max(float(y.max()), 1e-3), 3.0),
                bounds=([0.0, 0.0], [A_BOUND, k_max]),
                maxfev=20000,
            )
    except (RuntimeError, ValueError):
        return Fit(None, None, "fit failed")
    if not (np.isfinite(a) and np.isfinite(k)):
        return Fit(None, None, "fit failed")
    if a > A_MAX or k < HALF:
        return Fit(None, None, "no plateau yet")
    if k * first > RESOLVED:
        return Fit(float(a), None, "k unresolved: saturated by the first evaluation")
    return Fit(float(a), float(k) / scale)
