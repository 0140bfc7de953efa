"""Alerts in an operator's words: a raise names the large event whose aftershocks it
expects, in the mine's local time, and the expert that carries the risk; an all-clear
names the state it clears, how long the episode lasted, its peak and the forecast
standing then; the same words reach the record and the feed line."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from daemon.cli.render import render_alert
from stream_models.fusion.hazard import HazardPolicy
from stream_models.online.outcome import Outcome
from stream_models.online.policies import MonitorPolicy, RetrainPolicy
from stream_models.online.reasons import why_risk_rose
from stream_models.online.records import alert_record
from stream_models.online.scope import ScopeMonitor
from stream_models.wire import Event

OFFSET_S = 7 * 3600.0  # Novokuznetsk
BIG_J = 13_950.0
T0 = datetime(2020, 8, 10, tzinfo=UTC)
BIG_AT = datetime(2020, 8, 15, 0, 59, tzinfo=UTC)  # 07:59 at the mine


def _stream() -> list[Event]:
    """Five quiet days, one event of 13,950 J, then its aftershocks."""
    rng = np.random.default_rng(3)
    quiet = [Event(f"q{i}", T0 + timedelta(minutes=float(m)), 0, 0, -400,
                   float(10 ** rng.uniform(1.0, 2.6)), 1.0)
             for i, m in enumerate(np.sort(rng.uniform(0, (BIG_AT - T0).total_seconds() / 60,
                                                        120)))]
    big = Event("big", BIG_AT, 0, 0, -400, BIG_J, 3.0)
    after = [Event(f"a{i}", BIG_AT + timedelta(minutes=3.0 * (i + 1) ** 1.5), 0, 0, -400,
                   float(10 ** rng.uniform(1.5, 3.0)), 1.0) for i in range(15)]
    return [*quiet, big, *after]


def _run(thresholds: tuple[float, float, float]) -> list[Outcome]:
    policy = MonitorPolicy(min_examples=5, min_positives=0, utc_offset_s=OFFSET_S,
                           hazard=HazardPolicy(thresholds, cooldown_s=1800.0))
    mon = ScopeMonitor("lava-1", "zone", policy, RetrainPolicy(etas=False, lstm=False), None)
    out = [mon.process(e) for e in _stream()]
    out[-1].transitions.extend(mon.advance(out[-1].event.timestamp + 3 * 86400))
    return out


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    """Thresholds set from a first run: state c is first reached at the large event."""
    first = _run((0.5, 0.6, 0.7))
    before = max(o.probability for o in first if o.event.event_id.startswith("q"))
    at_big = next(o.probability for o in first if o.event.event_id == "big")
    assert at_big > before, "the large event must raise the risk for this test to mean it"
    c = math.sqrt(before * at_big)
    return _run((c / 2, c, min(at_big * 10, 1.0)))


def _records(outcomes: list[Outcome]) -> list[dict]:  # type: ignore[type-arg]
    return [alert_record(tr, o, "now", OFFSET_S) for o in outcomes for tr in o.transitions]


def test_a_raise_names_the_large_event_in_local_time_and_the_leading_expert(
        outcomes: list[Outcome]) -> None:
    raises = [r for r in _records(outcomes) if r["kind"] == "raise"]
    assert raises and raises[0]["trigger"] == "big"
    first = raises[0]
    codes = [r["code"] for r in first["reasons"]]
    assert codes[0] == "expert" and "aftershocks" in codes
    quake = next(r for r in first["reasons"] if r["code"] == "aftershocks")
    assert quake["event_id"] == "big" and quake["value"] >= 0.25
    assert "aftershocks of 13,950 J at 07:59" in quake["text"]
    assert first["text"].startswith("lava-1 STATE C (a→c) p=") or first["text"].startswith(
        "lava-1 STATE C (b→c) p=")
    assert quake["text"] in first["text"]
    assert first["local_time"].startswith("2020-08-15T07:59") and first["local_time"].endswith(
        "+07:00")


def test_an_all_clear_names_what_it_clears_the_episode_and_the_standing_forecast(
        outcomes: list[Outcome]) -> None:
    records = _records(outcomes)
    clear = next(r for r in records if r["kind"] == "all-clear")
    raised = [r for r in records if r["kind"] == "raise"]
    ep = clear["episode"]
    assert clear["previous_state"] == ep["state"] == raised[-1]["state"]
    assert clear["state"] in ("a", "b")
    peak = max(o.probability for o in outcomes)
    assert ep["peak_probability"] == peak
    assert ep["start"] == raised[0]["time"] and ep["end"] == clear["time"]
    hours = f"{ep['duration_s'] / 3600:.1f} h"
    assert f"lava-1 ALL CLEAR {ep['state']}→{clear['state']} after {hours} (peak p=" in clear[
        "text"]
    # the forecast standing at the all-clear, not 0: the last one, or none once it expired
    standing = clear["probability"]
    assert standing is None or standing != standing or 0 < standing < peak
    assert ("now p=" in clear["text"]) == (standing == standing and standing is not None)


def test_no_reason_is_given_for_a_sign_within_its_normal_range() -> None:
    calm = {"energy_ratio_8h": 1.5, "activity_ratio_8h": 1.9, "b_value_24h": 1.0,
            "b_value_se_24h": 0.15, "b_value_7d": 1.2}  # 0.2 lower, but within 2 SE
    rs = why_risk_rose({"omori": 0.01}, {"omori": 1.0}, calm, ("", -math.inf, -math.inf, 0.0),
                       0.0, 0.0)
    assert [r.code for r in rs] == ["expert"]
    assert rs[0].text == "generic aftershock law carries 100% of the risk"
    loud = {**calm, "energy_ratio_8h": 3.0, "b_value_se_24h": 0.05, "count_8h": 40.0,
            "activity_ratio_8h": 4.0, "b_value_7d": 1.3}
    rs = why_risk_rose({"omori": 0.01}, {"omori": 1.0}, loud, ("", -math.inf, -math.inf, 0.0),
                       0.0, 0.0)
    assert [r.code for r in rs] == ["expert", "energy", "activity", "b_value"]
    assert rs[2].text == "40 events in 8 h, 4.0× the 7-day event rate"


def test_the_feed_line_reads_the_record(outcomes: list[Outcome]) -> None:
    for record in _records(outcomes):
        line = render_alert(record)
        assert record["text"] in line and record["alert_id"] in line
        assert line.startswith(record["local_time"][:16].replace("T", " "))
