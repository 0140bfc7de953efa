"""The alert-target calibration: unchanged without positives, barely moved by a handful,
correcting a forecast that is too confident once the record supports it, restored exactly."""

from __future__ import annotations

import math

import numpy as np

from stream_models.fusion.calibration import AlertCalibrator


def _probability(z: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(z))


def _overconfident(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Forecast log counts twice as steep as the truth around one target in twenty."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(-3.0, 0.6, n)
    forecast = -3.0 + 2.0 * (truth + 3.0)
    return forecast, rng.random(n) < _probability(truth)


def _progressive(cal: AlertCalibrator, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = []
    for zi, yi in zip(z.tolist(), y.tolist(), strict=True):
        out.append(cal.predict_one(zi))
        cal.learn_one(zi, yi)
    return np.array(out)


def _brier(y: np.ndarray, z: np.ndarray) -> float:
    return float(np.mean((_probability(z) - y) ** 2))


def test_without_positive_labels_the_forecast_is_unchanged() -> None:
    cal = AlertCalibrator()
    for _ in range(500):
        cal.learn_one(-2.0, False)
    assert cal.predict_one(-2.0) == -2.0
    assert math.isnan(cal.predict_one(math.nan))


def test_a_handful_of_positives_moves_the_forecast_little() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(-3.0, 0.6, 120)  # a calibrated forecast, a mine's year of labels
    y = rng.random(120) < _probability(z)
    assert 2 <= y.sum() <= 10
    cal = AlertCalibrator()
    _progressive(cal, z, y)
    assert cal.weight < 0.35
    assert max(abs(cal.predict_one(v) - v) for v in (-5.0, -3.0, -1.0)) < 0.3


def test_a_long_record_flattens_an_overconfident_forecast() -> None:
    z, y = _overconfident(2, 30000)
    out = _progressive(AlertCalibrator(), z, y)
    tail = slice(15000, None)
    assert _brier(y[tail], out[tail]) < _brier(y[tail], z[tail])
    cal = AlertCalibrator()
    _progressive(cal, z, y)
    assert cal.beta[1] < 0  # a slope below 1: the forecast is flattened
