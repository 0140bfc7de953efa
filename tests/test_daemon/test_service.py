"""The worker's event handler without Kafka: skip, gap replay, snapshot-then-ack, dead letters,
restores from any prefix of the changelog, the faults a restore or a re-read can meet (each
injected for real), and retraining in a thread or in the background."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from daemon.service import Delivered, ScoringService
from stream_models.wire import Event, utc_text
from tests.test_daemon.harness import (
    ALERTS,
    EVENTS,
    MINE,
    Outputs,
    Tables,
    _noack,
    _risk,
    _sample,
    _service,
)


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


def test_the_mine_topic_is_scored_in_the_mine_wide_scope_once(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    """The replay writes every event to the mine topic too; a second copy of one (a resent
    batch) is recognised by the scope and counted, not scored again."""
    wire = [e.to_wire() for e in mine_events[:40]]

    async def run() -> tuple[Outputs, ScoringService]:
        svc, out, _ = _service(tmp_path, Tables(), wire)
        for off, value in enumerate([*wire, wire[5]]):
            await svc.handle(value, MINE, 0, off, None, _noack)
        return out, svc

    out, svc = asyncio.run(run())
    ids = [e.event_id for e in mine_events[:40]]
    assert _risk(out, "mine-wide") == ids  # every event, once, in the topic's order
    assert _risk(out) == ids  # the zones are scored from their own topic, not from this one
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
    assert "behind scope lava-1's clock" in dead[0]["reason"]
    assert _risk(out, "lava-1") == [e.event_id for e in recent] + ["fresh-id"]
    assert _sample(svc, "seismowatch_events_rejected_total", {"reason": "late_event"}) == 1


# -- faults at restore and re-read ---------------------------------------------------------


def _stored_then_broken(tmp_path: Path, mine_events: list[Event], breaker: Any,
                        **overrides: Any) -> tuple:  # type: ignore[type-arg]
    """Store state for 300 events, break something, restart: (svc, outputs, paused, acks)."""
    events = [e for e in mine_events if e.zone == "lava-1"][:310]
    wire = [e.to_wire() for e in events]
    tables, acks = Tables(), []

    async def ack() -> None:
        acks.append(1)

    async def run() -> tuple:  # type: ignore[type-arg]
        first, _, _ = _service(tmp_path, tables, wire, **overrides)
        for off in range(300):
            await first.handle(wire[off], EVENTS, 0, off, None, _noack)
        await first.on_revoked()
        breaker(tables)
        before = dict(tables.state)  # as broken: the restart must not write over it
        second, out, paused = _service(tmp_path, tables, wire, **overrides)
        for off in range(300, 310):
            await second.handle(wire[off], EVENTS, 0, off, None, ack)
        await second.tick()
        return second, out, paused, before

    svc, out, paused, before = asyncio.run(run())
    return svc, out, paused, acks, before, tables


@pytest.mark.parametrize("fault", ["corrupt state", "scope in the manifest missing",
                                   "history chunk missing"])
def test_a_failed_restore_stops_the_partition_instead_of_starting_fresh(
    fault: str, tmp_path: Path, mine_events: list[Event]
) -> None:
    def breaker(tables: Tables) -> None:
        if fault == "corrupt state":
            tables.state[b"lava-1"] = b"\x78\x9c garbage"
        elif fault == "scope in the manifest missing":
            del tables.state[b"lava-1"]
        else:
            chunk = next(k for k in tables.state if k.startswith(b"lava-1\x00events"))
            del tables.state[chunk]

    svc, out, paused, acks, before, tables = _stored_then_broken(
        tmp_path, mine_events, breaker, **({"etas.enabled": True}
                                         if fault == "history chunk missing" else {}))
    assert paused == [(EVENTS, 0)]  # the consumer stops fetching the partition
    assert _risk(out) == [] and acks == []  # nothing scored, nothing acked: Kafka keeps it
    assert (EVENTS, 0) in svc.stopped and "lava-1" in svc.stopped[(EVENTS, 0)]
    assert _sample(svc, "seismowatch_partition_stopped", {"topic": EVENTS, "partition": "0"}) == 1
    assert dict(tables.state) == before


def test_a_changelog_read_short_of_its_end_restores_every_scope_exactly(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    """A recovery that stops anywhere in the changelog (between a scope's record and the
    next one's, or before the manifest) must still give every event the record an
    uninterrupted run gives it: each scope resumes from its own stored offset."""
    start = next(i for i, e in enumerate(mine_events) if e.zone == "lava-2")
    events = mine_events[start:start + 300]  # both faces active: their records interleave
    assert {e.zone for e in events} >= {"lava-1", "lava-2"}
    wire = [e.to_wire() for e in events]
    tables = Tables()

    async def first() -> list[dict[str, Any]]:
        svc, out, _ = _service(tmp_path / "ref", tables, wire)
        for off, value in enumerate(wire):
            await svc.handle(value, EVENTS, 0, off, None, _noack)
        await svc.on_revoked()
        return [json.loads(v) for t, _, v in out.sent if t == "gits.risk"]

    want = {(r["event_id"], r["zone"]): r for r in asyncio.run(first())}
    # cut points inside the snapshots: after each scope record and before each manifest
    cuts = [i for i, (k, _) in enumerate(tables.log) if not k.startswith(b"\x00")][3:60:4]
    assert len(cuts) >= 8

    async def resume(cut: int) -> list[dict[str, Any]]:
        svc, out, _ = _service(tmp_path / f"cut{cut}", tables.prefix(cut), wire)
        for off, value in enumerate(wire):  # the consumer resumes from the very start
            await svc.handle(value, EVENTS, 0, off, None, _noack)
        assert not svc.stopped
        return [json.loads(v) for t, _, v in out.sent if t == "gits.risk"]

    for cut in cuts:
        got = asyncio.run(resume(cut))
        for r in got:
            assert r == want[(r["event_id"], r["zone"])], (cut, r["event_id"], r["zone"])
        scored = {(r["event_id"], r["zone"]) for r in got}
        last = {k for k in want if k not in scored}
        assert all(k[0] in {e.event_id for e in events} for k in last)


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
           "alerts.cooldown_h": 0.5}

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
    assert len(svc.scopes) <= 8  # the cap (the mine-wide scope would not count)
    dead = [json.loads(v) for t, _, v in out.sent if t == "gits.events.rejected"]
    assert dead and all(d["column"] == "zone" and "worker.max_zones" in d["reason"] for d in dead)
    assert len(dead) + len(_risk(out)) == len(flood)
    assert _sample(svc, "seismowatch_events_rejected_total", {"reason": "zone_limit"}) == len(dead)


def test_an_alert_sent_before_a_crash_is_not_sent_again(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    a = [e for e in mine_events if e.zone == "lava-1"][:15]
    wire = [e.to_wire() for e in a]
    low = {"alerts.thresholds": (0.0001, 0.0002, 0.0003), "alerts.hysteresis": 0.2,
           "alerts.min_examples": 0,
           "alerts.min_positives": 0, "worker.snapshot_every": 1000}
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


def test_an_alert_delivered_just_before_a_crash_kept_its_id_from_the_store_is_not_resent(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    """The window at-least-once leaves: an alert reached Kafka, the worker died before
    the write of its id reached the changelog. The restarted worker reads the scope's
    alerts after the last stored one back from the topic and does not send it again."""
    a = [e for e in mine_events if e.zone == "lava-1"][:15]
    wire = [e.to_wire() for e in a]
    low = {"alerts.thresholds": (0.0001, 0.0002, 0.0003), "alerts.hysteresis": 0.2,
           "alerts.min_examples": 0, "alerts.min_positives": 0, "worker.snapshot_every": 1000}
    tables = Tables()

    async def run() -> tuple[Outputs, Outputs, int]:
        first, out1, _ = _service(tmp_path / "a", tables, wire, **low)
        for off in range(15):
            await first.handle(wire[off], EVENTS, 0, off, None, _noack)
        sent_writes = [i for i, (k, _) in enumerate(tables.log) if k.endswith(b"\x00sent")]
        assert len(sent_writes) >= 2
        lost = sent_writes[-1]  # the last alert's id never reached the changelog
        second, out2, _ = _service(tmp_path / "b", tables.prefix(lost), wire, alerts=out1,
                                   **low)
        for off in range(15):
            await second.handle(wire[off], EVENTS, 0, off, None, _noack)
        return out1, out2, len(sent_writes)

    out1, out2, n_sent = asyncio.run(run())
    first_ids = [json.loads(v)["alert_id"] for v in out1.on(ALERTS)]
    again = [json.loads(v)["alert_id"] for v in out2.on(ALERTS)]
    assert len(first_ids) == n_sent
    assert not set(first_ids) & set(again)


@pytest.mark.parametrize("size", [1, 7, 64])
def test_a_batch_gives_the_records_and_state_of_one_message_at_a_time(
    tmp_path: Path, mine_events: list[Event], size: int
) -> None:
    """What a fetch delivers is handled as one batch; every record, alert and stored state
    equals the per-message path's, and acks still wait for the snapshot covering them."""
    events = mine_events[:150]
    wire = [e.to_wire() for e in events]
    zone_of = {e.event_id: e.zone for e in events}
    parts = sorted({e.zone for e in events})

    def messages(acked: list[tuple[str, int]]) -> list[Delivered]:
        out, offsets = [], dict.fromkeys(parts, -1)
        for value, e in zip(wire, events, strict=True):  # zone topic: a partition per zone
            p = parts.index(zone_of[e.event_id])
            offsets[zone_of[e.event_id]] += 1
            off = offsets[zone_of[e.event_id]]

            async def ack(p: int = p, off: int = off) -> None:
                acked.append((EVENTS, p * 1000 + off))

            out.append(Delivered(value, EVENTS, p, off, None, ack))
        for off, value in enumerate(wire):  # and the mine topic, one partition

            async def ack_mine(off: int = off) -> None:
                acked.append((MINE, off))

            out.append(Delivered(value, MINE, 0, off, None, ack_mine))
        return out

    async def run(batched: bool) -> tuple[Outputs, Tables, list[tuple[str, int]]]:
        tables, acked = Tables(), []
        svc, out, _ = _service(tmp_path / str(batched), tables, wire)
        todo = messages(acked)
        if batched:
            for i in range(0, len(todo), size):
                await svc.handle_batch(todo[i:i + size])
        else:
            for m in todo:
                await svc.handle(m.value, m.topic, m.partition, m.offset, m.sent_at, m.ack)
        await svc.on_revoked()
        return out, tables, acked

    one, one_tables, one_acked = asyncio.run(run(False))
    many, many_tables, many_acked = asyncio.run(run(True))
    for topic in ("gits.risk", ALERTS):
        assert [json.loads(v) | {"emitted_at": None} for v in many.on(topic)] == [
            json.loads(v) | {"emitted_at": None} for v in one.on(topic)]
    assert len(one.on("gits.risk")) == 2 * len(events) and one.on(ALERTS)
    assert dict(many_tables.state) == dict(one_tables.state)  # the same stored scopes
    assert sorted(many_acked) == sorted(one_acked) and len(one_acked) == 2 * len(events)


def test_a_mine_topic_event_for_a_worker_without_zones_is_dead_lettered_with_the_reason(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    """A replay derived zones after this worker started: the mine-wide copy of an event has
    no scope here, and says so instead of failing inside the scoring."""
    wire = [e.to_wire() for e in mine_events[:3]]

    async def run() -> Outputs:
        svc, out, _ = _service(tmp_path, Tables(), wire, zones=[])
        assert svc.orch.mine_scope is None
        await svc.handle(wire[0], MINE, 0, 0, None, _noack)
        return out

    out = asyncio.run(run())
    dead = [json.loads(v) for t, _, v in out.sent if t == "gits.events.rejected"]
    assert len(dead) == 1 and "knows no zones" in dead[0]["reason"]
    assert dead[0]["column"] == "zone" and not out.on("gits.risk")
