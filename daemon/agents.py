"""The worker's agent and timers: a few lines each, the work is in :mod:`daemon.service`."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import faust
from mode import CrashingSupervisor

from config.settings import Settings
from daemon.service import Delivered, ScoringService
from stream_models.wire import sent_at

_LAG_INTERVAL_S = 5.0


def dead_letter_source(value: bytes | None) -> str:
    """``worker`` for a message the workers dead-lettered (file ``kafka:...``), else ``replay``."""
    try:
        file = str(json.loads(value or b"{}").get("file", ""))
    except (ValueError, AttributeError):
        return "replay"
    return "worker" if file.startswith("kafka:") else "replay"


def register(app: faust.App, events: Any, mine: Any, service: ScoringService,
             settings: Settings) -> None:
    @app.task
    async def quiet_client_loggers() -> None:
        """Faust's worker turns debug logs on for the clients and for Faust itself; each
        costs a LogRecord per request or per message sent (4 % of the worker's time)."""
        level = logging.getLogger().getEffectiveLevel()
        for name in ("aiokafka", "kafka", "faust", "mode"):
            logging.getLogger(name).setLevel(max(level, logging.INFO))

    batch_max, within = settings.worker.batch_max, settings.worker.batch_within_s

    async def score(stream: Any) -> None:
        # what a fetch delivered, as one batch; its events are acked by the service after
        # the snapshot that stores their effect: the extra reference taken here keeps
        # take_events' own ack at the end of the batch from committing them before that
        async for events in stream.take_events(batch_max, within=within):
            batch = []
            for event in events:
                msg = event.message
                msg.incref()

                async def ack(event: Any = event) -> None:
                    await stream.ack(event)

                batch.append(Delivered(event.value, msg.topic, msg.partition, msg.offset,
                                       sent_at(msg.headers), ack))
            await service.handle_batch(batch)

    # an error outside one event's scoring (a snapshot that cannot be written) stops the
    # worker, so that it restarts from the changelog rather than hold partitions it no
    # longer scores
    app.agent(events, name="score-events", supervisor_strategy=CrashingSupervisor)(score)
    app.agent(mine, name="score-mine",  # the mine-wide scope: every zone's events
              supervisor_strategy=CrashingSupervisor)(score)

    rejected = app.topic(settings.topics.rejected, key_serializer="raw", value_serializer="raw")

    @app.agent(rejected, name="count-dead-letters")
    async def count_dead_letters(stream: Any) -> None:
        # bursts of refused rows page the engineers (RejectedRowsBurst); the rows
        # themselves stay on the topic and in the replay's report
        async for value in stream:
            service.metrics.dead_letters.labels(dead_letter_source(value)).inc()

    @app.timer(interval=max(settings.worker.snapshot_interval_s / 2, 0.1))
    async def checkpoint() -> None:
        await service.tick()

    exported: set[tuple[str, str]] = set()  # lag gauges this worker exports
    sources = {settings.topics.events, settings.topics.mine}

    @app.timer(interval=_LAG_INTERVAL_S)
    async def consumer_lag() -> None:
        consumer = app.consumer
        gauge = service.metrics.consumer_lag
        owned = set()
        for tp in consumer.assignment():
            if tp.topic not in sources:
                continue
            owned.add((tp.topic, str(tp.partition)))
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            done = service.position.get((tp.topic, tp.partition))
            lag = hw - (done + 1) if done is not None else hw
            gauge.labels(tp.topic, str(tp.partition)).set(max(lag, 0))
        for labels in exported - owned:  # moved to another worker: it reports them now
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)
        exported.clear()
        exported.update(owned)

    @app.on_before_shutdown.connect
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        await service.on_revoked()
        service.close()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await service.on_revoked()
