"""The Faust app: topics, the changelog-backed zone-state table, and the worker's services.

Declarations only; the agent and timers live in :mod:`daemon.agents`, the
event handling in :mod:`daemon.scoring`. One app id (``worker.group_id``) is one
consumer group: start more workers with the same id to share the partitions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import faust

from config.settings import KafkaSettings, Settings
from daemon import compat
from daemon.metrics import WorkerMetrics
from daemon.scoring import ScoringService
from replay.broker import aio_client_config

TABLE_NAME = "zone-state"
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


class TableStore(MutableMapping[str, Any]):
    """The Faust table keyed by the zone's UTF-8 bytes, exactly like the events topic.

    Kafka's default partitioner hashes key bytes, so a zone's state lands on the
    changelog partition with the number of its events partition, and the worker
    that owns the zone's events also recovers its state.
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, zone: str) -> Any:
        return self.table[zone.encode()]

    def __setitem__(self, zone: str, value: Any) -> None:
        self.table[zone.encode()] = value

    def __delitem__(self, zone: str) -> None:
        del self.table[zone.encode()]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() if isinstance(k, bytes) else str(k) for k in self.table)

    def __len__(self) -> int:
        return len(self.table)

    def get(self, zone: str, default: Any = None) -> Any:  # type: ignore[override]
        return self.table.get(zone.encode(), default)


class FaustOutputs:
    """Send through the app's producer; ``flush`` waits until the broker has everything."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._topics: dict[str, Any] = {}

    def _topic(self, name: str) -> Any:
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                name, key_serializer="raw", value_serializer="raw", internal=False
            )
        return self._topics[name]

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        await self._topic(topic).send(key=key, value=value)

    async def flush(self) -> None:
        await self.app.producer.flush()


@dataclass
class Worker:
    app: faust.App
    events: Any
    table: Any
    service: ScoringService


def create_app(
    settings: Settings,
    bootstrap: str,
    *,
    embedded_cluster: bool,
    metrics: WorkerMetrics,
    load_alert_ids: Any,
    fetch_range: Any,
) -> Worker:
    """Build the app; on the embedded broker, install the end-offsets compatibility layer."""
    options: dict[str, Any] = {}
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
    events = app.topic(settings.topics.events, key_serializer="raw", value_serializer="raw")
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=settings.partitions,
        key_type=bytes,  # raw key bytes: the same partition as the zone's events
        value_type=None,  # JSON
        use_partitioner=True,
    )
    service = ScoringService(
        settings, FaustOutputs(app), TableStore(table), metrics, load_alert_ids, fetch_range
    )
    from daemon.agents import register

    register(app, events, service, settings)
    return Worker(app, events, table, service)
