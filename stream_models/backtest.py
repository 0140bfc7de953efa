"""Backtest scoring: how well each model, baseline and alert threshold would have served.

:func:`collect` runs events through :class:`~stream_models.pipeline.MineRunner`
(the daemon's own per-event code, online, no look-ahead) and keeps one row per
event: its scores as published at the time, and its label once known. Events
whose horizon runs past the end of the file have no label and are left out of
the scores (they are counted). The figures follow the forecasting literature:

* ROC-AUC, PR-AUC (average precision) and Brier score over labelled events;
* the Molchan diagram: alarm when a zone's latest score is >= a threshold (a
  score stands from its event until the zone's next event, at most one
  horizon); ``tau`` = fraction of zone-time in alarm, ``nu`` = fraction of
  target events that struck outside an alarm; area skill score = 1 - area under
  ``nu(tau)`` (0.5 = chance); probability gain at ``tau`` = ``(1 - nu) / tau``;
* per alert threshold: alerts (alarm episodes opened) per day, hit rate
  (targets struck during an alarm, or within the horizon after an alert), false
  alarms per day (alerts with no target while on or within the horizon), the
  fraction of time in alarm and the median lead time of hits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from stream_models.events import Event
from stream_models.labels import example_key
from stream_models.metrics import roc_auc
from stream_models.monitor import COMPONENTS
from stream_models.pipeline import Advanced, MineRunner

DAY = 86400.0
GAIN_AT = (0.05, 0.10, 0.20)


@dataclass
class Collected:
    """Per-event arrays in processing order (one entry per event)."""

    t: np.ndarray
    zone: np.ndarray
    event_id: list[str]
    energy_j: np.ndarray
    scores: dict[str, np.ndarray]  # component -> score published for the event
    state: list[str]
    label: np.ndarray  # 1 target followed within the horizon, 0 not, -1 unknown (censored)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """One row per event: what an analyst loads to look at single events."""
        return pd.DataFrame({
            "event_id": self.event_id, "zone": self.zone.astype(str), "t": self.t,
            "energy_j": self.energy_j, "label": self.label, "hazard_state": self.state,
            **self.scores,
        })  # fmt: skip


def collect(
    runner: MineRunner, events: Iterable[Event], on_event: Any = None
) -> Collected:
    """Run ``events`` through ``runner``; labels come from the labeler as they mature.

    Only the zones' own outcomes are collected: the mine-wide scope sees the same
    events again and is scored on its own (:func:`collect` of a runner without zones).
    """
    t, zone, ids, energy, state = [], [], [], [], []
    scores: dict[str, list[float]] = {c: [] for c in COMPONENTS}
    index: dict[tuple[str, int], int] = {}
    labels: dict[int, int] = {}

    def label(z: str, learned: np.ndarray) -> None:
        for key, bits in zip(learned["key"].tolist(), learned["labels"][:, 0].tolist(),
                             strict=True):  # fmt: skip
            i = index.get((z, key))
            if i is not None:
                labels[i] = int(bits)

    for i, event in enumerate(events):
        for step in runner.process(event):
            if isinstance(step, Advanced):
                label(step.zone, step.learned)
                continue
            label(step.event.zone, step.learned)
            if step.event.zone == runner.mine_scope:
                continue
            e = step.event
            index[(e.zone, example_key(e.event_id))] = len(t)
            t.append(e.timestamp)
            zone.append(e.zone)
            ids.append(e.event_id)
            energy.append(e.energy_j)
            state.append(step.state)
            for c in COMPONENTS:
                scores[c].append(step.components[c])
        if on_event is not None:
            on_event(i)
    label_arr = np.full(len(t), -1, dtype=int)
    for i, y in labels.items():
        label_arr[i] = y
    return Collected(
        np.asarray(t, float), np.asarray(zone, object), ids, np.asarray(energy, float),
        {c: np.asarray(v, float) for c, v in scores.items()}, state, label_arr,
        list(runner.decisions),
    )  # fmt: skip


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


def _coverage(c: Collected, horizon_s: float) -> tuple[np.ndarray, np.ndarray]:
    """For each event: how long its score stands (to the zone's next event, <= horizon),
    and the index of the event whose score stands when each event arrives (-1: none)."""
    duration = np.zeros(len(c.t))
    standing = np.full(len(c.t), -1)
    for z in dict.fromkeys(c.zone):
        idx = np.flatnonzero(c.zone == z)
        tz = c.t[idx]
        gaps = np.diff(tz)
        duration[idx[:-1]] = np.minimum(gaps, horizon_s)
        duration[idx[-1]] = 0.0  # the end of the file: nothing observed after it
        prev = np.r_[-1, idx[:-1]]
        ok = np.r_[False, gaps <= horizon_s]
        standing[idx] = np.where(ok, prev, -1)
    return duration, standing


def molchan(c: Collected, name: str, horizon_s: float, target_energy_j: float
            ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Molchan curve of ``name``: (tau, nu) over every distinct score as threshold."""
    duration, standing = _coverage(c, horizon_s)
    score = c.scores[name]
    targets = np.flatnonzero(c.energy_j >= target_energy_j)
    total = duration.sum()
    finite = np.isfinite(score)
    thresholds = np.unique(score[finite])[::-1]
    if total <= 0 or targets.size == 0 or thresholds.size == 0:
        return np.array([0.0, 1.0]), np.array([1.0, 0.0])
    target_score = np.where(standing[targets] >= 0, score[standing[targets]], -np.inf)
    target_score = np.where(np.isfinite(target_score), target_score, -np.inf)
    s, d = score[finite], duration[finite]
    order = np.argsort(-s)
    s, d = s[order], d[order]
    tau_at = np.cumsum(d) / total  # time in alarm for thresholds at each sorted score
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    ts = np.sort(target_score)[::-1]
    hits = np.searchsorted(-ts, -s[last], side="right")
    tau = np.r_[0.0, tau_at[last], 1.0]
    nu = np.r_[1.0, 1 - hits / targets.size, 1 - hits[-1] / targets.size if hits.size else 1.0]
    return tau, nu


def area_skill(tau: np.ndarray, nu: np.ndarray) -> float:
    """1 - area under the Molchan curve (trapezoids); 0.5 for a random forecast."""
    return float(1 - np.trapezoid(nu, tau))


def gain_at(tau: np.ndarray, nu: np.ndarray, at: float) -> float:
    """Probability gain (1 - nu) / tau at the given fraction of time in alarm."""
    i = int(np.searchsorted(tau, at, side="right")) - 1
    i = max(min(i, len(tau) - 1), 0)
    return float((1 - nu[i]) / tau[i]) if tau[i] > 0 else math.nan


def score_components(c: Collected, horizon_s: float, target_energy_j: float
                     ) -> dict[str, dict[str, float]]:  # fmt: skip
    """ROC-AUC, PR-AUC, Brier, Molchan area skill and gains of every component."""
    known = c.label >= 0
    out = {}
    for name in COMPONENTS:
        p = c.scores[name]
        ok = known & np.isfinite(p)
        y = c.label[ok].astype(bool)
        tau, nu = molchan(c, name, horizon_s, target_energy_j)
        entry = {
            "roc_auc": roc_auc(y, p[ok]),
            "pr_auc": average_precision(y, p[ok]),
            "brier": float(np.mean((p[ok] - y) ** 2)) if ok.any() else math.nan,
            "molchan_area_skill": area_skill(tau, nu),
            "scored_events": int(ok.sum()),
        }
        for g in GAIN_AT:
            entry[f"gain_at_{round(g * 100)}pct"] = gain_at(tau, nu, g)
        out[name] = entry
    return out


def _episodes(c: Collected, on: np.ndarray, duration: np.ndarray, standing: np.ndarray
              ) -> dict[str, list[tuple[float, float]]]:  # fmt: skip
    """Per zone, alarm episodes (start, end): an alert opens one, it lasts while each
    next event of the zone keeps the score above the threshold."""
    out: dict[str, list[tuple[float, float]]] = {}
    for z in dict.fromkeys(c.zone):
        eps = out.setdefault(z, [])
        for i in np.flatnonzero(c.zone == z):
            if not on[i]:
                continue
            end = c.t[i] + duration[i]
            if eps and standing[i] >= 0 and on[standing[i]]:
                eps[-1] = (eps[-1][0], end)  # the alarm goes on
            else:
                eps.append((c.t[i], end))  # a new alert
    return out


def threshold_table(
    c: Collected, thresholds: Sequence[float], horizon_s: float, target_energy_j: float,
    name: str = "fused",
) -> list[dict[str, float]]:  # fmt: skip
    """Alerting on ``name`` >= threshold: alerts, hits, false alarms, time in alarm, lead.

    A target is a hit if an alert went out within the horizon before it, or the
    alarm it opened was still on when the target struck; the lead time is from
    that alert to the target. An alert is false if no target struck in its zone
    while it was on or within the horizon after it went out.
    """
    duration, standing = _coverage(c, horizon_s)
    score = np.nan_to_num(c.scores[name], nan=-np.inf)
    total_days = max(duration.sum(), 1.0) / DAY
    targets = np.flatnonzero(c.energy_j >= target_energy_j)
    rows = []
    for thr in thresholds:
        on = score >= thr
        episodes = _episodes(c, on, duration, standing)
        leads: list[float] = []
        for i in targets:
            t = c.t[i]
            starts = [a for a, b in episodes[c.zone[i]] if a < t and (b >= t or a >= t - horizon_s)]
            if starts:
                leads.append((t - min(starts)) / 3600)
        false_alarms = 0
        for z, eps in episodes.items():
            tz = c.t[targets][c.zone[targets] == z]
            for a, b in eps:
                if not ((tz > a) & (tz <= max(b, a + horizon_s))).any():
                    false_alarms += 1
        n_alerts = sum(len(e) for e in episodes.values())
        rows.append({
            "threshold": float(thr),
            "alerts_per_day": n_alerts / total_days,
            "hit_rate": len(leads) / targets.size if targets.size else math.nan,
            "false_alarms_per_day": false_alarms / total_days,
            "alarm_time_fraction": float(duration[on].sum() / max(duration.sum(), 1e-9)),
            "median_lead_h": float(np.median(leads)) if leads else math.nan,
        })  # fmt: skip
    return rows


def iter_thresholds(text: str) -> Iterator[float]:
    """Parse ``0.05,0.1,...`` into floats in (0, 1).

    >>> list(iter_thresholds("0.2, 0.4"))
    [0.2, 0.4]
    """
    for part in text.split(","):
        v = float(part)
        if not 0 < v < 1:
            raise ValueError(f"threshold {v} is not in (0, 1)")
        yield v


def backtest(
    events: Sequence[Event], runner: MineRunner, thresholds: Sequence[float],
    on_event: Any = None,
) -> tuple[dict[str, Any], Collected]:  # fmt: skip
    """The backtest report (the ``--json`` document) and the per-event data behind it."""
    pol = runner.policy
    c = collect(runner, events, on_event)
    targets = int((c.energy_j >= pol.target_energy_j).sum())
    report = {
        "events": len(c.t),
        "labelled_events": int((c.label >= 0).sum()),
        "targets": targets,
        "target_energy_j": pol.target_energy_j,
        "horizon_h": pol.horizon_s / 3600,
        "days": float((c.t.max() - c.t.min()) / DAY) if len(c.t) else 0.0,
        "scores": score_components(c, pol.horizon_s, pol.target_energy_j),
        "thresholds": threshold_table(c, thresholds, pol.horizon_s, pol.target_energy_j),
        "lstm_retrainings": [
            {k: d.get(k) for k in ("at_t", "version", "promoted", "reason")}
            for d in c.decisions
        ],
    }
    return report, c
