"""The worker's event handler: decode, run the zone's :class:`ZoneMonitor`, publish, snapshot.

Delivery is at-least-once with idempotent effects:

* Outputs (features, risk, alerts) are sent as each event is processed.
* Every ``snapshot_every`` events or ``snapshot_interval_s`` seconds the outputs
  are flushed, the LSTM's history store is committed, each touched zone's River
  models are saved to the state directory,
  its JSON state (with the partition offset it covers) is written to the
  changelog-backed table, and only then are the events acked, so Kafka never
  commits an offset whose effect on the state is not stored.
* After a crash or rebalance, redelivered events at or below the partition's
  stored offset are skipped, offsets the consumer skipped are read back from
  Kafka, and later ones are processed again from the restored state, which gives
  the same scores and the same alert ids; alert ids already on the alerts topic
  are never sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from config.settings import Settings
from daemon.metrics import WorkerMetrics
from replay.rejects import Reject
from stream_models.events import Event, WireFormatError
from stream_models.monitor import LateEventError, Outcome, ZoneMonitor
from stream_models.records import alert_record, dumps, features_record, risk_record
from stream_models.retrain import Retrainer
from stream_models.risk import INPUT_NAMES, RiskModel

log = logging.getLogger(__name__)
_MODEL_FILES_KEPT = 3  # the version the table refers to, plus newer ones a crash left behind

Ack = Callable[[], Awaitable[Any]]
# (topic, partition, start, end) -> [(offset, value, sent_at)] for offsets in [start, end)
FetchRange = Callable[[str, int, int, int], Awaitable[list[tuple[int, bytes, float | None]]]]


class Outputs(Protocol):
    """Where records go: the Faust producer in the worker, a list in unit tests."""

    async def send(self, topic: str, key: bytes, value: bytes) -> None: ...

    async def flush(self) -> None: ...


@dataclass
class _Zone:
    monitor: ZoneMonitor
    partition: int | None = None  # where the zone's events arrive (set by its first event)


def _safe_name(zone: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", zone)


class AlertLog:
    """Append-only JSON-lines log of every alert sent, for operators without Kafka access."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def ids(self) -> set[str]:
        if not self.path.exists():
            return set()
        out = set()
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.add(json.loads(line)["alert_id"])
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable line in alert log %s", self.path)
        return out

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")


class ScoringService:
    """Per-worker state: one :class:`ZoneMonitor` per zone this worker owns."""

    def __init__(
        self,
        settings: Settings,
        outputs: Outputs,
        store: MutableMapping[str, Any],
        metrics: WorkerMetrics,
        load_alert_ids: Callable[[], Awaitable[set[str]]],
        fetch_range: FetchRange,
    ) -> None:
        self.settings = settings
        self.outputs = outputs
        self.store = store
        self.metrics = metrics
        self.load_alert_ids = load_alert_ids
        self.fetch_range = fetch_range
        self.applied: dict[int, int] = {}  # partition -> last offset whose effect is in the state
        self.policy = settings.monitor_policy()
        self.zones: dict[str, _Zone] = {}
        self.model_dir = settings.state_dir / "models"
        self.alert_log = AlertLog(settings.alert_log_path)
        self.known_alert_ids: set[str] | None = None
        self.lock = asyncio.Lock()
        self._unacked: list[Ack] = []
        self._dirty: set[str] = set()
        self._last_snapshot = time.monotonic()
        self.retrainer = (
            Retrainer(settings.state_dir, settings.registry_dir, INPUT_NAMES,
                      settings.retrain_policy(), settings.lstm.device)
            if settings.lstm.enabled else None
        )  # fmt: skip
        if self.retrainer is not None and self.retrainer.active is not None:
            metrics.lstm_info.info({"version": self.retrainer.active.version})

    # -- zone state ------------------------------------------------------------------

    def _model_path(self, zone: str, version: str) -> Path:
        """One file per model version, so a crash between saving a model and storing the
        table state that refers to it leaves the referenced file intact."""
        n = version.rpartition("@")[2]
        return self.model_dir / _safe_name(zone) / f"{n}.pkl"

    def _save_model(self, zone: str, model: RiskModel) -> None:
        path = self._model_path(zone, model.version)
        if not path.exists():
            model.save(path)
        versions = sorted(path.parent.glob("*.pkl"), key=lambda p: int(p.stem))
        for old in versions[:-_MODEL_FILES_KEPT]:
            old.unlink(missing_ok=True)

    def _restore(self, zone: str, saved: Any) -> _Zone:
        if saved is None:
            return _Zone(ZoneMonitor(zone, self.policy))
        model = None
        path = self._model_path(zone, saved["monitor"]["model_version"])
        if path.exists():
            model = RiskModel.load(path, self.settings.state_dir)
        else:
            log.warning("zone %s: no model file here (%s): starting a new model", zone, path)
        mon = ZoneMonitor.from_state(saved["monitor"], self.policy, model)
        log.info("zone %s: restored at offset %s, %d events", zone, saved["offset"], mon.events)
        return _Zone(mon, saved["partition"])

    def _restore_partition(self, partition: int) -> None:
        """First event of a partition since start or rebalance: restore all its zones.

        The partition's applied offset is the newest one any of its zones stored.
        """
        applied = -1
        for name in list(self.store):
            saved = self.store.get(name)
            if saved is None or saved.get("partition") != partition:
                continue
            self.zones[name] = self._restore(name, saved)
            applied = max(applied, int(saved["offset"]))
        self.applied[partition] = applied

    # -- the event path --------------------------------------------------------------

    async def handle(
        self, value: bytes, topic: str, partition: int, offset: int,
        sent_at: float | None, ack: Ack,
    ) -> Outcome | None:  # fmt: skip
        """Process one message of the events topic; ``ack`` is called after the next snapshot.

        ``sent_at`` is when the producer handed the event to Kafka (latency metric).
        """
        async with self.lock:
            try:
                if partition not in self.applied:
                    self._restore_partition(partition)
                if offset <= self.applied[partition]:
                    self.metrics.duplicates_skipped.labels(str(partition)).inc()
                    self._unacked.append(ack)
                    return None
                if offset > self.applied[partition] + 1:
                    await self._replay_gap(topic, partition, self.applied[partition] + 1, offset)
                outcome = await self._process(value, topic, partition, offset, sent_at)
            except Exception as exc:  # one bad event must never stop the stream
                await self._failed(value, topic, partition, offset, exc)
                outcome = None
            self.applied[partition] = offset
            self._unacked.append(ack)  # after processing: a snapshot within it must not ack it
            if len(self._unacked) >= self.settings.worker.snapshot_every or self._snapshot_due():
                await self._snapshot()
            return outcome

    async def _process(
        self, value: bytes, topic: str, partition: int, offset: int, sent_at: float | None
    ) -> Outcome | None:
        try:
            event = Event.from_wire(value)
        except WireFormatError as exc:
            await self._dead_letter(value, topic, partition, offset, str(exc))
            return None
        zone = self.zones.get(event.zone)
        if zone is None:
            zone = self.zones[event.zone] = _Zone(ZoneMonitor(event.zone, self.policy))
        try:
            t = zone.monitor.event_time(event)
        except LateEventError as exc:  # the zone's state stays as it was
            await self._dead_letter(value, topic, partition, offset, str(exc), "late_event", "time")
            return None
        r = self.retrainer
        if r is not None:
            await self._retrain_step(r, t)
        outcome = zone.monitor.process(event, r.active if r is not None else None)
        if r is not None:
            r.record(event.zone, outcome.learned)
        zone.partition = partition
        self._dirty.add(event.zone)
        key = event.event_id.encode()
        topics = self.settings.topics
        await self.outputs.send(topics.features, key, dumps(features_record(outcome)))
        await self.outputs.send(topics.risk, key, dumps(risk_record(outcome)))
        for tr in outcome.transitions:
            await self._alert(tr, outcome, zone.monitor)
        latency = time.time() - sent_at if sent_at else None
        self.metrics.observe(outcome, latency)
        if outcome.learned:
            self.metrics.observe_scores(event.zone, zone.monitor.metrics())
        return outcome

    async def _retrain_step(self, r: Retrainer, t: float) -> None:
        """Start a due LSTM retraining, then hot-swap a finished, promoted version.

        The state is stored before the active LSTM can change, so events replayed
        after a crash are scored by the same version as the first time. A blocking
        retraining runs in a thread: the event loop keeps heartbeating.
        """
        job = r.due_job(t)
        if job is not None:
            if r.policy.blocking:
                await self._snapshot()
                r.finished(await asyncio.to_thread(job))
            else:
                r.start(job)
        if not r.ready:
            return
        await self._snapshot()
        for decision in r.poll():
            self.metrics.observe_retraining(decision, r.active.version if r.active else None)

    async def _replay_gap(self, topic: str, partition: int, start: int, end: int) -> None:
        """Process offsets ``[start, end)`` that the consumer skipped, read from Kafka directly.

        The consumer group resumes from its committed offset, which may lie past
        the last stored state (Faust skips offsets it counts as gaps, and drops
        messages fetched across a rebalance): the state must still see every event.
        """
        messages = await self.fetch_range(topic, partition, start, end)
        log.warning(
            "partition %d: %d event(s) at offsets %d..%d were not delivered after a restart "
            "or rebalance: read them from Kafka directly", partition, len(messages), start, end - 1,
        )  # fmt: skip
        self.metrics.gap_replayed.inc(len(messages))
        for off, value, sent in messages:
            try:
                await self._process(value, topic, partition, off, sent)
            except Exception as exc:  # the same rule as for delivered events
                await self._failed(value, topic, partition, off, exc)

    async def _alert(self, tr: Any, outcome: Outcome, monitor: ZoneMonitor) -> None:
        if self.known_alert_ids is None:
            self.known_alert_ids = await self.load_alert_ids() | self.alert_log.ids()
        if tr.alert_id in self.known_alert_ids:
            log.info("alert %s already sent before a restart: not sent again", tr.alert_id)
            return
        top = monitor.model.contributions(outcome.inputs) if tr.kind == "raise" else []
        record = alert_record(tr, outcome, top, datetime.now(UTC).isoformat())
        await self.outputs.send(self.settings.topics.alerts, tr.zone.encode(), dumps(record))
        self.known_alert_ids.add(tr.alert_id)
        self.alert_log.append(record)

    async def _failed(
        self, value: bytes, topic: str, partition: int, offset: int, exc: Exception
    ) -> None:
        log.exception("event at %s/%d@%d failed", topic, partition, offset)
        await self._dead_letter(
            value, topic, partition, offset, f"processing error: {exc!r}", "processing_error"
        )

    async def _dead_letter(
        self, value: bytes, topic: str, partition: int, offset: int, reason: str,
        kind: str = "wire_format", column: str = "value",
    ) -> None:  # fmt: skip
        reject = Reject(
            file=f"kafka:{topic}/{partition}", row=offset, column=column,
            value=value[:200].decode("utf-8", "replace"), reason=reason,
        )  # fmt: skip
        log.warning("dead-lettered %s", reject)
        self.metrics.events_rejected.labels(kind).inc()
        await self.outputs.send(self.settings.topics.rejected, reject.key, reject.to_wire())

    # -- checkpoints -----------------------------------------------------------------

    async def _snapshot(self) -> None:
        """Flush outputs, store touched zones (model file, then table), then ack."""
        if not self._unacked and not self._dirty:
            return
        await self.outputs.flush()
        touched = {self.zones[name].partition for name in self._dirty}
        for name, zone in sorted(self.zones.items()):
            if zone.partition not in touched:
                continue
            if name in self._dirty:
                self._save_model(name, zone.monitor.model)
            self.store[name] = {
                "monitor": zone.monitor.to_state(),
                "partition": zone.partition,
                "offset": self.applied[zone.partition],  # the partition's, not just the zone's
            }
        if self.retrainer is not None:
            self.retrainer.commit()
        await self.outputs.flush()
        acks, self._unacked, self._dirty = self._unacked, [], set()
        for ack in acks:
            await ack()
        self._last_snapshot = time.monotonic()
        self.metrics.snapshots.inc()

    def _snapshot_due(self) -> bool:
        return time.monotonic() - self._last_snapshot >= self.settings.worker.snapshot_interval_s

    async def tick(self) -> None:
        """Timer: snapshot a quiet stream's tail so its offsets get committed too."""
        async with self.lock:
            if self._snapshot_due():
                await self._snapshot()

    async def on_revoked(self) -> None:
        """Before partitions move: store everything, forget zones and known alert ids."""
        async with self.lock:
            await self._snapshot()
            for zone in self.zones:
                self.metrics.forget_zone(zone)
            self.zones.clear()
            self.applied.clear()
            self.known_alert_ids = None

    def close(self) -> None:
        """At shutdown, after the last snapshot: close the history store, stop training."""
        if self.retrainer is not None:
            self.retrainer.close()
