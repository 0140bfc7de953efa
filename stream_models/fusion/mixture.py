"""The fused forecast: a Bayesian mixture of the experts, with a bound against the best one.

:class:`Mixture` is the exponentially weighted average forecaster of Vovk's
aggregating algorithm for log loss (learning rate 1, where it is the Bayesian
mixture): the fused probability of any outcome is ``p = sum_i w_i p_i``, and
when an outcome ``y`` matures each weight is multiplied by the probability its
expert gave it, ``w_i <- w_i p_i(y)^c``, then renormalised. The outcome may be
a yes/no label (:meth:`Mixture.learn_one`) or one of several (:meth:`Mixture.learn_outcome`):
a scope's mixture learns on three at once, no learning-target event, one but no
target, a target, so the frequent labels and the rare ones weigh in one
likelihood. ``c`` (at most 1) is the share of a horizon the forecast stood
(:mod:`stream_models.online.labels`): skill is judged over time, and a burst of a
hundred events in an hour is one hour of evidence.

**The bound.** Because ``x -> x^c`` is concave for ``c <= 1``,
``(sum_i w_i p_i(y))^c >= sum_i w_i p_i(y)^c``, so for every sequence of outcomes
and every expert i the mixture's cumulative time-weighted log loss is at most
the expert's plus ``ln(1 / prior_i)``: a few nats over a whole record, however
long (Vovk 1990; Cesa-Bianchi & Lugosi 2006, ch. 3). The best expert may change
(a fitted model takes over from its prior, a mine's regime changes): with fixed
share (Herbster & Warmuth 1998) a share ``alpha c`` of the weight returns to the
prior after each label, which bounds the loss against any sequence of experts
with S switches by ``(S + 1) ln(1 / prior_min) + S ln(1 / alpha) + T alpha``
nats over T horizons of labels. The weights of a forecast published at time t
are those of the labels matured by then: with labels a horizon late, the bound
applies to the forecasts the labels were learned on, and the published
forecast trails it by at most one horizon's labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SHARE = 0.01  # fixed share per horizon of labels: about one switch a hundred horizons apart
_FLOOR = 1e-12  # an expert that gave an outcome this little probability loses, not vanishes


class Mixture:
    """Fixed-share Bayesian mixture of experts' probabilities.

    Parameters
    ----------
    prior
        Expert name -> prior weight (normalised here); the bound against an expert
        is ``ln(1 / its prior weight)`` nats.
    share
        Fixed share per unit of label weight (one horizon).

    Examples
    --------
    One expert knows the probability, the other is noise; over 2,000 labels the
    mixture's log loss exceeds the knowing expert's by at most ln 2 without fixed
    share, and by at most ln 2 + 2,000 x 0.01 with it (here 6.7 nats):

    >>> def run(share):
    ...     mix, regret = Mixture({"knows": 0.5, "noise": 0.5}, share), 0.0
    ...     rng = np.random.default_rng(0)
    ...     for _ in range(2000):
    ...         truth = rng.uniform(0.05, 0.6)
    ...         p = {"knows": truth, "noise": rng.uniform(0.05, 0.6)}
    ...         y = bool(rng.random() < truth)
    ...         q = mix.predict_one(p)
    ...         regret += math.log(truth if y else 1 - truth) - math.log(q if y else 1 - q)
    ...         mix.learn_one(p, y)
    ...     return round(regret, 2), round(mix.weights()["knows"], 2)
    >>> run(0.0), run(0.01)
    ((0.69, 1.0), (6.69, 0.95))
    """

    def __init__(self, prior: Mapping[str, float], share: float = SHARE) -> None:
        names = list(prior)
        p = np.array([float(prior[n]) for n in names])
        if not names or np.any(p <= 0):
            raise ValueError("every expert needs a positive prior weight")
        self.names = names
        self.prior = p / p.sum()
        self.share = share
        self.log_w = np.log(self.prior)
        self.n = 0
        self._relative()

    def _relative(self) -> None:
        """The weights relative to the largest, kept from one label to the next (every event
        reads them, only a label changes them)."""
        self._w = np.exp(self.log_w - self.log_w.max())
        self._w_total = float(self._w.sum())
        self._w_list = self._w.tolist()

    def _vector(self, p: Mapping[str, float]) -> np.ndarray:
        """The experts' probabilities; a missing one counts as the mixture's own."""
        v = np.array([p.get(n, math.nan) for n in self.names], float)
        if np.isnan(v).any():
            fill = self._mix(np.where(np.isnan(v), 0.0, v), ~np.isnan(v))
            v = np.where(np.isnan(v), fill, v)
        return np.clip(v, _FLOOR, 1 - _FLOOR)

    def _mix(self, v: np.ndarray, ok: np.ndarray | None = None) -> float:
        w = self._w
        if ok is not None:
            w = w * ok
        total = w.sum()
        return float(w @ v / total) if total > 0 else math.nan

    def predict_one(self, p: Mapping[str, float]) -> float:
        """The fused probability of the event the experts forecast."""
        v = [p.get(n, math.nan) for n in self.names]
        if self._w_total <= 0 or any(x != x for x in v):  # a missing expert: the full path
            return self._mix(self._vector(p))
        lo, hi = _FLOOR, 1 - _FLOOR  # a handful of experts: plain floats beat array calls
        return sum(w * min(max(x, lo), hi) for w, x in zip(self._w_list, v, strict=True)
                   ) / self._w_total

    def learn_one(self, p: Mapping[str, float], y: bool, c: float = 1.0) -> None:
        """One matured label, with the probabilities the experts had given it; ``c`` the
        share of a horizon the forecast stood (0 < c <= 1)."""
        v = self._vector(p)
        self.learn_outcome(dict(zip(self.names, (v if y else 1.0 - v).tolist(), strict=True)), c)

    def learn_outcome(self, q: Mapping[str, float], c: float = 1.0) -> None:
        """One matured outcome of any kind, with the probability each expert had given what
        happened (``q``); ``c`` as in :meth:`learn_one`."""
        v = np.clip(self._vector(q), _FLOOR, 1.0)
        c = min(max(c, 0.0), 1.0)
        self.log_w = self.log_w + c * np.log(v)
        self.log_w -= self.log_w.max()
        if self.share > 0:
            w = np.exp(self.log_w)
            w /= w.sum()
            a = min(self.share * c, 1.0)
            self.log_w = np.log((1 - a) * w + a * self.prior)
        self.n += 1
        self._relative()

    def weights(self) -> dict[str, float]:
        """Each expert's current weight (they sum to 1)."""
        return dict(zip(self.names, (self._w / self._w.sum()).tolist(), strict=True))

    def to_state(self) -> dict[str, Any]:
        return {"names": self.names, "prior": self.prior, "share": self.share,
                "log_w": self.log_w, "n": self.n}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Mixture:
        names: Sequence[str] = [str(n) for n in state["names"]]
        mix = cls(dict(zip(names, np.asarray(state["prior"], float), strict=True)),
                  float(state["share"]))
        log_w = np.asarray(state["log_w"], float)
        if log_w.shape != mix.log_w.shape:
            raise ValueError(f"mixture state has {log_w.shape} weights, expected "
                             f"{mix.log_w.shape}")
        mix.log_w, mix.n = log_w.copy(), int(state["n"])
        mix._relative()
        return mix
