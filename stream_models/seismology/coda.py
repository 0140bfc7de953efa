"""The catalog's completeness in the coda of large events.

Just after a large event small events hide in its coda: following Helmstetter
et al. (2006), ``Mc(t) = M - 4.5 - 0.75 log10(t / 1 day)``, so an event M
magnitude units above Mc raises the completeness for ``10^((M - 4.5) / 0.75)``
days. A likelihood counts those stretches with the share of events above Mc
that the raised completeness still records (Gutenberg-Richter with the scope's
b-value); the events in them still trigger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stream_models.seismology.bvalue import MAG_PER_LOG_E

MASK_FROM = 2.0  # magnitude units above Mc from which an event's coda hides small events
_STEPS_PER_DECADE = 4  # the coda's completeness, held constant over quarter decades of time


@dataclass(frozen=True)
class Coda:
    """Stretches ``[a, b)`` after large events where the completeness is raised by ``lift``
    (log10 E) and a share ``w`` of the events above Mc is recorded, sorted and disjoint."""

    a: np.ndarray
    b: np.ndarray
    lift: np.ndarray
    w: np.ndarray

    def at(self, x: np.ndarray) -> np.ndarray:
        """The completeness lift at each time (0 outside every stretch)."""
        if not self.a.size:
            return np.zeros(np.shape(x))
        i = np.searchsorted(self.a, x, side="right") - 1
        inside = (i >= 0) & (x < self.b[np.maximum(i, 0)])
        return np.where(inside, self.lift[np.maximum(i, 0)], 0.0)


def incompleteness(t: np.ndarray, log_e: np.ndarray, mc_log_e: float, b_value: float) -> Coda:
    """Helmstetter et al.'s (2006) completeness after each event ``MASK_FROM`` or more
    magnitude units above Mc: ``Mc(t) = M - 4.5 - 0.75 log10(t / 1 day)``, in steps.

    >>> coda = incompleteness(np.array([0.0]), np.array([1.0 + 1.5 * 4.5]), 1.0, 1.0)
    >>> round(float(coda.b[-1] - coda.a[0]) / 86400, 3)   # 4.5 units above Mc: one day
    1.0
    >>> bool(coda.w[0] < coda.w[-1] <= 1.0)                 # recovering as it decays
    True
    """
    t, log_e = np.asarray(t, float), np.asarray(log_e, float)
    dm = (log_e - mc_log_e) / MAG_PER_LOG_E
    big = np.flatnonzero(dm >= MASK_FROM)
    if not big.size:
        return Coda(*(np.zeros(0) for _ in range(4)))
    spans = [(t[j], 86400.0 * 10 ** ((dm[j] - 4.5) / 0.75), dm[j]) for j in big]
    edges = {t0 for t0, _, _ in spans}
    for t0, tau, _ in spans:
        k = max(int(_STEPS_PER_DECADE * math.log10(max(tau, 10.0))), 1)
        edges.update((t0 + np.logspace(0, math.log10(max(tau, 10.0)), k + 1)).tolist())
    cuts = np.array(sorted(edges))
    lo, hi = cuts[:-1], cuts[1:]
    mid = 0.5 * (lo + hi)
    lift = np.zeros(mid.size)
    for t0, tau, d in spans:
        active = (mid > t0) & (mid < t0 + tau)
        days = np.maximum(mid[active] - t0, 1e-9) / 86400.0
        lift[active] = np.maximum(lift[active], d - 4.5 - 0.75 * np.log10(days))
    keep = lift > 0
    lift = np.minimum(lift[keep], 20.0) * MAG_PER_LOG_E  # in log10 E
    return Coda(lo[keep], hi[keep], lift, 10 ** (-(b_value / MAG_PER_LOG_E) * lift))



def counted_events(t: np.ndarray, log_e: np.ndarray, start: float, end: float, mc_log_e: float,
                   b_value: float = 1.0) -> int:
    """Events a likelihood over ``[start, end]`` counts: above the completeness."""
    t, log_e = np.asarray(t, float), np.asarray(log_e, float)
    coda = incompleteness(t[t <= end], log_e[t <= end], mc_log_e, b_value)
    return int(((t >= start) & (t <= end) & (log_e >= mc_log_e + coda.at(t))).sum())
