"""The online River model of a scope: a logistic correction of the generic law's forecast.

:class:`RiverModel` forecasts the learning target (frequent enough to learn
from) and learns once its labels mature. It is River's logistic regression on
the scaled model inputs, on top of an offset: the log-odds the generic ETAS law
gives the same event (:class:`AnchoredLogisticRegression`). With nothing learned
it *is* that law's forecast, so it forecasts from a scope's first event, and
what it learns is what the law misses; unweighted log loss on top of a
calibrated offset keeps its probability calibrated, as a mixture expert's must be.

Its whole state (the scaler's moments, the weights and Adam's moments) is a few
plain arrays (:meth:`RiverModel.to_state`): it travels in the scope's changelog
record like every other part of the scope, never as a pickle, so any worker on
any host resumes it exactly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
from river import compose, linear_model, optim, preprocessing
from river.utils import VectorDict

MODEL_NAME = "river-logreg"


class AnchoredLogisticRegression(linear_model.LogisticRegression):
    """River's logistic regression with a given log-odds added to its own (``offset``, set
    before each prediction and each update): River learns the correction, with its own
    optimiser and penalty."""

    offset: float = 0.0

    def _raw_dot_one(self, x: dict) -> float:  # type: ignore[override]
        return super()._raw_dot_one(x) + self.offset


class RiverModel:
    """A scope's online classifier of the learning target.

    Parameters
    ----------
    lr
        Adam step of the weights; the intercept moves ten times slower, since
        events come in runs of one label and a fast intercept chases them.

    Examples
    --------
    >>> m = RiverModel()
    >>> calm, busy = {"rate": 0.0}, {"rate": 5.0}
    >>> round(m.predict_proba_one(busy, offset=-1.0), 4)     # nothing learned: the anchor
    0.2689
    >>> for _ in range(200):
    ...     m.learn_one(calm, False, offset=-1.0); m.learn_one(busy, True, offset=-1.0)
    >>> m.predict_proba_one(busy, -1.0) > 0.2689 > m.predict_proba_one(calm, -1.0)
    True
    >>> copy = RiverModel.from_state(m.to_state())
    >>> copy.predict_proba_one(busy, -1.0) == m.predict_proba_one(busy, -1.0), copy.version
    (True, 'river-logreg@400')
    """

    def __init__(self, lr: float = 0.003) -> None:
        self.lr = lr
        self.regression = AnchoredLogisticRegression(optimizer=optim.Adam(lr), l2=1e-3,
                                                     intercept_lr=lr / 10)
        self.classifier = compose.Pipeline(preprocessing.StandardScaler(), self.regression)
        self.n_learned = 0
        self.n_positive = 0

    @property
    def version(self) -> str:
        """Name and number of examples learned: a replay gives the same versions in order."""
        return f"{MODEL_NAME}@{self.n_learned}"

    def predict_proba_one(self, x: Mapping[str, float], offset: float = 0.0) -> float:
        """P(learning target within the horizon), given the anchor's log-odds ``offset``."""
        self.regression.offset = offset
        return float(self.classifier.predict_proba_one(dict(x)).get(True, 0.0))

    def learn_one(self, x: Mapping[str, float], y: bool, offset: float = 0.0) -> None:
        self.n_learned += 1
        self.n_positive += int(y)
        self.regression.offset = offset
        self.classifier.learn_one(dict(x), y)

    def to_state(self) -> dict[str, Any]:
        """The scaler's and the regression's numbers as arrays over the inputs seen, in the
        order they were first seen (the order the sums are taken in)."""
        scaler, lr = self.classifier["StandardScaler"], self.regression
        names = list(scaler.counts)
        adam = lr.optimizer

        def col(d: Mapping[str, float]) -> np.ndarray:
            return np.array([float(d.get(n, 0.0)) for n in names])

        return {
            "lr": self.lr, "names": names, "n_learned": self.n_learned,
            "n_positive": self.n_positive, "counts": col(scaler.counts),
            "means": col(scaler.means), "vars": col(scaler.vars),
            "weight_names": list(lr._weights), "weights": np.array(list(lr._weights.values())),
            "intercept": float(lr.intercept), "adam_t": int(adam.n_iterations),
            "adam_m": _moments(adam.m, lr._weights), "adam_v": _moments(adam.v, lr._weights),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RiverModel:
        m = cls(float(state["lr"]))
        scaler, lr = m.classifier["StandardScaler"], m.regression
        names = [str(n) for n in state["names"]]
        scaler.counts = Counter(dict(zip(names, map(int, state["counts"]), strict=True)))
        scaler.means = defaultdict(float, zip(names, map(float, state["means"]), strict=True))
        scaler.vars = defaultdict(float, zip(names, map(float, state["vars"]), strict=True))
        wn = [str(n) for n in state["weight_names"]]
        # as River builds them: weights with no initializer (a forecast adds no key),
        # Adam's moments only once it has stepped
        lr._weights = VectorDict(dict(zip(wn, map(float, state["weights"]), strict=True)))
        lr.intercept = float(state["intercept"])
        adam = lr.optimizer
        adam.n_iterations = int(state["adam_t"])
        if adam.n_iterations:
            adam.m = VectorDict(dict(zip(wn, map(float, state["adam_m"]), strict=True)))
            adam.v = VectorDict(dict(zip(wn, map(float, state["adam_v"]), strict=True)))
        m.n_learned, m.n_positive = int(state["n_learned"]), int(state["n_positive"])
        return m


def _moments(m: Any, names: Any) -> np.ndarray:
    """Adam's moment of each weight (0 before its first step)."""
    return np.array([float(m[n]) if m is not None and n in m else 0.0 for n in names])
