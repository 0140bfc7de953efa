"""Rolling features against a brute-force recomputation over the same window."""

from __future__ import annotations

import json
import math
import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_models.bvalue import aki_utsu
from stream_models.events import Event
from stream_models.features import WINDOWS_S, ZoneFeatures

T0 = datetime(2020, 1, 1, tzinfo=UTC)

event_rows = st.lists(
    st.tuples(
        st.floats(0, 6 * 3600),  # gap to the previous event, s
        st.floats(2.0, 5.0),  # log10 E
        st.floats(0.1, 8.0),  # duration, s
        st.floats(-100, 100), st.floats(-100, 100), st.floats(-500, -400),
    ),
    min_size=1, max_size=60,
)  # fmt: skip


def _stream(rows: list[tuple[float, ...]]) -> list[Event]:
    out, t = [], T0
    for i, (gap, log_e, dur, x, y, z) in enumerate(rows):
        t = t + timedelta(seconds=gap)
        out.append(Event(str(i), t, x, y, z, 10**log_e, dur, volume_m3=3000.0))
    return out


def _brute(events: list[Event], name: str) -> dict[str, float]:
    now = events[-1].timestamp
    span = WINDOWS_S[name]
    inside = [e for e in events if e.timestamp > now - span]
    energies = [e.energy_j for e in inside]
    durations = [e.duration_s for e in inside]
    return {
        "count": len(inside),
        "energy_sum_j": sum(energies),
        "energy_max_j": max(energies),
        "log_energy_mean": statistics.fmean(math.log10(v) for v in energies),
        "benioff_strain": sum(math.sqrt(v) for v in energies),
        "duration_mean_s": statistics.fmean(durations),
        "duration_p90_s": (
            statistics.quantiles(durations, n=10, method="inclusive")[8]
            if len(durations) > 1
            else durations[0]
        ),
        "centroid_x": statistics.fmean(e.x for e in inside),
        "rate_per_h": len(inside) / (span / 3600),
    }


@settings(max_examples=60, deadline=None)
@given(event_rows)
def test_features_match_brute_force(rows: list[tuple[float, ...]]) -> None:
    events = _stream(rows)
    zf = ZoneFeatures()
    for i, e in enumerate(events):
        got = zf.update(e)
        for name in WINDOWS_S:
            for key, want in _brute(events[: i + 1], name).items():
                assert got[f"{key}_{name}"] == pytest.approx(want, rel=1e-9, abs=1e-9), (key, name)


@settings(max_examples=25, deadline=None)
@given(event_rows, st.integers(0, 59))
def test_state_round_trip_gives_identical_future(rows: list[tuple[float, ...]], cut: int) -> None:
    events = _stream(rows)
    cut = min(cut, len(events) - 1)
    a = ZoneFeatures()
    for e in events[:cut]:
        a.update(e)
    b = ZoneFeatures.from_state(json.loads(json.dumps(a.to_state())))
    for e in events[cut:]:
        fa, fb = a.update(e), b.update(e)
        assert fa.keys() == fb.keys()
        assert all((math.isnan(fa[k]) and math.isnan(fb[k])) or fa[k] == fb[k] for k in fa)


def test_no_look_ahead_future_events_do_not_change_past_features() -> None:
    rng = np.random.default_rng(5)
    events = _stream(
        [
            (float(g), float(le), 1.0, 0.0, 0.0, -450.0)
            for g, le in zip(rng.exponential(600, 80), rng.uniform(2, 5, 80), strict=True)
        ]
    )
    past = [ZoneFeatures().update(e) for e in events[:1]]
    full, prefix = ZoneFeatures(), ZoneFeatures()
    full_out = [full.update(e) for e in events]
    prefix_out = [prefix.update(e) for e in events[:40]]
    assert past[0]["count_1h"] == 1
    for a, b in zip(full_out[:40], prefix_out, strict=True):
        assert all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_b_value_of_a_known_gutenberg_richter_sample() -> None:
    rng = np.random.default_rng(1)
    for b_true in (0.8, 1.0, 1.3):
        log_e = 2.0 + rng.exponential(1.5 / (b_true * math.log(10)), 3000)
        est = aki_utsu(log_e, mc=2.0)
        assert abs(est.b - b_true) < 3 * est.se + 0.02, (b_true, est)
        auto = aki_utsu(np.floor(log_e * 100) / 100)  # Mc estimated by maximum curvature
        assert abs(auto.b - b_true) < 0.15 and 2.0 <= auto.mc_log_e <= 2.4


def test_too_few_events_give_nan_b_not_a_number_from_noise() -> None:
    assert math.isnan(aki_utsu([2.1, 2.5, 3.0]).b)


def test_activity_and_energy_ratios_react_to_a_burst() -> None:
    calm = [(3600.0, 2.5, 1.0, 0.0, 0.0, -450.0)] * 100  # one event an hour for 4 days
    burst = [(60.0, 3.5, 2.0, 10.0, 0.0, -440.0)] * 30  # then one a minute, stronger
    zf = ZoneFeatures()
    out = [zf.update(e) for e in _stream(calm + burst)]
    before, after = out[99], out[-1]
    assert after["activity_ratio_1h"] > 5 * before["activity_ratio_1h"]
    assert after["energy_ratio_1h"] > 10 * before["energy_ratio_1h"]
