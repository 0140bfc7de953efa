"""Hazard states: hysteresis stops flapping; alert episodes; ids stable; state round trip."""

from __future__ import annotations

import pytest

from stream_models.hazard import HazardPolicy, HazardTracker

POLICY = HazardPolicy((0.3, 0.5, 0.7), hysteresis=0.05, alert_state="c", cooldown_s=600)


def _feed(tracker: HazardTracker, probs: list[float], dt: float = 60.0) -> list[tuple[str, str]]:
    out = []
    for i, p in enumerate(probs):
        out += [(tr.kind, tr.state) for tr in tracker.update(p, i * dt, f"e{i}")]
    return out


def test_a_score_hovering_at_a_threshold_raises_one_alert() -> None:
    alerts = _feed(HazardTracker("z", POLICY), [0.49, 0.51, 0.48, 0.52, 0.47, 0.51] * 5)
    assert alerts == [("raise", "c")]


def test_without_hysteresis_the_same_scores_would_flap() -> None:
    flappy = HazardPolicy((0.3, 0.5, 0.7), hysteresis=0.0, alert_state="c", cooldown_s=0)
    alerts = _feed(HazardTracker("z", flappy), [0.49, 0.51, 0.48, 0.52])
    assert alerts.count(("raise", "c")) == 2


def test_escalation_then_all_clear_after_the_cooldown() -> None:
    h = HazardTracker("z", POLICY)
    alerts = _feed(h, [0.55, 0.75, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    assert alerts == [("raise", "c"), ("raise", "d"), ("all-clear", "a")]
    assert h.state == "a"


def test_states_below_the_alert_state_raise_nothing() -> None:
    h = HazardTracker("z", POLICY)
    assert _feed(h, [0.35, 0.4, 0.1]) == []
    assert h.level == 0


def test_alert_ids_are_stable_across_a_replay_and_a_state_round_trip() -> None:
    probs = [0.1, 0.6, 0.8, 0.1] + [0.1] * 12 + [0.9]
    first = HazardTracker("z", POLICY)
    ids_a = [tr.alert_id for i, p in enumerate(probs) for tr in first.update(p, i * 60.0, f"e{i}")]
    second = HazardTracker("z", POLICY)
    ids_b = []
    for i, p in enumerate(probs):
        if i == 5:
            second = HazardTracker.from_state(second.to_state())
        ids_b += [tr.alert_id for tr in second.update(p, i * 60.0, f"e{i}")]
    assert ids_a == ids_b and len(set(ids_a)) == len(ids_a) == 4


@pytest.mark.parametrize("thresholds", [(0.5, 0.4, 0.7), (0.0, 0.5, 0.7), (0.3, 0.5, 1.2)])
def test_inconsistent_thresholds_are_refused(thresholds: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        HazardPolicy(thresholds)
