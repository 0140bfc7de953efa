"""Compatibility layer for the embedded Tansu broker: true log-end offsets.

Tansu answers ListOffsets(latest) with the first offset of the partition's last
record batch + 1, not the log end. Faust reads a changelog "up to the end" that
ListOffsets reports before it starts agents, so on Tansu table recovery stops
before the last batch (stale tables, RocksDB ``ConsistencyError``). A Fetch
response's high watermark is right, so :func:`log_end_offsets` fetches from the
start of the last batch and takes that high watermark.

:func:`install` patches Faust's aiokafka consumer thread to use it, and shortens the
worker consumer's fetch wait (Tansu holds a Fetch for its whole max wait); the daemon
calls it only when the cluster is Tansu (:func:`is_embedded_cluster`), so a real
Kafka cluster keeps Faust's own code path. On Kafka both answers agree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

EMBEDDED_CLUSTER_PREFIX = "seismowatch-"  # daemon.kafka.broker.EmbeddedBroker names its clusters so
# Tansu answers a Fetch only when its max wait expires, not when data arrives; Faust
# hard-codes 1,500 ms, which measured here gives 355 ms p50 / 729 ms p99 delivery latency
FETCH_MAX_WAIT_MS = 50
_FETCH_TIMEOUT_S = 10.0  # a partition that answers no fetch in this long keeps ListOffsets'


def is_embedded_cluster(cluster_id: str) -> bool:
    """True for a cluster started by :class:`daemon.kafka.broker.EmbeddedBroker` (Tansu)."""
    return cluster_id.startswith(EMBEDDED_CLUSTER_PREFIX)


async def fetch_high_watermarks(consumer: Any, tps: Iterable[Any]) -> dict[Any, int]:
    """Log-end offsets of ``tps`` from Fetch responses, using an assigned aiokafka consumer.

    The consumer's assignment and positions are changed: pass a throwaway one.
    """
    tps = list(tps)
    listed: Mapping[Any, int] = await consumer.end_offsets(tps)
    todo = [tp for tp in tps if listed[tp] > 0]
    out = {tp: int(listed[tp]) for tp in tps}
    if not todo:
        return out
    consumer.assign(todo)
    for tp in todo:
        consumer.seek(tp, listed[tp] - 1)  # the first offset of the last batch
    deadline = time.monotonic() + _FETCH_TIMEOUT_S
    pending = set(todo)
    while pending and time.monotonic() < deadline:
        await consumer.getmany(*pending, timeout_ms=200)
        for tp in list(pending):
            hw = consumer.highwater(tp)
            if hw is not None:
                out[tp] = max(out[tp], int(hw))
                pending.discard(tp)
    if pending:
        log.error("no Fetch answer for %s within %.0f s: using ListOffsets' end offsets, which "
                  "this broker reports wrong: a table recovered to them stops short, and its "
                  "scopes resume from older state, replaying more events from Kafka",
                  sorted(pending), _FETCH_TIMEOUT_S)
    return out


async def log_end_offsets(client_options: Mapping[str, Any], tps: Iterable[Any]) -> dict[Any, int]:
    """True end offsets with a temporary consumer (no group, no commits)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(enable_auto_commit=False, **client_options)
    await consumer.start()
    try:
        return await fetch_high_watermarks(consumer, tps)
    finally:
        await consumer.stop()


# the faust-streaming releases whose private consumer-thread methods install() patches
# were tested; pyproject.toml pins the same range
TESTED_FAUST = (">=0.15.3", "<0.16")


def check_faust_version(installed: str | None = None) -> None:
    """Refuse a Faust outside the tested range: the patch would silently do nothing, or
    the wrong thing, and table recovery would stop short of the changelog's end.

    >>> check_faust_version("0.15.3")
    >>> try:
    ...     check_faust_version("0.17.0")
    ... except Exception as exc:
    ...     print(str(exc).split(";")[0])
    faust-streaming 0.17.0 is installed
    """
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet

    from replay.exceptions import SeismowatchError

    installed = installed or version("faust-streaming")
    spec = ",".join(TESTED_FAUST)
    if installed not in SpecifierSet(spec):
        raise SeismowatchError(
            f"faust-streaming {installed} is installed; the embedded-broker compatibility "
            f"layer was tested with {spec}: pip install 'faust-streaming{spec}'"
        )


def install(client_options: Mapping[str, Any]) -> None:
    """Make Faust's recovery read changelogs to their true end on Tansu."""
    check_faust_version()
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    if getattr(thread_cls, "_seismowatch_compat", False):
        return
    original = thread_cls._highwaters

    async def _highwaters(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
        if self.consumer.in_transaction:
            return await original(self, partitions)
        from aiokafka.structs import TopicPartition

        tps = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        ends = await log_end_offsets(client_options, tps)
        by_key = {(tp.topic, tp.partition): off for tp, off in ends.items()}
        return {tp: by_key[(tp.topic, tp.partition)] for tp in partitions}

    original_create = thread_cls._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original_create(self, transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    thread_cls._highwaters = _highwaters
    thread_cls._create_worker_consumer = _create_worker_consumer
    thread_cls._seismowatch_compat = True
    log.info("Tansu compatibility: Fetch high-watermark end offsets, %d ms fetch wait",
             FETCH_MAX_WAIT_MS)


def install_rewind(topics: Iterable[str]) -> None:
    """Rewind the partitions of ``topics`` that have no committed offset to their start
    when Faust seeks to the committed offsets after a rebalance (any cluster).

    Faust drops the rest of a fetched batch when the group's generation changes under it,
    but aiokafka's position has already moved past those records. After the rebalance
    Faust seeks each partition back to its committed offset, which repairs that, except
    for a partition with none: it keeps the advanced position, and its first events are
    never delivered to this worker. A chaos run (workers killed early, before any commit)
    left a zone and the mine-wide scope unscored that way. Here such a partition starts
    where ``auto_offset_reset=earliest`` says it should, in the same call on the consumer's
    thread (a seek from outside it races the fetcher); the service then skips what the
    scopes' stored state already holds.
    """
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    thread_cls._seismowatch_rewind = frozenset(topics)
    if getattr(thread_cls, "_seismowatch_rewind_installed", False):
        return

    async def _seek_in_thread(self: Any) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        start = [tp for tp, offset in committed.items()
                 if not offset and tp.topic in thread_cls._seismowatch_rewind]
        if start:
            await consumer.seek_to_beginning(*start)
            log.info("no committed offset: reading %s from the start",
                     ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(start)))
        return committed

    async def seek_to_committed(self: Any) -> Mapping[Any, int]:
        return await self.call_thread(_seek_in_thread, self)

    thread_cls.seek_to_committed = seek_to_committed
    thread_cls._seismowatch_rewind_installed = True
