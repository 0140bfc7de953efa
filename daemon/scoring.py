"""The worker's event handler: decode, run the zone's :class:`ZoneMonitor`, publish, snapshot.

Delivery is at-least-once with idempotent effects:

* Each event's risk record (its features inside) and alerts are sent as it is
  processed; an event of a zone goes on to the mine-wide topic, where the
  mine-wide scope scores it again.
* Every ``snapshot_every`` events or ``snapshot_interval_s`` seconds the outputs
  are flushed, the LSTM's history store is committed, each touched zone's River
  models are saved to the state directory, its packed state (with the offset of
  its partition it covers) is written to the changelog-backed table, and only
  then are the events acked: Kafka never commits an offset whose effect on the
  state is not stored.
* After a crash or rebalance, redelivered offsets at or below the stored one
  are skipped, offsets the consumer skipped are read back from Kafka, and later
  ones are processed again from the restored state, which gives the same
  scores and the same alert ids; an id already sent (kept per zone in the
  ``sent-alerts`` table, written right after each alert) is not sent again, and
  an event id a zone already applied is dropped and counted.
* A zone whose stored state or model file cannot be used stops its partition
  (nothing processed or acked there, ``seismowatch_partition_stopped``) rather
  than start fresh models that the next snapshot would store over the old ones.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import re
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from config.settings import Settings
from daemon.delivery import (
    TP,
    Ack,
    AlertLog,
    FetchRange,
    GapError,
    Outputs,
    RestoreError,
    StreamClock,
    read_range,
)
from daemon.metrics import WorkerMetrics, ZoneSnapshot
from replay.rejects import Reject
from replay.stream import SENT_AT_HEADER
from stream_models.features.inputs import INPUT_NAMES
from stream_models.fusion.hazard import Transition
from stream_models.learners.river_model import RiskModel
from stream_models.online.labels import example_key
from stream_models.online.orchestrator import mine_policy
from stream_models.online.records import alert_record, dumps, risk_record
from stream_models.online.scope import (
    PAYLOAD,
    DuplicateEventError,
    LateEventError,
    Outcome,
    ZoneMonitor,
)
from stream_models.packing import StateError
from stream_models.retraining.retrainer import Retrainer
from stream_models.wire import Event, WireFormatError

log = logging.getLogger(__name__)
_MODEL_FILES_KEPT = 3  # the version the table refers to, plus newer ones a crash left behind
SENT_KEPT = 64  # alert ids remembered per zone: far more than one snapshot interval sends

@dataclass
class _Zone:
    monitor: ZoneMonitor
    source: TP | None = None  # where the zone's events arrive (set by its first event)
    last: Outcome | None = None  # for the metrics collector
    sent: deque[str] = field(default_factory=lambda: deque(maxlen=SENT_KEPT))
    state_bytes: int | None = None
    thinned: int = 0  # examples the labeler thinned out that the metric has counted


def _safe_name(zone: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", zone)


class ScoringService:
    """Per-worker state: one :class:`ZoneMonitor` per zone this worker owns."""

    def __init__(
        self, settings: Settings, outputs: Outputs, store: MutableMapping[str, Any],
        sent_store: MutableMapping[str, Any], metrics: WorkerMetrics, fetch_range: FetchRange,
        pause: Callable[[str, int], None] | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.outputs = outputs
        self.store = store
        self.sent_store = sent_store
        self.metrics = metrics
        self.fetch_range = fetch_range
        self.pause = pause
        self.applied: dict[TP, int] = {}  # last offset whose effect is in the state
        self.clocks: dict[TP, StreamClock] = {}
        self.stopped: dict[TP, str] = {}  # partitions whose state could not be restored
        self.policy = settings.monitor_policy()
        self.mine_scope = settings.mine_scope_name
        self.zones: dict[str, _Zone] = {}
        self._zones_lock = threading.Lock()  # the metrics collector reads zones from its thread
        self.model_dir = settings.state_dir / "models"
        self.alert_log = AlertLog(settings.alert_log_path)
        self.lock = asyncio.Lock()
        self._unacked: list[Ack] = []
        self._dirty: set[str] = set()
        self._last_snapshot = time.monotonic()
        self.retrainer: Retrainer | None = Retrainer(
            settings.state_dir, settings.registry_dir, INPUT_NAMES, settings.retrain_policy()
        )
        if self.retrainer is not None and self.retrainer.active is not None:
            metrics.lstm_info.info({"version": self.retrainer.active.version})
        metrics.watch(self.snapshots, lambda: sorted(self.stopped))

    def snapshots(self) -> list[ZoneSnapshot]:
        """What the metrics collector exports, read at scrape time."""
        with self._zones_lock:
            zones = list(self.zones.items())
        return [ZoneSnapshot(name, z.last, z.monitor.metrics, z.state_bytes,
                             partial(z.monitor.metrics, learning=True)) for name, z in zones]

    # -- zone state --------------------------------------------------------------------

    def _model_path(self, zone: str, events: int) -> Path:
        """One file per stored state (named by the zone's event count), so a crash between
        saving a model and storing the table state that refers to it leaves the referenced
        file intact."""
        return self.model_dir / _safe_name(zone) / f"{events}.pkl"

    def _save_model(self, zone: str, mon: ZoneMonitor) -> None:
        path = self._model_path(zone, mon.events)
        mon.model.save(path)
        versions = sorted(path.parent.glob("*.pkl"), key=lambda p: int(p.stem))
        for old in versions[:-_MODEL_FILES_KEPT]:
            old.unlink(missing_ok=True)

    def _restore(self, name: str, saved: dict[str, Any]) -> _Zone:
        """One zone from its stored state; :class:`RestoreError` if any part is unusable."""
        try:
            state = saved["monitor"]
            model = None
            if int(state["events"]):
                path = self._model_path(name, int(state["events"]))
                if not path.exists():
                    raise RestoreError(
                        f"zone {name}: model file {path} that its stored state refers to is "
                        "missing (a worker on another host without this state_dir?): restore "
                        "the file, or delete the zone's state to start it anew"
                    )
                model = RiskModel.load(path, self.settings.state_dir)
            policy = mine_policy(self.policy) if name == self.mine_scope else self.policy
            mon = ZoneMonitor.from_state(state, policy, model)
            source = (str(saved["source"][0]), int(saved["source"][1]))
        except RestoreError:
            raise
        except (KeyError, TypeError, ValueError, OSError, pickle.UnpicklingError,
                EOFError, AttributeError) as exc:  # fmt: skip
            raise RestoreError(f"zone {name}: stored state or model unusable ({exc!r})") from exc
        sent = self.sent_store.get(name) or []
        log.info("zone %s: restored at offset %s, %d events", name, saved["offset"], mon.events)
        return _Zone(mon, source, sent=deque(sent, maxlen=SENT_KEPT),
                     thinned=mon.labeler.thinned)

    def _restore_partition(self, tp: TP) -> None:
        """First event of a partition since start or rebalance: restore all its zones.

        The partition's applied offset is the newest one any of its zones stored.
        """
        applied = -1
        for name in list(self.store):
            try:
                saved = self.store.get(name)
            except (zlib.error, StateError, ValueError) as exc:
                raise RestoreError(f"zone {name}: stored state unreadable ({exc})") from exc
            if saved is None or tuple(saved.get("source", ())) != tp:
                continue
            zone = self._restore(name, saved)
            with self._zones_lock:
                self.zones[name] = zone
            applied = max(applied, int(saved["offset"]))
        self.applied[tp] = applied

    async def _stop(self, tp: TP, exc: Exception) -> None:
        """Stop a partition: its events stay unprocessed and unacked until someone fixes it."""
        self.stopped[tp] = str(exc)
        log.error("partition %s/%d stopped: %s", tp[0], tp[1], exc)
        if self.pause is not None:
            self.pause(*tp)

    # -- the event path --------------------------------------------------------------

    async def handle(
        self, value: bytes, topic: str, partition: int, offset: int,
        sent_at: float | None, ack: Ack,
    ) -> Outcome | None:  # fmt: skip
        """Process one message of the events or mine topic; ``ack`` runs after the next snapshot.

        ``sent_at`` is when the producer handed the event to Kafka (latency metric).
        """
        tp = (topic, partition)
        async with self.lock:
            if tp in self.stopped:
                return None
            try:
                if tp not in self.applied:
                    self._restore_partition(tp)
                if offset <= self.applied[tp]:
                    self.metrics.duplicates_skipped.labels(str(partition)).inc()
                    self._unacked.append(ack)
                    return None
                if offset > self.applied[tp] + 1:
                    await self._replay_gap(tp, self.applied[tp] + 1, offset)
            except (RestoreError, GapError) as exc:
                await self._stop(tp, exc)
                return None
            try:
                outcome = await self._process(value, tp, offset, sent_at)
            except Exception as exc:  # one bad event must never stop the stream
                await self._failed(value, tp, offset, exc)
                outcome = None
            self.applied[tp] = offset
            self._unacked.append(ack)  # after processing: a snapshot within it must not ack it
            if len(self._unacked) >= self.settings.worker.snapshot_every or self._snapshot_due():
                await self._snapshot()
            return outcome

    def _zone(self, name: str) -> _Zone | None:
        """The zone's monitor, created at its first event; None past ``worker.max_zones``."""
        zone = self.zones.get(name)
        if zone is not None:
            return zone
        known = name in self.settings.known_zones
        if not known and len(self.zones) >= self.settings.worker.max_zones:
            return None
        policy = mine_policy(self.policy) if name == self.mine_scope else self.policy
        # alerts it sent before a crash that came before its first stored state
        sent = deque(self.sent_store.get(name) or [], maxlen=SENT_KEPT)
        zone = _Zone(ZoneMonitor(name, policy), sent=sent)
        with self._zones_lock:
            self.zones[name] = zone
        return zone

    async def _process(
        self, value: bytes, tp: TP, offset: int, sent_at: float | None
    ) -> Outcome | None:
        try:
            event = Event.from_wire(value)
        except WireFormatError as exc:
            await self._dead_letter(value, tp, offset, str(exc))
            return None
        topics = self.settings.topics
        if tp[0] == topics.mine and self.mine_scope:
            event = replace(event, zone=self.mine_scope)
        zone = self._zone(event.zone)
        if zone is None:
            await self._dead_letter(
                value, tp, offset, f"zone {event.zone!r} would be zone number "
                f"{len(self.zones) + 1} of this worker, over worker.max_zones "
                f"({self.settings.worker.max_zones}): configure it, or raise the limit",
                "zone_limit", "zone",
            )  # fmt: skip
            return None
        try:
            t = zone.monitor.event_time(event)
        except LateEventError as exc:  # the zone's state stays as it was
            await self._dead_letter(value, tp, offset, str(exc), "late_event", "time")
            return None
        clock = self.clocks.setdefault(tp, StreamClock(self.settings.worker.idle_clock_s))
        clock.observe(t, time.monotonic())
        await self._advance(tp, clock.t)
        # the LSTM and the ETAS fit learn from and score the zones; the mine-wide scope, on
        # its own agent and lagging behind them, would meet a promotion at a point no
        # in-process run reproduces: it keeps the generic ETAS law
        r = self.retrainer if event.zone != self.mine_scope else None
        if r is not None:
            await self._retrain_step(r, t)
        lstm = r.active if r is not None else None
        etas = r.active_etas if r is not None else None
        try:
            outcome = zone.monitor.process(event, lstm, etas)
        except DuplicateEventError as exc:
            log.info("%s (%s/%d@%d)", exc, tp[0], tp[1], offset)
            self.metrics.duplicates_applied.labels(event.zone).inc()
            return None
        if r is not None:
            r.record(event.zone, outcome.learned, PAYLOAD, zone.monitor.learning_j)
            r.record_event(event.zone, example_key(event.event_id), t, event.log_energy)
        zone.source, zone.last = tp, outcome
        self._dirty.add(event.zone)
        await self.outputs.send(topics.risk, event.event_id.encode(), risk_record(outcome))
        for tr in outcome.transitions:
            await self._alert(zone, tr, outcome)
        if self.mine_scope and tp[0] == topics.events:  # the replay's send time goes along
            sent = [(SENT_AT_HEADER, repr(sent_at).encode())] if sent_at else None
            await self.outputs.send(topics.mine, self.mine_scope.encode(), value, sent)
        self.metrics.observe(outcome, time.time() - sent_at if sent_at else None)
        self._count_thinned(zone)
        return outcome

    def _count_thinned(self, zone: _Zone) -> None:
        thinned = zone.monitor.labeler.thinned
        if thinned > zone.thinned:
            self.metrics.examples_thinned.labels(zone.monitor.zone).inc(thinned - zone.thinned)
            zone.thinned = thinned

    async def _advance(self, tp: TP, clock: float) -> None:
        """Let ``tp``'s clock reach its quiet zones: labels mature, forecasts expire, episodes
        close. A zone moves only with its own partition's clock, which no later event of
        the zone can precede."""
        for name, zone in list(self.zones.items()):
            if zone.source != tp:
                continue
            adv = zone.monitor.advance(clock)
            if not len(adv.learned) and not adv.transitions:
                continue
            self._dirty.add(name)
            if self.retrainer is not None and name != self.mine_scope:
                self.retrainer.record(name, adv.learned, PAYLOAD, zone.monitor.learning_j)
            self.metrics.observe_learned(name, adv.learned)
            for tr in adv.transitions:
                await self._alert(zone, tr, None)

    async def _retrain_step(self, r: Retrainer, t: float) -> None:
        """Start a due retraining, then take in a finished one (:meth:`_take_in`). A
        blocking retraining runs in a thread: the event loop keeps heartbeating."""
        job = r.due_job(t)
        if job is not None:
            if r.policy.blocking:
                await self._snapshot()
                r.finished(await asyncio.to_thread(job))
            else:
                r.start(job)
        await self._take_in(r)

    async def _take_in(self, r: Retrainer) -> None:
        """A finished retraining's decisions: the state is stored before the active models
        can change, so events replayed after a crash are scored by the same versions. The
        promoted files load in a thread (the first one imports torch, seconds on a busy
        host): a loop blocked past the session timeout would be expelled from its group."""
        if not r.ready:
            return
        await self._snapshot()
        for decision in await asyncio.to_thread(r.poll):
            self.metrics.observe_retraining(decision, r.active.version if r.active else None)

    async def _replay_gap(self, tp: TP, start: int, end: int) -> None:
        """Process offsets ``[start, end)`` that the consumer skipped, read from Kafka directly.

        The consumer group resumes from its committed offset, which may lie past
        the last stored state (Faust skips offsets it counts as gaps, and drops
        messages fetched across a rebalance): the state must still see every event.
        A read that returns fewer offsets than asked is retried, then stops the
        partition (:class:`GapError`): silently skipping them would lose events.
        """
        messages = await read_range(self.fetch_range, tp, start, end)
        log.warning(
            "partition %s/%d: %d event(s) at offsets %d..%d were not delivered after a restart "
            "or rebalance: read them from Kafka directly", tp[0], tp[1], len(messages), start,
            end - 1,
        )  # fmt: skip
        self.metrics.gap_replayed.inc(len(messages))
        for off, value, sent in sorted(messages)[: end - start]:
            try:
                await self._process(value, tp, off, sent)
            except Exception as exc:  # the same rule as for delivered events
                await self._failed(value, tp, off, exc)
            self.applied[tp] = off

    async def _alert(self, zone: _Zone, tr: Transition, outcome: Outcome | None) -> None:
        if tr.alert_id in zone.sent:
            log.info("alert %s already sent before a restart: not sent again", tr.alert_id)
            return
        top = (zone.monitor.model.contributions(outcome.inputs)
               if tr.kind == "raise" and outcome is not None else [])  # fmt: skip
        record = alert_record(tr, outcome, top, datetime.now(UTC).isoformat())
        await self.outputs.send(self.settings.topics.alerts, tr.zone.encode(), dumps(record))
        zone.sent.append(tr.alert_id)
        self.sent_store[tr.zone] = list(zone.sent)  # at once: a crash now must not resend it
        self.alert_log.append(record)
        self.metrics.observe_alert(tr.zone, tr.state, tr.kind)

    async def _failed(self, value: bytes, tp: TP, offset: int, exc: Exception) -> None:
        log.exception("event at %s/%d@%d failed", tp[0], tp[1], offset)
        await self._dead_letter(value, tp, offset, f"processing error: {exc!r}",
                                "processing_error")  # fmt: skip

    async def _dead_letter(
        self, value: bytes, tp: TP, offset: int, reason: str, kind: str = "wire_format",
        column: str = "value",
    ) -> None:  # fmt: skip
        reject = Reject(
            file=f"kafka:{tp[0]}/{tp[1]}", row=offset, column=column,
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
        touched = {self.zones[name].source for name in self._dirty if name in self.zones}
        for name, zone in sorted(self.zones.items()):
            if zone.source not in touched or zone.source is None:
                continue
            if name in self._dirty:
                self._save_model(name, zone.monitor)
            self.store[name] = {
                "monitor": zone.monitor.to_state(),
                "source": list(zone.source),
                "offset": self.applied.get(zone.source, -1),  # the partition's, not the zone's
            }
            zone.state_bytes = getattr(self.store, "last_size", None)
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
        """Timer: quiet zones follow their partition's clock; a quiet stream's tail is stored;
        a retraining that finished while no event came is taken in (state stored first)."""
        async with self.lock:
            wall = time.monotonic()
            for tp, clock in list(self.clocks.items()):
                if tp not in self.stopped:
                    await self._advance(tp, clock.now(wall))
            if self.retrainer is not None:
                await self._take_in(self.retrainer)
            if self._snapshot_due():
                await self._snapshot()

    async def on_revoked(self) -> None:
        """Before partitions move: store everything, forget zones; the next owner restores."""
        async with self.lock:
            await self._snapshot()
            with self._zones_lock:
                self.zones.clear()
            self.applied.clear()
            self.clocks.clear()
            self.stopped.clear()

    def close(self) -> None:
        """At shutdown, after the last snapshot: close the history store, stop training."""
        if self.retrainer is not None:
            self.retrainer.close()
