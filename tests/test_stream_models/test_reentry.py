"""Re-entry after a large event: the estimate against the analytic Omori decay, its update
as aftershocks come, the mine's floor, and the records a zone publishes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from stream_models.evaluation.reentry_eval import Exclusion, observed_reentry, reentry_table
from stream_models.online.policies import MonitorPolicy, ReentryPolicy
from stream_models.online.records import alert_record
from stream_models.online.reentry_watch import ReentryWatch
from stream_models.online.scope import ScopeMonitor
from stream_models.seismology.etas import RATES, generic_law, productivity
from stream_models.seismology.reentry import (
    GENERIC_P_SD,
    SEQUENCE_CV,
    ReentryEstimate,
    exposure,
)
from stream_models.wire import Event

LAW = generic_law(1.0, mu=2e-5)  # 0.07 events/h above Mc: a quiet panel
FACTOR = 2.0
LOG_E = 4.0
NO_PAST = np.zeros(len(RATES))


def _omori_times(rng: np.random.Generator, a: float, p: float, c: float, until: float
                 ) -> np.ndarray:
    """A non-homogeneous Poisson sequence with rate a (t + c)^-p on (0, until]."""
    n = rng.poisson(a * float(exposure(until, c, np.array([p]))[0]))
    u = rng.uniform(size=n)
    if abs(p - 1) < 1e-9:
        return np.sort(c * np.exp(u * math.log((until + c) / c)) - c)
    lo, hi = c ** (1 - p), (until + c) ** (1 - p)
    return np.sort((lo + u * (hi - lo)) ** (1 / (1 - p)) - c)


def _simulated(rng: np.random.Generator, observed_h: float) -> tuple[ReentryEstimate, float]:
    """A sequence drawn from the estimate's own prior, observed for ``observed_h`` with the
    background; returns the estimate then and the analytic decay time (s after the event)."""
    est = ReentryEstimate.start("main", 0.0, LOG_E, LAW, NO_PAST, FACTOR)
    p = float(np.clip(LAW.p + GENERIC_P_SD * rng.standard_normal(), 0.5, 1.7))
    first_day = (LAW.k * float(productivity(LOG_E, LAW.alpha))
                 * float(exposure(86400.0, LAW.c_s, np.array([LAW.p]))[0]))
    shape = 1 / SEQUENCE_CV**2
    a = rng.gamma(shape, first_day / shape) / float(exposure(86400.0, LAW.c_s, np.array([p]))[0])
    until = observed_h * 3600
    background = rng.uniform(0, until, rng.poisson(LAW.mu * until))
    for t in np.sort(np.concatenate([_omori_times(rng, a, p, LAW.c_s, until), background])):
        est.observe(float(t))
    truth = (a / ((FACTOR - 1) * LAW.mu)) ** (1 / p) - LAW.c_s  # mu + a (t + c)^-p = 2 mu
    return est, truth


@pytest.mark.parametrize("observed_h", [0.0, 2.0, 12.0])
def test_the_interval_holds_the_analytic_decay_time_90_percent_of_the_time(
    observed_h: float
) -> None:
    rng = np.random.default_rng(7)
    inside = []
    for _ in range(200):
        est, truth = _simulated(rng, observed_h)
        _, low, high = est.quantiles(observed_h * 3600)
        inside.append(low <= truth <= high)
    # 200 draws: the binomial 95 % band around 0.90 is 0.86-0.94
    assert 0.85 <= np.mean(inside) <= 0.95, np.mean(inside)


def test_aftershocks_sharpen_the_estimate_and_bring_it_to_the_truth() -> None:
    rng = np.random.default_rng(3)
    errors: dict[float, list[float]] = {0.0: [], 12.0: []}
    widths: dict[float, list[float]] = {0.0: [], 12.0: []}
    for _ in range(100):
        state = rng.bit_generator.state
        for hours in errors:
            rng.bit_generator.state = state  # the same sequence, seen longer
            est, truth = _simulated(rng, hours)
            median, low, high = est.quantiles(hours * 3600)
            errors[hours].append(abs(math.log(median / truth)))
            widths[hours].append(math.log(high / low))
    assert np.median(widths[12.0]) < 0.7 * np.median(widths[0.0])
    assert np.median(errors[12.0]) < np.median(errors[0.0])


def test_more_aftershocks_than_the_law_expects_push_re_entry_later_and_fewer_earlier() -> None:
    quiet = ReentryEstimate.start("m", 0.0, LOG_E, LAW, NO_PAST, FACTOR)
    busy = ReentryEstimate.start("m", 0.0, LOG_E, LAW, NO_PAST, FACTOR)
    prior = quiet.quantiles(0.0)[0]
    for t in np.geomspace(200.0, 4 * 3600, 30):
        busy.observe(float(t))
    assert busy.quantiles(4 * 3600)[0] > prior > quiet.quantiles(4 * 3600)[0]


def test_an_earlier_sequence_still_decaying_lengthens_the_exclusion() -> None:
    alone = ReentryEstimate.start("m", 0.0, LOG_E, LAW, NO_PAST, FACTOR, level=3 * LAW.mu)
    past = np.full(len(RATES), 0.3)  # an earlier event's sums: more rate to decay through
    behind = ReentryEstimate.start("m", 0.0, LOG_E, LAW, past, FACTOR, level=3 * LAW.mu)
    assert behind.quantiles(0.0)[0] > alone.quantiles(0.0)[0]


def test_state_round_trip_gives_the_same_answers() -> None:
    est = ReentryEstimate.start("m", 0.0, LOG_E, LAW, NO_PAST, FACTOR)
    for t in (300.0, 900.0):
        est.observe(t)
    copy = ReentryEstimate.from_state(est.to_state())
    assert copy.quantiles(3600.0) == est.quantiles(3600.0)
    copy.observe(2000.0)
    est.observe(2000.0)
    assert copy.quantiles() == est.quantiles()


def test_the_mines_minimum_exclusion_is_a_floor_and_the_maximum_a_cap() -> None:
    weak = generic_law(1.0, mu=1e-2)  # a busy zone: a small event's sequence is gone at once
    watch = ReentryWatch("z", ReentryPolicy(energy_j=1e3, min_exclusion_s=4 * 3600))
    [tr] = watch.on_event(0.0, 1.2e3, "e1", True, weak, NO_PAST, "b")
    assert tr.reentry is not None and tr.reentry.at == 4 * 3600 and tr.reentry.floor_applied
    assert "the mine's minimum exclusion" in alert_record(tr, None, "")["text"]
    [done] = watch.tick(5 * 3600)  # reached at the minimum itself, a fact: no interval
    assert done.t == done.reentry.at == done.reentry.low == done.reentry.high == 4 * 3600  # type: ignore[union-attr]
    strong = generic_law(1.0, mu=1e-7)
    capped = ReentryWatch("z", ReentryPolicy(energy_j=1e3, max_exclusion_s=10 * 3600))
    [tr] = capped.on_event(0.0, 1e6, "e1", True, strong, NO_PAST, "b")
    assert tr.reentry is not None and tr.reentry.at == 10 * 3600 and tr.reentry.high == 10 * 3600


def test_reached_is_the_same_whenever_the_clock_notices_it() -> None:
    def run(ticks: list[float]) -> list[tuple[str, float]]:
        watch = ReentryWatch("z", ReentryPolicy(energy_j=1e4, min_exclusion_s=3600))
        out = [(t.kind, t.t) for t in watch.on_event(0.0, 2e4, "e1", True, LAW, NO_PAST, "c")]
        for t in (600.0, 1500.0):
            out += [(tr.kind, tr.t) for tr in watch.on_event(t, 50.0, f"a{t}", True, LAW,
                                                             NO_PAST, "c")]
        for clock in ticks:
            out += [(tr.kind, tr.t) for tr in watch.tick(clock)]
        return out

    once = run([30 * 86400.0])
    often = run(list(np.arange(2000.0, 30 * 86400.0, 1800.0)))
    assert once == often and once[-1][0] == "re-entry reached"
    assert once[-1][1] < 30 * 86400.0


def _event(i: str, t: datetime, energy: float) -> Event:
    return Event(i, t, 0.0, 0.0, -400.0, energy, 1.0)


def test_a_zone_publishes_an_estimate_its_updates_and_the_end_in_records_and_words() -> None:
    pol = MonitorPolicy(target_energy_j=1e4, reentry=ReentryPolicy(energy_j=1e4,
                                                                    republish_s=600.0))
    mon = ScopeMonitor("lava-1", "zone", pol)
    t0 = datetime(2021, 3, 1, tzinfo=UTC)
    for i in range(60):  # a background before the large event
        mon.process(_event(f"b{i}", t0 + timedelta(hours=6 * i), 200.0))
    big = t0 + timedelta(hours=6 * 60)
    kinds = [(tr.kind, tr) for tr in mon.process(_event("big", big, 2.5e4)).transitions]
    raised = [tr for k, tr in kinds if k == "re-entry"]
    assert len(raised) == 1
    record = alert_record(raised[0], None, "", 7 * 3600.0)
    assert record["kind"] == "re-entry" and record["re_entry"]["source"] == "big"
    assert record["re_entry_s"] >= 4 * 3600 and record["re_entry_local"].endswith("+07:00")
    assert record["text"].startswith("lava-1 RE-ENTRY expected")
    updates = []
    for j in range(1, 40):  # a lively sequence: the estimate moves and is published again
        out = mon.process(_event(f"a{j}", big + timedelta(minutes=3 * j), 300.0))
        updates += [tr for tr in out.transitions if tr.kind == "re-entry"]
    assert updates and updates[-1].reentry is not None
    assert updates[-1].reentry.at > raised[0].reentry.at  # type: ignore[union-attr]
    assert mon.reentry is not None and mon.reentry.notice is not None
    ended = mon.advance(big.timestamp() + 30 * 86400.0)
    [reached] = [tr for tr in ended if tr.kind == "re-entry reached"]
    assert reached.reentry is not None and reached.t == reached.reentry.at
    assert "RE-ENTRY REACHED" in alert_record(reached, None, "")["text"]
    assert mon.reentry.notice is None
    # the mine-wide scope keeps no exclusions: its zones do
    assert ScopeMonitor("mine-wide", "mine", pol).reentry is None


def test_observed_re_entry_is_when_the_rate_ahead_falls_to_the_level_for_good() -> None:
    h = 3600.0
    burst = np.r_[np.arange(8) * 300.0, 20 * h, 30 * h]  # a burst, then lone events
    # 3 events allowed in a 12 h window: the burst is over once fewer than 4 lie ahead
    assert observed_reentry(burst, 0.0, 0.25, 72 * h) == pytest.approx(4 * 300.0 + 60.0)
    # a second burst later keeps the rate up until it has passed
    twice = np.sort(np.r_[burst, 40 * h + np.arange(5) * 60.0])
    assert observed_reentry(twice, 0.0, 0.25, 72 * h) == pytest.approx(40 * h + 60 + 60.0)
    # nothing after the horizon counts, and a quiet zone is back at once
    assert observed_reentry(twice, 0.0, 0.25, 30 * h) < 40 * h
    assert observed_reentry(np.array([0.0]), 0.0, 0.25, 72 * h) == 0.0


def test_the_table_reads_the_observed_time_within_the_rule_and_leaves_out_censored_ones() -> None:
    h = 3600.0
    ex = [Exclusion("z", "a", 0.0, 2e4, 5 * h, 4 * h, 9 * h, 0.25, 4 * h, 72 * h),
          Exclusion("z", "b", 100 * h, 3e4, 110 * h, 104 * h, 130 * h, 0.25, 4 * h, 72 * h)]
    t = np.r_[np.arange(8) * 300.0, 100 * h + np.arange(30) * 600.0]
    zone = np.array(["z"] * t.size, object)
    table = reentry_table(ex, t, zone, np.full(t.size, 2.0), {"z": 1.0}, {"z": 103 * h})
    first, second = table["rows"]
    assert first["decayed"] == pytest.approx(4 * 300.0 + 60.0)  # the rate came down at once
    assert first["observed_h"] == 4.0 and first["within_interval"]  # ... the rule reads 4 h
    assert second["censored"] and table["compared"] == 1  # the data end first
    assert table["median_error_h"] == pytest.approx(1.0)
