"""Every model and baseline runs under River's own progressive validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from river import evaluate, metrics

from stream_models.evaluation.river_eval import AsClassifier
from stream_models.features.inputs import INPUT_NAMES
from stream_models.learners.baselines import AbcdBaseline, RateBaseline, ShiftEnergyBaseline
from stream_models.learners.river_model import RiverModel


def _stream(n: int = 400) -> list[tuple[dict[str, float], bool]]:
    """Targets follow energetic, busy shifts: every input says so in its own way."""
    rng = np.random.default_rng(3)
    out = []
    for _ in range(n):
        busy = rng.random() < 0.3
        x = {name: float(rng.normal()) for name in INPUT_NAMES}
        log_e = rng.uniform(4, 5) if busy else rng.uniform(0, 2)
        x.update({"energy_sum_j_8h": float(10**log_e), "activity_ratio_8h": 3.0 if busy else 0.5,
                  "targets_7d": 5.0 if busy else 0.0})
        x[INPUT_NAMES[0]] += 2.0 if busy else 0.0
        out.append((x, bool(busy and rng.random() < 0.6)))
    return out


@pytest.mark.parametrize(
    "model",
    [RateBaseline(7 * 86400, "targets_7d"), ShiftEnergyBaseline(), AbcdBaseline(1e4),
     RiverModel(lr=0.05)],
    ids=["rate", "shift_energy", "abcd", "river"],
)
def test_progressive_val_score_runs_each_model_and_finds_the_signal(model: object) -> None:
    score = evaluate.progressive_val_score(_stream(), AsClassifier(model), metrics.ROCAUC())
    assert math.isfinite(score.get()) and score.get() > 0.7
