"""One contract over every stateful class of the online path (River's ``checks/`` habit).

Each case names how to build the class, how to feed it one input and what it
answers; the same four checks run over all of them:

* a fresh instance's state packs and restores (empty input);
* saved half-way through a stream and restored, it answers the rest exactly as the
  instance that never stopped, and ends in the same bytes (what a restart needs);
* two restores from one state are independent copies (clone);
* two instances fed the same inputs give the same answers (no hidden state: a rerun
  of a backtest, a restart, a second worker all compute the same).

That no answer depends on later inputs is checked where labels and time meet: the
labeler (``test_online/test_labels.py``) and a backtest whose future is shuffled
(``test_evaluation/test_backtest.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from stream_models.features.rolling import WINDOWS_S, ZoneFeatures
from stream_models.features.windows import BucketWindows
from stream_models.fusion.calibration import AlertCalibrator
from stream_models.fusion.hazard import HazardPolicy, HazardTracker
from stream_models.fusion.mixture import Mixture
from stream_models.learners.baselines import Baselines, FrequencyTable, WeekCounter
from stream_models.learners.river_model import RiverModel
from stream_models.learners.sequence import InputScale
from stream_models.online.history import ScopeHistory
from stream_models.online.labels import DelayedLabeler, RecentKeys
from stream_models.online.policies import (
    MonitorPolicy,
    ReentryPolicy,
    RetrainPolicy,
    ScopeKind,
)
from stream_models.online.reasons import LargeEvents
from stream_models.online.reentry_watch import ReentryWatch
from stream_models.online.schedule import RetrainSchedule
from stream_models.online.scope import ScopeMonitor
from stream_models.online.scope_state import STATE_FORMAT
from stream_models.online.space_watch import SpaceWatch
from stream_models.packing import pack, unpack
from stream_models.retraining.registry import base_lstm
from stream_models.seismology.background import Driver
from stream_models.seismology.etas import RATES, EtasState, generic_law
from stream_models.seismology.grid_spec import GridSpec
from stream_models.skill.progressive import BinnedROCAUC, ProgressiveScore
from stream_models.wire import Event

T0 = datetime(2021, 3, 1, tzinfo=UTC)


@dataclass
class Case:
    make: Callable[[], Any]
    save: Callable[[Any], dict[str, Any]]
    load: Callable[[dict[str, Any]], Any]
    step: Callable[[Any, int, np.random.Generator], Any]  # feed input i, return the answer


def _restore(cls: Any, fresh: Callable[[], Any]) -> Callable[[dict[str, Any]], Any]:
    """For the classes that fill an instance made with today's settings (``restore``)."""

    def load(state: dict[str, Any]) -> Any:
        obj = fresh()
        obj.restore(state)
        return obj

    return load


def _event(i: int, rng: np.random.Generator) -> Event:
    return Event(f"e{i}", T0 + timedelta(minutes=float(17 * i + rng.integers(0, 15))),
                 float(rng.normal(0, 50)), float(rng.normal(0, 50)), -450.0,
                 float(10 ** rng.uniform(0.5, 4.6)), float(rng.uniform(0.5, 4.0)),
                 volume_m3=float(rng.uniform(500, 900)))


def _x(rng: np.random.Generator) -> dict[str, float]:
    return {"a": float(rng.normal()), "b": float(rng.normal()), "c": float(rng.normal())}


_REENTRY = ReentryPolicy(energy_j=3e3, min_exclusion_s=1800.0, max_exclusion_s=6 * 3600.0,
                         republish_s=600.0)


_GRID = GridSpec(cell_m=20.0, max_cells=30, snapshot_every_s=1800.0)  # a cap it meets


def _scope(kind: ScopeKind = "zone") -> ScopeMonitor:
    return ScopeMonitor("z", kind, MonitorPolicy(horizon_s=3600, min_examples=5,
                                                 min_positives=1, grid=_GRID), RetrainPolicy(),
                        base_lstm())


def _grid_step(o: SpaceWatch, i: int, r: np.random.Generator) -> Any:
    snap = o.on_event(i * 600.0, float(r.normal(0, 80)), float(r.normal(0, 80)),
                      float(r.uniform(1, 4)), bool(r.random() < 0.9), "ab"[i % 2],
                      generic_law(1.0, 1e-4))
    return None if snap is None else (snap.t, snap.probability, snap.zone, snap.x, snap.y)


CASES: dict[str, Case] = {
    "ZoneFeatures": Case(
        ZoneFeatures, lambda o: o.to_state(), ZoneFeatures.from_state,
        lambda o, i, r: o.vector(_event(i, r)) if o.update(_event(i, r)) else None),
    "BucketWindows": Case(
        lambda: BucketWindows(WINDOWS_S), lambda o: o.to_state(), BucketWindows.from_state,
        lambda o, i, r: (o.add(i * 600.0, float(r.uniform(0, 4)), 1.0, 0.0, 0.0, 0.0, 5.0),
                         o.values())[1]),
    "DelayedLabeler": Case(
        lambda: DelayedLabeler(3600.0, (1e4, 1e2), 2), lambda o: o.to_state(),
        DelayedLabeler.from_state,
        lambda o, i, r: (o.advance(i * 700.0, float(10 ** r.uniform(0, 5))).tolist(),
                         o.add(i * 700.0, i, [float(i), 0.5]))),
    "RecentKeys": Case(
        lambda: RecentKeys(3600.0), lambda o: o.to_state(), RecentKeys.from_state,
        lambda o, i, r: o.add(int(r.integers(0, 30)), i * 300.0)),
    "HazardTracker": Case(
        lambda: HazardTracker("z", HazardPolicy((0.1, 0.3, 0.6), cooldown_s=900,
                                                horizon_s=3600)),
        lambda o: o.to_state(), HazardTracker.from_state,
        lambda o, i, r: [(t.alert_id, t.probability, t.episode)
                         for t in o.update(float(r.uniform(0, 0.8)), i * 600.0, f"e{i}")]),
    "LargeEvents": Case(
        lambda: LargeEvents(size=3), lambda o: o.to_state(), LargeEvents.from_state,
        lambda o, i, r: (o.add(i * 600.0, float(r.uniform(2, 5)), f"e{i}", generic_law(1.0),
                               3600.0),
                         o.dominant(generic_law(1.0), i * 600.0, 3600.0, 1.0))[1]),
    "ReentryWatch": Case(
        lambda: ReentryWatch("z", _REENTRY), lambda o: o.to_state(),
        _restore(ReentryWatch, lambda: ReentryWatch("z", _REENTRY)),
        lambda o, i, r: [(t.alert_id, t.kind, t.t, t.state, t.reentry) for t in o.on_event(
            i * 600.0, float(10 ** r.uniform(0, 4)), f"e{i}", bool(r.random() < 0.8),
            generic_law(1.0, 1e-4), np.full(len(RATES), float(r.uniform(0, 1))), "b")]),
    "SpaceWatch": Case(
        lambda: SpaceWatch(_GRID, 3600.0, 3.5), lambda o: o.to_state(),
        lambda st: SpaceWatch.from_state(st, _GRID, 3600.0, 3.5), _grid_step),
    "EtasState": Case(
        EtasState, lambda o: o.to_state(), EtasState.from_state,
        lambda o, i, r: (o.add(i * 600.0, float(r.uniform(0, 4))),
                         o.expected(generic_law(1.0, 1e-4), i * 600.0, 3600.0))[1]),
    "Driver": Case(
        Driver, lambda o: o.to_state(), Driver.from_state,
        lambda o, i, r: (o.add(i * 40_000.0, bool(r.random() < 0.7), float(r.uniform(1, 9))),
                         o.value("rate", i * 40_000.0), o.value("volume", 0.0))[1:]),
    "WeekCounter": Case(
        lambda: WeekCounter((1e4, 1e2)), lambda o: o.to_state(),
        _restore(WeekCounter, lambda: WeekCounter((1e4, 1e2))),
        lambda o, i, r: o.add(i * 20_000.0, float(10 ** r.uniform(0, 5)))),
    "FrequencyTable": Case(
        FrequencyTable, lambda o: o.to_state(), FrequencyTable.from_state,
        lambda o, i, r: (o.predict(int(r.integers(0, 4)), 0.1),
                         o.learn(int(r.integers(0, 4)), bool(r.random() < 0.3)))[0]),
    "Baselines": Case(
        lambda: Baselines(3600.0, 1e4, "targets_7d"), lambda o: o.to_state(),
        _restore(Baselines, lambda: Baselines(3600.0, 1e4, "targets_7d")),
        lambda o, i, r: (x := {"energy_sum_j_8h": float(10 ** r.uniform(0, 5)),
                               "activity_ratio_8h": float(r.uniform(0, 4)), "targets_7d": 1.0},
                         o.predict(x), o.learn(x, bool(r.random() < 0.2)))[1]),
    "RiverModel": Case(
        RiverModel, lambda o: o.to_state(), RiverModel.from_state,
        lambda o, i, r: (x := _x(r), o.predict_proba_one(x, -1.0),  # labels lag forecasts
                         i % 3 == 2 and o.learn_one(x, bool(r.random() < 0.3), -1.0))[1]),
    "InputScale": Case(
        lambda: InputScale(np.zeros(3), np.ones(3)), lambda o: o.to_state(),
        InputScale.from_state, lambda o, i, r: o.scale(r.normal(2.0, 3.0, 3)).tolist()),
    "Mixture": Case(
        lambda: Mixture({"a": 0.5, "b": 0.3, "c": 0.2}), lambda o: o.to_state(),
        Mixture.from_state,
        lambda o, i, r: (p := {k: float(r.uniform(0.01, 0.9)) for k in "abc"},
                         o.predict_one(p), o.learn_one(p, bool(r.random() < 0.3),
                                                       float(r.uniform(0, 1))))[1]),
    "AlertCalibrator": Case(
        AlertCalibrator, lambda o: o.to_state(), AlertCalibrator.from_state,
        lambda o, i, r: (z := float(r.normal(-3, 1)), o.predict_one(z),
                         o.learn_one(z, bool(r.random() < 0.1)))[1]),
    "ProgressiveScore": Case(
        ProgressiveScore, lambda o: o.to_state(), ProgressiveScore.from_state,
        lambda o, i, r: (o.update(bool(r.random() < 0.3), float(r.uniform(0, 1))),
                         o.get())[1]),
    "BinnedROCAUC": Case(
        BinnedROCAUC, lambda o: o.to_state(), BinnedROCAUC.from_state,
        lambda o, i, r: (o.update(bool(r.random() < 0.3), float(r.uniform(0, 1))), o.get())[1]),
    "ScopeHistory": Case(
        lambda: ScopeHistory("z", 2, 1, 1e9, 10_000), lambda o: o.to_state(),
        _restore(ScopeHistory, lambda: ScopeHistory("z", 2, 1, 1e9, 10_000)),
        lambda o, i, r: (o.add_event(i * 60.0, float(r.uniform(0, 4)), math.nan, 0.0, 0.0, 0.0),
                         o.add_examples(np.array([i * 60.0]), np.array([1.0]),
                                        np.array([-2.0]), r.normal(size=(1, 2)),
                                        np.zeros((1, 1)), np.array([True]), np.array([False])),
                         o.count("events"), o.count("examples"))[2:]),
    "RetrainSchedule": Case(
        lambda: RetrainSchedule(RetrainPolicy()), lambda o: o.to_state(),
        _restore(RetrainSchedule, lambda: RetrainSchedule(RetrainPolicy())),
        lambda o, i, r: (o.on_event(bool(r.random() < 0.8)), o.on_examples(3),
                         ks := o.due(i * 3600.0, 2 * i, 3 * i, i // 4),
                         [o.handed_out(k, i * 3600.0) for k in ks])[2]),
    "ScopeMonitor": Case(
        _scope, lambda o: o.to_state(),
        lambda s: ScopeMonitor.from_state(s, MonitorPolicy(horizon_s=3600, min_examples=5,
                                                           min_positives=1), RetrainPolicy(),
                                          base_lstm()),
        lambda o, i, r: (out := o.process(_event(i, r)), (out.probability, out.components,
                                                          out.learning, out.state))[1]),
}
N = 120


def _same(a: Any, b: Any) -> bool:
    """Equal answers, NaN equal to NaN, arrays and containers element by element."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _run(case: Case, obj: Any, seed: int, start: int, stop: int) -> list[Any]:
    """Feed inputs ``start`` .. ``stop - 1`` (input i is the same whatever came before)."""
    return [case.step(obj, i, np.random.default_rng([seed, i])) for i in range(start, stop)]


@pytest.mark.parametrize("name", list(CASES))
def test_a_fresh_state_packs_and_restores(name: str) -> None:
    case = CASES[name]
    state = case.save(case.make())
    back = case.load(unpack(pack(state)))
    assert pack(case.save(back)) == pack(state)


@pytest.mark.parametrize("cut", [0, N // 2])
@pytest.mark.parametrize("name", list(CASES))
def test_a_restored_instance_continues_exactly(name: str, cut: int) -> None:
    case = CASES[name]
    straight, first = case.make(), case.make()
    want = _run(case, straight, 1, 0, N)
    _run(case, first, 1, 0, cut)
    resumed = case.load(unpack(pack(case.save(first))))
    got = _run(case, resumed, 1, cut, N)
    assert _same(got, want[cut:])
    assert pack(case.save(resumed)) == pack(case.save(straight))


@pytest.mark.parametrize("name", list(CASES))
def test_a_restore_after_every_step_changes_nothing(name: str) -> None:
    """A worker may store a scope and die after any event, the first ones included."""
    case = CASES[name]
    straight, hopping = case.make(), case.make()
    want = _run(case, straight, 5, 0, 12)
    got = []
    for i in range(12):
        hopping = case.load(unpack(pack(case.save(hopping))))
        got += _run(case, hopping, 5, i, i + 1)
    assert _same(got, want)
    assert pack(case.save(hopping)) == pack(case.save(straight))


@pytest.mark.parametrize("name", list(CASES))
def test_two_restores_are_independent_copies(name: str) -> None:
    case = CASES[name]
    obj = case.make()
    _run(case, obj, 2, 0, N // 2)
    state = unpack(pack(case.save(obj)))
    a, b = case.load(state), case.load(state)
    _run(case, a, 3, N // 2, N)
    assert pack(case.save(b)) == pack(case.save(case.load(state)))


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_inputs_give_the_same_answers(name: str) -> None:
    case = CASES[name]
    a, b = case.make(), case.make()
    assert _same(_run(case, a, 4, 0, N), _run(case, b, 4, 0, N))
    assert pack(case.save(a)) == pack(case.save(b))


def test_every_stateful_class_of_a_scope_is_under_contract() -> None:
    """A scope's state lists its parts; each part's class has a case here."""
    covered = {"features": "ZoneFeatures", "labeler": "DelayedLabeler", "hazard": "HazardTracker",
               "etas": "EtasState", "driver": "Driver", "week": "WeekCounter",
               "baselines": "Baselines", "experts": "Baselines", "river": "RiverModel",
               "scale": "InputScale", "mixture": "Mixture",
               "calibrator": "AlertCalibrator", "history": "ScopeHistory",
               "schedule": "RetrainSchedule", "applied": "RecentKeys",
               "large": "LargeEvents", "reentry": "ReentryWatch", "space": "SpaceWatch"}
    states = [_scope().to_state(), _scope("mine").to_state()]  # the grid is the mine's
    assert states[1]["space"] is not None and states[0]["format"] == STATE_FORMAT
    parts = {k for state in states for k, v in state.items() if isinstance(v, dict) and k not in
             ("scores", "learning_scores", "own", "reference", "etas_fit", "lstm")}
    assert parts <= set(covered), parts - set(covered)
    assert set(covered.values()) <= set(CASES)
