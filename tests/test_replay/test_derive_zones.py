"""Zones from the data: clusters of the first weeks' epicentres, stable as data arrive."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pytest

from config.settings import load_settings
from replay.derive_zones import DERIVED_FILE, derive_zones, saved_zones, with_derived_zones
from replay.synth_district import SPACING_M, district
from stream_models.wire import Event


def _events(frame) -> list[Event]:  # type: ignore[no-untyped-def]
    return [Event(str(r.event_id), r.time.to_pydatetime(warn=False).replace(tzinfo=UTC), float(r.x),
                  float(r.y), float(r.z),
                  float(r.energy_j), float(r.duration_s), zone=str(r.zone))
            for r in frame.itertuples()]


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return _events(district(mines=3, seed=11, days=120))


def test_each_mine_of_a_district_becomes_a_zone_of_its_own(events: list[Event]) -> None:
    zones = derive_zones(np.array([e.timestamp for e in events]),
                         np.array([e.x for e in events]), np.array([e.y for e in events]))
    assert len(zones) == 3
    # every zone is one mine: its centre lies in that mine's stretch of x
    assert sorted(round(z.x / SPACING_M) for z in zones) == [0, 1, 2]
    assert [z.name for z in zones] == ["zone-1", "zone-2", "zone-3"]
    assert [z.events for z in zones] == sorted((z.events for z in zones), reverse=True)


def test_derived_zones_label_events_as_the_mines_do(events: list[Event], tmp_path: Path
                                                    ) -> None:
    settings = load_settings(None, state_dir=tmp_path)
    out, relabelled, note = with_derived_zones(settings, events, persist=False)
    assert "3 zones" in note and out.mine_scope_name == "mine-wide"
    pairs = {(e.zone, r.zone) for e, r in zip(events, relabelled, strict=True)}
    by_mine: dict[str, set[str]] = {}
    for mine, zone in pairs:
        by_mine.setdefault(mine, set()).add(zone)
    # no derived zone mixes two mines, and every event has one (faces advance all year)
    owners = {}
    for mine, zones in by_mine.items():
        for z in zones:
            assert owners.setdefault(z, mine) == mine
    assert settings.default_zone not in owners


def test_a_month_added_later_does_not_relabel_the_zones(events: list[Event]) -> None:
    first = [e for e in events if e.time < events[0].time + timedelta(days=90)]

    def zones(evs: list[Event]):  # type: ignore[no-untyped-def]
        return derive_zones(np.array([e.timestamp for e in evs]), np.array([e.x for e in evs]),
                            np.array([e.y for e in evs]))

    assert zones(first) == zones(events)


def test_a_configured_zone_file_wins(events: list[Event], tmp_path: Path) -> None:
    toml = tmp_path / "zones.toml"
    toml.write_text('[[zones]]\nname = "west"\nx_max = 5000\n')
    settings = load_settings(toml, state_dir=tmp_path)
    out, same, note = with_derived_zones(settings, events)
    assert out is settings and same is events and note == ""
    assert not (tmp_path / DERIVED_FILE).exists()


def test_a_replay_writes_its_zones_and_later_runs_and_workers_keep_them(
    events: list[Event], tmp_path: Path
) -> None:
    settings = load_settings(None, state_dir=tmp_path)
    first, _, note = with_derived_zones(settings, events)
    assert (tmp_path / DERIVED_FILE).exists() and "written to" in note
    # a re-export that starts elsewhere in the year keeps the zones derived first
    later = [replace(e, x=e.x + 1.0) for e in events[len(events) // 2:]]
    again, _, note = with_derived_zones(settings, later)
    assert again.derived_zones == first.derived_zones and str(tmp_path) in note
    assert saved_zones(settings).derived_zones == first.derived_zones  # what a worker reads


def test_one_cluster_is_no_reason_for_zones() -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 30 * 86400, 400))
    assert derive_zones(t, rng.normal(0, 50, 400), rng.normal(0, 50, 400)) == []


def test_one_mine_s_faces_are_one_place_not_zones_of_their_own() -> None:
    """DBSCAN splits a field into its faces; clusters a few radii apart merge back."""
    from replay.synth import SynthParams, generate

    frame = generate(SynthParams(days=90))
    t = (frame["time"] - frame["time"].iloc[0]).dt.total_seconds().to_numpy()
    assert derive_zones(t, frame["x"].to_numpy(float), frame["y"].to_numpy(float)) == []


def test_derivation_switched_off_keeps_one_zone(events: list[Event], tmp_path: Path) -> None:
    settings = load_settings(None, state_dir=tmp_path, **{"space.derive_zones": False})
    out, same, note = with_derived_zones(settings, events)
    assert out is settings and same is events and note == ""
    assert not (tmp_path / DERIVED_FILE).exists()
