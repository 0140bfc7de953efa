"""Hazard states: hysteresis stops flapping; alert episodes; ids stable; state round trip."""

from __future__ import annotations

import pytest

from stream_models.fusion.hazard import HazardPolicy, HazardTracker

POLICY = HazardPolicy((0.3, 0.5, 0.7), hysteresis=0.1, alert_state="c", cooldown_s=600)


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


def _ticked(probs: list[tuple[float, float]], ticks: list[float]) -> list[tuple[str, str, float]]:
    """Feed (t, p) forecasts, calling tick at the given clock times in between."""
    h = HazardTracker("z", HazardPolicy((0.3, 0.5, 0.7), cooldown_s=600, horizon_s=3600))
    out, pending = [], sorted(ticks)
    for i, (t, p) in enumerate(probs):
        while pending and pending[0] < t:
            out += h.tick(pending.pop(0))
        out += h.update(p, t, f"e{i}")
    return [(tr.kind, tr.alert_id, tr.t) for tr in out]


def test_all_clear_and_expiry_do_not_depend_on_when_the_clock_is_looked_at() -> None:
    # a raise to d, then the zone goes quiet for 5 h, then one calm event
    probs = [(0.0, 0.8), (100.0, 0.75), (18_000.0, 0.05)]
    never = _ticked(probs, [])
    often = _ticked(probs, [float(s) for s in range(200, 18_000, 300)])
    late = _ticked(probs, [17_999.0])
    assert never == often == late
    kinds = [k for k, _, _ in never]
    assert kinds == ["raise", "all-clear"]
    assert never[1][2] == 100.0 + 3600 + 600  # expiry one horizon after the last forecast


def test_a_quiet_zone_falls_to_a_and_closes_its_episode_on_the_clock_alone() -> None:
    h = HazardTracker("z", HazardPolicy((0.3, 0.5, 0.7), cooldown_s=600, horizon_s=3600))
    assert [tr.kind for tr in h.update(0.9, 0.0, "e0")] == ["raise"]
    assert h.tick(3599.0) == [] and h.state == "d"
    assert h.tick(3600.0) == [] and h.state == "a"  # the forecast expired
    closed = h.tick(4200.0)
    assert [(tr.kind, tr.t) for tr in closed] == [("all-clear", 4200.0)]
    assert h.tick(99_999.0) == []  # once only


def test_an_all_clear_names_the_state_standing_at_its_own_time_however_late_it_is_noticed() -> None:
    # raised to d, then a forecast in state b: the episode cools 600 s later, in state b,
    # long before that forecast expires; a worker may notice it at once or hours later
    probs = [(0.0, 0.8), (100.0, 0.35), (20_000.0, 0.05)]
    soon = _ticked(probs, [800.0])
    late = _ticked(probs, [9_000.0])
    never = _ticked(probs, [])
    assert soon == late == never
    h = HazardTracker("z", HazardPolicy((0.3, 0.5, 0.7), cooldown_s=600, horizon_s=3600))
    h.update(0.8, 0.0, "e0")
    h.update(0.35, 100.0, "e1")
    [clear] = h.tick(9_000.0)
    assert (clear.kind, clear.t, clear.previous_state) == ("all-clear", 700.0, "d")
    assert clear.state == "b"
