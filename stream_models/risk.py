"""The online River model: logistic regression on scaled inputs that carry the clustering.

:func:`model_inputs` turns a zone's features, its ETAS state and the times of
its last events into the model's inputs, so every model sees the same inputs
in live runs and backtests. Seismicity clusters, so most inputs measure how
much happened how recently: counts and energy over several windows,
Omori-weighted sums of past events with three decay exponents, the ETAS
expectation for the horizon, and the time since the last event, the last
learning-target event and the last target; the rest are shape statistics
(b-value, activity and energy ratios, the event's own size and duration).

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

OMORI_P = (0.8, 1.1, 1.5)  # decay exponents of the Omori-weighted input sums (c = 60 s)
MAX_POSITIVE_WEIGHT = 50.0  # bounds one rare positive's pull while the ratio is still noisy
MODEL_NAME = "river-logreg"
_HOUR = 3600.0


def _log1p10(v: float) -> float:
    return math.log10(1 + max(v, 0.0)) if v == v else 0.0


def _hours_since(t: float, then: float | None) -> float:
    """log10(1 + hours since ``then``); ten years when never."""
    return math.log10(1 + (max(t - then, 0.0) / _HOUR if then is not None else 87600.0))


def _finite(v: float | None) -> float:
    return 0.0 if v is None or not math.isfinite(v) else float(v)


def model_inputs(features: Mapping[str, float], log_energy: float, t: float,
                 since: Mapping[str, float | None], omori: Mapping[float, float],
                 etas_expected: float) -> dict[str, float]:  # fmt: skip
    """The model's input vector; missing values are 0 (the scaler centres them).

    ``since`` holds the times of the zone's previous event, last learning-target
    event and last target; ``omori`` the Omori-weighted sums by decay exponent.

    >>> x = model_inputs({"count_1h": 9}, 3.0, 7200.0, {"previous": 3600.0},
    ...                  {1.1: 1e-3}, 0.5)
    >>> x["log_count_1h"], round(x["log_hours_since_previous"], 3), x["log_omori_p1.1"]
    (1.0, 0.301, -3.0)
    """
    f = features.get
    x: dict[str, float] = {"event_log_energy": log_energy}
    for w in ("1h", "8h", "24h", "7d"):
        x[f"log_count_{w}"] = _log1p10(_finite(f(f"count_{w}")))
    for w in ("8h", "24h"):
        x[f"log_energy_sum_{w}"] = _log1p10(_finite(f(f"energy_sum_j_{w}")))
    for name in ("previous", "learning", "target"):
        x[f"log_hours_since_{name}"] = _hours_since(t, since.get(name))
    for p in OMORI_P:
        x[f"log_omori_p{p}"] = math.log10(max(omori.get(p, 0.0), 1e-12))
    x["log_etas_expected"] = math.log10(max(etas_expected, 1e-9))
    x["b_value_7d"] = _finite(f("b_value_7d"))
    x["b_anomaly_24h"] = _finite(f("b_anomaly_24h"))
    for name in ("activity_ratio_8h", "energy_ratio_8h"):
        r = _finite(f(name))
        x[f"log_{name}"] = math.log10(r) if r > 0 else 0.0
    x["log_t_residual"] = _finite(f("log_t_residual"))
    return x


INPUT_NAMES: tuple[str, ...] = tuple(model_inputs({}, 0.0, 0.0, {}, {}, 0.0))


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
