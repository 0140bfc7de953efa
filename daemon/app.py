"""The Faust app: topics, the changelog-backed zone-state table, and the worker's services.

Declarations only; the agent and timers live in :mod:`daemon.agents`, the
event handling in :mod:`daemon.scoring`. One app id (``worker.group_id``) is one
consumer group: start more workers with the same id to share the partitions.
"""

from __future__ import annotations

import json
import tempfile
import zlib
from collections.abc import Callable, Iterator, MutableMapping
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


def encode_state(state: Any) -> bytes:
    """A zone's state as one changelog message: zlib-compressed JSON.

    A busy zone holds hundreds of examples awaiting their labels, each with its
    named model inputs: the real TOC2ME catalog's busiest 8 h make about 1 MB of
    JSON, Kafka's default message limit, and about 0.2 MB compressed.
    """
    return zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 6)


def decode_state(value: bytes | None) -> Any:
    """Inverse of :func:`encode_state`; ``None`` (no state yet) stays ``None``."""
    return None if value is None else json.loads(zlib.decompress(value))


class TableStore(MutableMapping[str, Any]):
    """The Faust table keyed by the zone's UTF-8 bytes, exactly like the events topic.

    Kafka's default partitioner hashes key bytes, so a zone's state lands on the
    changelog partition with the number of its events partition, and the worker
    that owns the zone's events also recovers its state. Values are stored
    compressed (:func:`encode_state`); ``on_size`` hears each stored size.
    """

    def __init__(self, table: Any, on_size: Callable[[str, int], None] | None = None) -> None:
        self.table = table
        self.on_size = on_size

    def __getitem__(self, zone: str) -> Any:
        return decode_state(self.table[zone.encode()])

    def __setitem__(self, zone: str, value: Any) -> None:
        data = encode_state(value)
        if self.on_size is not None:
            self.on_size(zone, len(data))
        self.table[zone.encode()] = data

    def __delitem__(self, zone: str) -> None:
        del self.table[zone.encode()]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() if isinstance(k, bytes) else str(k) for k in self.table)

    def __len__(self) -> int:
        return len(self.table)

    def get(self, zone: str, default: Any = None) -> Any:  # type: ignore[override]
        value = self.table.get(zone.encode())
        return default if value is None else decode_state(value)


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
        value_type=bytes,  # raw: encode_state's compressed JSON
        use_partitioner=True,
    )
    service = ScoringService(
        settings,
        FaustOutputs(app),
        TableStore(table, metrics.observe_state_size),
        metrics,
        load_alert_ids,
        fetch_range,
    )
    from daemon.agents import register

    register(app, events, service, settings)
    return Worker(app, events, table, service)
