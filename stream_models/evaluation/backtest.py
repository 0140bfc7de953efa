"""Backtest scoring: how well each model, baseline and alert threshold would have served.

:func:`collect` runs events through :class:`~stream_models.online.orchestrator.Orchestrator`
(the daemon's own per-event code, online, no look-ahead; each due retraining runs
before its scope's next event) and keeps one row per
event of a zone: its scores as published at the time, and its labels once
known. Events whose horizon runs past the end of the file have no label and
are left out of the per-event scores (they are counted). Several files (other
mines, other years) are run independently and pooled into one table: their
zones are kept apart, each observed to its own file's end.

The figures lead with time (:mod:`stream_models.skill.molchan`): Molchan area skill and
the probability gain at 5, 10 and 20 % of time in alarm for target events;
then calibration (Brier skill score against the climatological rate, and a
reliability table of the fused risk); then, as a second view, per-event
ROC-AUC and PR-AUC. The experts behind the fused risk are also scored on the
learning target, where there are enough events to tell them apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from stream_models.evaluation.reentry_eval import Exclusion, reentry_table
from stream_models.evaluation.spatial_skill import SpaceTimeScore, SpatialSkill
from stream_models.fusion.counts import FUSED
from stream_models.fusion.hazard import Transition
from stream_models.online.experts import COMPONENTS, EXPERTS
from stream_models.online.labels import example_key
from stream_models.online.orchestrator import Orchestrator, RunJob
from stream_models.online.outcome import LEARNING_BIT, TARGET_BIT, Outcome
from stream_models.seismology.hazard_grid import GridSnapshot
from stream_models.skill.molchan import GAIN_AT, Timeline, area_skill, brier_skill, gain_at, molchan
from stream_models.skill.molchan import reliability as reliability_table
from stream_models.skill.progressive import roc_auc
from stream_models.wire import Event

DAY = 86400.0
LEARNING = (*EXPERTS, FUSED)


@dataclass
class Collected:
    """Per-event arrays in processing order (one entry per event of a zone)."""

    t: np.ndarray
    zone: np.ndarray
    event_id: list[str]
    energy_j: np.ndarray
    scores: dict[str, np.ndarray]  # component -> alert-target probability published
    learning: dict[str, np.ndarray]  # expert -> learning-target probability forecast
    state: list[str]
    label: np.ndarray  # 1 a target followed within the horizon, 0 not, -1 unknown (censored)
    label_learning: np.ndarray
    decisions: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, float] = field(default_factory=dict)  # each zone's end of observation
    learning_j: dict[str, float] = field(default_factory=dict)  # each zone's learning target
    # the mine-wide scope's rows, kept apart: it sees the zones' events again, so pooling
    # them would count each event twice, but its alert thresholds are its own
    mine: Collected | None = None
    own_fit: dict[str, np.ndarray] = field(default_factory=dict)  # expert -> scored with its own
    exclusions: list[Exclusion] = field(default_factory=list)  # re-entry after large events
    mc_log_e: dict[str, float] = field(default_factory=dict)  # each zone's completeness
    # space-time skill of each run's hazard grid, and the snapshot standing before its
    # largest event (the report's map)
    space: dict[str, SpatialSkill] = field(default_factory=dict)
    grid_map: GridSnapshot | None = None

    def frame(self) -> pd.DataFrame:
        """One row per event: what an analyst loads to look at single events."""
        return pd.DataFrame({
            "event_id": self.event_id, "zone": self.zone.astype(str), "t": self.t,
            "energy_j": self.energy_j, "label": self.label, "hazard_state": self.state,
            **self.scores, **{f"learning_{k}": v for k, v in self.learning.items()},
        })

    def timeline(self, learning: bool = False) -> Timeline:
        """The events; with ``learning``, energies in units of each zone's learning target
        (so 1.0 is every zone's threshold)."""
        energy = self.energy_j
        if learning:
            energy = energy / np.array([self.learning_j.get(z, np.inf) for z in self.zone])
        return Timeline(self.t, self.zone, energy, self.end or None)

    @classmethod
    def pool(cls, parts: Sequence[tuple[str, Collected]]) -> Collected:
        """Several runs as one: zones prefixed with their run's name, each ending where its
        own run does."""
        if len(parts) == 1:
            return parts[0][1]
        def cat(get: Callable[[Collected], Any]) -> Any:
            return np.concatenate([get(c) for _, c in parts])
        zone = np.concatenate([np.array([f"{name}:{z}" for z in c.zone], object)
                               for name, c in parts])
        end = {f"{name}:{z}": c.end.get(z, float(c.t.max()))
               for name, c in parts for z in dict.fromkeys(c.zone)}
        learning_j = {f"{name}:{z}": v for name, c in parts for z, v in c.learning_j.items()}
        mine = [(name, c.mine) for name, c in parts if c.mine is not None]
        exclusions = [replace(e, zone=f"{name}:{e.zone}") for name, c in parts
                      for e in c.exclusions]
        space = {f"{name}{':' + k if k else ''}": v for name, c in parts
                 for k, v in c.space.items()}
        mc = {f"{name}:{z}": v for name, c in parts for z, v in c.mc_log_e.items()}
        return cls(
            cat(lambda c: c.t), zone, [i for _, c in parts for i in c.event_id],
            cat(lambda c: c.energy_j), {k: cat(lambda c, k=k: c.scores[k]) for k in COMPONENTS},
            {k: cat(lambda c, k=k: c.learning[k]) for k in LEARNING},
            [s for _, c in parts for s in c.state], cat(lambda c: c.label),
            cat(lambda c: c.label_learning), [d for _, c in parts for d in c.decisions], end,
            learning_j, cls.pool(mine) if mine else None,
            {k: cat(lambda c, k=k: c.own_fit[k]) for k in parts[0][1].own_fit},
            exclusions, mc, space,
        )


def collect(runner: Orchestrator, events: Iterable[Event], on_event: Any = None,
            run_job: RunJob | None = None) -> Collected:
    """Run ``events`` through ``runner`` (retrainings by ``run_job``); labels come from the
    labeler as they mature.

    The zones' outcomes make the rows; the mine-wide scope's, which see the same
    events again, go to :attr:`Collected.mine`.
    """
    rows: dict[bool, list[Outcome]] = {False: [], True: []}  # is the mine-wide scope -> rows
    index: dict[tuple[str, int], int] = {}
    labels: dict[bool, dict[int, tuple[int, int]]] = {False: {}, True: {}}

    def label(zone: str, learned: np.ndarray) -> None:
        for key, bits in zip(learned["key"].tolist(), learned["labels"].tolist(), strict=True):
            i = index.get((zone, key))
            if i is not None:
                labels[zone == runner.mine_scope][i] = (int(bits[TARGET_BIT]),
                                                        int(bits[LEARNING_BIT]))

    exclusions: dict[tuple[str, str], Exclusion] = {}
    space = SpaceTimeScore(runner.policy.target_energy_j)
    largest, grid_map = -math.inf, None
    for i, event in enumerate(events):
        for step in runner.process(event, run_job):
            _note_exclusions(runner, step.transitions, exclusions)
            if isinstance(step, Outcome):
                zone = step.event.zone
                if runner.scopes[zone].space is not None:  # the scope that keeps the grid
                    space.event(event.timestamp, event.x, event.y, event.energy_j)
                    if event.energy_j > largest:
                        largest, grid_map = event.energy_j, space.pending
                    if step.grid is not None:
                        space.snapshot(step.grid)
                label(zone, step.learned)
                scope = rows[zone == runner.mine_scope]
                index[(zone, example_key(step.event.event_id))] = len(scope)
                scope.append(step)
        if on_event is not None:
            on_event(i)
    out = _collected(runner, rows[False], labels[False])
    out.exclusions = list(exclusions.values())
    out.mc_log_e = {z: m.reference.mc_log_e for z, m in runner.scopes.items()
                    if m.reference is not None and z != runner.mine_scope}
    if space.snapshots or space.pending is not None:
        out.space = {"": space.result(max(out.end.values(), default=0.0))}
        out.grid_map = grid_map or space.pending
    if rows[True]:
        out.mine = _collected(runner, rows[True], labels[True])
    return out


def _note_exclusions(runner: Orchestrator, transitions: Sequence[Transition],
                     exclusions: dict[tuple[str, str], Exclusion]) -> None:
    """Each exclusion's first estimate (published at its event) and when it was reached."""
    for tr in transitions:
        n = tr.reentry
        if n is None:
            continue
        key = (tr.zone, n.source_id)
        if tr.kind == "re-entry" and key not in exclusions and tr.event_id == n.source_id:
            pol = runner.scopes[tr.zone].policy.reentry
            exclusions[key] = Exclusion(tr.zone, n.source_id, n.source_t, n.source_energy_j,
                                        n.at, n.low, n.high, n.level_per_h,
                                        pol.min_exclusion_s, pol.max_exclusion_s)
        elif tr.kind == "re-entry reached" and key in exclusions:
            exclusions[key] = replace(exclusions[key], reached=n.at)


def _collected(runner: Orchestrator, rows: list[Outcome], labels: dict[int, tuple[int, int]]
               ) -> Collected:
    n = len(rows)
    lab = np.full((n, 2), -1, dtype=int)
    for i, bits in labels.items():
        lab[i] = bits
    t = np.array([o.event.timestamp for o in rows], float)
    zone = np.array([o.event.zone for o in rows], object)
    end = {z: float(t.max()) for z in dict.fromkeys(zone)} if n else {}
    learning_j = {z: runner.scopes[z].learning_j for z in dict.fromkeys(zone)}
    return Collected(
        t, zone, [o.event.event_id for o in rows], np.array([o.event.energy_j for o in rows]),
        {c: np.array([o.components[c] for o in rows], float) for c in COMPONENTS},
        {k: _probability(np.array([o.learning.get(k, math.nan) for o in rows], float))
         for k in LEARNING},
        [o.state for o in rows], lab[:, 0], lab[:, 1], [d.to_json() for d in runner.decisions],
        end, learning_j, own_fit={c: np.array([o.own_fit.get(c, True) for o in rows], bool)
                                  for c in EXPERTS},
    )


def _probability(log_count: np.ndarray) -> np.ndarray:
    """P(at least one) from log expected counts (NaN stays NaN)."""
    return -np.expm1(-np.exp(log_count))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve as a step function (sklearn's definition)."""
    y = np.asarray(y, bool)
    if not y.any():
        return math.nan
    order = np.argsort(-np.asarray(p, float), kind="mergesort")
    ys, ps = y[order], np.asarray(p, float)[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), ys.size - 1]  # last index of each distinct score
    tp = np.cumsum(ys)[last]
    precision = tp / (last + 1)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def information_gain(line: Timeline, p: np.ndarray, reference: np.ndarray, labels: np.ndarray,
                     horizon_s: float, target_energy_j: float) -> float:
    """Information gain per target event over ``reference`` (nats; the CSEP measure): the
    difference in binomial log-likelihood of the labelled forecasts, each weighted by the
    share of a horizon it stood, divided by the number of target events.

    >>> line = Timeline(np.arange(4) * 3600.0, np.array(["z"] * 4, object),
    ...                 np.array([1.0, 9.0, 1.0, 9.0]))
    >>> y = np.array([1, 0, 1, 0])
    >>> information_gain(line, np.array([.9, .1, .9, .1]), np.full(4, .5), y, 3600.0, 5.0) > 0
    True
    """
    duration, _, _ = line.coverage(horizon_s)
    ok = (labels >= 0) & np.isfinite(p) & np.isfinite(reference)
    targets = int((line.energy_j >= target_energy_j).sum())
    if not targets or not ok.any():
        return math.nan
    y, w = labels[ok].astype(bool), duration[ok] / horizon_s

    def ll(q: np.ndarray) -> float:
        q = np.clip(q[ok], 1e-12, 1 - 1e-12)
        return float((w * np.where(y, np.log(q), np.log1p(-q))).sum())

    return (ll(p) - ll(reference)) / targets


def score_table(
    line: Timeline, scores: dict[str, np.ndarray], labels: np.ndarray, horizon_s: float,
    target_energy_j: float, own_fit: dict[str, np.ndarray] | None = None,
    reference: str = "baseline_rate",
) -> dict[str, dict[str, float]]:
    """Time-based skill first, then the information gain over the rate baseline and
    calibration, then per-event ranking, for each score; the share of events each model
    scored with a fit of its own."""
    known = labels >= 0
    out = {}
    for name, p in scores.items():
        ok = known & np.isfinite(p)
        y = labels[ok].astype(bool)
        tau, nu = molchan(line, p, horizon_s, target_energy_j)
        entry = {"molchan_area_skill": area_skill(tau, nu)}
        entry |= {f"gain_at_{round(g * 100)}pct": gain_at(tau, nu, g) for g in GAIN_AT}
        entry |= {
            "information_gain": (information_gain(line, p, scores[reference], labels, horizon_s,
                                                  target_energy_j)
                                 if reference in scores else math.nan),
            "brier": float(np.mean((p[ok] - y) ** 2)) if ok.any() else math.nan,
            "brier_skill": brier_skill(y, p[ok]),
            "roc_auc": roc_auc(y, p[ok]),
            "pr_auc": average_precision(y, p[ok]),
            "scored_events": int(ok.sum()),
            "own_fit_share": (float(own_fit[name][known].mean())
                              if own_fit and name in own_fit and known.any() else math.nan),
        }
        out[name] = entry
    return out


def evaluate(c: Collected, horizon_s: float, target_energy_j: float) -> dict[str, Any]:
    """The backtest's figures for collected (possibly pooled) runs."""
    targets = int((c.energy_j >= target_energy_j).sum())
    known = c.label_learning >= 0
    learning_line = c.timeline(learning=True)
    return {
        "events": len(c.t),
        "labelled_events": int((c.label >= 0).sum()),
        "targets": targets,
        "learning_targets": int((learning_line.energy_j >= 1.0).sum()),
        "target_energy_j": target_energy_j,
        "learning_energy_j": dict(c.learning_j),
        "horizon_h": horizon_s / 3600,
        "zone_days": float(sum(_spans(c).values()) / DAY),
        "scores": score_table(c.timeline(), c.scores, c.label, horizon_s, target_energy_j,
                              c.own_fit),
        "learning_scores": score_table(
            learning_line, c.learning, c.label_learning, horizon_s, 1.0
        ),
        "reliability": reliability_table(c.label[c.label >= 0],
                                         c.scores[FUSED][c.label >= 0]),
        "learning_reliability": reliability_table(c.label_learning[known],
                                                  c.learning[FUSED][known]),
        "reentry": reentry_table(c.exclusions, c.t, c.zone, np.log10(c.energy_j), c.mc_log_e,
                                 c.end),
        "space": {run: asdict(s) for run, s in c.space.items()},
        "retrainings": [
            {k: d.get(k) for k in ("scope", "model", "at_t", "version", "result", "reason")}
            for d in c.decisions
        ],
    }


def _spans(c: Collected) -> dict[str, float]:
    out = {}
    for z in dict.fromkeys(c.zone):
        tz = c.t[c.zone == z]
        out[z] = c.end.get(z, float(tz.max())) - float(tz.min())
    return out


def iter_thresholds(text: str) -> Iterable[float]:
    """Parse ``0.05,0.1,...`` into floats in (0, 1).

    >>> list(iter_thresholds("0.2, 0.4"))
    [0.2, 0.4]
    """
    for part in text.split(","):
        v = float(part)
        if not 0 < v < 1:
            raise ValueError(f"threshold {v} is not in (0, 1)")
        yield v
