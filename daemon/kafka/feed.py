"""Read Kafka directly: the operator feed (``seismowatch alerts``) and the worker's gap re-reads."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from config.settings import Settings
from daemon.kafka.broker import aio_client_config
from daemon.kafka.compat import log_end_offsets
from stream_models.wire import sent_at

log = logging.getLogger(__name__)
_METADATA_WAIT_S = 10.0


async def _assigned_consumer(settings: Settings, bootstrap: str, topic: str) -> Any:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aio_client_config(settings, bootstrap),
    )
    await consumer.start()
    parts = consumer.partitions_for_topic(topic) or set()
    deadline = time.monotonic() + _METADATA_WAIT_S
    while not parts and time.monotonic() < deadline:
        await consumer.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await asyncio.sleep(0.2)
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


def _decode(value: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(value)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "alert_id" in record else None


def _decode_batch(batch: dict[Any, list[Any]]) -> list[dict[str, Any]]:
    decoded = (_decode(m.value) for records in batch.values() for m in records)
    return [r for r in decoded if r is not None]


async def iter_alerts(
    settings: Settings, bootstrap: str, *, follow: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """Every alert from the beginning, oldest first; with ``follow``, then new ones as they come.

    The backlog is read to the true log end (Fetch high watermarks, see
    :mod:`daemon.kafka.compat`) and sorted by event time across partitions.
    """
    topic = settings.topics.alerts
    consumer = await _assigned_consumer(settings, bootstrap, topic)
    try:
        tps = list(consumer.assignment())
        ends = await log_end_offsets(aio_client_config(settings, bootstrap), tps) if tps else {}
        backlog: list[dict[str, Any]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            backlog.extend(_decode_batch(await consumer.getmany(timeout_ms=500)))
        backlog.sort(key=lambda r: (r.get("time", ""), r.get("emitted_at", "")))
        for record in backlog:
            yield record
        while follow:
            batch = await consumer.getmany(timeout_ms=500)
            fresh = [
                r for recs in batch.values() for r in map(_decode, (m.value for m in recs)) if r
            ]
            for record in sorted(fresh, key=lambda r: r.get("time", "")):
                yield record
    finally:
        await consumer.stop()


def range_fetcher(settings: Settings, bootstrap: str) -> Any:
    """``fetch_range`` for :class:`~daemon.service.ScoringService`: read offsets [start, end)
    (``end`` None: to the partition's true end)."""
    async def fetch_range(
        topic: str, partition: int, start: int, end: int | None
    ) -> list[tuple[int, bytes, float | None]]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        tp = TopicPartition(topic, partition)
        options = aio_client_config(settings, bootstrap)
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **options)
        await consumer.start()
        out: list[tuple[int, bytes, float | None]] = []
        try:
            if end is None:  # to the true log end; from the first offset the log still has
                end = (await log_end_offsets(options, [tp]))[tp]
                start = max(start, (await consumer.beginning_offsets([tp]))[tp])
            consumer.assign([tp])
            consumer.seek(tp, start)
            deadline = time.monotonic() + _METADATA_WAIT_S
            while time.monotonic() < deadline and await consumer.position(tp) < end:
                for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                    out += [(m.offset, m.value, sent_at(m.headers)) for m in records
                            if start <= m.offset < end]
        finally:
            await consumer.stop()
        return out

    return fetch_range
