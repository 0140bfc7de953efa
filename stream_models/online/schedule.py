"""When a scope retrains, and the plain records a retraining is asked and answers with.

Each scope refits its own ETAS law and fine-tunes its own LSTM, on its own
history, at points fixed by its own events: new events above Mc or labelled
examples since the last job, or event time with a few new ones, whichever
comes first. So a busy catalog refits within hours of event time and a quiet
mine within days, and the point at which a scope's job runs does not depend on
which worker owns it or how partitions interleave.

A :class:`Job` carries everything the work needs (the data, the model scoring
now): :mod:`stream_models.retraining` runs it, in-line or in another process,
and answers with a :class:`JobResult`, whose :class:`Decision` says what was
decided and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from stream_models.online.policies import RetrainPolicy
from stream_models.seismology.etas_fit import MIN_EVENTS

ModelKind = Literal["etas", "lstm"]
MODEL_KINDS: tuple[ModelKind, ...] = ("etas", "lstm")
Result = Literal["promoted", "rejected", "skipped"]


@dataclass(frozen=True)
class Job:
    """One retraining of one scope's model, with its data."""

    scope: str
    kind: ModelKind
    at_t: float  # event time the job was handed out at
    seq: int  # the scope's n-th job of this kind: names the version it may promote
    rows: np.ndarray  # the scope's events (etas) or labelled examples (lstm), oldest first
    incumbent: Any  # the model scoring now (EtasParams, SequenceModel) or the prior
    policy: RetrainPolicy
    context: Mapping[str, float] = field(default_factory=dict)  # e.g. Mc, local time offset

    @property
    def version(self) -> str:
        return f"{self.kind}-{self.seq:04d}"


@dataclass(frozen=True)
class Decision:
    """What a retraining decided, and why (logged, counted, and in the decisions log)."""

    scope: str
    model: ModelKind
    at_t: float
    result: Result
    reason: str
    version: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.result == "promoted"

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "model": self.model, "at_t": self.at_t,
                "result": self.result, "promoted": self.promoted, "reason": self.reason,
                "version": self.version, **dict(self.metrics)}


@dataclass(frozen=True)
class JobResult:
    decision: Decision
    model: Any = None  # the promoted model (EtasParams, SequenceModel), if any


class RetrainSchedule:
    """A scope's retraining clock: what is new since each model's last job.

    >>> s = RetrainSchedule(RetrainPolicy(etas_min_new=1))
    >>> for i in range(60):
    ...     s.on_event(True)
    >>> s.due(0.0, events_above_mc=60, examples=0, positives=0)
    ['etas']
    >>> s.handed_out("etas", 0.0), s.due(1.0, events_above_mc=60, examples=0, positives=0)
    (1, [])
    """

    def __init__(self, policy: RetrainPolicy) -> None:
        self.policy = policy
        self.last_t: dict[str, float] = {k: float("-inf") for k in MODEL_KINDS}
        self.new: dict[str, int] = {k: 0 for k in MODEL_KINDS}  # events / examples since
        self.jobs: dict[str, int] = {k: 0 for k in MODEL_KINDS}  # handed out so far
        self.pending: dict[str, bool] = {k: False for k in MODEL_KINDS}
        self.rows_at: dict[str, int] = {k: 0 for k in MODEL_KINDS}  # history rows at hand-out
        self.results: dict[str, dict[str, int]] = {k: {"promoted": 0, "rejected": 0,
                                                       "skipped": 0} for k in MODEL_KINDS}

    def on_event(self, above_mc: bool) -> None:
        self.new["etas"] += int(above_mc)

    def on_examples(self, n: int) -> None:
        self.new["lstm"] += n

    def due(self, t: float, events_above_mc: int, examples: int, positives: int
            ) -> list[ModelKind]:
        """The models whose job is due at event time ``t``."""
        pol, out = self.policy, []
        grown = self.new["etas"] >= min(max(pol.etas_min_new, pol.etas_growth *
                                            (events_above_mc - self.new["etas"])),
                                        pol.etas_every_events)
        if pol.etas and not self.pending["etas"] and events_above_mc >= MIN_EVENTS and (
                grown or self.jobs["etas"] == 0
                or (t - self.last_t["etas"] >= pol.etas_every_s
                    and self.new["etas"] >= pol.etas_min_new)):
            out.append("etas")
        if pol.lstm and not self.pending["lstm"] and examples >= pol.min_examples \
                and positives >= pol.min_positives and (
                self.new["lstm"] >= pol.lstm_every_examples or self.jobs["lstm"] == 0
                or (t - self.last_t["lstm"] >= pol.lstm_every_s
                    and self.new["lstm"] >= pol.lstm_min_new)):
            out.append("lstm")
        return out  # type: ignore[return-value]

    def handed_out(self, kind: ModelKind, t: float, rows: int = 0) -> int:
        """A job of ``kind`` starts at ``t`` on the first ``rows`` of the history: counts
        restart; its sequence number."""
        self.last_t[kind], self.new[kind], self.rows_at[kind] = t, 0, rows
        self.jobs[kind] += 1
        self.pending[kind] = True
        return self.jobs[kind]

    def finished(self, decision: Decision) -> None:
        self.pending[decision.model] = False
        self.results[decision.model][decision.result] += 1

    def to_state(self) -> dict[str, Any]:
        return {"last_t": dict(self.last_t), "new": dict(self.new), "jobs": dict(self.jobs),
                "pending": dict(self.pending), "results": self.results,
                "rows_at": dict(self.rows_at)}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.last_t = {k: float(v) for k, v in state["last_t"].items()}
        self.new = {k: int(v) for k, v in state["new"].items()}
        self.jobs = {k: int(v) for k, v in state["jobs"].items()}
        self.pending = {k: bool(v) for k, v in state["pending"].items()}
        self.rows_at = {k: int(v) for k, v in state["rows_at"].items()}
        self.results = {k: {r: int(n) for r, n in v.items()} for k, v in state["results"].items()}
