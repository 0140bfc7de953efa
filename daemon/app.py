"""The Faust app: topics, the changelog-backed scope-state table, and the worker's services.

Declarations only; the agent and timers live in :mod:`daemon.agents`, the
event handling in :mod:`daemon.service`. One app id (``worker.group_id``) is one
consumer group: start more workers with the same id to share the partitions.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import faust

from config.kafka import KafkaSettings
from config.settings import Settings
from daemon.kafka import compat
from daemon.kafka.broker import aio_client_config
from daemon.metrics import WorkerMetrics
from daemon.service import ScoringService
from daemon.state_table import TableStore, declare

TABLE_NAME = "scope-state"
_EMBEDDED_SESSION_TIMEOUT_S = 6.0  # Tansu makes a group join wait half the session timeout
_EMBEDDED_HEARTBEAT_S = 1.0


def broker_credentials(kafka: KafkaSettings) -> Any:
    """Faust's form of the SASL/SSL settings every other client gets as keyword options."""
    proto = kafka.security_protocol
    if proto == "PLAINTEXT":
        return None
    context = kafka.ssl_context() if kafka.uses_ssl else None
    if proto == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        ssl_context=context,
        mechanism=kafka.sasl_mechanism or "PLAIN",
    )


class FaustOutputs:
    """Send through the app's producer; ``flush`` waits until the broker has everything.

    Records are bytes already, so they go to the producer directly: a Faust topic's
    send would wrap each in a future message, codecs and callbacks (a sixth of the
    worker's time at three records per event).
    """

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._producer: Any = None

    async def send(self, topic: str, key: bytes, value: bytes,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        if self._producer is None:
            self._producer = await self.app.maybe_start_producer()
        await self._producer.send(topic, key, value, None, None, headers)

    async def deliver(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        if self._producer is None:
            self._producer = await self.app.maybe_start_producer()
        meta = await (await self._producer.send(topic, key, value, None, None, None))
        return int(meta.partition), int(meta.offset)

    async def flush(self) -> None:
        await self.app.producer.flush()


@dataclass
class Worker:
    app: faust.App
    events: Any
    mine: Any
    table: Any
    service: ScoringService


def create_app(
    settings: Settings,
    bootstrap: str,
    *,
    embedded_cluster: bool,
    metrics: WorkerMetrics,
    fetch_range: Any,
) -> Worker:
    """Build the app; rewind partitions Faust's seek leaves past undelivered records; on the
    embedded broker, install the end-offsets compatibility layer."""
    options: dict[str, Any] = {}
    compat.install_rewind([settings.topics.events, settings.topics.mine])
    if embedded_cluster:
        compat.install(aio_client_config(settings, bootstrap))
        options.update(
            broker_session_timeout=_EMBEDDED_SESSION_TIMEOUT_S,
            broker_heartbeat_interval=_EMBEDDED_HEARTBEAT_S,
        )
    app = faust.App(
        settings.worker.group_id,
        broker=[f"kafka://{s.strip()}" for s in bootstrap.split(",")],
        broker_credentials=broker_credentials(settings.kafka),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        datadir=tempfile.mkdtemp(prefix="seismowatch-faust-"),  # memory store: nothing kept
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=5,
        # unacked events wait for the next snapshot; on shutdown the snapshot below
        # stores them, so the consumer must not wait for acks that will never come
        stream_wait_empty=False,
        **options,
    )
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    events = app.topic(settings.topics.events, **raw)
    mine = app.topic(settings.topics.mine, **raw)
    table = declare(app, TABLE_NAME, settings.partitions)

    def pause(topic: str, partition: int) -> None:
        from faust.types import TP

        app.consumer.pause_partitions([TP(topic, partition)])

    def owned(topic: str, partition: int) -> bool:
        from faust.types import TP

        return TP(topic, partition) in app.consumer.assignment()

    service = ScoringService(settings, FaustOutputs(app), TableStore(table), metrics,
                             fetch_range, pause, owned=owned)
    from daemon.agents import register

    register(app, events, mine, service, settings)
    return Worker(app, events, mine, table, service)
