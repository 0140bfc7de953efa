"""The published risk's last step: recalibrated on the alert target, as far as its labels allow.

The fused forecast reaches the alert target through the Gutenberg-Richter tail
from the learning target: right when the largest events cluster like the small
ones, too confident after bursts when they do not. :class:`AlertCalibrator`
corrects that on the complementary log-log scale with the alert target's own
matured labels,

    eta = z + w (c0 + c1 (z - PIVOT)),   w = n_pos / (n_pos + CREDIBILITY)

where ``z`` is the fused log expected count of targets. The correction is
learned at once (AdaGrad on log loss, the slope held above -0.9 so the ranking
at one time is kept) but applied with the weight ``w`` of the positive labels
seen (examples a target followed within the horizon), a credibility weight: a
zone with a handful of dangerous events a year (about three positive labels
each on the synthetic mine) keeps most of its Gutenberg-Richter forecast, a
catalog with dozens of them, each preceded by busy hours, is calibrated by its
own record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from stream_models.fusion.counts import clip_z

PIVOT = -3.0  # the slope turns about here: about one target in twenty horizons
CREDIBILITY = 20.0  # positive labels at which the learned correction counts half
_MIN_SLOPE = -0.9  # c1 above this: the forecast keeps its direction


class AlertCalibrator:
    """Online recalibration of a log expected count on the alert target's labels.

    Examples
    --------
    >>> cal = AlertCalibrator()
    >>> cal.predict_one(-2.0)                       # no labels yet: unchanged
    -2.0
    >>> rng = np.random.default_rng(1)
    >>> for _ in range(4000):                      # the forecast says 4x the real rate
    ...     z = rng.normal(-3.0, 1.0)
    ...     cal.learn_one(z, rng.random() < -math.expm1(-math.exp(z) / 4))
    >>> round(float(cal.beta[0]), 1), cal.positives  # learned: about ln(1/4) = -1.4
    (-1.5, 76)
    >>> round(cal.weight, 2), round(cal.predict_one(-3.0), 2)  # applied as 76 positives allow
    (0.79, -4.18)
    """

    def __init__(self, lr: float = 0.3, l2: float = 0.3) -> None:
        self.lr, self.l2 = lr, l2
        self.beta = np.zeros(2)  # c0, c1
        self.g2 = np.zeros(2)
        self.positives = 0

    @property
    def weight(self) -> float:
        """How much of the learned correction is applied: the positives' credibility."""
        return self.positives / (self.positives + CREDIBILITY)

    def predict_one(self, z: float) -> float:
        """The calibrated log expected count (NaN stays NaN)."""
        if not math.isfinite(z) or not self.positives:
            return z
        c0, c1 = self.beta
        return clip_z(z + self.weight * float(c0 + c1 * (z - PIVOT)))

    def learn_one(self, z: float, y: bool) -> None:
        """One matured alert-target label for a forecast ``z`` (before calibration)."""
        if not math.isfinite(z):
            return
        x = np.array([1.0, z - PIVOT])
        mu = math.exp(clip_z(z + float(self.beta @ x)))
        # d log loss / d eta for p = 1 - exp(-mu), as the stacker's
        g = -mu / math.expm1(mu) if y else mu
        grad = min(max(g, -5.0), 5.0) * x + self.l2 * self.beta * (0.0, 1.0)
        self.g2 += grad * grad
        self.beta -= self.lr * grad / np.sqrt(self.g2 + 1e-8)
        self.beta[1] = max(self.beta[1], _MIN_SLOPE)
        self.positives += int(y)

    def to_state(self) -> dict[str, Any]:
        return {"lr": self.lr, "l2": self.l2, "beta": self.beta, "g2": self.g2,
                "positives": self.positives}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AlertCalibrator:
        cal = cls(float(state["lr"]), float(state["l2"]))
        beta, g2 = np.asarray(state["beta"], float), np.asarray(state["g2"], float)
        if beta.shape != (2,) or g2.shape != (2,):
            raise ValueError(f"alert calibration has {beta.shape} coefficients, expected (2,)")
        cal.beta, cal.g2 = beta.copy(), g2.copy()
        cal.positives = int(state["positives"])
        return cal
