"""On a synthetic year, the fused risk ranks outcomes at least as well as every baseline.

The year runs through :class:`MineRunner` (the code path of the worker and of a
backtest) with the LSTM retrained in-line, so the run is reproducible. Scores are
pooled over the mine's zones, as an analyst reads them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from config.settings import load_settings
from replay.read import read_events
from stream_models.baselines import BASELINES
from stream_models.fusion import FUSED
from stream_models.hazard import STATES
from stream_models.metrics import roc_auc
from stream_models.pipeline import MineRunner
from stream_models.retrain import Retrainer
from stream_models.risk import INPUT_NAMES
from tests.fixtures import REPO, synth_file


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("year")
    settings = load_settings(REPO / "config" / "synthetic-mine.toml", **{"lstm.blocking": True})
    events = read_events(
        synth_file(tmp / "year.parquet", days=365), "gits", {}, timezone=settings.gits_timezone,
        zone_of=settings.zone_of, default_zone=settings.default_zone,
    ).events  # fmt: skip
    retrainer = Retrainer(tmp / "state", tmp / "registry", INPUT_NAMES,
                          settings.retrain_policy(), "cpu")  # fmt: skip
    runner = MineRunner(settings.monitor_policy(), retrainer)
    labelled: list[tuple[bool, dict[str, float]]] = []
    hazard_inputs = []
    for outcome in runner.run(events):
        labelled += [(ex.positive, ex.extra) for ex in outcome.learned]
        if not outcome.warming_up:
            hazard_inputs.append((outcome.state, outcome.components[FUSED]))
    runner.close()
    return {"labelled": labelled, "decisions": runner.decisions, "hazard": hazard_inputs,
            "policy": settings.monitor_policy().hazard}  # fmt: skip


def pooled_auc(labelled: list[tuple[bool, dict[str, float]]], name: str) -> float:
    pairs = [(y, x[name]) for y, x in labelled if math.isfinite(x[name])]
    y, p = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    return roc_auc(y, p)


def test_fused_risk_ranks_at_least_as_well_as_the_best_baseline(year: dict) -> None:  # type: ignore[type-arg]
    labelled = year["labelled"]
    fused = pooled_auc(labelled, FUSED)
    baselines = {name: pooled_auc(labelled, name) for name in BASELINES}
    best = max(baselines, key=baselines.__getitem__)
    margin = fused - baselines[best]
    print(f"fused ROC-AUC {fused:.4f}; best baseline {best} {baselines[best]:.4f}; "
          f"margin {margin:+.4f}; all: {baselines}")  # fmt: skip
    assert margin >= 0, f"fused {fused:.4f} < {best} {baselines[best]:.4f}"


def test_the_year_retrains_several_times_with_reasons(year: dict) -> None:  # type: ignore[type-arg]
    decisions = year["decisions"]
    trained = [d for d in decisions if d.get("version")]
    assert len(trained) >= 5  # every 30 days of event time, once there is enough history
    assert any(d["promoted"] for d in trained) and all(d["reason"] for d in decisions)


def test_the_hazard_state_follows_the_fused_risk(year: dict) -> None:  # type: ignore[type-arg]
    """States rise at once with the fused probability (they fall later, with hysteresis)."""
    policy = year["policy"]
    assert all(STATES.index(state) >= policy.level_of(p) for state, p in year["hazard"])
    assert {s for s, _ in year["hazard"]} >= {"a", "b", "c"}
