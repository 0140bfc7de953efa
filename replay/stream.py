"""Produce rejects and events to Kafka, paced, checkpointed, surviving broker outages.

:func:`iter_replay` is a generator of :class:`ReplayProgress` records; the CLI only
renders them. Delivery is at-least-once made exactly-once in practice: an item is
marked in the checkpoint only when its produce future succeeded, a failed batch
is resent minus what was acknowledged, and event ids are stable for consumers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from config.settings import Settings
from daemon.kafka.broker import client_config, ensure_topics
from replay.checkpoint import Checkpoint
from replay.exceptions import BrokerError
from stream_models.wire import SENT_AT_HEADER, Event, Reject

log = logging.getLogger(__name__)

_MAX_BATCH = 2000  # bounds the work redone after a failure and the checkpoint write rate
_IDLE_TICK_S = 0.25  # progress refresh while waiting for the next paced event
_DELIVERY_TIMEOUT_MS = 10_000  # how long a send may retry before the batch is resent


@dataclass(frozen=True)
class Item:
    """One message to produce: ``index`` is its position in the replay's fixed order; ``also``
    names further (topic, key) destinations of the same value (acknowledged together)."""

    index: int
    topic: str
    key: bytes
    value: bytes
    timestamp: float | None
    also: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class ReplayProgress:
    state: Literal["sending", "waiting", "broker-down", "stopped", "done"]
    acked: int
    total: int
    events_total: int
    rejects_total: int
    sim_time: datetime | None
    message: str = ""


class KafkaSink:
    """kafka-python producer: acks=all, idempotent, retries; rebuilt after an outage."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self._producer: Any = None

    def _connect(self) -> Any:
        from kafka import KafkaProducer

        ensure_topics(self.settings, self.bootstrap, timeout_s=5.0)
        return KafkaProducer(
            **client_config(self.settings, self.bootstrap),
            acks="all", enable_idempotence=True, retries=5,
            max_in_flight_requests_per_connection=5, linger_ms=5,
            request_timeout_ms=5000, delivery_timeout_ms=_DELIVERY_TIMEOUT_MS,
            max_block_ms=5000,
        )

    def send(self, items: Sequence[Item]) -> set[int]:
        """Send and wait; return the indices the broker acknowledged."""
        from kafka.errors import KafkaError

        if self._producer is None:
            try:
                self._producer = self._connect()
            except (BrokerError, KafkaError) as exc:
                log.warning("Kafka not reachable yet: %s", exc)
                return set()  # the caller backs off and retries until its outage timeout
        futures: dict[int, list[Any]] = {}
        # when the event entered Kafka: the worker's processing latency starts here
        headers = [(SENT_AT_HEADER, repr(time.time()).encode())]
        try:
            for it in items:
                ts = int(it.timestamp * 1000) if it.timestamp is not None else None
                futures[it.index] = [
                    self._producer.send(topic, key=key, value=it.value, timestamp_ms=ts,
                                        headers=headers)
                    for topic, key in ((it.topic, it.key), *it.also)
                ]
            self._producer.flush(timeout=_DELIVERY_TIMEOUT_MS / 1000 + 5)
        except KafkaError as exc:
            log.warning("produce failed: %s", exc)
        acked = {i for i, fs in futures.items() if all(f.is_done and f.succeeded() for f in fs)}
        if len(acked) < len(items):
            self.reset()
        return acked

    def reset(self) -> None:
        """Drop the producer so the next send reconnects (and re-creates lost topics)."""
        if self._producer is not None:
            try:
                self._producer.close(timeout=0)
            except Exception:  # a dead connection may fail to close; it is discarded anyway
                log.debug("closing producer failed", exc_info=True)
            self._producer = None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(timeout=10)
            self._producer.close(timeout=5)
            self._producer = None


def build_items(
    events: Sequence[Event], rejects: Sequence[Reject], settings: Settings
) -> list[Item]:
    """Rejects first (they describe the file), then events in time order: each to its zone's
    partition of the events topic and, where zones are configured, to the mine-wide
    scope's topic, whose single partition then holds every event in this one order."""
    items = [
        Item(i, settings.topics.rejected, r.key, r.to_wire(), None) for i, r in enumerate(rejects)
    ]
    base = len(items)
    mine = settings.mine_scope_name
    also = ((settings.topics.mine, mine.encode()),) if mine else ()
    items += [
        Item(base + i, settings.topics.events, e.zone.encode(), e.to_wire(), e.timestamp, also)
        for i, e in enumerate(events)
    ]
    return items


Sender = Callable[[Sequence[Item]], set[int]]


def iter_replay(
    items: Sequence[Item],
    send: Sender,
    checkpoint: Checkpoint,
    *,
    speed: float | None,
    rejects_total: int = 0,
    outage_timeout_s: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[ReplayProgress]:
    """Send ``items`` not yet in ``checkpoint``; pace events at ``speed``x real time (None: max).

    ``should_stop`` is polled between batches: a stop never abandons a batch half-sent.
    """
    checkpoint.total = len(items)
    pending = [it for it in items if not checkpoint.is_acked(it.index)]
    events_total = len(items) - rejects_total
    anchor: tuple[float, float] | None = None  # (wall clock, event time) of the first send
    pos = 0
    down_since: float | None = None
    last_sim: datetime | None = None

    def progress(state: Any, message: str = "") -> ReplayProgress:
        acked = checkpoint.next_index + len(checkpoint.acked_after)
        return ReplayProgress(
            state, acked, len(items), events_total, rejects_total, last_sim, message
        )

    try:
        while pos < len(pending):
            if should_stop():
                yield progress("stopped", "stopped on request; checkpoint saved")
                return
            batch: list[Item] = []
            now = clock()
            while pos + len(batch) < len(pending) and len(batch) < _MAX_BATCH:
                it = pending[pos + len(batch)]
                if speed is not None and it.timestamp is not None:
                    if anchor is None:
                        anchor = (now, it.timestamp)
                    due = anchor[0] + (it.timestamp - anchor[1]) / speed
                    if due > now:
                        break
                batch.append(it)
            if not batch:
                it = pending[pos]
                assert anchor is not None and it.timestamp is not None and speed is not None
                due = anchor[0] + (it.timestamp - anchor[1]) / speed
                sleep(min(max(due - now, 0.0), _IDLE_TICK_S))
                yield progress("waiting")
                continue
            acked = send(batch)
            for index in acked:
                checkpoint.mark(index)
            checkpoint.save()
            if len(acked) == len(batch):
                down_since = None
                pos += len(batch)
                last = batch[-1]
                if last.timestamp is not None:
                    last_sim = datetime.fromtimestamp(last.timestamp, UTC)
                yield progress("sending")
                continue
            # Partial failure: keep order, drop what was acknowledged, retry the rest.
            rest = [it for it in pending[pos:] if not checkpoint.is_acked(it.index)]
            pending = pending[:pos] + rest
            down_since = down_since if down_since is not None else clock()
            waited = clock() - down_since
            if waited > outage_timeout_s:
                raise BrokerError(
                    f"Kafka unreachable for {waited:.0f} s; checkpoint saved at "
                    f"{checkpoint.next_index}/{len(items)}: run the same command to resume"
                )
            yield progress("broker-down", f"broker unavailable for {waited:.0f} s, retrying")
            sleep(min(1.0 + waited / 10, 5.0))
        checkpoint.done = True
        yield progress("done")
    finally:
        checkpoint.save()
