"""Rolling features against a brute-force recomputation over the same events.

The incremental windows span whole time buckets (the current one and the 23
before it). The reference here recomputes every statistic from the raw events
in that span, so everything but the two histogram estimates must agree to
rounding; those two are checked against their stated error bounds, and the
bucketed span against the exact sliding window.
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_models.features.rolling import WINDOWS_S, ZoneFeatures
from stream_models.features.windows import LOG_E_BIN, LOG_T_BIN, N_BUCKETS
from stream_models.packing import nbytes
from stream_models.seismology.bvalue import aki_utsu
from stream_models.wire import Event

T0 = datetime(2020, 1, 1, tzinfo=UTC)

event_rows = st.lists(
    st.tuples(
        st.floats(0, 6 * 3600),  # gap to the previous event, s
        st.floats(0.0, 5.0),  # log10 E
        st.floats(0.1, 8.0),  # duration, s
        st.floats(-100, 100), st.floats(-100, 100), st.floats(-500, -400),
    ),
    min_size=1, max_size=60,
)


def _stream(rows: list[tuple[float, ...]]) -> list[Event]:
    out, t = [], T0
    for i, (gap, log_e, dur, x, y, z) in enumerate(rows):
        t = t + timedelta(seconds=gap)
        out.append(Event(str(i), t, x, y, z, 10**log_e, dur, volume_m3=3000.0))
    return out


def _inside(events: list[Event], name: str) -> list[Event]:
    """The events of the bucketed window: the newest bucket and the N_BUCKETS - 1 before it."""
    width = WINDOWS_S[name] / N_BUCKETS
    head = math.floor(events[-1].timestamp / width)
    return [e for e in events if math.floor(e.timestamp / width) > head - N_BUCKETS]


def _brute(events: list[Event], name: str) -> dict[str, float]:
    inside = _inside(events, name)
    energies = [e.energy_j for e in inside]
    t = [e.timestamp for e in inside]
    iet = np.diff(t)
    xyz = np.array([(e.x, e.y, e.z) for e in inside])
    centroid = xyz.mean(axis=0)
    out = {
        "count": len(inside),
        "rate_per_h": len(inside) / (WINDOWS_S[name] / 3600),
        "energy_sum_j": sum(energies),
        "energy_max_j": max(energies),
        "log_energy_mean": statistics.fmean(math.log10(v) for v in energies),
        "benioff_strain": sum(math.sqrt(v) for v in energies),
        "duration_mean_s": statistics.fmean(e.duration_s for e in inside),
        "centroid_x": centroid[0], "centroid_y": centroid[1], "centroid_z": centroid[2],
        "spread_m": math.sqrt(float(((xyz - centroid) ** 2).sum()) / len(inside)),
        "energy_per_volume_j_m3": sum(energies) / 3000.0,
    }
    if iet.size:
        out["iet_mean_s"] = float(iet.mean())
        if iet.mean() > 0:
            out["iet_cv"] = float(iet.std() / iet.mean())
    return out


@settings(max_examples=60, deadline=None)
@given(event_rows)
def test_features_match_brute_force(rows: list[tuple[float, ...]]) -> None:
    events = _stream(rows)
    zf = ZoneFeatures()
    for i, e in enumerate(events):
        got = zf.update(e)
        for name in WINDOWS_S:
            for key, want in _brute(events[: i + 1], name).items():
                # a spread is the root of a variance: running sums' 1e-11 m² of rounding
                # residue show as micrometres when all events sit at one point
                tol = 1e-4 if key == "spread_m" else 1e-6
                assert got[f"{key}_{name}"] == pytest.approx(want, rel=1e-7, abs=tol), (key, name)


@settings(max_examples=40, deadline=None)
@given(event_rows)
def test_histogram_estimates_stay_within_their_stated_error(rows: list[tuple[float, ...]]) -> None:
    events = _stream(rows)
    zf = ZoneFeatures()
    for i, e in enumerate(events):
        got = zf.update(e)
        for name in WINDOWS_S:
            inside = _inside(events[: i + 1], name)
            durations = [ev.duration_s for ev in inside]
            p90 = float(np.quantile(durations, 0.9, method="inverted_cdf"))
            # read within the log10 t bin that holds the p90 event
            assert abs(math.log10(got[f"duration_p90_s_{name}"] / p90)) <= LOG_T_BIN + 1e-9
            log_e = np.array([ev.log_energy for ev in inside])
            ref = aki_utsu(log_e, mc=got[f"mc_log_energy_{name}"])
            if math.isfinite(got[f"b_value_{name}"]):  # binned values move by at most half a bin
                mean_excess = float(log_e[log_e >= ref.mc_log_e - 1e-9].mean()) - ref.mc_log_e
                bound = got[f"b_value_{name}"] * (LOG_E_BIN / 2) / max(mean_excess - 0.05, 1e-3)
                assert abs(got[f"b_value_{name}"] - ref.b) <= bound + 1e-9


def test_bucketed_window_spans_between_its_length_and_one_bucket_less() -> None:
    """Against the exact sliding window: every event of the last W - W/N is in, none older
    than W."""
    rng = np.random.default_rng(3)
    events = _stream([(float(g), 2.0, 1.0, 0.0, 0.0, -450.0)
                      for g in rng.exponential(400, 400)])
    zf = ZoneFeatures()
    for i, e in enumerate(events):
        got = zf.update(e)
        now = e.timestamp
        for name, span in WINDOWS_S.items():
            t = np.array([ev.timestamp for ev in events[: i + 1]])
            lo = int((t > now - span).sum())
            hi = int((t > now - span + span / N_BUCKETS).sum())
            assert hi <= got[f"count_{name}"] <= lo


def test_state_size_is_fixed_whatever_the_burst() -> None:
    quiet, burst = ZoneFeatures(), ZoneFeatures()
    quiet.update(_stream([(0.0, 2.0, 1.0, 0.0, 0.0, -450.0)])[0])
    rng = np.random.default_rng(0)
    for e in _stream([(0.5, float(v), 1.0, 0.0, 0.0, -450.0) for v in rng.uniform(0, 6, 20000)]):
        burst.update(e)
    assert nbytes(quiet.to_state()) == nbytes(burst.to_state()) < 100_000


def test_no_look_ahead_future_events_do_not_change_past_features() -> None:
    rng = np.random.default_rng(5)
    events = _stream(
        [
            (float(g), float(le), 1.0, 0.0, 0.0, -450.0)
            for g, le in zip(rng.exponential(600, 80), rng.uniform(2, 5, 80), strict=True)
        ]
    )
    full, prefix = ZoneFeatures(), ZoneFeatures()
    full_out = [full.update(e) for e in events]
    prefix_out = [prefix.update(e) for e in events[:40]]
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
        zf = ZoneFeatures({"all": 1e9})  # the windows' binned estimator on the same sample
        for i, v in enumerate(log_e):
            f = zf.update(Event(str(i), T0 + timedelta(seconds=i), 0, 0, -450, 10**v, 1.0))
        assert abs(f["b_value_all"] - b_true) < 0.15 and 2.0 <= f["mc_log_energy_all"] <= 2.4


def test_too_few_events_give_nan_b_not_a_number_from_noise() -> None:
    assert math.isnan(aki_utsu([2.1, 2.5, 3.0]).b)
    zf = ZoneFeatures()
    for i, v in enumerate([2.1, 2.5, 3.0]):
        f = zf.update(Event(str(i), T0 + timedelta(minutes=i), 0, 0, -450, 10**v, 1.0))
    assert math.isnan(f["b_value_7d"]) and math.isnan(f["mc_log_energy_7d"])


def test_activity_and_energy_ratios_react_to_a_burst() -> None:
    calm = [(3600.0, 2.5, 1.0, 0.0, 0.0, -450.0)] * 100  # one event an hour for 4 days
    burst = [(60.0, 3.5, 2.0, 10.0, 0.0, -440.0)] * 30  # then one a minute, stronger
    zf = ZoneFeatures()
    out = [zf.update(e) for e in _stream(calm + burst)]
    before, after = out[99], out[-1]
    assert after["activity_ratio_1h"] > 5 * before["activity_ratio_1h"]
    assert after["energy_ratio_1h"] > 10 * before["energy_ratio_1h"]


def test_log_t_residual_matches_a_least_squares_fit() -> None:
    rng = np.random.default_rng(2)
    log_e = rng.uniform(1, 4, 60)
    dur = 10 ** (-0.4 + 0.3 * log_e + rng.normal(0, 0.05, 60))
    events = _stream([(600.0, float(a), float(b), 0.0, 0.0, -450.0)
                      for a, b in zip(log_e, dur, strict=True)])
    zf = ZoneFeatures()
    got = [zf.update(e)["log_t_residual"] for e in events][-1]
    slope, intercept = np.polyfit(log_e, np.log10(dur), 1)
    assert got == pytest.approx(np.log10(dur[-1]) - (intercept + slope * log_e[-1]), abs=1e-9)


def test_incremental_histogram_summaries_equal_a_recount_at_every_event() -> None:
    """Mc, the moments above it and the p90 bin are kept up to date as buckets come and go;
    at every event they must equal what the counts alone give (what a restore derives)."""
    from stream_models.features.windows import _Ring, binned_b_values

    rng = np.random.default_rng(11)
    gaps = np.concatenate([rng.exponential(30, 3000), rng.exponential(3000, 1000)])
    rows = [(float(g), float(v), float(d), 0.0, 0.0, -450.0)
            for g, v, d in zip(gaps, 0.5 + rng.exponential(0.65, 4000),
                               10 ** rng.normal(0, 0.3, 4000), strict=True)]
    zf = ZoneFeatures()
    for e in _stream(rows):
        zf.update(e)
        for ring in zf.rings.rings:
            assert ring.b_value() == pytest.approx(binned_b_values(np.array(ring.ce)), nan_ok=True)
            fresh = _Ring(ring.span)
            fresh.ct, fresh.n_t = list(ring.ct), sum(ring.ct)
            fresh._walk()
            assert (fresh.j, fresh.below) == (ring.j, ring.below) or not ring.n_t
