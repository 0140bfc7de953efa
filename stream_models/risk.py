"""The online risk model: River logistic regression on scaled features, plus Half-Space Trees.

:func:`model_inputs` turns a zone's feature record into the model's inputs
(logs of heavy-tailed quantities, NaN as 0 with the scaler centring them), so
every model sees the same inputs in live runs and backtests.
:class:`RiskModel` scores first and learns later (the daemon releases labels
through :class:`~stream_models.labels.DelayedLabeler`); positives are rare, so
each is weighted by the running negative/positive ratio.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from pathlib import Path

from river import anomaly, compose, linear_model, optim, preprocessing

from stream_models.fusion import FusionModel

INPUT_WINDOWS = ("1h", "8h", "24h")
_LOG_FEATURES = ("count", "energy_sum_j", "energy_max_j", "benioff_strain",
                 "energy_per_volume_j_m3", "iet_mean_s")  # fmt: skip
_RAW_FEATURES = ("log_energy_mean", "duration_p90_s", "b_value", "b_anomaly", "iet_cv",
                 "spread_m", "centroid_drift_m")  # fmt: skip
_RATIO_FEATURES = ("activity_ratio", "energy_ratio")
MAX_POSITIVE_WEIGHT = 50.0  # bounds one rare positive's pull while the ratio is still noisy
MODEL_NAME = "river-logreg+hst"


def _finite(v: float | None) -> float:
    return 0.0 if v is None or not math.isfinite(v) else float(v)


def model_inputs(features: Mapping[str, float], log_energy: float) -> dict[str, float]:
    """The model's input vector: logs of sizes, raw shapes, log ratios; missing values are 0.

    >>> x = model_inputs({"count_1h": 9, "b_value_1h": float("nan")}, 3.0)
    >>> x["log_count_1h"], x["b_value_1h"], x["event_log_energy"]
    (1.0, 0.0, 3.0)
    """
    x: dict[str, float] = {"event_log_energy": log_energy,
                           "log_t_residual": _finite(features.get("log_t_residual"))}  # fmt: skip
    for w in INPUT_WINDOWS:
        for name in _LOG_FEATURES:
            x[f"log_{name}_{w}"] = math.log10(1 + max(_finite(features.get(f"{name}_{w}")), 0.0))
        for name in _RAW_FEATURES:
            x[f"{name}_{w}"] = _finite(features.get(f"{name}_{w}"))
        for name in _RATIO_FEATURES:
            r = _finite(features.get(f"{name}_{w}"))
            x[f"log_{name}_{w}"] = math.log10(r) if r > 0 else 0.0
    return x


INPUT_NAMES: tuple[str, ...] = tuple(model_inputs({}, 0.0))


def input_vector(x: Mapping[str, float]) -> list[float]:
    """``x`` in :data:`INPUT_NAMES` order: how the LSTM and the history store see it."""
    return [x[name] for name in INPUT_NAMES]


class RiskModel:
    """A zone's online models: the classifier, the anomaly detector and the fusion stacker.

    Parameters
    ----------
    seed
        Seed of the Half-Space Trees, so a replay is reproducible.

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

    def __init__(self, seed: int = 42) -> None:
        self.classifier = compose.Pipeline(
            preprocessing.StandardScaler(),
            # a slow intercept: events come in runs of one label, and a fast intercept chases
            # them and drowns the features' ranking (progressive ROC-AUC 0.53 -> 0.56)
            linear_model.LogisticRegression(
                optimizer=optim.Adam(0.0003), l2=1e-3, intercept_lr=0.001
            ),
        )
        self.detector = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=10, height=6, window_size=250, seed=seed),
        )
        self.fusion = FusionModel()
        self.n_learned = 0
        self.n_positive = 0

    @property
    def version(self) -> str:
        """Name and number of examples learned: a replay gives the same versions in order."""
        return f"{MODEL_NAME}@{self.n_learned}"

    def predict_proba_one(self, x: Mapping[str, float]) -> float:
        return float(self.classifier.predict_proba_one(dict(x)).get(True, 0.0))

    def score_one(self, x: Mapping[str, float]) -> float:
        """Half-Space Trees anomaly score in [0, 1] (high: unlike the recent past)."""
        return float(self.detector.score_one(dict(x)))

    def learn_anomaly_one(self, x: Mapping[str, float]) -> None:
        """The detector learns every event at once: it needs no label."""
        self.detector.learn_one(dict(x))

    def positive_weight(self) -> float:
        n_neg = self.n_learned - self.n_positive
        if self.n_positive == 0:
            return 1.0
        return min(max(n_neg / self.n_positive, 1.0), MAX_POSITIVE_WEIGHT)

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
