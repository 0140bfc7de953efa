"""ZoneMonitor: a saved and restored monitor continues exactly like one that never stopped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from replay.read import read_events
from stream_models.monitor import MonitorPolicy, ZoneMonitor
from stream_models.records import dumps, risk_record
from stream_models.risk import RiskModel
from tests.fixtures import synth_file


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list:  # type: ignore[type-arg]
    path = synth_file(tmp_path_factory.mktemp("m") / "m.parquet", days=20)
    return read_events(path, "gits", {}, timezone="UTC").events


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_restored_monitor_gives_identical_outcomes(events: list, tmp_path: Path) -> None:  # type: ignore[type-arg]
    policy = MonitorPolicy(min_examples=20, min_positives=1)
    straight = ZoneMonitor("mine", policy)
    expected = [straight.process(e) for e in events]

    cut = len(events) // 2
    first = ZoneMonitor("mine", policy)
    for e in events[:cut]:
        first.process(e)
    state = json.loads(json.dumps(first.to_state()))  # what the changelog table holds
    first.model.save(tmp_path / "models" / "mine.pkl")
    model = RiskModel.load(tmp_path / "models" / "mine.pkl", tmp_path)
    resumed = ZoneMonitor.from_state(state, policy, model)
    for e, want in zip(events[cut:], expected[cut:], strict=True):
        got = resumed.process(e)
        assert dumps(risk_record(got)) == dumps(risk_record(want))
        assert all(_same(got.features[k], want.features[k]) for k in want.features)
        assert [t.alert_id for t in got.transitions] == [t.alert_id for t in want.transitions]
    for name, scores in straight.metrics().items():
        assert resumed.metrics()[name] == pytest.approx(scores, nan_ok=True), name


def test_model_files_outside_the_state_dir_are_refused(tmp_path: Path) -> None:
    RiskModel().save(tmp_path / "elsewhere" / "m.pkl")
    with pytest.raises(ValueError, match="outside"):
        RiskModel.load(tmp_path / "elsewhere" / "m.pkl", tmp_path / "state")


def test_warm_up_keeps_the_state_at_a(events: list) -> None:  # type: ignore[type-arg]
    mon = ZoneMonitor("mine", MonitorPolicy(min_examples=10**9))
    assert {mon.process(e).state for e in events} == {"a"}
