"""One retraining: an ETAS refit and an LSTM candidate, each judged on a held-back slice.

Both read the labelled history of the last ``train_window`` of event time and
hold back its newest ``validation_fraction``:

* **ETAS**: fitted on the older part; its log-likelihood on the newest part is
  compared with the promoted fit's (or the prior's, before any). If it is not
  worse, the same fit is redone on the whole window and that version is
  promoted: the slice chooses the procedure, the full window gives the numbers.
* **LSTM**: trained on the older part (labels purged where their horizon reaches
  the slice) on the learning target, scored on the slice by the numpy scorer,
  and promoted if its Molchan area skill for learning-target events there is
  not worse than the promoted model's, nor than chance (ROC-AUC is logged too).

A job never promotes: ``promoted`` means the candidate passed its gate, and
the scorer promotes it when it swaps (after storing its state), so a crash in
between never leaves a version promoted that no stored state has seen. Every
decision, with its reason, goes to the registry's log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stream_models.learners.sequence import ModelFileError
from stream_models.retraining.history import HistoryStore, NotEnoughData, ZoneHistory, time_split
from stream_models.retraining.judge import Judge
from stream_models.retraining.registry import ModelRegistry
from stream_models.seismology.etas import EtasParams, prior_params
from stream_models.seismology.etas_fit import FitError, fit_etas, log_likelihood

if TYPE_CHECKING:
    from stream_models.online.policies import RetrainPolicy

log = logging.getLogger(__name__)


def retrain_job(
    store_path: Path, registry_root: Path, input_names: Sequence[str], now: float,
    policy: RetrainPolicy,
) -> list[dict[str, Any]]:  # fmt: skip
    """Refit ETAS and train an LSTM candidate; the logged decisions, one per model.

    Runs in a child process (or a thread): it opens the store and the registry itself.
    """
    registry = ModelRegistry(registry_root)
    start = now - policy.train_window_s
    store = HistoryStore(store_path, input_names, policy.retention_s)
    try:
        histories, events = store.load(start, now), store.load_events(start, now)
        learning = store.learning_targets()
    finally:
        store.close()
    base = {"at_t": now, "window_start_t": start, "window_end_t": now, "promoted": False}
    out = [etas_job(registry, events, start, now, policy, base)]
    if policy.lstm:
        out.append(lstm_job(registry, histories, input_names, now, policy, base, learning))
    return out


def _decide(registry: ModelRegistry, decision: dict[str, Any]) -> dict[str, Any]:
    registry.log(decision)
    return decision


def etas_job(registry: ModelRegistry, events: dict[str, tuple[np.ndarray, np.ndarray]],
             start: float, now: float, policy: RetrainPolicy, base: dict[str, Any],
             ) -> dict[str, Any]:  # fmt: skip
    decision = {**base, "model": "etas"}
    first = min((float(t[0]) for t, _ in events.values() if len(t)), default=now)
    start = max(start, first)  # the slice is a share of the data there is, not of the window
    split = now - (now - start) * policy.train.validation_fraction
    try:
        candidate = fit_etas(events, start, split)
    except FitError as exc:
        return _decide(registry, {**decision, "reason": f"cannot fit: {exc}"})
    mc = candidate.params.mc_log_e
    current = registry.current("etas")
    incumbent = _incumbent_etas(registry, current, events, start, split, mc)
    ll_cand = log_likelihood(candidate.params, events, split, now)
    ll_inc = log_likelihood(incumbent, events, split, now)
    promoted = ll_cand >= ll_inc
    against = current or "the prior"
    reason = (f"validation log-likelihood {ll_cand:.1f} {'>=' if promoted else '<'} "
              f"{against} {ll_inc:.1f}")  # fmt: skip
    decision.update(validation_log_likelihood=ll_cand, incumbent=current,
                    incumbent_validation_log_likelihood=ll_inc, events=candidate.events,
                    promoted=promoted, reason=reason)  # fmt: skip
    if not promoted:
        return _decide(registry, decision)
    version, _ = registry.allocate("etas")
    try:
        final = fit_etas(events, start, now, mc, version)
    except FitError as exc:
        return _decide(registry, {**decision, "promoted": False,
                                  "reason": f"{reason}, but the full-window fit failed: {exc}"})
    registry.save_etas(version, final.params, {**decision, "branching_ratio":
                                               final.branching_ratio})  # fmt: skip
    registry.prune("etas")
    return _decide(registry, {**decision, "version": version, "params": final.params.to_json(),
                              "branching_ratio": final.branching_ratio})  # fmt: skip


def _incumbent_etas(registry: ModelRegistry, current: str | None,
                    events: dict[str, tuple[np.ndarray, np.ndarray]], start: float, split: float,
                    mc: float) -> EtasParams:  # fmt: skip
    """The promoted fit, or the prior with each zone's background as scoring sets it."""
    if current is not None:
        try:
            params = registry.load_etas(current)
            missing = {z: 0.5 * _rate(events[z], start, split, mc) for z in events
                       if z not in params.mu}  # fmt: skip
            return EtasParams({**params.mu, **missing}, params.k, params.alpha, params.c_s,
                              params.p, params.mc_log_e, params.version)  # fmt: skip
        except ModelFileError as exc:
            log.warning("promoted ETAS %s unusable (%s): judged against the prior", current, exc)
    prior = prior_params(mc)
    mu = {z: 0.5 * _rate(ev, start, split, mc) for z, ev in events.items()}
    return EtasParams(mu, prior.k, prior.alpha, prior.c_s, prior.p, mc, prior.version)


def _rate(ev: tuple[np.ndarray, np.ndarray], start: float, end: float, mc: float) -> float:
    t, log_e = ev
    n = int(((t >= start) & (t <= end) & (log_e >= mc)).sum())
    return max(n, 1) / max(end - start, 1.0)


def lstm_job(registry: ModelRegistry, histories: dict[str, ZoneHistory],
             input_names: Sequence[str], now: float, policy: RetrainPolicy,
             base: dict[str, Any], learning: dict[str, float] | None = None,
             ) -> dict[str, Any]:  # fmt: skip
    decision = {**base, "model": "lstm"}
    n = sum(len(h.t) for h in histories.values())
    pos = sum(int(h.y.sum()) for h in histories.values())
    if n < policy.min_examples or pos < policy.min_positives:
        reason = (f"not enough history: {n} examples, {pos} learning-target positives "
                  f"(need {policy.min_examples}, {policy.min_positives})")  # fmt: skip
        return _decide(registry, {**decision, "reason": reason, "examples": n})
    from stream_models.retraining.training import train_lstm  # torch: only where training runs

    split = time_split(histories, policy.train.validation_fraction, policy.train.horizon_s)
    try:
        model, report = train_lstm(histories, input_names, policy.train, split)
    except NotEnoughData as exc:
        return _decide(registry, {**decision, "reason": str(exc), "examples": n})
    judge = Judge(histories, split.validation, input_names, policy, learning or {})
    cand_skill = judge.skill(model)
    current = registry.current("lstm")
    inc_skill = 0.5
    if current is not None:
        try:
            incumbent = registry.load(current)
            if incumbent.input_names == list(input_names):
                inc_skill = judge.skill(incumbent)
        except ModelFileError as exc:
            log.warning("promoted LSTM %s unusable (%s): judged against chance", current, exc)
    version, path = registry.allocate("lstm")
    if judge.targets < policy.min_validation_positives:
        promoted = False
        reason = (f"validation slice has {judge.targets} learning-target events "
                  f"(need {policy.min_validation_positives}): cannot judge")  # fmt: skip
    else:
        # never worse than the promoted model, nor than chance: an incumbent that has
        # decayed below 0.5 does not let a useless candidate through
        bar = max(inc_skill, 0.5)
        promoted = cand_skill >= bar
        against = "chance" if bar > inc_skill or current is None else current
        reason = (f"validation Molchan area skill {cand_skill:.4f} "
                  f"{'>=' if promoted else '<'} {against} {bar:.4f} "
                  f"(ROC-AUC {report['validation_roc_auc']:.4f})")  # fmt: skip
    model.meta = {**report, "version": version, "window_start_t": base["window_start_t"],
                  "window_end_t": now, "incumbent": current, "validation_skill": cand_skill,
                  "incumbent_validation_skill": inc_skill, "promoted": promoted,
                  "reason": reason}  # fmt: skip
    model.save(path)
    registry.prune("lstm")
    keys = ("train_examples", "train_positives", "validation_examples", "validation_positives",
            "validation_roc_auc", "validation_start", "train_seconds")  # fmt: skip
    return _decide(registry, {**decision, **{k: report[k] for k in keys}, "version": version,
                              "incumbent": current, "validation_skill": cand_skill,
                              "incumbent_validation_skill": inc_skill, "promoted": promoted,
                              "reason": reason})  # fmt: skip
