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

from config.kafka import KafkaSettings
from config.settings import Settings
from daemon import compat
from daemon.metrics import WorkerMetrics
from daemon.scoring import ScoringService
from replay.broker import aio_client_config
from stream_models.packing import pack, unpack

TABLE_NAME = "zone-state"
SENT_TABLE_NAME = "sent-alerts"
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
    """A zone's state as one changelog message: zlib-compressed packed arrays.

    The state is fixed-shape arrays (:mod:`stream_models.packing`), so its size is
    capped whatever the burst; its mostly-empty histograms compress well.
    """
    return zlib.compress(pack(state), 6)


def decode_state(value: bytes | None) -> Any:
    """Inverse of :func:`encode_state`; ``None`` (no state yet) stays ``None``."""
    return None if value is None else unpack(zlib.decompress(value))


class TableStore(MutableMapping[str, Any]):
    """A Faust table keyed by the zone's UTF-8 bytes, exactly like the events topic.

    Kafka's default partitioner hashes key bytes, so a zone's state lands on the
    changelog partition with the number of its events partition, and the worker
    that owns the zone's events also recovers its state. ``encode``/``decode``
    turn values into bytes; :attr:`last_size` is the size of the last value stored.
    """

    def __init__(self, table: Any, encode: Callable[[Any], bytes] = encode_state,
                 decode: Callable[[bytes | None], Any] = decode_state) -> None:  # fmt: skip
        self.table = table
        self.encode, self.decode = encode, decode
        self.last_size: int | None = None

    def __getitem__(self, zone: str) -> Any:
        return self.decode(self.table[zone.encode()])

    def __setitem__(self, zone: str, value: Any) -> None:
        data = self.encode(value)
        self.last_size = len(data)
        self.table[zone.encode()] = data

    def __delitem__(self, zone: str) -> None:
        del self.table[zone.encode()]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() if isinstance(k, bytes) else str(k) for k in self.table)

    def __len__(self) -> int:
        return len(self.table)

    def get(self, zone: str, default: Any = None) -> Any:  # type: ignore[override]
        value = self.table.get(zone.encode())
        return default if value is None else self.decode(value)


def json_store(table: Any) -> TableStore:
    """A table of small JSON values (the sent alert ids of each zone)."""
    return TableStore(table, lambda v: json.dumps(v).encode(),
                      lambda b: None if b is None else json.loads(b))  # fmt: skip


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
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    events = app.topic(settings.topics.events, **raw)
    mine = app.topic(settings.topics.mine, **raw)
    tables = {
        name: app.Table(
            name, default=None, partitions=settings.partitions,
            key_type=bytes,  # raw key bytes: the same partition as the zone's events
            value_type=bytes, use_partitioner=True,
        )
        for name in (TABLE_NAME, SENT_TABLE_NAME)
    }  # fmt: skip

    def pause(topic: str, partition: int) -> None:
        from faust.types import TP

        app.consumer.pause_partitions([TP(topic, partition)])

    service = ScoringService(
        settings, FaustOutputs(app), TableStore(tables[TABLE_NAME]),
        json_store(tables[SENT_TABLE_NAME]), metrics, fetch_range, pause,
    )  # fmt: skip
    from daemon.agents import register

    register(app, events, mine, service, settings)
    return Worker(app, events, mine, tables[TABLE_NAME], service)
