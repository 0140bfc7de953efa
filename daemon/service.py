"""The worker's event handler: offsets, acks, snapshots, sends and metrics around the orchestrator.

Everything computed per event is :class:`~stream_models.online.orchestrator.Orchestrator`'s;
this module only delivers it, at-least-once with idempotent effects:

* What one fetch delivered is handled as a batch, one event at a time; each event's
  risk record, alerts and any hazard-grid snapshot are sent as it is scored in its
  scope (its zone, or the mine-wide scope from ``gits.events.mine``).
* Every ``snapshot_every`` events or ``snapshot_interval_s`` seconds the outputs are
  flushed, each touched scope's state is written to the changelog-backed table
  with the offset of its partition it covers, then the partition's manifest (that
  offset and its scopes), and only then are the events acked: Kafka never commits
  an offset whose effect on the state is not stored.
* After a crash or rebalance a partition resumes after its manifest's offset; a
  scope whose own state covers more skips what it has, offsets the consumer
  skipped are read back from Kafka, so every scope sees each of its events once,
  whatever prefix of the changelog was recovered. A scope listed in the manifest
  but absent, or a state that cannot be read, stops the partition (nothing
  processed or acked there, ``seismowatch_partition_stopped``) rather than start
  anew over a known past.
* Alert ids are stable; a scope's sent ids are stored at once, so a restart never
  sends one twice.
* A due retraining runs in a thread before the scope's next event
  (``lstm.blocking``: reproducible, the records equal a backtest's) or in a
  background process whose result is taken at the scope's first event after it
  finished; a restored scope reruns a job it had handed out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import Callable, MutableMapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from daemon.delivery import (
    TP,
    Ack,
    AlertLog,
    Delivered,
    FetchRange,
    GapError,
    Outputs,
    RestoreError,
    StreamClock,
    read_range,
)
from daemon.metrics import WorkerMetrics, ZoneSnapshot
from daemon.sent_alerts import SentAlerts
from daemon.state_table import is_scope_key, manifest_key, partition_of, sent_key
from stream_models.fusion.hazard import Transition
from stream_models.online.orchestrator import Orchestrator, ScopeLimitError
from stream_models.online.outcome import DuplicateEventError, LateEventError, Outcome
from stream_models.online.records import alert_record, grid_record, risk_record
from stream_models.online.schedule import Job
from stream_models.packing import StateError
from stream_models.retraining.jobs import run_job
from stream_models.retraining.registry import DecisionLog, base_lstm
from stream_models.wire import Event, Reject, WireFormatError, dumps

log = logging.getLogger(__name__)
_NO_ZONES = ("an event of the mine-wide topic, but this worker knows no zones: restart it with "
             "the zones the replay derived (derived-zones.toml in its state directory)")


@dataclass
class _Scope:
    """What the service keeps of a scope beside its monitor."""

    source: TP  # where its events arrive
    applied: int  # the offset of its partition its state covers
    last: Outcome | None = None  # for the metrics collector
    sent: SentAlerts = field(default_factory=SentAlerts)
    state_bytes: int | None = None
    thinned: int = 0  # examples the labeler thinned out that the metric has counted
    job: Future[Any] | None = None  # a background retraining in flight


class ScoringService:
    """Per-worker state: the orchestrator of the scopes this worker owns, and their offsets."""

    def __init__(
        self, settings: Settings, outputs: Outputs, store: MutableMapping[str, Any],
        metrics: WorkerMetrics, fetch_range: FetchRange,
        pause: Callable[[str, int], None] | None = None, executor: Executor | None = None,
        owned: Callable[[str, int], bool] | None = None,
    ) -> None:
        self.settings, self.outputs, self.store, self.metrics = settings, outputs, store, metrics
        self.fetch_range, self.pause = fetch_range, pause
        self.owned = owned  # whether this worker still holds a partition (None: always)
        self.retrain = settings.retrain_policy()
        self.orch = Orchestrator(
            settings.monitor_policy(), self.retrain, mine_scope=settings.mine_scope_name,
            base_lstm=base_lstm(settings.lstm.base_model, settings.lstm.enabled), store=store,
            max_scopes=settings.worker.max_zones, known=settings.known_zones,
        )
        self.scopes: dict[str, _Scope] = {}
        self.position: dict[TP, int] = {}  # last offset of each partition handled
        self.clocks: dict[TP, StreamClock] = {}
        self.stopped: dict[TP, str] = {}  # partitions whose state could not be restored
        self._lock = threading.Lock()  # the metrics collector reads scopes from its thread
        self.alert_log = AlertLog(settings.alert_log_path)
        self.decision_log = DecisionLog(settings.state_dir / "decisions.jsonl")
        self.lock = asyncio.Lock()
        self._executor = executor
        self._unacked: list[Ack] = []
        self._dirty: set[str] = set()
        self._last_snapshot = time.monotonic()
        metrics.watch(self.snapshots, lambda: sorted(self.stopped))

    def snapshots(self) -> list[ZoneSnapshot]:
        """What the metrics collector exports, read at scrape time."""
        with self._lock:
            scopes = [(n, s, mon) for n, s in self.scopes.items()
                      if (mon := self.orch.scopes.get(n)) is not None]
            return [ZoneSnapshot(name, s.last, mon.metrics, s.state_bytes,
                                 lambda mon=mon: mon.metrics(learning=True), mon.own_fit_share,
                                 mon.schedule.results, mon.hazard.state, mon.hazard.episode,
                                 mon.why, mon.reentry.notice if mon.reentry else None,
                                 mon.clock, mon.space.last if mon.space else None)
                    for name, s, mon in scopes]

    # -- restoring a partition -------------------------------------------------------

    def _restore_partition(self, tp: TP) -> None:
        """First message of a partition since start or rebalance: restore its scopes.

        The partition resumes after its manifest's offset; each scope skips what its
        own state covers. :class:`RestoreError` if a listed scope is missing or unreadable.
        """
        where = f"partition {tp[0]}/{tp[1]}"
        try:
            manifest = self.store.get(manifest_key(*tp))
        except (KeyError, TypeError, ValueError, zlib.error, StateError) as exc:
            raise RestoreError(f"{where}: its manifest is unusable ({exc!r})") from exc
        for key in [k for k in self.store if is_scope_key(k)]:
            try:
                saved = self.store.get(key)
                if saved is None or tuple(saved["source"]) != tp:
                    continue
                mon = self.orch.restore(key, saved["scope"])
                mon.history.events(self.store)  # every chunk its state refers to is there
                mon.history.examples(self.store)
                sent = self.store.get(sent_key(key))
            except (KeyError, TypeError, ValueError, zlib.error, StateError) as exc:
                raise RestoreError(f"{where}: scope {key}'s stored state is unusable "
                                   f"({exc!r})") from exc
            with self._lock:
                self.scopes[key] = _Scope(tp, int(saved["offset"]), thinned=mon.labeler.thinned,
                                          sent=SentAlerts.restore(sent))
            log.info("scope %s: restored at offset %s, %d events", key, saved["offset"],
                     mon.events)
        offset = -1
        if manifest is not None:
            offset = int(manifest["offset"])
            missing = [n for n in manifest["scopes"] if n not in self.scopes
                       or self.scopes[n].applied < offset]
            if missing:
                raise RestoreError(
                    f"{where}: its manifest (offset {offset}) lists scopes "
                    f"{missing} whose state is missing or older: the changelog was not read "
                    "to its end; restart the worker, or delete the partition's state")
        self.position[tp] = offset

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
    ) -> Outcome | None:
        """One message: a batch of one (``sent_at``: when the producer handed it to Kafka)."""
        return (await self.handle_batch([Delivered(value, topic, partition, offset, sent_at,
                                                   ack)]))[0]

    async def handle_batch(self, batch: Sequence[Delivered]) -> list[Outcome | None]:
        """What one fetch delivered, under one lock; the snapshot (state, manifest, then the
        acks) is considered once, after it. Each event is still scored with all before it:
        a batch changes how often the worker stores, commits and yields, never a record."""
        async with self.lock:
            out = [await self._handle(m) for m in batch]
            if len(self._unacked) >= self.settings.worker.snapshot_every or self._snapshot_due():
                await self._snapshot()
            return out

    async def _handle(self, m: Delivered) -> Outcome | None:
        tp, offset = (m.topic, m.partition), m.offset
        if tp in self.stopped:
            return None
        if self.owned is not None and not self.owned(*tp):
            return None  # revoked while the batch waited: its new owner processes it
        try:
            if tp not in self.position:
                self._restore_partition(tp)
                await self._rerun_pending(tp)
            if offset <= self.position[tp]:
                self.metrics.duplicates_skipped.labels(str(m.partition)).inc()
                self._unacked.append(m.ack)
                return None
            if offset > self.position[tp] + 1:
                await self._replay_gap(tp, self.position[tp] + 1, offset)
        except (RestoreError, GapError) as exc:
            await self._stop(tp, exc)
            return None
        try:
            outcome = await self._process(m.value, tp, offset, m.sent_at)
        except Exception as exc:  # one bad event must never stop the stream
            await self._failed(m.value, tp, offset, exc)
            outcome = None
        self.position[tp] = offset
        self._unacked.append(m.ack)  # after processing: a snapshot within it must not ack it
        return outcome

    async def _process(self, value: bytes, tp: TP, offset: int, sent_at: float | None
                       ) -> Outcome | None:
        try:
            event = Event.from_wire(value)
        except WireFormatError as exc:
            await self._dead_letter(value, tp, offset, str(exc))
            return None
        name = self.orch.mine_scope if tp[0] == self.settings.topics.mine else event.zone
        if name is None:  # a replay derived zones after this worker started
            await self._dead_letter(value, tp, offset, _NO_ZONES, "no_mine_scope", "zone")
            return None
        known = self.scopes.get(name)
        if known is not None and offset <= known.applied:
            self.metrics.duplicates_skipped.labels(str(tp[1])).inc()
            return None  # the scope's state already has it (restored ahead of the manifest)
        clock = self.clocks.setdefault(tp, StreamClock(self.settings.worker.idle_clock_s))
        clock.observe(event.timestamp, time.monotonic())
        await self._advance(tp, clock.t)
        if known is not None and known.job is not None:
            await self._take_background(name, known)
        try:
            scored = self.orch.score(event, name)
        except LateEventError as exc:  # the scope's state stays as it was
            await self._dead_letter(value, tp, offset, str(exc), "late_event", "time")
            return None
        except ScopeLimitError as exc:
            await self._dead_letter(value, tp, offset, str(exc), "zone_limit", "zone")
            return None
        except DuplicateEventError as exc:
            log.info("%s (%s/%d@%d)", exc, tp[0], tp[1], offset)
            self.metrics.duplicates_applied.labels(name).inc()
            return None
        outcome = scored.outcome
        scope = self.scopes.get(name)
        if scope is None:
            sent = self.store.get(sent_key(name))  # sent before a crash, state never stored
            with self._lock:
                scope = self.scopes[name] = _Scope(tp, -1, sent=SentAlerts.restore(sent))
        scope.last = outcome
        self._dirty.add(name)
        await self.outputs.send(self.settings.topics.risk, event.event_id.encode(),
                                risk_record(outcome))
        if outcome.grid is not None:
            await self.outputs.send(self.settings.topics.hazard_grid, name.encode(),
                                    grid_record(outcome.grid, name,
                                                self.settings.alerts.target_energy_j))
        for tr in outcome.transitions:
            await self._alert(scope, tr, outcome)
        self.metrics.observe(outcome, time.time() - sent_at if sent_at else None)
        self._count_thinned(name, scope)
        for job in scored.jobs:
            await self._run(scope, job)
        return outcome

    def _count_thinned(self, name: str, scope: _Scope) -> None:
        thinned = self.orch.scopes[name].labeler.thinned
        if thinned > scope.thinned:
            self.metrics.examples_thinned.labels(name).inc(thinned - scope.thinned)
            scope.thinned = thinned

    async def _advance(self, tp: TP, clock: float) -> None:
        """Let ``tp``'s clock reach its quiet scopes: forecasts expire, episodes close. A
        scope moves only with its own partition's clock, which no later event of it can
        precede."""
        names = [n for n, s in self.scopes.items() if s.source == tp]
        for step in self.orch.advance(clock, names):
            self._dirty.add(step.scope)
            for tr in step.transitions:
                await self._alert(self.scopes[step.scope], tr, None)

    # -- retraining ------------------------------------------------------------------

    async def _run(self, scope: _Scope, job: Job) -> None:
        """A due job: in a thread, installed before the scope's next event (blocking), or in
        the background process, taken at the scope's first event after it finished."""
        if self.retrain.blocking:
            self._install(await asyncio.to_thread(run_job, job))
        else:
            scope.job = self._pool().submit(run_job, job)

    async def _take_background(self, name: str, scope: _Scope) -> None:
        job = scope.job
        if job is None or not job.done():
            return
        scope.job = None
        try:
            self._install(job.result())
        except Exception:  # a failed retraining must not stop scoring
            log.exception("retraining of scope %s failed; its models keep scoring", name)

    def _install(self, result: Any) -> None:
        d = self.orch.install(result)
        self._dirty.add(d.scope)
        log.info("scope %s %s retraining: %s (%s)", d.scope, d.model, d.result, d.reason)
        self.decision_log.append(d)
        self.metrics.observe_retraining(d)

    async def _rerun_pending(self, tp: TP) -> None:
        """Jobs restored scopes had handed out but never installed run again first."""
        for name, scope in list(self.scopes.items()):
            if scope.source == tp:
                for job in self.orch.pending_jobs(name):
                    await self._run(scope, job)

    def _pool(self) -> Executor:
        if self._executor is None:
            from stream_models.retraining.pool import training_pool

            self._executor = training_pool()
        return self._executor

    # -- outputs ---------------------------------------------------------------------

    async def _replay_gap(self, tp: TP, start: int, end: int) -> None:
        """Process offsets ``[start, end)`` that the consumer skipped, read from Kafka directly.

        The consumer group resumes from its committed offset, which may lie past the
        last stored state (Faust skips offsets it counts as gaps, and drops messages
        fetched across a rebalance): the scopes must still see every event. A read
        that returns fewer offsets than asked is retried, then stops the partition.
        """
        messages = await read_range(self.fetch_range, tp, start, end)
        log.warning(
            "partition %s/%d: %d event(s) at offsets %d..%d were not delivered after a restart "
            "or rebalance: read them from Kafka directly", tp[0], tp[1], len(messages), start,
            end - 1,
        )
        self.metrics.gap_replayed.inc(len(messages))
        for off, value, sent in sorted(messages)[: end - start]:
            try:
                await self._process(value, tp, off, sent)
            except Exception as exc:  # the same rule as for delivered events
                await self._failed(value, tp, off, exc)
            self.position[tp] = off

    async def _alert(self, scope: _Scope, tr: Transition, outcome: Outcome | None) -> None:
        """Send an alert once: ids sent are stored at once, and those a crash kept from
        being stored are read back from the alerts topic before the scope's first alert."""
        if not scope.sent.checked:
            await scope.sent.read_back(tr.zone, self.fetch_range, self.settings.topics.alerts,
                                       partition_of(tr.zone, self.settings.partitions))
        if tr.alert_id in scope.sent:
            log.info("alert %s already sent before a restart: not sent again", tr.alert_id)
            return
        pol = self.orch.scopes[tr.zone].policy
        record = alert_record(tr, outcome, datetime.now(UTC).isoformat(), pol.utc_offset_s,
                              pol.horizon_s)
        at = await self.outputs.deliver(self.settings.topics.alerts, tr.zone.encode(),
                                        dumps(record))
        self.store[sent_key(tr.zone)] = scope.sent.add(tr.alert_id, at)
        self.alert_log.append(record)
        self.metrics.observe_alert(tr.zone, tr.state, tr.kind)

    async def _failed(self, value: bytes, tp: TP, offset: int, exc: Exception) -> None:
        log.exception("event at %s/%d@%d failed", tp[0], tp[1], offset)
        await self._dead_letter(value, tp, offset, f"processing error: {exc!r}",
                                "processing_error")

    async def _dead_letter(
        self, value: bytes, tp: TP, offset: int, reason: str, kind: str = "wire_format",
        column: str = "value",
    ) -> None:
        reject = Reject(file=f"kafka:{tp[0]}/{tp[1]}", row=offset, column=column,
                        value=value[:200].decode("utf-8", "replace"), reason=reason)
        log.warning("dead-lettered %s", reject)
        self.metrics.events_rejected.labels(kind).inc()
        await self.outputs.send(self.settings.topics.rejected, reject.key, reject.to_wire())

    # -- checkpoints -----------------------------------------------------------------

    async def _snapshot(self) -> None:
        """Flush outputs; store each touched partition's scopes, then its manifest; then ack."""
        if not self._unacked and not self._dirty:
            return
        await self.outputs.flush()
        touched = {self.scopes[n].source for n in self._dirty if n in self.scopes}
        for tp in sorted(touched):
            if tp not in self.position:
                continue
            offset = self.position[tp]
            names = sorted(n for n, s in self.scopes.items() if s.source == tp)
            for name in names:
                scope = self.scopes[name]
                self.store[name] = {"scope": self.orch.scopes[name].to_state(),
                                    "source": list(tp), "offset": offset}
                scope.applied = offset
                scope.state_bytes = getattr(self.store, "last_size", None)
            self.store[manifest_key(*tp)] = {"offset": offset, "scopes": names}
        await self.outputs.flush()
        acks, self._unacked, self._dirty = self._unacked, [], set()
        for ack in acks:
            await ack()
        self._last_snapshot = time.monotonic()
        self.metrics.snapshots.inc()

    def _snapshot_due(self) -> bool:
        return time.monotonic() - self._last_snapshot >= self.settings.worker.snapshot_interval_s

    async def tick(self) -> None:
        """Timer: quiet scopes follow their partition's clock; a quiet stream's tail is stored."""
        async with self.lock:
            wall = time.monotonic()
            for tp, clock in list(self.clocks.items()):
                if tp not in self.stopped:
                    await self._advance(tp, clock.now(wall))
            if self._snapshot_due():
                await self._snapshot()

    async def on_revoked(self) -> None:
        """Before partitions move: store everything, forget scopes; the next owner restores."""
        async with self.lock:
            await self._snapshot()
            with self._lock:
                self.orch.forget(list(self.scopes))
                self.scopes.clear()
            self.position.clear()
            self.clocks.clear()
            self.stopped.clear()

    def close(self) -> None:
        """At shutdown, after the last snapshot: stop background training."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
