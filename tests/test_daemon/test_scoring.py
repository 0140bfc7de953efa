"""The worker's event handler without Kafka: skip, gap replay, snapshot-then-ack, dead letters,
and the faults a restore or a re-read can meet (each injected for real)."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from config.settings import load_settings
from daemon.app import TableStore, json_store
from daemon.metrics import WorkerMetrics
from daemon.scoring import ScoringService
from stream_models.retraining.training import untrained_model
from stream_models.wire import Event, utc_text
from tests.test_daemon.conftest import MINE_TOML

EVENTS, MINE = "gits.events", "gits.events.mine"


class Outputs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushes = 0

    async def send(self, topic: str, key: bytes, value: bytes,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        self.sent.append((topic, key, value))

    async def flush(self) -> None:
        self.flushes += 1


class Tables:
    """The two changelog tables as plain dicts of bytes, through the worker's own codecs."""

    def __init__(self) -> None:
        self.state: dict[bytes, bytes] = {}
        self.sent: dict[bytes, bytes] = {}


def _service(tmp_path: Path, tables: Tables, wire: list[bytes], fetched: list[int] | None = None,
             short: int = 0, **overrides: Any) -> tuple[ScoringService, Outputs, list]:  # fmt: skip
    settings = load_settings(MINE_TOML, state_dir=tmp_path,
                             **{"worker.snapshot_every": 10, "lstm.enabled": False,
                                **overrides})  # fmt: skip
    outputs, paused = Outputs(), []
    reads = {"n": 0}

    async def fetch_range(topic: str, partition: int, start: int, end: int) -> list:  # type: ignore[type-arg]
        reads["n"] += 1
        if fetched is not None:
            fetched.extend(range(start, end))
        got = [(o, wire[o], None) for o in range(start, end)]
        return got[: len(got) - short] if reads["n"] <= 2 or short > 1 else got

    svc = ScoringService(
        settings, outputs, TableStore(tables.state), json_store(tables.sent),
        WorkerMetrics(CollectorRegistry()), fetch_range, lambda t, p: paused.append((t, p)),
    )  # fmt: skip
    return svc, outputs, paused


async def _noack() -> None:
    return None


def _risk(outputs: Outputs, zone: str | None = None) -> list[str]:
    recs = [json.loads(v) for t, _, v in outputs.sent if t == "gits.risk"]
    return [r["event_id"] for r in recs if zone is None or r["zone"] == zone]


def _sample(svc: ScoringService, name: str, labels: dict[str, str]) -> float | None:
    return svc.metrics.registry.get_sample_value(name, labels)


def test_restart_skips_applied_offsets_and_reads_undelivered_ones_back(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    events = [e for e in mine_events if e.zone == "lava-1"][:60]
    wire = [e.to_wire() for e in events]
    tables, fetched, acked = Tables(), [], []

    async def ack(offset: int) -> None:
        acked.append(offset)

    async def run() -> tuple[list[str], list[str]]:
        first, out1, _ = _service(tmp_path, tables, wire, fetched)
        for off in range(25):  # snapshots at 10 and 20 events; 20..24 not stored
            await first.handle(wire[off], EVENTS, 0, off, None, lambda o=off: ack(o))
        second, out2, _ = _service(tmp_path, tables, wire, fetched)
        # the consumer redelivers 15..17 (already stored) and then jumps to 30
        for off in (15, 16, 17, *range(30, 60)):
            await second.handle(wire[off], EVENTS, 0, off, None, lambda o=off: ack(o))
        return _risk(out1, "lava-1"), _risk(out2, "lava-1")

    before, after = asyncio.run(run())
    assert acked[:20] == list(range(20))  # acked only after a snapshot covered them
    assert fetched == list(range(20, 30))  # the gap after the stored state, read back
    assert after == [e.event_id for e in events[20:60]]  # 15..17 skipped, nothing missing
    assert before == [e.event_id for e in events[:25]]


def test_each_event_goes_on_to_the_mine_wide_scope_once(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    wire = [e.to_wire() for e in mine_events[:40]]

    async def run() -> tuple[Outputs, ScoringService]:
        svc, out, _ = _service(tmp_path, Tables(), wire)
        for off, value in enumerate(wire):
            await svc.handle(value, EVENTS, 0, off, None, _noack)
        forwarded = [v for t, _, v in out.sent if t == MINE]
        for off, value in enumerate([*forwarded, forwarded[5]]):  # one re-forwarded copy
            await svc.handle(value, MINE, 0, off, None, _noack)
        return out, svc

    out, svc = asyncio.run(run())
    ids = [e.event_id for e in mine_events[:40]]
    assert sorted(_risk(out, "mine-wide")) == sorted(ids)  # every event, once
    assert _sample(svc, "seismowatch_events_already_applied_total", {"zone": "mine-wide"}) == 1


def test_a_malformed_message_is_dead_lettered_and_the_next_event_is_scored(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    wire = [b"\xff not json", mine_events[0].to_wire()]

    async def run() -> Outputs:
        svc, out, _ = _service(tmp_path, Tables(), wire)
        for off, value in enumerate(wire):
            await svc.handle(value, EVENTS, 2, off, None, _noack)
        return out

    out = asyncio.run(run())
    dead = [json.loads(v) for t, _, v in out.sent if t == "gits.events.rejected"]
    assert len(dead) == 1 and dead[0]["file"] == "kafka:gits.events/2" and dead[0]["row"] == 0
    assert _risk(out, mine_events[0].zone) == [mine_events[0].event_id]


def test_an_event_far_behind_its_zone_is_dead_lettered_and_the_zone_goes_on(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    zone = [e for e in mine_events if e.zone == "lava-1"]
    old, recent = zone[0], [e for e in zone if e.timestamp > zone[0].timestamp + 3 * 86400][:30]
    again = replace(recent[-1], event_id="fresh-id")  # not late, not applied before
    wire = [e.to_wire() for e in recent] + [old.to_wire(), again.to_wire()]

    async def run() -> tuple[Outputs, ScoringService]:
        svc, out, _ = _service(tmp_path, Tables(), wire)
        for off, value in enumerate(wire):
            await svc.handle(value, EVENTS, 1, off, None, _noack)
        return out, svc

    out, svc = asyncio.run(run())
    dead = [json.loads(v) for t, _, v in out.sent if t == "gits.events.rejected"]
    assert [(d["row"], d["column"]) for d in dead] == [(len(recent), "time")]
    assert f"event {old.event_id} at" in dead[0]["reason"]
    assert "behind zone lava-1's clock" in dead[0]["reason"]
    assert _risk(out, "lava-1") == [e.event_id for e in recent] + ["fresh-id"]
    assert _sample(svc, "seismowatch_events_rejected_total", {"reason": "late_event"}) == 1


# -- faults at restore and re-read ---------------------------------------------------------


def _stored_then_broken(tmp_path: Path, mine_events: list[Event], breaker: Any) -> tuple:  # type: ignore[type-arg]
    """Store state for 30 events, break something, restart: (svc, outputs, paused, acks)."""
    events = [e for e in mine_events if e.zone == "lava-1"][:40]
    wire = [e.to_wire() for e in events]
    tables, acks = Tables(), []

    async def ack() -> None:
        acks.append(1)

    async def run() -> tuple:  # type: ignore[type-arg]
        first, _, _ = _service(tmp_path, tables, wire)
        for off in range(30):
            await first.handle(wire[off], EVENTS, 0, off, None, _noack)
        await first.on_revoked()
        before = dict(tables.state)
        breaker(tables)
        second, out, paused = _service(tmp_path, tables, wire)
        for off in range(30, 40):
            await second.handle(wire[off], EVENTS, 0, off, None, ack)
        await second.tick()
        return second, out, paused, before

    svc, out, paused, before = asyncio.run(run())
    return svc, out, paused, acks, before, tables


@pytest.mark.parametrize("fault", ["missing model file", "corrupt model file", "corrupt state"])
def test_a_failed_restore_stops_the_partition_instead_of_starting_fresh(
    fault: str, tmp_path: Path, mine_events: list[Event]
) -> None:
    def breaker(tables: Tables) -> None:
        models = sorted((tmp_path / "models" / "lava-1").glob("*.pkl"))
        if fault == "missing model file":
            for f in models:
                f.unlink()
        elif fault == "corrupt model file":
            for f in models:
                f.write_bytes(b"not a pickle")
        else:
            tables.state[b"lava-1"] = b"\x78\x9c garbage"

    svc, out, paused, acks, before, tables = _stored_then_broken(tmp_path, mine_events, breaker)
    assert paused == [(EVENTS, 0)]  # the consumer stops fetching the partition
    assert _risk(out) == [] and acks == []  # nothing scored, nothing acked: Kafka keeps it
    assert (EVENTS, 0) in svc.stopped and "lava-1" in svc.stopped[(EVENTS, 0)]
    assert _sample(svc, "seismowatch_partition_stopped", {"topic": EVENTS, "partition": "0"}) == 1
    if fault != "corrupt state":
        assert tables.state == before  # the stored state is not overwritten by a fresh one


def test_a_short_gap_re_read_is_retried_then_stops_the_partition(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    wire = [e.to_wire() for e in mine_events[:30]]

    async def run(short: int) -> tuple[ScoringService, Outputs, list]:  # type: ignore[type-arg]
        tables = Tables()
        first, _, _ = _service(tmp_path / str(short), tables, wire)
        for off in range(10):
            await first.handle(wire[off], EVENTS, 0, off, None, _noack)
        await first.on_revoked()
        fetched: list[int] = []
        second, out, paused = _service(tmp_path / str(short), tables, wire, fetched, short=short)
        await second.handle(wire[20], EVENTS, 0, 20, None, _noack)  # 10..19 undelivered
        return second, out, paused

    _, out, paused = asyncio.run(run(short=1))  # short twice, complete on the third read
    assert paused == [] and len(_risk(out)) > 10
    broken, out, paused = asyncio.run(run(short=2))  # short on every read
    assert paused == [(EVENTS, 0)] and _risk(out) == []
    assert "returned 8 of 10 after 4 reads" in broken.stopped[(EVENTS, 0)]


def test_a_quiet_zone_closes_its_alert_episode_on_the_clock_alone(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    """lava-1 raises an alert, then falls silent while lava-2 (same partition) goes on: the
    forecast expires after one horizon and the all-clear follows the cooldown, at fixed times."""
    a = [e for e in mine_events if e.zone == "lava-1"][:20]
    quiet_from = a[-1].timestamp
    b = [e for e in mine_events if e.zone == "lava-2" and e.timestamp > quiet_from][:200]
    wire = [e.to_wire() for e in a + b]
    low = {"alerts.thresholds": (0.0001, 0.0002, 0.0003), "alerts.hysteresis": 0.2,
           "alerts.min_examples": 0, "alerts.min_positives": 0, "alerts.horizon_h": 2.0,
           "alerts.cooldown_h": 0.5}  # fmt: skip

    async def run() -> Outputs:
        svc, out, _ = _service(tmp_path, Tables(), wire, **low)
        for off, value in enumerate(wire):
            await svc.handle(value, EVENTS, 0, off, None, _noack)
        return out

    out = asyncio.run(run())
    alerts = [json.loads(v) for t, _, v in out.sent if t == "gits.alerts"]
    lava1 = [r for r in alerts if r["zone"] == "lava-1"]
    assert lava1[0]["kind"] == "raise"
    after = [r for r in lava1 if r["time"] > utc_text(quiet_from)]
    assert [r["kind"] for r in after] == ["all-clear"]  # once, on the clock alone
    assert after[0]["time"] == utc_text(quiet_from + 2 * 3600 + 0.5 * 3600)
    assert after[0]["event"] is None  # no lava-1 event brought it


def test_an_unknown_zone_flood_is_capped_and_dead_lettered(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    flood = [replace(e, zone=f"typo-{i}") for i, e in enumerate(mine_events[:50])]
    wire = [e.to_wire() for e in flood]

    async def run() -> tuple[Outputs, ScoringService]:
        svc, out, _ = _service(tmp_path, Tables(), wire, **{"worker.max_zones": 8})
        for off, value in enumerate(wire):
            await svc.handle(value, EVENTS, 0, off, None, _noack)
        return out, svc

    out, svc = asyncio.run(run())
    assert len(svc.zones) <= 8 + 1  # the cap, and the mine-wide scope (a known zone)
    dead = [json.loads(v) for t, _, v in out.sent if t == "gits.events.rejected"]
    assert dead and all(d["column"] == "zone" and "worker.max_zones" in d["reason"] for d in dead)
    assert len(dead) + len(_risk(out)) - len(_risk(out, "mine-wide")) == len(flood)
    assert _sample(svc, "seismowatch_events_rejected_total", {"reason": "zone_limit"}) == len(dead)


def test_an_alert_sent_before_a_crash_is_not_sent_again(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    a = [e for e in mine_events if e.zone == "lava-1"][:15]
    wire = [e.to_wire() for e in a]
    low = {"alerts.thresholds": (0.0001, 0.0002, 0.0003), "alerts.hysteresis": 0.2,
           "alerts.min_examples": 0,
           "alerts.min_positives": 0, "worker.snapshot_every": 1000}  # fmt: skip
    tables = Tables()

    async def run() -> tuple[Outputs, Outputs]:
        first, out1, _ = _service(tmp_path, tables, wire, **low)
        for off in range(5):  # alerts go out; no snapshot before the "crash"
            await first.handle(wire[off], EVENTS, 0, off, None, _noack)
        second, out2, _ = _service(tmp_path, tables, wire, **low)
        for off in range(15):  # everything redelivered from the start
            await second.handle(wire[off], EVENTS, 0, off, None, _noack)
        return out1, out2

    out1, out2 = asyncio.run(run())
    first_ids = [json.loads(v)["alert_id"] for t, _, v in out1.sent if t == "gits.alerts"]
    again = [json.loads(v)["alert_id"] for t, _, v in out2.sent if t == "gits.alerts"]
    assert first_ids and not set(first_ids) & set(again)


def test_a_promoted_lstm_is_loaded_off_the_event_loop_and_scores_the_next_event(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    """Loading a model (the first one imports torch) must not stall the loop that heartbeats
    the consumer group; the next event is scored by the promoted version all the same."""
    events = [e for e in mine_events if e.zone == "lava-1"][:3]
    wire = [e.to_wire() for e in events]
    loaded_on: list[str] = []

    async def run() -> list[dict[str, Any]]:
        svc, out, _ = _service(tmp_path, Tables(), wire, **{"lstm.enabled": True})
        r = svc.retrainer
        assert r is not None and r.active is None
        version, path = r.registry.allocate()
        untrained_model(r.input_names, window=8, hidden=8, seed=0).save(path)
        real_load = r.registry.load

        def load(v: str):  # type: ignore[no-untyped-def]
            loaded_on.append(threading.current_thread().name)
            return real_load(v)

        r.registry.load = load  # type: ignore[method-assign]
        await svc.handle(wire[0], EVENTS, 0, 0, None, _noack)
        r.finished([{"model": "lstm", "promoted": True, "version": version, "reason": "test"}])
        for off in (1, 2):
            await svc.handle(wire[off], EVENTS, 0, off, None, _noack)
        return [json.loads(v) for t, _, v in out.sent if t == "gits.risk"]

    risk = [r for r in asyncio.run(run()) if r["zone"] == "lava-1"]
    assert loaded_on and threading.main_thread().name not in loaded_on
    assert risk[0]["lstm_version"] is None
    assert risk[-1]["lstm_version"] == "untrained"
