"""The stacker: the anchor before labels, the informative expert after, never far below the
anchor; and on a synthetic year the hazard state follows the fused risk.

The year runs through :class:`MineRunner` (the code path of the worker and of a
backtest) with the LSTM retrained in-line, so the run is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from config.settings import load_settings
from replay.read import read_events
from stream_models.fusion.hazard import STATES
from stream_models.fusion.stacker import FUSED, Stacker, log_count
from stream_models.online.orchestrator import MineRunner
from stream_models.online.scope import Outcome
from tests.fixtures import REPO, synth_file


def _log_loss(y: np.ndarray, z: np.ndarray) -> float:
    p = np.clip(probability_array(z), 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def _stream(seed: int, n: int, informative: str) -> tuple[list[dict[str, float]], np.ndarray]:
    """Forecasts of log counts by three experts; ``informative`` knows the truth, the others
    see it through noise (``anchor``) or not at all (``noise``)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(-1.5, 1.0, n)
    y = rng.random(n) < probability_array(truth)
    experts = {"anchor": truth + rng.normal(0, 1.2, n), "good": truth,
               "noise": rng.normal(-1.5, 1.0, n)}  # fmt: skip
    if informative == "anchor":
        experts["anchor"], experts["good"] = truth, truth + rng.normal(0, 1.2, n)
    rows = [{k: float(v[i]) for k, v in experts.items()} for i in range(n)]
    return rows, y


def probability_array(z: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(z))


def _fused(rows: list[dict[str, float]], y: np.ndarray) -> np.ndarray:
    """Progressive (predict, then learn) fused log counts."""
    stack = Stacker(["anchor", "good", "noise"], anchor="anchor")
    out = []
    for x, label in zip(rows, y, strict=True):
        out.append(stack.predict_one(x))
        stack.learn_one(x, bool(label))
    return np.array(out)


def test_before_any_label_the_fused_risk_is_the_anchor() -> None:
    stack = Stacker(["etas", "river"], anchor="etas")
    assert stack.predict_one({"etas": -2.0, "river": 1.0}) == -2.0
    assert math.isnan(stack.predict_one({"etas": math.nan, "river": 1.0}))
    assert stack.predict_proba_one({"etas": log_count(0.2)}) == pytest.approx(0.2)


def test_the_stacker_moves_towards_an_expert_that_knows_more_than_the_anchor() -> None:
    rows, y = _stream(1, 20000, "good")
    z = _fused(rows, y)
    tail = slice(10000, None)
    anchor = np.array([r["anchor"] for r in rows])
    assert _log_loss(y[tail], z[tail]) < _log_loss(y[tail], anchor[tail]) - 0.005


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_when_the_anchor_is_best_the_stacker_costs_little(seed: int) -> None:
    rows, y = _stream(seed, 5000, "anchor")
    z = _fused(rows, y)
    anchor = np.array([r["anchor"] for r in rows])
    assert _log_loss(y, z) <= _log_loss(y, anchor) + 0.01


def test_labels_of_a_brief_forecast_move_the_stacker_less() -> None:
    rows, y = _stream(5, 400, "good")
    full, brief = (Stacker(["anchor", "good", "noise"], anchor="anchor") for _ in range(2))
    for x, label in zip(rows[:100], y[:100], strict=True):  # the same start for both
        full.learn_one(x, bool(label))
        brief.learn_one(x, bool(label))
    start = brief.beta.copy()
    for x, label in zip(rows[100:], y[100:], strict=True):  # then a burst, or quiet hours
        full.learn_one(x, bool(label), w=1.0)
        brief.learn_one(x, bool(label), w=0.01)
    moved = [float(np.abs(st.beta - start).sum()) for st in (full, brief)]
    assert moved[1] < 0.1 * moved[0]
    still = Stacker.from_state(brief.to_state())
    still.learn_one(rows[0], True, w=0.0)  # a forecast replaced at once teaches nothing
    assert np.array_equal(still.beta, brief.beta)


def test_state_round_trip_continues_identically() -> None:
    rows, y = _stream(5, 400, "good")
    a = Stacker(["anchor", "good", "noise"], anchor="anchor")
    for x, label in zip(rows[:200], y[:200], strict=True):
        a.learn_one(x, bool(label))
    b = Stacker.from_state(a.to_state())
    for x, label in zip(rows[200:], y[200:], strict=True):
        assert a.predict_one(x) == b.predict_one(x)
        a.learn_one(x, bool(label))
        b.learn_one(x, bool(label))


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("year")
    settings = load_settings(REPO / "config" / "synthetic-mine.toml", **{"lstm.blocking": True})
    events = read_events(
        synth_file(tmp / "year.parquet", days=365), "gits", {}, timezone=settings.gits_timezone,
        zone_of=settings.zone_of, default_zone=settings.default_zone,
    ).events  # fmt: skip
    runner = MineRunner.build(settings.monitor_policy(), settings.retrain_policy(), tmp,
                              mine_scope=settings.mine_scope_name)  # fmt: skip
    hazard_inputs = []
    for step in runner.run(events):
        if isinstance(step, Outcome) and not step.warming_up:
            hazard_inputs.append((step.event.zone, step.state, step.components[FUSED]))
    runner.close()
    learning = {z: m.metrics(learning=True) for z, m in runner.monitors.items()}
    policy = settings.monitor_policy()
    return {"decisions": runner.decisions, "hazard": hazard_inputs, "learning": learning,
            "policies": {z: policy.mine_hazard if z == settings.mine_scope_name
                         else policy.hazard for z in runner.monitors}}  # fmt: skip


def test_the_year_retrains_several_times_with_reasons(year: dict) -> None:  # type: ignore[type-arg]
    decisions = year["decisions"]
    trained = [d for d in decisions if d.get("version")]
    assert {d["model"] for d in trained} >= {"lstm", "etas"}
    assert any(d["promoted"] for d in trained) and all(d["reason"] for d in decisions)
    assert not [d for d in decisions if "nan" in str(d["reason"])]


def test_the_fused_learning_forecast_is_no_worse_than_its_anchor(year: dict) -> None:  # type: ignore[type-arg]
    """Progressive log loss on the learning target, zone by zone: the stacker's promise."""
    busy = {z: s for z, s in year["learning"].items() if s[FUSED]["n"] > 200}
    assert len(busy) >= 3  # the panels and the mine-wide scope
    for zone, scores in busy.items():
        fused, omori = scores[FUSED], scores["omori"]
        assert fused["log_loss"] <= omori["log_loss"] + 0.01, (zone, fused, omori)


def test_the_hazard_state_follows_the_fused_risk(year: dict) -> None:  # type: ignore[type-arg]
    """States rise at once with the fused probability (they fall later, with hysteresis)."""
    policies = year["policies"]
    assert all(STATES.index(state) >= policies[zone].level_of(p)
               for zone, state, p in year["hazard"])  # fmt: skip
    for zone in ("lava-1", "mine-wide"):  # each scope by its own thresholds
        assert {s for z, s, _ in year["hazard"] if z == zone} >= {"b", "c"}, zone
