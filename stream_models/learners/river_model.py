"""The online River model of a zone: logistic regression on the scaled model inputs.

:class:`RiskModel` forecasts the learning target (frequent enough to learn
from) and learns once its labels mature. Positives are rare, so each is
weighted by the running negative/positive ratio; a logistic model trained so
has its log-odds raised by ``log(weight)``, which :meth:`RiskModel.predict_proba_one`
takes off again: its probability is calibrated, as a mixture expert must be.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from pathlib import Path

from river import compose, linear_model, optim, preprocessing

from stream_models.mathutil import logit, sigmoid

MAX_POSITIVE_WEIGHT = 50.0  # bounds one rare positive's pull while the ratio is still noisy
MODEL_NAME = "river-logreg"


class RiskModel:
    """A zone's online classifier of the learning target.

    Parameters
    ----------
    lr
        Adam step of the weights; the intercept moves ten times slower, since
        events come in runs of one label and a fast intercept chases them.

    Examples
    --------
    >>> m = RiskModel()
    >>> calm, busy = {"rate": 0.0}, {"rate": 5.0}
    >>> for _ in range(50):
    ...     m.learn_one(calm, False); m.learn_one(busy, True)
    >>> m.predict_proba_one(busy) > 0.5 > m.predict_proba_one(calm)
    True
    >>> m.n_learned, m.n_positive
    (100, 50)
    """

    def __init__(self, lr: float = 0.003) -> None:
        self.classifier = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(
                optimizer=optim.Adam(lr), l2=1e-3, intercept_lr=lr / 10
            ),
        )
        self.n_learned = 0
        self.n_positive = 0

    @property
    def version(self) -> str:
        """Name and number of examples learned: a replay gives the same versions in order."""
        return f"{MODEL_NAME}@{self.n_learned}"

    def positive_weight(self) -> float:
        n_neg = self.n_learned - self.n_positive
        if self.n_positive == 0:
            return 1.0
        return min(max(n_neg / self.n_positive, 1.0), MAX_POSITIVE_WEIGHT)

    def predict_proba_one(self, x: Mapping[str, float]) -> float:
        """Calibrated P(learning target within the horizon): the class weighting taken off."""
        raw = float(self.classifier.predict_proba_one(dict(x)).get(True, 0.0))
        return sigmoid(logit(raw) - math.log(self.positive_weight()))

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        self.n_learned += 1
        self.n_positive += int(y)
        w = self.positive_weight() if y else 1.0
        self.classifier.learn_one(dict(x), y, w=w)  # type: ignore[call-arg]

    def contributions(self, x: Mapping[str, float], top: int = 5) -> list[dict[str, float | str]]:
        """The inputs that pushed the probability up most: weight x standardised value."""
        scaler, lr = self.classifier["StandardScaler"], self.classifier["LogisticRegression"]
        z = scaler.transform_one(dict(x))
        parts = [(name, lr.weights.get(name, 0.0) * v) for name, v in z.items()]
        parts.sort(key=lambda kv: kv[1], reverse=True)
        return [
            {"feature": name, "value": float(x[name]), "contribution": round(float(c), 4)}
            for name, c in parts[:top]
            if c > 0
        ]

    def save(self, path: Path) -> None:
        """Atomic pickle into the daemon's own state directory."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, state_dir: Path) -> RiskModel:
        """Unpickle ``path`` only if it lies inside ``state_dir`` (never from elsewhere)."""
        resolved, root = path.resolve(), state_dir.resolve()
        if not resolved.is_relative_to(root):
            raise ValueError(f"refusing to load a model from outside {root}: {resolved}")
        model = pickle.loads(resolved.read_bytes())
        if not isinstance(model, cls):
            raise ValueError(f"{resolved} does not hold a {cls.__name__}")
        return model
