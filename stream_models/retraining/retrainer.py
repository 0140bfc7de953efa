"""Periodic retraining in event time, and hot-swapping the scorer's LSTM and ETAS fit.

:class:`Retrainer` is shared by all zones of one process. Every ``every_s`` of
event time it starts :func:`~stream_models.retraining.jobs.retrain_job` on the labelled
history of the last ``train_window_s``: in a separate process by default
(scoring never waits), or in-line when ``blocking`` (backtests and tests: the
same versions then take over at the same event in every run). The job refits
ETAS and trains an LSTM candidate, each judged on a held-back slice; the
scorer loads what passed when the job is done, without a restart.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_models.learners.sequence import ModelFileError, SequenceModel
from stream_models.online.policies import RetrainPolicy
from stream_models.retraining.history import HistoryStore
from stream_models.retraining.jobs import retrain_job
from stream_models.retraining.registry import ModelRegistry
from stream_models.seismology.etas import EtasParams

if TYPE_CHECKING:
    from stream_models.online.scope import Payload

log = logging.getLogger(__name__)
_TRAINING_NICENESS = 10  # added to the worker's: training yields the CPU to scoring


def training_pool() -> ProcessPoolExecutor:
    """One training process, spawned (no fork of a running event loop), at a lower CPU
    priority (scoring comes first when a replayed year retrains every few seconds), that
    ends with its parent: a worker killed outright must not leave it training."""
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_training_process,
                               initargs=(os.getpid(),))  # fmt: skip


def _training_process(parent_pid: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(_TRAINING_NICENESS)
    exit_with_parent(parent_pid)


def exit_with_parent(parent_pid: int, every_s: float = 1.0) -> None:
    """In a child: a daemon thread ends the process once ``parent_pid`` is no longer its
    parent (the parent died and the child was handed to init)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _done(result: list[dict[str, Any]]) -> Future[list[dict[str, Any]]]:
    fut: Future[list[dict[str, Any]]] = Future()
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
        self._job: Future[list[dict[str, Any]]] | None = None
        self.decisions: list[dict[str, Any]] = []
        self.active: SequenceModel | None = None
        self.active_etas: EtasParams | None = None
        self._next_t: float | None = None  # read from the registry at the first event
        self._load_current()

    def _load_current(self) -> None:
        version = self.registry.current("lstm")
        if version is not None and (self.active is None or self.active.version != version):
            try:
                model = self.registry.load(version)
                if model.input_names != self.input_names:
                    raise ModelFileError("trained on other inputs")
                log.info("LSTM %s is now scoring (was %s)", version,
                         self.active.version if self.active else "none")  # fmt: skip
                self.active = model
            except ModelFileError as exc:
                log.error("promoted LSTM %s not used: %s", version, exc)
        version = self.registry.current("etas")
        if version is not None and (self.active_etas is None
                                    or self.active_etas.version != version):  # fmt: skip
            try:
                self.active_etas = self.registry.load_etas(version)
                log.info("ETAS fit %s is now scoring", version)
            except ModelFileError as exc:
                log.error("promoted ETAS fit %s not used: %s", version, exc)

    @property
    def busy(self) -> bool:
        return self._job is not None and not self._job.done()

    @property
    def ready(self) -> bool:
        """A job has finished: :meth:`poll` will act on it."""
        return self._job is not None and self._job.done()

    def record(self, zone: str, learned: np.ndarray, payload: Payload,
               learning_j: float | None = None) -> None:  # fmt: skip
        """Write examples whose labels matured into the history store (the learning target,
        ``learning_j`` the zone's threshold for it)."""
        if learning_j is not None:
            self.store.set_learning_target(zone, learning_j)
        for row in learned:
            x = row["x"]
            self.store.add(zone, row["t"], row["key"], x[payload.inputs], x[payload.static],
                           bool(row["labels"][1]))  # fmt: skip

    def record_event(self, zone: str, key: int, t: float, log_e: float) -> None:
        """A scored event of a zone: what ETAS is refitted on."""
        self.store.add_event(zone, key, t, log_e)

    def due_job(self, t: float) -> Callable[[], list[dict[str, Any]]] | None:
        """The retraining to run now if event time ``t`` has reached the schedule, else None.

        A background job moves the stored schedule on as it is handed out, so a crash
        during training does not retrain at every event after a restart; a blocking
        one (reproducible runs) stores it once done.
        """
        if self._next_t is None:
            self._next_t = self.registry.next_t()
        if self._next_t is None:
            self.schedule_at(t + self.policy.every_s)
            return None
        if t < self._next_t or self.busy:
            return None
        if self.policy.blocking:
            # stored when the job is done: a crash mid-job replays its events and reruns
            # it, so the restarted run scores what an uninterrupted one would
            self._next_t = t + self.policy.every_s
        else:
            self.schedule_at(t + self.policy.every_s)
        self.store.prune(t)
        return partial(retrain_job, self.store_path, self.registry.root, self.input_names, t,
                       self.policy)  # fmt: skip

    def schedule_at(self, next_t: float) -> None:
        """Next retraining at event time ``next_t``: kept in memory (checked at every
        event) and in the registry (for restarts)."""
        self._next_t = next_t
        self.registry.set_next_t(next_t)

    def start(self, job: Callable[[], list[dict[str, Any]]]) -> None:
        """Run ``job`` in-line when the policy is blocking, else in the background process."""
        if self.policy.blocking:
            self.finished(job())
        else:
            self._job = self._pool().submit(job)

    def finished(self, decisions: list[dict[str, Any]]) -> None:
        """Hand in the decisions of a job the caller ran itself (e.g. in a thread)."""
        self._job = _done(decisions)
        if self._next_t is not None:
            self.registry.set_next_t(self._next_t)

    def step(self, t: float) -> list[dict[str, Any]]:
        """Before scoring an event at ``t``: start a due retraining, swap in a finished one."""
        job = self.due_job(t)
        if job is not None:
            self.start(job)
        return self.poll()

    def poll(self) -> list[dict[str, Any]]:
        """Collect a finished job's decisions; promote and hot-swap what passed its gate."""
        if self._job is None or not self._job.done():
            return []
        job, self._job = self._job, None
        try:
            decisions = job.result()
        except Exception:  # a failed retraining must not stop scoring
            log.exception("retraining failed; the current models keep scoring")
            decisions = [{"model": m, "promoted": False, "reason": "retraining failed (see log)"}
                         for m in ("etas", "lstm")]  # fmt: skip
        for decision in decisions:
            log.info("%s retraining: %s (%s)", decision.get("model"),
                     "promoted " + str(decision.get("version")) if decision["promoted"]
                     else "not promoted", decision.get("reason"))  # fmt: skip
            if decision["promoted"]:
                self.registry.promote(str(decision["version"]))
        self.decisions += decisions
        self._load_current()
        return decisions

    def _pool(self) -> Executor:
        if self._executor is None:
            self._executor = training_pool()
        return self._executor

    def commit(self) -> None:
        self.store.commit()

    def close(self) -> None:
        self.store.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
