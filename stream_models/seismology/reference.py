"""A zone's reference (completeness, b-value, background rate, fixed from its first
events) and the learning target it implies: the frequent energy the learned models
predict, chosen so about 30 % of horizons hold one event above it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stream_models.seismology.bvalue import aki_utsu, completeness
from stream_models.seismology.gr import shrunk_b

LEARNING_SAMPLE = 100  # a zone's first events: they fix its learning target and references
# learning-target events expected per horizon: then about 30 % of examples are positive,
# P(at least one) = 1 - exp(-0.357) = 0.3: enough to learn from, rare enough to mean something
LEARNING_PER_HORIZON = -math.log(0.7)


@dataclass(frozen=True)
class Reference:
    """A zone's completeness, b-value and background rate, as its first events showed them:
    what the generic ETAS law and the Gutenberg-Richter lift use until a fit replaces them.
    Fixed once the sample is complete, so they cannot reorder the zone's risks over time."""

    mc_log_e: float
    b_value: float
    mu: float  # background events/s at or above Mc: half the sample's rate

    @classmethod
    def of(cls, sample: list[float], t_first: float, t_last: float) -> Reference:
        """From a complete sample; before it is complete, a provisional reference with no
        background (the rate of a burst's first hours would swamp the zone's risks)."""
        arr = np.asarray(sample, float)
        if arr.size < LEARNING_SAMPLE:
            return cls(float(arr.min()), 1.0, 0.0)
        mc = completeness(arr)
        above = arr[arr >= mc - 1e-9]
        span = t_last - t_first
        return cls(mc, shrunk_b(aki_utsu(above, mc=mc)), 0.5 * above.size / span if span > 0
                   else 0.0)


def learning_target(ref: Reference, horizon_s: float, target_energy_j: float) -> float:
    """The energy whose events a zone expects :data:`LEARNING_PER_HORIZON` times per horizon
    (Gutenberg-Richter from its rate above Mc), between Mc and the alert target.

    >>> ref = Reference(mc_log_e=0.5, b_value=1.0, mu=0.5 * 3.0 / 86400)   # 3 a day above Mc
    >>> round(math.log10(learning_target(ref, 8 * 3600, 1e4)), 2)
    1.17
    """
    per_horizon = 2 * ref.mu * horizon_s  # the reference background is half the sample's rate
    log_l = ref.mc_log_e
    if per_horizon > LEARNING_PER_HORIZON:
        log_l += math.log10(per_horizon / LEARNING_PER_HORIZON) / (ref.b_value / 1.5)
    return 10 ** min(log_l, math.log10(target_energy_j))
