"""What a scope hands out for retraining, and how it takes the results back.

A scope's jobs (:class:`~stream_models.online.schedule.Job`) carry the rows of its
own history and the model scoring now; a result's promoted model scores from the
scope's next event. A job handed out but never installed (a restart came between)
is rebuilt on the very rows it was handed out with, so it gives the same result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stream_models.online.schedule import Job, JobResult, ModelKind
from stream_models.seismology.etas import GENERIC_ALPHA, EtasParams, generic_law
from stream_models.seismology.spatial import SpatialKernel

if TYPE_CHECKING:
    from stream_models.online.scope import ScopeMonitor


def due_jobs(mon: ScopeMonitor, store: Mapping[str, Any]) -> list[Job]:
    """The retrainings due after this scope's latest event, with their data; each is
    pending until :func:`install` takes its result."""
    t = mon.clock
    if t is None or mon.reference is None:
        return []
    kinds = mon.schedule.due(t, mon.n_above, mon.history.count("examples"),
                              mon.learning_positives)
    for kind in kinds:
        rows = mon.history.appended["events" if kind == "etas" else "examples"]
        mon.schedule.handed_out(kind, t, rows)
    return [job(mon, kind, store) for kind in kinds]


def pending_jobs(mon: ScopeMonitor, store: Mapping[str, Any]) -> list[Job]:
    """Jobs handed out but never installed (a restart came between): they must run
    again, on the same rows, before the scope's next event."""
    return [job(mon, k, store) for k, v in mon.schedule.pending.items() if v]  # type: ignore[arg-type]


def job(mon: ScopeMonitor, kind: ModelKind, store: Mapping[str, Any]) -> Job:
    """The job of ``kind`` last handed out, on the history it was handed out with."""
    ref, s = mon.reference, mon.schedule
    assert ref is not None
    t, upto = s.last_t[kind], s.rows_at[kind]
    if kind == "etas":
        rows = mon.history.rows("events", store, upto=upto)
        incumbent: Any = mon.etas_fit or generic_law(ref.mc_log_e, ref.mu, ref.b_value)
        context = {"start": t - mon.retrain.etas_window_s,
                   "utc_offset_s": mon.policy.utc_offset_s,
                   # the grid's kernel, fitted too, from the one in force
                   "spatial": float(mon.space is not None and mon.space.kernel_due()),
                   "kernel_scale_m": mon.space.spec.kernel_scale_m if mon.space else 0.0}
    else:
        rows = mon.history.rows("examples", store, t - mon.retrain.train_window_s, upto)
        incumbent, context = mon.lstm, {"learning_j": mon.learning_j}
    return Job(mon.name, kind, t, s.jobs[kind], rows, incumbent, mon.retrain, context)


def install(mon: ScopeMonitor, result: JobResult, store: Mapping[str, Any]) -> None:
    """Take a finished job's result: a promoted model scores from the next event."""
    d = result.decision
    mon.schedule.finished(d)
    if not d.promoted:
        return
    if d.model == "etas":
        params: EtasParams = result.model
        if params.alpha != GENERIC_ALPHA:
            rows = mon.history.events(store)
            mon.etas.set_fit_alpha(params.alpha, rows["t"], rows["log_e"])
        mon.etas_fit = params
        if mon.space is not None and params.spatial:
            mon.space.install(SpatialKernel(*params.spatial, fitted=True))
    else:
        mon.lstm = result.model
