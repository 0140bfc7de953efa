"""Gutenberg-Richter: from frequent events to rare ones, with a b-value that cannot run away.

A mine has a handful of alert-target events (>= 10^4 J) a year: no classifier
learns from five positives. The learned models therefore predict a frequent
*learning target* (by default two decades of energy below the alert target,
about twenty times as many events at b = 1), and the probability is carried
up by the Gutenberg-Richter law: if events >= E_L arrive as a Poisson count
with mean Lambda_L, events >= E_T arrive with mean
``Lambda_L 10^(-b_E (log10 E_T - log10 E_L))``, b_E = b / 1.5 (log10 E = 1.5 M + 4.8).

The b-value is the ETAS fit's, or the scope's first events' before a fit,
shrunk towards b = 1 with the weight of :data:`PRIOR_EVENTS` events, so a
noisy estimate cannot swing a probability by orders of magnitude, and held
between refits, so it cannot reorder a zone's risks over time.
"""

from __future__ import annotations

import math
from typing import Any

from stream_models.seismology.bvalue import MAG_PER_LOG_E

PRIOR_B = 1.0  # magnitude units: the global average of tectonic and mining catalogs alike
PRIOR_EVENTS = 100  # the prior's weight, in events above Mc
_B_RANGE = (0.5, 2.0)  # a shrunk estimate outside this is a catalog problem, not a b-value


def log_tail(from_log_e: float, to_log_e: float, b_value: float) -> float:
    """ln of the Gutenberg-Richter fraction of events >= 10^from J that are >= 10^to J
    (b in magnitude units; 0 when ``to`` is not above ``from``).

    >>> round(log_tail(2.0, 4.0, 1.5), 4) == round(-2 * math.log(10), 4)
    True
    """
    return -max(to_log_e - from_log_e, 0.0) * (b_value / MAG_PER_LOG_E) * math.log(10)


def shrunk_b_of(b: float, n: int) -> float:
    """An estimate from ``n`` events above Mc, shrunk towards :data:`PRIOR_B`."""
    if not n or not math.isfinite(b):
        return PRIOR_B
    shrunk = (n * b + PRIOR_EVENTS * PRIOR_B) / (n + PRIOR_EVENTS)
    return min(max(shrunk, _B_RANGE[0]), _B_RANGE[1])


def shrunk_b(estimate: Any) -> float:
    """:func:`shrunk_b_of` for an :class:`~stream_models.seismology.bvalue.BValue`."""
    return shrunk_b_of(estimate.b, estimate.n)
