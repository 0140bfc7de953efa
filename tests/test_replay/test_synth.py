"""The synthetic mine obeys the physics the README claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from replay.synth import SynthParams, generate, sensor_positions
from stream_models.bvalue import aki_utsu
from tests.fixtures import synth_frame


def test_deterministic_for_a_seed() -> None:
    a, b = synth_frame(days=20, seed=11), synth_frame(days=20, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert not synth_frame(days=20, seed=12).equals(a)


@pytest.mark.parametrize("b_value", [0.8, 1.0, 1.2])
def test_gutenberg_richter_b_value_recovered(b_value: float) -> None:
    frame = synth_frame(days=365, b_value=b_value)
    e = frame["energy_j"].to_numpy()
    assert e.min() >= 10**2 - 1 and e.max() <= 10**5 + 1
    assert abs(aki_utsu(np.log10(e), mc=2.0).b - b_value) <= 0.15


def test_aftershock_rate_decays_after_large_events() -> None:
    frame = synth_frame(days=365)
    t = (frame["time"] - frame["time"].iloc[0]).dt.total_seconds().to_numpy() / 3600
    xy = frame[["x", "y"]].to_numpy()
    big = np.flatnonzero(frame["energy_j"].to_numpy() >= 10**4)
    assert big.size > 50
    edges = np.array([0, 0.5, 1, 2, 4, 8, 16])  # hours after the large event
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
    f = synth_frame(days=60)
    slope = np.polyfit(np.log10(f["energy_j"]), np.log10(f["duration_s"]), 1)[0]
    assert 0.2 < slope < 0.35
    assert np.corrcoef(np.log10(f["energy_j"]), np.log10(f["energy_corr_j"]))[0, 1] > 0.98
    assert np.corrcoef(f["duration_s"], f["duration_corr_s"])[0, 1] > 0.98


def test_sensor_amplitude_falls_with_distance() -> None:
    params = SynthParams(days=60)
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
    assert np.corrcoef(daily["x"], daily["volume_m3"])[0, 1] > 0.3  # more coal, more events
