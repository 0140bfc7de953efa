"""Worker metrics that the shipped alert rules and dashboards depend on."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from daemon.agents import dead_letter_source
from daemon.demo import parse_samples
from daemon.metrics import WorkerMetrics, ZoneSnapshot
from replay.gits_export import write_gits
from replay.read import read_events
from stream_models.online.policies import MonitorPolicy
from stream_models.online.scope import ScopeMonitor
from stream_models.retraining.registry import base_lstm
from stream_models.wire import Reject
from tests.fixtures import synth_frame


def _samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict[str, str], float]]]:
    return parse_samples(generate_latest(registry).decode())


def test_zone_gauges_come_from_the_zones_owned_at_scrape_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_gits(synth_frame(days=5), tmp_path / "m.parquet")
    events = read_events(path, "gits", {}, timezone="UTC").events
    m = WorkerMetrics(CollectorRegistry())
    policy = MonitorPolicy(min_examples=1, min_positives=0)
    owned: dict[str, ZoneSnapshot] = {}
    stopped: list[tuple[str, int]] = []
    m.watch(lambda: list(owned.values()), lambda: stopped)
    for zone in ("north", "south"):
        mon = ScopeMonitor(zone, "zone", policy, base_lstm=base_lstm())
        for e in events:
            outcome = mon.process(replace(e, zone=zone))
            m.observe(outcome, 0.01)
        owned[zone] = ZoneSnapshot(zone, outcome, mon.metrics, 1234,
                                   own_fit=mon.own_fit_share,
                                   retrainings={"etas": {"promoted": 2, "rejected": 1}})
    before = _samples(m.registry)
    assert {lab["zone"] for lab, _ in before["seismowatch_hazard_state"]} == {"north", "south"}
    windows = {(lab["zone"], lab["window"]) for lab, _ in
               before["seismowatch_rolling_energy_joules"]}
    assert windows == {(z, w) for z in ("north", "south") for w in ("1h", "8h", "24h", "7d")}
    rate = {lab["window"]: v for lab, v in before["seismowatch_rolling_event_rate_per_second"]
            if lab["zone"] == "north"}
    assert rate["7d"] == pytest.approx(outcome.features["rate_per_h_7d"] / 3600)
    assert before["seismowatch_zone_state_bytes"][0][1] == 1234
    own = {(lab["zone"], lab["model"]): v for lab, v in before["seismowatch_model_own_fit_ratio"]}
    assert own[("north", "omori")] == 1.0 and 0 <= own[("north", "lstm")] <= 1
    versions = {(lab["zone"], lab["model"]): lab["version"]
                for lab, _ in before["seismowatch_model_info"]}
    assert versions[("north", "lstm")] == base_lstm().version
    assert versions[("south", "etas")] == "generic"
    assert ({"zone": "north", "model": "etas", "result": "promoted"}, 2.0) in before[
        "seismowatch_retrainings_total"]

    del owned["north"]  # its partition moved to another worker
    stopped.append(("gits.events", 2))
    after = _samples(m.registry)
    for name, samples in after.items():
        zones = {lab.get("zone") for lab, _ in samples}
        if name.endswith(("_total", "_bucket", "_count", "_sum", "_created")):
            continue  # counters and histograms keep counting: rates over them stay right
        assert "north" not in zones, name
    assert after["seismowatch_hazard_state"] == [
        s for s in before["seismowatch_hazard_state"] if s[0]["zone"] == "south"
    ]
    assert ({"zone": "north"}, float(len(events))) in after["seismowatch_events_processed_total"]
    assert after["seismowatch_partition_stopped"] == [
        ({"topic": "gits.events", "partition": "2"}, 1.0)
    ]


def test_the_rules_thresholds_are_exported() -> None:
    m = WorkerMetrics(CollectorRegistry())
    m.configure({"zone": (0.3, 0.4, 0.5), "mine": (0.35, 0.6, 0.9)}, 6 * 3600, 0.5, 20)
    s = _samples(m.registry)
    thresholds = {(lab["scope"], lab["state"]): v
                  for lab, v in s["seismowatch_hazard_threshold_probability"]}
    assert thresholds == {("zone", "b"): 0.3, ("zone", "c"): 0.4, ("zone", "d"): 0.5,
                          ("mine", "b"): 0.35, ("mine", "c"): 0.6, ("mine", "d"): 0.9}
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
