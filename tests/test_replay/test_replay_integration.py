"""Replay into the real embedded broker (Tansu), read back with aiokafka: no mocks."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from config.settings import load_settings
from daemon.kafka.broker import EmbeddedBroker, ensure_topics, free_port
from replay.gits_export import to_gits_layout
from replay.read import read_events
from stream_models.wire import Event
from tests.fixtures import EATON, EATON_MAP, cli, cli_popen, consume_all, synth_file, synth_frame

pytestmark = pytest.mark.integration
TZ = "Asia/Novokuznetsk"


def _events(messages: list[tuple[bytes | None, bytes]]) -> list[Event]:
    return [Event.from_wire(v) for _, v in messages]


def test_round_trip_month_exactly_once(
    broker: EmbeddedBroker, topic_env: dict[str, str], tmp_path: Path
) -> None:
    path = synth_file(tmp_path / "month.xlsx", days=30)
    expected = read_events(path, timezone=TZ).events
    res = cli("replay", str(path), "--max", "--bootstrap", broker.bootstrap, env=topic_env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(expected)}/{len(expected)}" in res.stdout
    got = consume_all(
        broker.bootstrap, topic_env["SEISMOWATCH_TOPICS__EVENTS"], expected=len(expected)
    )
    events = _events(got)
    assert len(events) == len(expected)  # exactly once
    assert sorted(events, key=lambda e: e.event_id) == sorted(expected, key=lambda e: e.event_id)
    assert all(k == e.zone.encode() for (k, _), e in zip(got, events, strict=True))  # keyed by zone
    assert {e.zone for e in events} == {"mine"}


def test_eaton_catalog_duplicates_reported_not_sent_twice(
    broker: EmbeddedBroker, topic_env: dict[str, str], tmp_path: Path
) -> None:
    cat = pd.read_csv(EATON)
    dups = cat.sample(25, random_state=4)  # re-exported rows, as catalogs merged twice have
    path = tmp_path / "eaton_with_dups.csv"
    pd.concat([cat, dups]).to_csv(path, index=False)
    maps = [a for m in EATON_MAP for a in ("--map", m)]
    res = cli(
        "replay",
        str(path),
        "--format",
        "catalog",
        *maps,
        "--max",
        "--bootstrap",
        broker.bootstrap,
        "--rejects",
        str(tmp_path / "r.csv"),
        env=topic_env,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    events = _events(
        consume_all(broker.bootstrap, topic_env["SEISMOWATCH_TOPICS__EVENTS"], expected=len(cat))
    )
    assert len(events) == len(cat) == len({e.event_id for e in events})
    report = pd.read_csv(tmp_path / "r.csv")
    assert len(report) == 25 and report["reason"].str.startswith("duplicate").all()
    assert set(report["row"]) == set(range(len(cat) + 2, len(cat) + 27))
    rejected = consume_all(broker.bootstrap, topic_env["SEISMOWATCH_TOPICS__REJECTED"], expected=25)
    assert len(rejected) == 25
    body = json.loads(rejected[0][1])
    assert body["schema"] == "seismowatch.reject/1" and body["column"] == "EventID"


def test_bad_rows_go_to_rejected_topic_and_report(
    broker: EmbeddedBroker, topic_env: dict[str, str], tmp_path: Path
) -> None:
    gits = to_gits_layout(synth_frame(days=5)).astype(object)
    gits.at[3, "E"] = "-10"
    gits.at[7, "Дата"] = "30.02.2019"
    gits.at[9, "s5"] = "abc"
    gits.at[11, "t"] = None
    path = tmp_path / "bad.csv"
    gits.to_csv(path, index=False, sep=";")
    res = cli("replay", str(path), "--max", "--bootstrap", broker.bootstrap, env=topic_env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "row 5, column 'E': energy_j must be positive" in res.stderr
    rejected = [
        json.loads(v)
        for _, v in consume_all(
            broker.bootstrap, topic_env["SEISMOWATCH_TOPICS__REJECTED"], expected=4
        )
    ]
    assert {(r["row"], r["column"]) for r in rejected} == {
        (5, "E"),
        (9, "Дата"),
        (11, "s5"),
        (13, "t"),
    }
    events = consume_all(
        broker.bootstrap, topic_env["SEISMOWATCH_TOPICS__EVENTS"], expected=len(gits) - 4
    )
    assert len(events) == len(gits) - 4
    report = Path(topic_env["SEISMOWATCH_STATE_DIR"]) / "rejects" / "bad.rejects.csv"
    assert len(pd.read_csv(report, encoding="utf-8-sig")) == 4


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpoint_indexes(state: Path) -> set[int]:
    files = list((state / "replay").glob("*.json"))
    if not files:
        return set()
    body = json.loads(files[0].read_text())
    return set(range(int(body["next_index"]))) | set(body["acked_after"])


def _checkpoint_acked(state: Path) -> int:
    return len(_checkpoint_indexes(state))


def test_broker_killed_mid_replay_resumes_without_loss(
    topic_env: dict[str, str], tmp_path: Path
) -> None:
    settings = load_settings()
    port = free_port()
    path = synth_file(tmp_path / "month.csv", days=30)
    in_order = [e.event_id for e in read_events(path, timezone=TZ).events]
    expected = set(in_order)
    first = EmbeddedBroker(port=port).start()
    ensure_topics(settings, first.bootstrap)
    speed = str(30 * 86400 / 25)  # the month in ~25 s of wall time
    proc = cli_popen(
        "replay",
        str(path),
        "--speed",
        speed,
        "--bootstrap",
        first.bootstrap,
        env={**topic_env, "SEISMOWATCH_TOPICS__EVENTS": "gits.events"},
    )
    state = Path(topic_env["SEISMOWATCH_STATE_DIR"])
    second = None
    try:
        _wait_for(lambda: _checkpoint_acked(state) > 60, what="first acknowledged events")
        proc.send_signal(signal.SIGSTOP)  # freeze the producer, drain what the broker holds
        before = consume_all(first.bootstrap, "gits.events", idle_s=2.0)
        acked_at_kill = {in_order[i] for i in _checkpoint_indexes(state)}
        first.process.kill()  # the outage: all in-memory data is gone with it
        first.process.wait()
        proc.send_signal(signal.SIGCONT)
        time.sleep(3)  # the replay now sees a dead broker
        second = EmbeddedBroker(port=port).start()
        ensure_topics(settings, second.bootstrap)
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, out
        assert "Kafka unavailable" in out and "Kafka reachable again" in out, out
        assert len(acked_at_kill) < len(expected)
        after = consume_all(second.bootstrap, "gits.events", idle_s=3.0)
    finally:
        if proc.poll() is None:
            proc.kill()
        first.stop()
        if second is not None:
            second.stop()
    ids = [e.event_id for e in _events(before)] + [e.event_id for e in _events(after)]
    assert 60 < len(before) < len(expected)
    assert set(ids) == expected  # nothing lost
    # At least once: an event the broker wrote but whose acknowledgement the frozen producer
    # never read is sent again; one the checkpoint holds as acknowledged never is.
    twice = {i for i in ids if ids.count(i) > 1}
    assert not twice & acked_at_kill
    assert all(ids.count(i) <= 2 for i in twice)
    assert len(twice) <= len(before) - len(acked_at_kill & {e.event_id for e in _events(before)})


def test_ctrl_c_then_rerun_resumes_from_checkpoint(
    broker: EmbeddedBroker, topic_env: dict[str, str], tmp_path: Path
) -> None:
    path = synth_file(tmp_path / "month.xlsx", days=30)
    n = len(read_events(path, timezone=TZ).events)
    args = ("replay", str(path), "--speed", str(30 * 86400 / 20), "--bootstrap", broker.bootstrap)
    proc = cli_popen(*args, env=topic_env)
    state = Path(topic_env["SEISMOWATCH_STATE_DIR"])
    _wait_for(lambda: _checkpoint_acked(state) > 50, what="first acknowledged events")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    done_first = _checkpoint_acked(state)
    assert 50 < done_first < n
    res = cli(*args[:2], "--max", *args[4:], env=topic_env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{done_first} of {n} messages already acknowledged" in res.stdout
    events = _events(
        consume_all(broker.bootstrap, topic_env["SEISMOWATCH_TOPICS__EVENTS"], expected=n)
    )
    assert len(events) == n == len({e.event_id for e in events})
    again = cli(*args[:2], "--max", *args[4:], env=topic_env)  # complete: nothing to resend
    assert again.returncode == 0 and "sent now (events + rejects) │ 0" in again.stdout


def test_a_grown_export_replayed_again_sends_only_its_new_rows(
    broker: EmbeddedBroker, topic_env: dict[str, str], tmp_path: Path
) -> None:
    """GITS exports are re-exported whole as the year goes on: replaying the 40-day export
    after the 30-day one puts every event on the topic exactly once; --fresh sends all."""
    from replay.gits_export import write_gits

    frame = synth_frame(days=40)
    first = frame[frame["time"] < frame["time"].min().normalize() + pd.Timedelta(days=30)]
    month = write_gits(first, tmp_path / "export-30d.csv")
    grown = write_gits(frame, tmp_path / "export-40d.csv")
    topic = topic_env["SEISMOWATCH_TOPICS__EVENTS"]
    args = ("--max", "--bootstrap", broker.bootstrap)
    assert cli("replay", str(month), *args, env=topic_env).returncode == 0
    res = cli("replay", str(grown), *args, env=topic_env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(first)} messages already sent" in res.stdout
    events = _events(consume_all(broker.bootstrap, topic, expected=len(frame)))
    assert len(events) == len(frame) > len(first)
    assert len({e.event_id for e in events}) == len(frame)  # each event once
    again = cli("replay", str(grown), *args, "--fresh", env=topic_env)
    assert again.returncode == 0 and "already sent" not in again.stdout
    assert len(consume_all(broker.bootstrap, topic, expected=2 * len(frame))) == 2 * len(frame)
