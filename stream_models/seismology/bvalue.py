"""Gutenberg-Richter b-value by Aki-Utsu maximum likelihood, on the log10 E scale.

Mine catalogs are in joules, so magnitudes here are ``log10 E``; the b-value
is reported in magnitude units (``1.5 x`` the log10 E slope) because that is the
number seismologists compare (b ~ 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

BIN = 0.1  # log10 E bin width for the maximum-curvature Mc estimate
MIN_EVENTS = 20  # below this the MLE's standard error exceeds the signal
_MAXC_CORRECTION = 0.2  # maximum curvature underestimates Mc (Woessner & Wiemer 2005)
MAG_PER_LOG_E = 1.5  # log10 E = 1.5 M + 4.8: b in magnitude units is 1.5 x the log10 E slope


class BValue(NamedTuple):
    b: float  # magnitude units
    mc_log_e: float  # magnitude of completeness, log10 E
    se: float  # Shi & Bolt (1982) standard error, magnitude units
    n: int  # events at or above Mc


NAN_B = BValue(math.nan, math.nan, math.nan, 0)


def completeness(log_e: Sequence[float] | np.ndarray) -> float:
    """Mc by maximum curvature (+0.2): the most populated log10 E bin."""
    arr = np.asarray(log_e, dtype=float)
    bins = np.floor(arr / BIN + 1e-9).astype(int)
    lowest = int(bins.min())
    counts = np.bincount(bins - lowest)  # argmax takes the lowest of tied bins, as before
    return float((lowest + int(np.argmax(counts))) * BIN + _MAXC_CORRECTION)


def aki_utsu(log_e: Sequence[float] | np.ndarray, mc: float | None = None) -> BValue:
    """b-value of the events at or above Mc (unbinned, continuous Aki 1965 estimator).

    >>> rng = np.random.default_rng(0)
    >>> sample = 2 + rng.exponential(1 / (1 / 1.5 * np.log(10)), 5000)  # b = 1
    >>> est = aki_utsu(sample, mc=2.0)
    >>> round(est.b, 2), est.n
    (0.99, 5000)
    """
    arr = np.asarray(log_e, dtype=float)
    if arr.size < MIN_EVENTS:
        return NAN_B
    if mc is None:
        mc = completeness(arr)
    above = arr[arr >= mc - 1e-12]
    n = above.size
    if n < MIN_EVENTS:
        return BValue(math.nan, mc, math.nan, n)
    mean_excess = float(above.mean()) - mc
    if mean_excess <= 0:
        return BValue(math.nan, mc, math.nan, n)
    b_e = math.log10(math.e) / mean_excess
    se_e = 2.3 * b_e**2 * math.sqrt(float(((above - above.mean()) ** 2).sum()) / (n * (n - 1)))
    return BValue(b_e * MAG_PER_LOG_E, mc, se_e * MAG_PER_LOG_E, n)
