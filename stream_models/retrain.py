"""Periodic retraining in event time, a promotion gate, and hot-swapping the scorer's LSTM.

:class:`Retrainer` is shared by all zones of one process. Every ``every_s`` of
event time it starts :func:`retrain_job` on the labelled history of the last
``train_window_s``: in a separate process by default (scoring never waits), or
in-line when ``blocking`` (backtests and tests: the same version then takes over
at the same event in every run). The job trains a candidate, scores it and the
promoted model on the same held-back slice, saves the candidate with its metrics
and data window, and promotes it only if it is not worse (nor worse than chance).
The scorer loads the promoted version when the job is done, without a restart.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_models.history import HistoryStore, Index, NotEnoughData, ZoneHistory, time_split
from stream_models.metrics import roc_auc
from stream_models.registry import ModelRegistry
from stream_models.sequence import ModelFileError, SequenceModel

if TYPE_CHECKING:
    from stream_models.monitor import Payload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    window: int = 64
    hidden: int = 16
    epochs: int = 4
    seed: int = 7
    lr: float = 1e-3
    batch_size: int = 256
    horizon_s: float = 8 * 3600.0
    validation_fraction: float = 0.2
    device: str = "auto"



def score(model: SequenceModel, histories: Mapping[str, ZoneHistory], index: Index
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(times, labels, probabilities) of the indexed examples, stepped as scoring steps them."""
    ts, ys, ps = [], [], []
    for zone, idx in index.items():
        if not idx.size:
            continue
        h = histories[zone]
        logits = model.run(h.x[: idx.max() + 1], h.static[: idx.max() + 1])[idx]
        ts.append(h.t[idx])
        ys.append(h.y[idx])
        ps.append(1 / (1 + np.exp(-logits)))
    if not ts:
        return np.zeros(0), np.zeros(0, bool), np.zeros(0)
    return np.concatenate(ts), np.concatenate(ys), np.concatenate(ps)



@dataclass(frozen=True)
class RetrainPolicy:
    every_s: float = 30 * 86400.0
    train_window_s: float = 180 * 86400.0
    retention_s: float = 365 * 86400.0
    min_examples: int = 500
    min_positives: int = 20
    min_validation_positives: int = 5
    blocking: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)


def retrain_job(
    store_path: Path, registry_root: Path, input_names: Sequence[str], now: float,
    policy: RetrainPolicy,
) -> dict[str, Any]:  # fmt: skip
    """Train and judge one candidate; returns the logged decision.

    Runs in a child process: it opens the store and the registry itself. It does
    not promote: ``promoted`` means the candidate passed the gate, and the scorer
    promotes it when it swaps (after storing its state), so a crash in between
    never leaves a version promoted that no stored state has seen.
    """
    registry = ModelRegistry(registry_root)
    start = now - policy.train_window_s
    decision: dict[str, Any] = {"at_t": now, "window_start_t": start, "window_end_t": now,
                                "promoted": False}  # fmt: skip
    store = HistoryStore(store_path, input_names, policy.retention_s)
    try:
        histories = store.load(start, now)
    finally:
        store.close()
    n = sum(len(h.t) for h in histories.values())
    pos = sum(int(h.y.sum()) for h in histories.values())
    if n < policy.min_examples or pos < policy.min_positives:
        reason = (f"not enough history: {n} examples, {pos} targets "
                  f"(need {policy.min_examples}, {policy.min_positives})")  # fmt: skip
        return _decide(registry, {**decision, "reason": reason, "examples": n})
    from stream_models.training import train_lstm  # torch: only where training runs

    split = time_split(histories, policy.train.validation_fraction, policy.train.horizon_s)
    try:
        model, report = train_lstm(histories, input_names, policy.train, split)
    except NotEnoughData as exc:
        return _decide(registry, {**decision, "reason": str(exc), "examples": n})
    current, current_auc = registry.current(), 0.5
    if current is not None:
        try:
            incumbent = registry.load(current)
            if incumbent.input_names == list(input_names):
                current_auc = roc_auc(*score(incumbent, histories, split.validation)[1:])
        except ModelFileError as exc:
            log.warning("promoted model %s unusable (%s): judged against chance", current, exc)
    version, path = registry.allocate()
    cand_auc = report["validation_roc_auc"]
    if report["validation_positives"] < policy.min_validation_positives:
        promoted = False
        reason = (f"validation slice has {report['validation_positives']} targets "
                  f"(need {policy.min_validation_positives}): cannot judge")  # fmt: skip
    else:
        # never worse than the promoted model, and never worse than chance: an incumbent
        # that has decayed below 0.5 does not let a useless candidate through
        bar = max(current_auc, 0.5) if math.isfinite(current_auc) else 0.5
        promoted = math.isfinite(cand_auc) and cand_auc >= bar
        reason = (
            f"validation ROC-AUC {cand_auc:.4f} {'>=' if promoted else '<'} "
            f"{'chance' if bar > current_auc or current is None else current} {bar:.4f}"
        )
    model.meta = {**report, "version": version, "window_start_t": start, "window_end_t": now,
                  "incumbent": current, "incumbent_validation_roc_auc": current_auc,
                  "promoted": promoted, "reason": reason}  # fmt: skip
    model.save(path)
    registry.prune()
    keys = ("train_examples", "train_positives", "validation_examples", "validation_positives",
            "validation_roc_auc", "validation_start", "train_seconds")  # fmt: skip
    return _decide(registry, {**decision, **{k: report[k] for k in keys}, "version": version,
                              "incumbent": current, "incumbent_validation_roc_auc": current_auc,
                              "promoted": promoted, "reason": reason})  # fmt: skip


def _decide(registry: ModelRegistry, decision: dict[str, Any]) -> dict[str, Any]:
    registry.log(decision)
    return decision


def _done(result: dict[str, Any]) -> Future[dict[str, Any]]:
    fut: Future[dict[str, Any]] = Future()
    fut.set_result(result)
    return fut


class Retrainer:
    """Owns the history store, the schedule and the active LSTM of one process.

    Parameters
    ----------
    state_dir
        Where the history store lives (``history.sqlite``).
    registry_root
        The model registry (shared with ``seismowatch train``).
    input_names
        The model inputs, in the order vectors are stored.
    """

    def __init__(
        self, state_dir: Path, registry_root: Path, input_names: Sequence[str],
        policy: RetrainPolicy, executor: Executor | None = None,
    ) -> None:  # fmt: skip
        self.input_names = list(input_names)
        self.policy = policy
        self.store_path = state_dir / "history.sqlite"
        self.store = HistoryStore(self.store_path, self.input_names, policy.retention_s)
        self.registry = ModelRegistry(registry_root)
        self._executor = executor
        self._job: Future[dict[str, Any]] | None = None
        self.decisions: list[dict[str, Any]] = []
        self.active: SequenceModel | None = None
        self._next_t: float | None = None  # read from the registry at the first event
        self._load_current()

    def _load_current(self) -> None:
        version = self.registry.current()
        if version is None or (self.active is not None and self.active.version == version):
            return
        try:
            model = self.registry.load(version)
        except ModelFileError as exc:
            log.error("cannot load promoted LSTM %s: %s", version, exc)
            return
        if model.input_names != self.input_names:
            log.error("promoted LSTM %s was trained on other inputs: not used", version)
            return
        log.info("LSTM %s is now scoring (was %s)", version,
                 self.active.version if self.active else "none")  # fmt: skip
        self.active = model

    @property
    def busy(self) -> bool:
        return self._job is not None and not self._job.done()

    @property
    def ready(self) -> bool:
        """A job has finished: :meth:`poll` will act on it."""
        return self._job is not None and self._job.done()

    def record(self, zone: str, learned: np.ndarray, payload: Payload) -> None:
        """Write examples whose labels matured into the history store (label bit 0)."""
        for row in learned:
            x = row["x"]
            self.store.add(zone, row["t"], row["key"], x[payload.inputs], x[payload.static],
                           bool(row["labels"][0]))  # fmt: skip

    def due_job(self, t: float) -> Callable[[], dict[str, Any]] | None:
        """The retraining to run now if event time ``t`` has reached the schedule, else None.

        The schedule moves on as the job is handed out, so a crash during training
        does not retrain at every event after a restart.
        """
        if self._next_t is None:
            self._next_t = self.registry.next_t()
        if self._next_t is None:
            self.schedule_at(t + self.policy.every_s)
            return None
        if t < self._next_t or self.busy:
            return None
        self.schedule_at(t + self.policy.every_s)
        self.store.prune(t)
        return partial(retrain_job, self.store_path, self.registry.root, self.input_names, t,
                       self.policy)  # fmt: skip

    def schedule_at(self, next_t: float) -> None:
        """Next retraining at event time ``next_t``: kept in memory (checked at every
        event) and in the registry (for restarts)."""
        self._next_t = next_t
        self.registry.set_next_t(next_t)

    def start(self, job: Callable[[], dict[str, Any]]) -> None:
        """Run ``job`` in-line when the policy is blocking, else in the background process."""
        self._job = _done(job()) if self.policy.blocking else self._pool().submit(job)

    def finished(self, decision: dict[str, Any]) -> None:
        """Hand in the decision of a job the caller ran itself (e.g. in a thread)."""
        self._job = _done(decision)

    def step(self, t: float) -> list[dict[str, Any]]:
        """Before scoring an event at ``t``: start a due retraining, swap in a finished one."""
        job = self.due_job(t)
        if job is not None:
            self.start(job)
        return self.poll()

    def poll(self) -> list[dict[str, Any]]:
        """Collect a finished job's decision; promote and hot-swap a candidate that passed."""
        if self._job is None or not self._job.done():
            return []
        job, self._job = self._job, None
        try:
            decision = job.result()
        except Exception:  # a failed retraining must not stop scoring
            log.exception("LSTM retraining failed; the current model keeps scoring")
            decision = {"promoted": False, "reason": "retraining failed (see log)"}
        log.info("LSTM retraining: %s (%s)",
                 "promoted " + str(decision.get("version")) if decision["promoted"]
                 else "not promoted", decision.get("reason"))  # fmt: skip
        self.decisions.append(decision)
        if decision["promoted"]:
            self.registry.promote(str(decision["version"]))
            self._load_current()
        return [decision]

    def _pool(self) -> Executor:
        if self._executor is None:
            ctx = multiprocessing.get_context("spawn")  # no fork of a running event loop
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=ctx)
        return self._executor

    def commit(self) -> None:
        self.store.commit()

    def close(self) -> None:
        self.store.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
