"""The published risk: the seismological forecast, corrected by what the other models know.

:class:`Stacker` is a logistic stacker anchored on one expert (the ETAS law's
forecast: clustering is the signal every catalog has). Forecasts are compared
as log expected counts of learning-target events in the horizon, the scale on
which a Poisson count and the Gutenberg-Richter lift are linear
(``p = 1 - exp(-exp(eta))``, the complementary log-log link):

    eta = z_anchor + b0 + b_anchor (z_anchor - z0) + sum_e b_e (z_e - z_anchor)

Every coefficient starts at 0, so from the first event the fused risk *is* the
anchor's forecast; each coefficient moves (AdaGrad on log loss, L2 towards 0)
only as far as matured labels support: ``b0`` and ``b_anchor`` recalibrate the
anchor, ``b_e`` lets another expert add what the anchor misses. An expert
without a forecast (an LSTM before its first promotion) counts as agreeing with
the anchor. A learning rate and prior this cautious cost little when the anchor
is the best input and take hundreds of labels to follow another one: labels of
one burst are correlated, and a stacker that trusts them fast chases noise.
For the same reason each label counts for the time its forecast stood (the
labeler's ``held_s`` over the horizon): the fused risk is judged over time, and
a burst of a hundred events in an hour is one hour of evidence, not a hundred.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FUSED = "fused"
_Z_RANGE = (-20.0, 6.0)  # log expected counts beyond these carry no more information
_DIFF_CLIP = 8.0  # how far (in log count) another expert may pull from the anchor per unit
_MIN_SLOPE = 0.1  # the anchor's coefficient stays above this: its ranking is kept
Z0 = -1.0  # the anchor's slope pivots here: about one learning event per horizon


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


class Stacker:
    """Anchored logistic stacker on the complementary log-log scale.

    Parameters
    ----------
    experts
        The inputs' names; ``anchor`` is one of them.
    lr
        AdaGrad step; the first steps are the largest.
    l2
        Pull of every coefficient towards 0 (the anchor alone).

    Examples
    --------
    >>> stack = Stacker(["etas", "other"], anchor="etas", lr=0.05)
    >>> z = {"etas": -1.0, "other": -3.0}
    >>> stack.predict_one(z) == -1.0                         # no labels yet: the anchor
    True
    >>> rng = np.random.default_rng(0)
    >>> for _ in range(3000):                                 # "other" knows, "etas" does not
    ...     truth = rng.normal(-1.5, 1.0)
    ...     x = {"etas": -1.0, "other": truth}
    ...     stack.learn_one(x, rng.random() < probability(truth))
    >>> round(stack.coefficients()["other"], 1)
    0.8
    """

    def __init__(self, experts: Sequence[str], anchor: str, lr: float = 0.003,
                 l2: float = 0.03, calibration_lr: float = 0.01) -> None:  # fmt: skip
        if anchor not in experts:
            raise ValueError(f"the anchor {anchor!r} is not among the experts {list(experts)}")
        self.experts = list(experts)
        self.anchor = anchor
        self.lr, self.l2, self.calibration_lr = lr, l2, calibration_lr
        self.others = [e for e in self.experts if e != anchor]
        self.beta = np.zeros(2 + len(self.others))  # b0, b_anchor, then the others
        self.g2 = np.zeros_like(self.beta)
        self.n = 0
        # a shared intercept never reorders forecasts made at one time: it may learn fast
        self._rate = np.r_[calibration_lr, np.full(1 + len(self.others), lr)]
        self._pull = np.r_[0.0, np.full(1 + len(self.others), l2)]

    def _x(self, z: Mapping[str, float]) -> tuple[float, np.ndarray]:
        a = clip_z(z[self.anchor])
        diffs = [z.get(e, math.nan) - a for e in self.others]
        x = np.array([1.0, a - Z0, *(min(max(d, -_DIFF_CLIP), _DIFF_CLIP) if math.isfinite(d)
                                      else 0.0 for d in diffs)])  # fmt: skip
        return a, x

    def predict_one(self, z: Mapping[str, float]) -> float:
        """The fused log expected count of learning-target events (NaN: no anchor)."""
        if not math.isfinite(z.get(self.anchor, math.nan)):
            return math.nan
        a, x = self._x(z)
        return clip_z(a + float(self.beta @ x))

    def predict_proba_one(self, z: Mapping[str, float]) -> float:
        """P(at least one learning-target event in the horizon)."""
        eta = self.predict_one(z)
        return probability(eta) if math.isfinite(eta) else math.nan

    def learn_one(self, z: Mapping[str, float], y: bool, w: float = 1.0) -> None:
        """One matured label, with the log counts every expert had forecast for it;
        ``w`` scales its step (the share of a horizon its forecast stood)."""
        eta = self.predict_one(z)
        if not math.isfinite(eta):
            return
        _, x = self._x(z)
        mu = math.exp(eta)
        # d log loss / d eta for p = 1 - exp(-mu): mu when nothing came, -mu / (e^mu - 1) else
        g = -mu / math.expm1(mu) if y else mu
        grad = w * (min(max(g, -5.0), 5.0) * x + self._pull * self.beta)
        self.g2 += grad * grad
        self.beta -= self._rate * grad / np.sqrt(self.g2 + 1e-8)
        self.beta[1] = max(self.beta[1], _MIN_SLOPE - 1.0)  # the anchor keeps its direction
        self.n += 1

    def coefficients(self) -> dict[str, float]:
        """Each expert's coefficient; the anchor's is ``1 + b_anchor``, plus ``intercept``."""
        others = zip(self.others, self.beta[2:].tolist(), strict=True)
        return {"intercept": float(self.beta[0]), self.anchor: 1.0 + float(self.beta[1]),
                **dict(others)}  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        return {"experts": self.experts, "anchor": self.anchor, "lr": self.lr, "l2": self.l2,
                "calibration_lr": self.calibration_lr, "beta": self.beta, "g2": self.g2,
                "n": self.n}  # fmt: skip

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Stacker:
        st = cls(list(state["experts"]), str(state["anchor"]), float(state["lr"]),
                 float(state["l2"]), float(state["calibration_lr"]))  # fmt: skip
        beta, g2 = np.asarray(state["beta"], float), np.asarray(state["g2"], float)
        if beta.shape != st.beta.shape or g2.shape != st.beta.shape:
            raise ValueError(f"stacker state has {beta.shape} coefficients, expected "
                             f"{st.beta.shape}")  # fmt: skip
        st.beta, st.g2, st.n = beta.copy(), g2.copy(), int(state["n"])
        return st
