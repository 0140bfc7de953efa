"""The worker's event handler without Kafka: skip, gap replay, snapshot-then-ack, dead letters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from prometheus_client import CollectorRegistry

from config.settings import load_settings
from daemon.metrics import WorkerMetrics
from daemon.scoring import ScoringService
from stream_models.events import Event
from tests.test_daemon.conftest import MINE_TOML


class Outputs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushes = 0

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    async def flush(self) -> None:
        self.flushes += 1


def _service(tmp_path: Path, store: dict, log: list[int], wire: list[bytes]) -> tuple:  # type: ignore[type-arg]
    settings = load_settings(MINE_TOML, state_dir=tmp_path, **{"worker.snapshot_every": 10})
    outputs = Outputs()

    async def no_ids() -> set[str]:
        return set()

    async def fetch_range(topic: str, partition: int, start: int, end: int) -> list:  # type: ignore[type-arg]
        log.extend(range(start, end))
        return [(o, wire[o], None) for o in range(start, end)]

    svc = ScoringService(
        settings, outputs, store, WorkerMetrics(CollectorRegistry()), no_ids, fetch_range
    )
    return svc, outputs


def _risk_ids(outputs: Outputs) -> list[str]:
    return [json.loads(v)["event_id"] for t, _, v in outputs.sent if t == "gits.risk"]


def test_restart_skips_applied_offsets_and_reads_undelivered_ones_back(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    events = [e for e in mine_events if e.zone == "lava-1"][:60]
    wire = [e.to_wire() for e in events]
    store: dict = {}  # type: ignore[type-arg]
    fetched: list[int] = []
    acked: list[int] = []

    async def run() -> tuple[list[str], list[str]]:
        first, out1 = _service(tmp_path, store, fetched, wire)
        for off in range(25):  # snapshots at 10 and 20 events; 20..24 not stored
            await first.handle(wire[off], "gits.events", 0, off, None, lambda o=off: _ack(o))
        second, out2 = _service(tmp_path, store, fetched, wire)
        # the consumer redelivers 15..17 (already stored) and then jumps to 30
        for off in (15, 16, 17, *range(30, 60)):
            await second.handle(wire[off], "gits.events", 0, off, None, lambda o=off: _ack(o))
        return _risk_ids(out1), _risk_ids(out2)

    async def _ack(offset: int) -> None:
        acked.append(offset)

    before, after = asyncio.run(run())
    assert acked[:20] == list(range(20))  # acked only after a snapshot covered them
    assert fetched == list(range(20, 30))  # the gap after the stored state, read back
    assert after == [e.event_id for e in events[20:60]]  # 15..17 skipped, nothing missing
    assert before == [e.event_id for e in events[:25]]


def test_a_malformed_message_is_dead_lettered_and_the_next_event_is_scored(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    wire = [b"\xff not json", mine_events[0].to_wire()]

    async def run() -> Outputs:
        svc, out = _service(tmp_path, {}, [], wire)

        async def ack() -> None:
            return None

        for off, value in enumerate(wire):
            await svc.handle(value, "gits.events", 2, off, None, ack)
        return out

    out = asyncio.run(run())
    dead = [json.loads(v) for t, _, v in out.sent if t == "gits.events.rejected"]
    assert len(dead) == 1 and dead[0]["file"] == "kafka:gits.events/2" and dead[0]["row"] == 0
    assert _risk_ids(out) == [mine_events[0].event_id]


def test_an_event_far_behind_its_zone_is_dead_lettered_and_the_zone_goes_on(
    tmp_path: Path, mine_events: list[Event]
) -> None:
    zone = [e for e in mine_events if e.zone == "lava-1"]
    old, recent = zone[0], [e for e in zone if e.timestamp > zone[0].timestamp + 3 * 86400][:30]
    wire = [e.to_wire() for e in recent] + [old.to_wire(), recent[-1].to_wire()]

    async def run() -> tuple[Outputs, ScoringService]:
        svc, out = _service(tmp_path, {}, [], wire)

        async def ack() -> None:
            return None

        for off, value in enumerate(wire):
            await svc.handle(value, "gits.events", 1, off, None, ack)
        return out, svc

    out, svc = asyncio.run(run())
    dead = [json.loads(v) for t, _, v in out.sent if t == "gits.events.rejected"]
    assert [(d["row"], d["column"]) for d in dead] == [(len(recent), "time")]
    assert f"event {old.event_id} at" in dead[0]["reason"]
    assert "behind zone lava-1's clock" in dead[0]["reason"]
    # every other event was scored, the repeat of the last one too (it is not late)
    assert _risk_ids(out) == [e.event_id for e in recent] + [recent[-1].event_id]
    reg = svc.metrics.registry
    assert reg.get_sample_value("seismowatch_events_rejected_total", {"reason": "late_event"}) == 1
