"""The per-event steps of a set of scopes: one orchestrator for the worker, backtests and the demo.

:class:`Orchestrator` owns the scopes (:class:`~stream_models.online.scope.ScopeMonitor`,
each with its kind: a zone, or the mine-wide scope that sees every event), their
retraining schedules and their history writes. Its callers need three verbs:

* :meth:`Orchestrator.advance`: let the clock reach quiet scopes (forecasts
  expire, cooled alert episodes close);
* :meth:`Orchestrator.score`: score an event in one scope; the answer carries
  the retrainings that became due (:class:`~stream_models.online.schedule.Job`);
* :meth:`Orchestrator.install`: take a finished retraining's result, so its model
  scores from the scope's next event.

The worker keeps only offsets, acks, snapshots, sends and metrics around these;
:meth:`Orchestrator.run` is the in-process loop (a backtest, ``seismowatch train``),
which runs each due job before the scope's next event, as a worker with
``lstm.blocking`` does. Every scope depends only on its own events, so the
worker, however its partitions interleave, publishes what this loop computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from stream_models.fusion.hazard import Transition
from stream_models.learners.sequence import SequenceModel
from stream_models.online import scope_jobs
from stream_models.online.outcome import DuplicateEventError, LateEventError, Outcome
from stream_models.online.policies import MonitorPolicy, RetrainPolicy, ScopeKind
from stream_models.online.schedule import Decision, Job, JobResult
from stream_models.online.scope import ScopeMonitor
from stream_models.wire import Event

RunJob = Callable[[Job], JobResult]


@dataclass
class Advanced:
    """A scope the clock moved on without an event of its own, and the alerts that caused."""

    scope: str
    clock: float
    transitions: list[Transition]


@dataclass
class Scored:
    """One event scored in one scope, and the retrainings due after it."""

    outcome: Outcome
    jobs: list[Job] = field(default_factory=list)


class ScopeLimitError(ValueError):
    """A new scope name beyond ``max_scopes``: a mistyped zone column must not create
    metric series without bound."""


class Orchestrator:
    """The scopes of one worker (or one backtest run) and the steps an event takes.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> orch = Orchestrator(MonitorPolicy(horizon_s=3600), mine_scope="mine-wide")
    >>> t0 = datetime(2021, 1, 1, tzinfo=UTC)
    >>> events = [Event(str(i), t0 + timedelta(minutes=10 * i), 0, 0, -400, 100.0, 1.0,
    ...                 zone="ab"[i % 2]) for i in range(4)]
    >>> [o.event.zone for o in orch.run(events) if isinstance(o, Outcome)]
    ['a', 'mine-wide', 'b', 'mine-wide', 'a', 'mine-wide', 'b', 'mine-wide']
    """

    def __init__(
        self, policy: MonitorPolicy, retrain: RetrainPolicy | None = None, *,
        mine_scope: str | None = None, base_lstm: SequenceModel | None = None,
        store: MutableMapping[str, Any] | None = None, max_scopes: int | None = None,
        known: Collection[str] = (),
    ) -> None:
        self.policy = policy
        self.retrain = retrain or RetrainPolicy(etas=False, lstm=False)
        self.mine_scope = mine_scope
        self.base_lstm = base_lstm
        self.store: MutableMapping[str, Any] = {} if store is None else store
        self.max_scopes = max_scopes
        self.known = set(known) | ({mine_scope} if mine_scope else set())
        self.scopes: dict[str, ScopeMonitor] = {}
        self.decisions: list[Decision] = []
        self.clock = -math.inf
        self.duplicates = 0  # events a scope had already applied: skipped
        self.late = 0  # events too far behind their scope's clock: not scored there

    def kind(self, name: str) -> ScopeKind:
        return "mine" if name == self.mine_scope else "zone"

    def scope(self, name: str) -> ScopeMonitor:
        """The scope's monitor, created at its first event."""
        mon = self.scopes.get(name)
        if mon is None:
            if (self.max_scopes is not None and name not in self.known
                    and len(self.scopes) >= self.max_scopes):
                raise ScopeLimitError(
                    f"zone {name!r} would be scope number {len(self.scopes) + 1} of this "
                    f"worker, over worker.max_zones ({self.max_scopes}): configure it, or "
                    "raise the limit")
            mon = self.scopes[name] = ScopeMonitor(name, self.kind(name), self.policy,
                                                   self.retrain, self.base_lstm)
        return mon

    def restore(self, name: str, state: dict[str, Any]) -> ScopeMonitor:
        """A scope from its stored state, under the policies configured now."""
        mon = ScopeMonitor.from_state(state, self.policy, self.retrain, self.base_lstm)
        self.scopes[name] = mon
        return mon

    def forget(self, names: Iterable[str]) -> None:
        """Drop scopes another worker owns now (after a rebalance)."""
        for name in names:
            self.scopes.pop(name, None)

    def advance(self, clock: float, names: Iterable[str] | None = None) -> list[Advanced]:
        """Let the clock reach the scopes (all, or ``names``): forecasts expire, cooled
        episodes close. Each scope's result depends only on the clock, not on when this runs."""
        out = []
        for name in self.scopes if names is None else names:
            transitions = self.scopes[name].advance(clock)
            if transitions:
                out.append(Advanced(name, clock, transitions))
        return out

    def score(self, event: Event, scope: str | None = None) -> Scored:
        """Score ``event`` in ``scope`` (default: its zone); raises :class:`LateEventError`
        or :class:`DuplicateEventError` with the scope unchanged."""
        mon = self.scope(scope or event.zone)
        outcome = mon.process(event)
        mon.history.flush(self.store)
        return Scored(outcome, scope_jobs.due_jobs(mon, self.store))

    def install(self, result: JobResult) -> Decision:
        """A finished job's result: a promoted model scores from its scope's next event."""
        d = result.decision
        scope_jobs.install(self.scopes[d.scope], result, self.store)
        self.decisions.append(d)
        return d

    def pending_jobs(self, name: str) -> list[Job]:
        """Jobs of a restored scope that were handed out but never installed."""
        return scope_jobs.pending_jobs(self.scopes[name], self.store)

    def scopes_of(self, event: Event) -> list[str]:
        """The scopes an event is scored in, in order: its zone, then the mine-wide scope."""
        return [event.zone, *([self.mine_scope] if self.mine_scope else [])]

    def process(self, event: Event, run_job: RunJob | None = None) -> list[Outcome | Advanced]:
        """Everything one event causes in-process, in order: the clock reaches every scope,
        then the event is scored in each of its scopes, each due job run and installed
        before that scope's next event. A scope that refuses the event (a duplicate, too
        late) is counted and skipped; the others still score it."""
        self.clock = max(self.clock, event.timestamp)
        steps: list[Outcome | Advanced] = list(self.advance(self.clock))
        for name in self.scopes_of(event):
            try:
                scored = self.score(event, name)
            except DuplicateEventError:
                self.duplicates += 1
                continue
            except LateEventError:
                self.late += 1
                continue
            steps.append(scored.outcome)
            for job in scored.jobs if run_job is not None else ():
                self.install(run_job(job))
        return steps

    def run(self, events: Iterable[Event], run_job: RunJob | None = None
            ) -> Iterator[Outcome | Advanced]:
        for event in events:
            yield from self.process(event, run_job)
