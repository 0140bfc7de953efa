"""The binned progressive ROC-AUC against scikit-learn's exact one, rare positives included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from stream_models.skill.progressive import BinnedROCAUC, ProgressiveScore


@pytest.mark.parametrize("base_rate", [0.5, 0.05, 0.002])
def test_auc_matches_sklearn_for_rare_positives_and_tiny_probabilities(base_rate: float) -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    y = rng.random(n) < base_rate
    logit = np.log(base_rate / (1 - base_rate)) + 1.2 * y + rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-logit))  # probabilities of rare events crowd near 0
    auc = BinnedROCAUC()
    for yi, pi in zip(y, p, strict=True):
        auc.update(bool(yi), float(pi))
    assert auc.get() == pytest.approx(roc_auc_score(y, p), abs=2e-3)


def test_auc_is_nan_until_both_classes_are_seen() -> None:
    auc = BinnedROCAUC()
    auc.update(0, 0.1)
    assert math.isnan(auc.get())
    auc.update(1, 0.9)
    assert auc.get() == 1.0


def test_progressive_score_matches_sklearn() -> None:
    rng = np.random.default_rng(8)
    y = rng.random(500) < 0.2
    p = np.clip(0.2 + 0.3 * y + rng.normal(0, 0.15, 500), 0.01, 0.99)
    s = ProgressiveScore()
    for yi, pi in zip(y, p, strict=True):
        s.update(bool(yi), float(pi))
    got = s.get()
    assert got["log_loss"] == pytest.approx(log_loss(y, p))
    assert got["brier"] == pytest.approx(float(np.mean((p - y) ** 2)))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=2e-3)
    assert (got["n"], got["positives"]) == (500, int(y.sum()))
