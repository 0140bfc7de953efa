"""Worker metrics that the shipped alert rules and dashboards depend on."""

from __future__ import annotations

import json
from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest

from daemon.agents import dead_letter_source
from daemon.demo import parse_samples
from daemon.metrics import WorkerMetrics
from replay.read import read_events
from replay.rejects import Reject
from replay.synth import write_gits
from stream_models.monitor import MonitorPolicy, ZoneMonitor
from tests.fixtures import synth_frame


def _samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    return parse_samples(generate_latest(registry).decode())


def test_a_zone_that_moved_away_leaves_no_gauge_behind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_gits(synth_frame(days=5), tmp_path / "m.parquet")
    events = read_events(path, "gits", {}, timezone="UTC").events
    m = WorkerMetrics(CollectorRegistry())
    m.init_zones(["north", "south"])
    policy = MonitorPolicy(min_examples=1, min_positives=0)
    for zone in ("north", "south"):
        mon = ZoneMonitor(zone, policy)
        for e in events:
            outcome = mon.process(replace(e, zone=zone), None)
            m.observe(outcome, 0.01)
        m.observe_scores(zone, mon.metrics())
        m.observe_state_size(zone, 1234)
    before = _samples(m.registry)
    assert {lab["zone"] for lab, _ in before["seismowatch_hazard_state"]} == {"north", "south"}

    m.forget_zone("north")
    after = _samples(m.registry)
    for name, samples in after.items():
        zones = {lab.get("zone") for lab, _ in samples}
        if name.endswith(("_total", "_bucket", "_count", "_sum", "_created", "_info")):
            continue  # counters and histograms keep counting: rates over them stay right
        assert "north" not in zones, name
    # the other zone is untouched, and the moved zone's counters remain
    assert after["seismowatch_hazard_state"] == [
        s for s in before["seismowatch_hazard_state"] if s[0]["zone"] == "south"
    ]
    assert ({"zone": "north"}, float(len(events))) in after["seismowatch_events_processed_total"]
    # scored again later (the zone came back): its gauges return
    m.observe(ZoneMonitor("north", policy).process(replace(events[0], zone="north"), None), 0.01)
    assert "north" in {lab["zone"] for lab, _ in _samples(m.registry)["seismowatch_hazard_state"]}


def test_the_rules_thresholds_are_exported() -> None:
    m = WorkerMetrics(CollectorRegistry())
    m.configure((0.3, 0.4, 0.5), 6 * 3600, 0.5, 20)
    s = _samples(m.registry)
    assert {lab["state"]: v for lab, v in s["seismowatch_hazard_threshold_probability"]} == {
        "b": 0.3, "c": 0.4, "d": 0.5
    }  # fmt: skip
    assert s["seismowatch_stream_stall_after_seconds"] == [({}, 21600.0)]
    assert s["seismowatch_model_roc_auc_floor"] == [({}, 0.5)]
    assert s["seismowatch_last_processed_timestamp_seconds"][0][1] > 1.7e9  # the clock started


def test_dead_letters_are_counted_by_where_they_were_refused() -> None:
    row = Reject(file="year.xlsx", row=12, column="E", value="x", reason="not a number")
    msg = Reject(file="kafka:gits.events/0", row=7, column="value", value="{", reason="bad")
    assert dead_letter_source(row.to_wire()) == "replay"
    assert dead_letter_source(msg.to_wire()) == "worker"
    assert dead_letter_source(b"not json") == "replay"  # still counted, never dropped
    assert dead_letter_source(json.dumps([1]).encode()) == "replay"
