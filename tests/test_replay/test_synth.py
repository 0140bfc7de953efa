"""The synthetic mine obeys the physics the docs claim, and its default year is the paper's."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from replay.large_events import LARGE_LOG_E, PAPER_EVENTS
from replay.synth import SynthParams, generate, sensor_positions, with_precursors
from stream_models.seismology.bvalue import aki_utsu, completeness
from tests.fixtures import synth_frame


@pytest.fixture(scope="module")
def paper_year() -> pd.DataFrame:
    return generate(SynthParams())


def _large(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["energy_j"] >= 10**LARGE_LOG_E]


def test_deterministic_for_a_seed() -> None:
    a, b = synth_frame(days=20, seed=11), synth_frame(days=20, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert not synth_frame(days=20, seed=12).equals(a)


def test_default_year_has_the_papers_calendar_and_large_events(paper_year) -> None:  # type: ignore[no-untyped-def]
    f = paper_year
    assert f["time"].min() >= datetime(2019, 9, 3)
    assert f["time"].max() < datetime(2020, 8, 29)  # the paper's year ends on 28 Aug 2020
    large = _large(f)
    assert 3 <= len(large) <= 8
    biggest = large.loc[large["energy_j"].idxmax()]
    assert biggest["time"].strftime("%Y-%m-%d %H:%M") == "2020-08-15 15:27"
    assert (large["duration_s"] > 4).all()  # the paper: each lasted more than 4 s
    for ev in PAPER_EVENTS:  # each of the paper's events on its date, with its energy
        same_day = large[(large["time"] - ev.when).abs() <= timedelta(days=1)]
        assert np.isclose(same_day["energy_j"], ev.energy_j, rtol=1e-6).sum() == 1, ev
    assert f["energy_j"].between(1e4, 10**LARGE_LOG_E * 10).sum() == 3  # 13,950, 13,660, largest


def test_gutenberg_richter_b_of_one_above_a_completeness_of_a_few_joules(paper_year) -> None:  # type: ignore[no-untyped-def]
    log_e = np.log10(paper_year["energy_j"].to_numpy())
    mc = completeness(log_e)  # maximum curvature + 0.2 finds the configured Mc
    assert 0.3 <= mc <= 0.9  # 2..8 J
    assert abs(aki_utsu(log_e, mc=0.8).b - 1.0) <= 0.1
    assert log_e.min() < 0.5 < np.quantile(log_e, 0.2)  # thinned, not cut, below Mc


@pytest.mark.parametrize("b_value", [0.8, 1.2])
def test_b_value_option_is_recovered(b_value: float) -> None:
    log_e = np.log10(generate(SynthParams(b_value=b_value))["energy_j"].to_numpy())
    assert abs(aki_utsu(log_e, mc=0.8).b - b_value) <= 0.15


def test_other_seeds_keep_a_handful_of_large_events_on_other_dates() -> None:
    counts, dates = [], set()
    for seed in range(1, 21):
        large = _large(generate(SynthParams(seed=seed)))
        counts.append(len(large))
        dates |= {t.date() for t in large["time"]}
    assert 3 <= np.mean(counts) <= 8
    paper_dates = {ev.when.date() for ev in PAPER_EVENTS}
    assert len(dates - paper_dates) >= 0.9 * len(dates)


def _near_before(frame: pd.DataFrame, hours: float) -> list[int]:
    """Events within 100 m in the ``hours`` before each large event."""
    t = (frame["time"] - frame["time"].iloc[0]).dt.total_seconds().to_numpy() / 3600
    xy = frame[["x", "y"]].to_numpy()
    out = []
    for i in np.flatnonzero(frame["energy_j"].to_numpy() >= 10**LARGE_LOG_E):
        dt = t[i] - t[np.hypot(*(xy - xy[i]).T) < 100]
        out.append(int(((dt > 0) & (dt <= hours)).sum()))
    return out


def test_precursors_announce_large_events_and_the_null_year_keeps_the_statistics() -> None:
    linked, moved = [], []
    for seed in range(1, 13):
        params = SynthParams(seed=seed)
        a, b = generate(params), generate(with_precursors(params, None))
        assert len(a) == len(b)  # the same events ...
        np.testing.assert_array_equal(np.sort(a["energy_j"]), np.sort(b["energy_j"]))
        linked += _near_before(a, 8)  # ... but only one year puts them before large events
        moved += _near_before(b, 8)
    assert np.mean(linked) > 3 * max(np.mean(moved), 0.1)
    assert np.mean([n > 0 for n in linked]) > np.mean([n > 0 for n in moved])


def test_stronger_precursors_mean_more_events_before_large_ones() -> None:
    weak = sum(_near_before(generate(with_precursors(SynthParams(), 1.0)), 8))
    strong = sum(_near_before(generate(with_precursors(SynthParams(), 10.0)), 8))
    assert strong > 2 * weak


def test_aftershock_rate_decays_after_larger_events() -> None:
    frame = synth_frame(days=361)
    t = (frame["time"] - frame["time"].iloc[0]).dt.total_seconds().to_numpy() / 3600
    xy = frame[["x", "y"]].to_numpy()
    big = np.flatnonzero(frame["energy_j"].to_numpy() >= 10**2.5)
    assert big.size > 50
    edges = np.array([0, 0.5, 1, 2, 4, 8, 16])  # hours after the event
    counts = np.zeros(edges.size - 1)
    for i in big:
        near = np.hypot(*(xy - xy[i]).T) < 75
        dt = t[near] - t[i]
        counts += np.histogram(dt[dt > 0], edges)[0]
    rate = counts / np.diff(edges) / big.size  # events per hour per large event
    assert np.all(np.diff(rate) < 0), rate  # Omori: the rate falls with time
    background = frame.shape[0] / t[-1] / 4  # rough per-hour rate near a point
    assert rate[0] > 3 * background


def test_duration_grows_with_energy_and_corrected_copies_track() -> None:
    f = synth_frame(days=120)
    slope = np.polyfit(np.log10(f["energy_j"]), np.log10(f["duration_s"]), 1)[0]
    assert 0.2 < slope < 0.35
    assert np.corrcoef(np.log10(f["energy_j"]), np.log10(f["energy_corr_j"]))[0, 1] > 0.98
    assert np.corrcoef(f["duration_s"], f["duration_corr_s"])[0, 1] > 0.98


def test_sensor_amplitude_falls_with_distance() -> None:
    params = SynthParams(days=120)
    f = generate(params)
    pos = sensor_positions(params)
    xyz = f[["x", "y", "z"]].to_numpy()
    amps = f[[f"s{i}" for i in range(1, 13)]].to_numpy()
    r = np.sqrt(((xyz[:, None, :] - pos[None]) ** 2).sum(-1))
    norm = amps / np.sqrt(f["energy_j"].to_numpy())[:, None]  # remove source size
    seen = norm > 0
    assert np.corrcoef(np.log(r[seen]), np.log(norm[seen]))[0, 1] < -0.8


def test_activity_follows_the_retreating_face_and_production() -> None:
    f = synth_frame(days=200)
    lava1 = f[f["zone"] == "lava-1"].set_index("time")
    weekly_x = lava1["x"].resample("7D").median().dropna()
    assert (np.diff(weekly_x.to_numpy()) < 0).mean() > 0.9  # the face retreats along -x
    daily = lava1.resample("1D").agg({"x": "size", "volume_m3": "first"}).dropna()
    busy = daily["volume_m3"] >= daily["volume_m3"].quantile(0.5)
    idle = daily["volume_m3"] <= daily["volume_m3"].quantile(0.15)  # Sundays and stops
    assert daily.loc[busy, "x"].mean() > 1.3 * daily.loc[idle, "x"].mean()  # more coal, more events


def test_rate_option_scales_the_year_and_its_large_events() -> None:
    dense = SynthParams(background_per_day=40.0, large_events="random")
    assert len(generate(dense)) > 10 * len(generate(SynthParams(large_events="random")))
    assert dense.rate_per_day == 40.0 and SynthParams().rate_per_day < 3
