"""End to end on the real embedded broker: replay -> worker process -> features, risk, alerts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from kafka import KafkaProducer

from daemon.demo import scrape, total
from daemon.kafka.broker import EmbeddedBroker
from stream_models.wire import Event, loads
from tests.fixtures import (
    SERIAL_LSTM_ENV,
    cli,
    consume_all,
    metrics_url,
    start_worker,
    stop,
    wait_until,
    worker_env,
)
from tests.test_daemon.conftest import MINE_TOML
from tests.test_daemon.reference import by_event, reference, without_emitted_at

pytestmark = pytest.mark.integration

NAMED_STEMS = ("events_processed_total", "alerts_total", "risk_probability", "hazard_state",
               "processing_latency_seconds")


def test_replay_through_a_worker_publishes_what_the_pure_code_computes(
    broker: EmbeddedBroker, topic_env: dict[str, str], mine_file: Path,
    mine_events: list[Event], tmp_path: Path,
) -> None:
    env = worker_env(topic_env, broker.bootstrap, **SERIAL_LSTM_ENV)
    n = len(mine_events)
    worker = start_worker(env, tmp_path / "worker.log", MINE_TOML)
    try:
        url = metrics_url(env)
        wait_until(lambda: scrape(url), 60, "the metrics endpoint")
        # after the worker made the topics: sending first would auto-create the events
        # topic with the broker's default partition count
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        producer.send(
            env["SEISMOWATCH_TOPICS__EVENTS"], key=b"lava-1", value=b'{"not": "an event"}'
        )
        producer.flush()
        producer.close()
        replay = cli("replay", str(mine_file), "--max", "--config", str(MINE_TOML), env=env)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        risk = consume_all(broker.bootstrap, env["SEISMOWATCH_TOPICS__RISK"], expected=2 * n)
        wait_until(
            lambda: total(scrape(url), "seismowatch_events_processed_total") >= 2 * n, 30,
            "metrics"
        )
        samples = scrape(url)
        alerts = consume_all(broker.bootstrap, env["SEISMOWATCH_TOPICS__ALERTS"], idle_s=3)
        rejected = consume_all(broker.bootstrap, env["SEISMOWATCH_TOPICS__REJECTED"], idle_s=2)
        grids = consume_all(broker.bootstrap, env["SEISMOWATCH_TOPICS__HAZARD_GRID"], idle_s=2)
    finally:
        stop(worker)
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]

    # one code path: the worker's records are exactly what the orchestrator computes
    # in-process, in each event's zone and in the mine-wide scope, over three partitions,
    # features and every scope's own ETAS fit and LSTM fine-tuning included
    ref = reference(mine_events, MINE_TOML, env)
    want_risk = ref.risk
    got_risk = by_event(risk)
    assert set(got_risk) == set(want_risk) and len(risk) == 2 * n
    assert {zone for _, zone in got_risk} >= {"lava-1", "lava-2", "mine-wide"}
    differ = [(recs, want_risk[k]) for k, recs in got_risk.items() if recs != [want_risk[k]]]
    assert not differ, f"{len(differ)} risk records differ, first: {differ[:1]}"
    assert all(r["features"]["count_7d"] >= 1 for [r] in got_risk.values())
    # ... the scopes' own models included: refitted in-line at the same events
    assert any(r["etas_version"] != "generic" for r in want_risk.values()), "no ETAS fit"
    assert {r["lstm_version"] for r in want_risk.values()} - {None}  # the base from the start
    # the mine-wide scope's hazard grid: the same snapshots, in order, on their topic
    assert [json.loads(v) for _, v in grids] == ref.grids and len(ref.grids) > 10
    assert {c["zone"] for g in ref.grids for c in g["cells"]} == {"lava-1", "lava-2"}

    # a backtest of the same file gives the same per-event scores, through the command
    bt = cli("backtest", str(mine_file), "--config", str(MINE_TOML), "--scores",
             str(tmp_path / "scores.parquet"), env=env)
    assert bt.returncode == 0, bt.stdout + bt.stderr
    scores = pd.read_parquet(tmp_path / "scores.parquet").set_index("event_id")
    for (eid, zone), [rec] in got_risk.items():
        if zone == "mine-wide":
            continue  # the backtest's per-event table holds the zones' own scores
        row = scores.loc[eid]
        for name, value in rec["components"].items():
            assert (value is None and math.isnan(row[name])) or value == row[name], (eid, name)
        assert rec["hazard_state"] == row["hazard_state"]

    # every record on the topics parses as strict JSON (no NaN), and so does the alert log
    for _, value in [*risk, *alerts, *rejected]:
        loads(value)
    # alerts: present, unique ids, each a valid record, all in the local alert log too
    records = [json.loads(v) for _, v in alerts]
    ids = [r["alert_id"] for r in records]
    assert any(r["kind"] == "raise" for r in records)
    # every zone event of at least the target opened or renewed an exclusion, which ended
    sources = {e.event_id for e in mine_events if e.energy_j >= 1e4}
    assert {r["re_entry"]["source"] for r in records if r["kind"] == "re-entry"} == sources
    assert any(r["kind"] == "re-entry reached" for r in records)
    assert len(ids) == len(set(ids))
    for r in records:
        assert r["state"] in "abcd" and r["text"].startswith(r["zone"])
        if r["event"] is not None:  # an all-clear the clock brought names no event
            assert (r["event"]["event_id"], r["zone"]) in want_risk
        if r["kind"] == "raise":
            assert r["reasons"] and r["state"] in ("c", "d") and 0 <= r["probability"] <= 1
            assert all(reason["text"] in r["text"] for reason in r["reasons"])
        elif r["kind"].startswith("re-entry"):  # a zone's exclusion: the reference's own
            assert without_emitted_at(r) == ref.alerts[r["alert_id"]]
            assert r["re_entry_s"] >= 4 * 3600 and r["zone"] != "mine-wide"
            low, high = r["re_entry_interval"]
            assert low <= r["re_entry_at"] <= high and "RE-ENTRY" in r["text"]
        else:  # the forecast standing when it closed: none once it expired
            assert r["probability"] is None or 0 <= r["probability"] <= 1
    log_ids = [
        loads(line)["alert_id"]
        for line in (Path(env["SEISMOWATCH_STATE_DIR"]) / "alerts.jsonl").read_text().splitlines()
    ]
    assert sorted(log_ids) == sorted(ids)

    # the malformed message was dead-lettered, naming topic, partition and offset
    dead = [json.loads(v) for _, v in rejected]
    assert len(dead) == 1 and dead[0]["file"].startswith(
        f"kafka:{env['SEISMOWATCH_TOPICS__EVENTS']}/"
    )
    assert "schema" in dead[0]["reason"]

    # the metrics endpoint: the named stems, with plausible values
    names = set(samples)
    for stem in NAMED_STEMS:
        assert any(stem in name for name in names), stem
    assert total(samples, "seismowatch_events_processed_total") == 2 * n  # zones and mine-wide
    assert total(samples, "seismowatch_events_rejected_total") == 1
    hottest = ref.grids[-1]["hottest"]  # the last snapshot's most hazardous cell per zone
    for stem, key in (("probability", "probability"), ("x_metres", "x"), ("y_metres", "y")):
        got = {labels["zone"]: v for labels, v in samples[f"seismowatch_hazard_cell_max_{stem}"]}
        assert got == pytest.approx({zone: cell[key] for zone, cell in hottest.items()})
    got = {labels["zone"]: v for labels, v in samples["seismowatch_hazard_zone_probability"]}
    assert got == pytest.approx(ref.grids[-1]["zones"]) and set(got) == {"lava-1", "lava-2"}
    assert total(samples, "seismowatch_alerts_total") == len(records)
    assert total(samples, "seismowatch_processing_latency_seconds_count") == 2 * n
    for _, v in samples["seismowatch_risk_probability"]:
        assert 0 <= v <= 1
    assert {v for _, v in samples["seismowatch_hazard_state"]} <= {0, 1, 2, 3}
    aucs = [v for _, v in samples["seismowatch_model_roc_auc"] if not math.isnan(v)]
    assert aucs and all(0 <= v <= 1 for v in aucs)
    last = max(v for _, v in samples["seismowatch_last_event_timestamp_seconds"])
    assert last == pytest.approx(max(e.timestamp for e in mine_events))
    assert (
        samples["seismowatch_rolling_energy_joules"]
        and samples["seismowatch_consumer_lag_messages"]
    )
    assert any(lbl.get("version") for lbl, _ in samples["seismowatch_model_info"])

    # the operator feed command reads the same alerts, oldest first
    feed = cli("alerts", "--json", "--bootstrap", broker.bootstrap, env=env)
    assert feed.returncode == 0, feed.stderr
    fed = [json.loads(line) for line in feed.stdout.splitlines()]
    assert sorted(r["alert_id"] for r in fed) == sorted(ids)
    assert [r["time"] for r in fed] == sorted(r["time"] for r in fed)
    lines = cli("alerts", "--bootstrap", broker.bootstrap, env=env).stdout
    assert "RE-ENTRY expected" in lines and "RE-ENTRY REACHED" in lines
