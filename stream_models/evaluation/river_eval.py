"""River's own evaluation over any seismowatch model or baseline.

They speak River's verbs (``learn_one(x, y)``, ``predict_proba_one(x)``) but return
the positive class's probability as one float, which is what fusion and the
records need; River's classifiers return a dict per class. :class:`AsClassifier`
is the one-line difference, so ``river.evaluate.progressive_val_score`` and
River's metrics run on them unchanged.
"""

from __future__ import annotations

from typing import Any

from river import base


class AsClassifier(base.Classifier):
    """``model`` (any seismowatch model or baseline) as a River binary classifier.

    >>> from river import evaluate, metrics
    >>> from stream_models.learners.baselines import RateBaseline
    >>> data = [({"targets_7d": float(i % 4)}, i % 4 == 3) for i in range(80)]
    >>> model = AsClassifier(RateBaseline(7 * 86400, "targets_7d"))
    >>> bool(evaluate.progressive_val_score(data, model, metrics.ROCAUC()).get() > 0.5)
    True
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def learn_one(self, x: dict[str, Any], y: Any) -> None:
        self.model.learn_one(x, bool(y))

    def predict_proba_one(self, x: dict[str, Any]) -> dict[Any, float]:
        p = min(max(float(self.model.predict_proba_one(x)), 0.0), 1.0)
        return {True: p, False: 1.0 - p}
