"""One retraining of one scope's model, judged on held-back time: :func:`run_job`.

Both kinds hold back the newest ``validation_fraction`` of what the job carries:

* **ETAS**: fitted on the older part of the window; its log-likelihood on the
  newest part is compared with that of the law scoring now (the generic law
  before any fit), both counted above the candidate's Mc. If it is higher,
  the same fit is redone on the whole window and that is what is promoted: the
  slice chooses the procedure, the full window gives the numbers.
* **LSTM**: the model scoring now (the pretrained base, or the scope's last
  fine-tuning) is trained further on the older part (labels purged where their
  horizon reaches the slice), and promoted if its Molchan area skill for
  learning-target events on the slice beats the incumbent's and chance.

A job never changes anything itself: the scope installs a promoted model when
it takes the result, so a crash in between leaves no trace.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from stream_models.features.inputs import INPUT_NAMES
from stream_models.learners.sequence import SequenceModel
from stream_models.online.schedule import Decision, Job, JobResult
from stream_models.retraining.judge import Judge
from stream_models.retraining.sequences import LabelledSequence, NotEnoughData, time_split
from stream_models.seismology.bvalue import MAG_PER_LOG_E
from stream_models.seismology.coda import counted_events
from stream_models.seismology.etas import EtasParams
from stream_models.seismology.etas_fit import FitError, fit_etas, log_likelihood
from stream_models.seismology.spacetime_fit import fit_spacetime
from stream_models.seismology.spatial import SpatialKernel, generic_kernel

_MIN_HELD_BACK = 5  # events above Mc the held-back slice needs to tell two laws apart


def run_job(job: Job) -> JobResult:
    """Run ``job`` (in this process) and say what was decided."""
    if job.kind == "etas":
        return etas_job(job)
    return lstm_job(job)


def _decision(job: Job, result: str, reason: str, **metrics: Any) -> Decision:
    version = job.version if result == "promoted" else None
    nums = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    return Decision(job.scope, job.kind, job.at_t, result, reason, version, nums)  # type: ignore[arg-type]


def at_mc(params: EtasParams, mc_log_e: float) -> EtasParams:
    """The same law counted above another completeness: background and productivity scale
    by the Gutenberg-Richter fraction between the two."""
    factor = 10 ** (-(params.b_value / MAG_PER_LOG_E) * (mc_log_e - params.mc_log_e))
    bg = params.background
    return replace(params, background=replace(bg, mu=bg.mu * factor, mu1=bg.mu1 * factor),
                   k=params.k * factor, mc_log_e=mc_log_e)


def etas_job(job: Job) -> JobResult:
    rows, pol = job.rows, job.policy
    t, log_e = np.asarray(rows["t"], float), np.asarray(rows["log_e"], float)
    volume = np.asarray(rows["volume"], float)
    end = job.at_t
    start = max(float(job.context["start"]), float(t[0]) if t.size else end)
    split = end - (end - start) * pol.finetune.validation_fraction
    offset = float(job.context.get("utc_offset_s", 0.0))
    try:
        candidate = fit_etas(t, log_e, start, split, volume=volume, utc_offset_s=offset,
                             version=job.version)
    except FitError as exc:
        return JobResult(_decision(job, "skipped", f"cannot fit: {exc}", events=t.size))
    mc = candidate.params.mc_log_e
    held = counted_events(t, log_e, split, end, mc, candidate.params.b_value)
    if held < _MIN_HELD_BACK:
        return JobResult(_decision(job, "skipped", f"{held} events above the completeness "
                                   f"in the held-back slice: need {_MIN_HELD_BACK}"))
    incumbent: EtasParams = at_mc(job.incumbent, mc)
    ll_cand = log_likelihood(candidate.params, t, log_e, split, end, volume)
    ll_inc = log_likelihood(incumbent, t, log_e, split, end, volume)
    promoted = ll_cand > ll_inc
    metrics = {"validation_log_likelihood": ll_cand, "incumbent_log_likelihood": ll_inc,
               "events": candidate.events, "held_back_events": held}
    reason = (f"held-back log-likelihood {ll_cand:.1f} {'>' if promoted else '<='} "
              f"{incumbent.version} {ll_inc:.1f}")
    if not promoted:
        return JobResult(_decision(job, "rejected", reason, **metrics))
    try:
        final = fit_etas(t, log_e, start, end, mc_log_e=mc, volume=volume, utc_offset_s=offset,
                         version=job.version, warm=candidate.params)
    except FitError as exc:
        return JobResult(_decision(job, "rejected", f"{reason}, but the full window: {exc}"))
    p = final.params
    metrics |= {"branching_ratio": final.branching_ratio, "alpha": p.alpha, "c_s": p.c_s,
                "p": p.p, "mu": p.mu, "b_value": p.b_value}
    reason += f"; background {p.background.kind} by AIC"
    if job.context.get("spatial"):
        kernel = (SpatialKernel(*job.incumbent.spatial) if job.incumbent.spatial
                  else generic_kernel(float(job.context["kernel_scale_m"])))
        p, metrics, reason = _with_kernel(p, rows, start, end, metrics, reason, kernel)
    return JobResult(_decision(job, "promoted", reason, **metrics), p)


_SPATIAL_EVENTS = 1000  # the newest events above Mc a space-time fit sees: its cost is bounded
_SPATIAL_LAG_S = 10 * 86400.0  # ... the lag its triggering pairs reach
_SPATIAL_PARENTS = 100  # ... and the parents of each event, the nearest in time


def _with_kernel(p: EtasParams, rows: np.ndarray, start: float, end: float,
                 metrics: dict[str, Any], reason: str, kernel: SpatialKernel
                 ) -> tuple[EtasParams, dict[str, Any], str]:
    """The promoted law with the spatial kernel of a joint space-time fit on the newest
    located events of the window (the hazard grid's); the generic kernel stays when the
    fit cannot be made."""
    t, log_e = np.asarray(rows["t"], float), np.asarray(rows["log_e"], float)
    keep = np.flatnonzero((log_e >= p.mc_log_e) & np.isfinite(rows["x"]) & np.isfinite(
        rows["y"]) & (t < end))[-_SPATIAL_EVENTS:]
    if keep.size == 0:
        return p, metrics, reason
    first = max(start, float(t[keep[0]]))
    try:
        fit = fit_spacetime(t[keep], np.asarray(rows["x"], float)[keep],
                            np.asarray(rows["y"], float)[keep], log_e[keep], p.mc_log_e,
                            first, end, max_lag_s=_SPATIAL_LAG_S,
                            warm=(p.mu, p.k, p.alpha, p.c_s, p.p, kernel),
                            max_parents=_SPATIAL_PARENTS, maxiter=30)
    except ValueError as exc:
        return p, metrics, f"{reason}; spatial kernel generic ({exc})"
    k = fit.kernel
    metrics = metrics | {"kernel_d_m": k.d_m, "kernel_q": k.q, "kernel_gamma": k.gamma}
    return (replace(p, spatial=(k.d_m, k.q, k.gamma)), metrics,
            f"{reason}; spatial kernel d {k.d_m:.0f} m, q {k.q:.2f}, gamma {k.gamma:.2f}")


def lstm_job(job: Job) -> JobResult:
    pol = job.policy
    cfg = pol.finetune
    seq = LabelledSequence.of_rows(job.rows, float(job.context["learning_j"]))
    try:
        split = time_split([seq], cfg.validation_fraction, cfg.horizon_s)
    except NotEnoughData as exc:
        return JobResult(_decision(job, "skipped", str(exc)))
    judge = Judge(seq, split.validation[0], cfg.horizon_s)
    if judge.targets < pol.min_validation_positives:
        return JobResult(_decision(job, "skipped", f"held-back slice has {judge.targets} "
                                   f"learning-target events (need "
                                   f"{pol.min_validation_positives}): cannot judge"))
    incumbent: SequenceModel | None = job.incumbent
    try:
        model, report = train_fine(seq, split, incumbent, job)
    except NotEnoughData as exc:
        return JobResult(_decision(job, "skipped", str(exc), examples=len(seq.t)))
    cand, inc = judge.skill(model), judge.skill(incumbent)
    bar = max(inc, 0.5) if math.isfinite(inc) else 0.5
    promoted = cand > bar
    against = incumbent.version if incumbent is not None and bar == inc else "chance"
    reason = (f"held-back Molchan area skill {cand:.4f} {'>' if promoted else '<='} "
              f"{against} {bar:.4f}")
    metrics = {"validation_skill": cand, "incumbent_validation_skill": inc,
               "train_examples": report["train_examples"],
               "train_positives": report["train_positives"],
               "train_seconds": report["train_seconds"]}
    if not promoted:
        return JobResult(_decision(job, "rejected", reason, **metrics))
    model.meta["version"] = job.version
    return JobResult(_decision(job, "promoted", reason, **metrics), model)


def train_fine(seq: LabelledSequence, split: Any, incumbent: SequenceModel | None, job: Job
               ) -> tuple[SequenceModel, dict[str, Any]]:
    """Fine-tune the incumbent (or train anew without one): torch only where training runs."""
    from stream_models.retraining.training import train_sequence_model

    return train_sequence_model([seq], split, INPUT_NAMES, job.policy.finetune, init=incumbent)

