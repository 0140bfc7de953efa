"""Forecasts as expected counts: the scale on which a Poisson count, the Gutenberg-Richter
lift and the calibration are linear (``p = 1 - exp(-exp(z))``, the complementary
log-log link), and the range where a log expected count still carries information."""

from __future__ import annotations

import math

FUSED = "fused"
_Z_RANGE = (-20.0, 6.0)  # log expected counts beyond these carry no more information


def clip_z(z: float) -> float:
    """A log expected count held to the range where it still carries information."""
    return min(max(z, _Z_RANGE[0]), _Z_RANGE[1])


def log_count(p: float) -> float:
    """The log expected count of a Poisson forecast whose P(at least one) is ``p``.

    >>> round(log_count(1 - math.exp(-0.5)), 6)
    -0.693147
    """
    if not math.isfinite(p):
        return math.nan
    q = min(max(p, 1e-15), 1 - 1e-15)
    return clip_z(math.log(-math.log1p(-q)))


def probability(z: float) -> float:
    """P(at least one event) from a log expected count."""
    return -math.expm1(-math.exp(clip_z(z)))
