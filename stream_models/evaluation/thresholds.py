"""What alert thresholds would have meant for operators, and which ones an alert budget allows.

Each figure replays the fused risk of a backtest through the very
:class:`~stream_models.fusion.hazard.HazardTracker` the worker runs (hysteresis,
expiry one horizon after a zone's last event, cooldown), zone by zone:

* raises: alert episodes opened at the threshold, per zone and week;
* hit rate: targets that struck while the zone was at or above the threshold,
  or within the horizon after a raise;
* time in alarm: the fraction of zone-time at or above the threshold;
* lead: hours from the raise to the target it preceded (median of hits).

:func:`recommend` picks, for a budget of N raises to state c per zone per
week, the lowest c threshold that keeps within it, a d threshold kept to a
quarter of that budget, and a b threshold (no alert, a heads-up) the zone
spends about a quarter of its time at or above.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from stream_models.evaluation.backtest import Collected
from stream_models.fusion.counts import FUSED
from stream_models.fusion.hazard import STATES, HazardPolicy, HazardTracker
from stream_models.online.policies import MonitorPolicy

WEEK_S = 7 * 86400.0
_B_TIME = 0.25  # the b state: a heads-up the zone spends about this share of its time in
_D_SHARE = 0.25  # raises to d: this share of the budget for c


Spans = dict[str, list[tuple[float, float]]]  # zone -> intervals at or above a state


def _episodes(c: Collected, score: np.ndarray, policy: HazardPolicy, level: int
              ) -> tuple[list[tuple[str, float]], Spans]:
    """Raises to ``level`` (zone, time) and, per zone, intervals at or above it."""
    raises: list[tuple[str, float]] = []
    spans: Spans = {}
    for z in dict.fromkeys(c.zone):
        idx = np.flatnonzero(c.zone == z)
        idx = idx[np.argsort(c.t[idx], kind="stable")]
        at_level = replace(policy, alert_state=STATES[level])  # type: ignore[arg-type]
        tracker = HazardTracker(str(z), at_level)
        above, since = spans.setdefault(str(z), []), None
        times = c.t[idx]
        for j, i in enumerate(idx):
            t, p = float(times[j]), float(score[i])
            for tr in tracker.update(p if math.isfinite(p) else 0.0, t, str(i)):
                if tr.kind == "raise" and STATES.index(tr.previous_state) < level:
                    raises.append((str(z), t))
            if tracker.level < level:
                if since is not None:  # fell at this event
                    above.append((since, t))
                    since = None
                continue
            since = t if since is None else since
            end = min(t + policy.horizon_s, c.end.get(z, t + policy.horizon_s))
            if j + 1 == len(idx) or float(times[j + 1]) > end:  # the forecast expires first
                above.append((since, end))
                since = None
                tracker.tick(end)
    return raises, spans


def _zone_time(c: Collected) -> float:
    """Seconds of observation summed over zones (each from its first event to its end)."""
    return float(c.timeline().coverage(0.0)[2])


def alarm_figures(c: Collected, score: np.ndarray, policy: HazardPolicy, level: int,
                  target_energy_j: float) -> dict[str, float]:
    """Raises per zone-week, hit rate, time in alarm and median lead at one state level."""
    raises, spans = _episodes(c, score, policy, level)
    zone_time = _zone_time(c)
    in_alarm = sum(b - a for iv in spans.values() for a, b in iv)
    targets = np.flatnonzero(c.energy_j >= target_energy_j)
    leads = []
    for i in targets:
        z, t = str(c.zone[i]), float(c.t[i])
        covering = [a for a, b in spans.get(z, []) if a < t <= b]
        recent = [rt for rz, rt in raises if rz == z and t - policy.horizon_s <= rt < t]
        starts = covering + recent
        if starts:
            leads.append((t - min(starts)) / 3600)
    weeks = max(zone_time, 1.0) / WEEK_S
    return {
        "raises_per_zone_week": len(raises) / weeks,
        "hit_rate": len(leads) / targets.size if targets.size else math.nan,
        "alarm_time_fraction": in_alarm / max(zone_time, 1e-9),
        "median_lead_h": float(np.median(leads)) if leads else math.nan,
    }


def trade_off(c: Collected, thresholds: Sequence[float], policy: HazardPolicy,
              target_energy_j: float) -> list[dict[str, float]]:
    """The operators' view of alerting at each threshold on the fused risk."""
    score = c.scores[FUSED]
    return [{"threshold": float(thr),
             **alarm_figures(c, score, _at(policy, thr), 2, target_energy_j)}
            for thr in thresholds]


def _at(policy: HazardPolicy, c_thr: float, d_thr: float | None = None) -> HazardPolicy:
    """``policy`` with state c at ``c_thr`` (d above everything unless given)."""
    d = d_thr if d_thr is not None else 1.0
    return replace(policy, thresholds=(c_thr / 2, c_thr, max(d, c_thr * 1.0001)))


def _lowest_within(c: Collected, candidates: np.ndarray, budget: float, policy: HazardPolicy,
                   level: int, lo_cap: float | None = None) -> float:
    """The lowest candidate whose raises to ``level`` stay within ``budget`` per zone-week."""
    score = c.scores[FUSED]
    weeks = max(_zone_time(c) / WEEK_S, 1e-9)
    ok = candidates[-1]
    lo, hi = 0, len(candidates) - 1
    while lo <= hi:  # raises fall as the threshold rises
        mid = (lo + hi) // 2
        thr = float(candidates[mid])
        pol = _at(policy, lo_cap, thr) if level == 3 and lo_cap else _at(policy, thr)
        raises, _ = _episodes(c, score, pol, level)
        if len(raises) / weeks <= budget:
            ok, hi = thr, mid - 1
        else:
            lo = mid + 1
    return float(ok)


def recommend(c: Collected, per_week: float, policy: HazardPolicy, target_energy_j: float
              ) -> dict[str, Any]:
    """Thresholds b, c, d for a budget of ``per_week`` raises to c per zone per week."""
    score = c.scores[FUSED]
    finite = np.unique(score[np.isfinite(score) & (score > 0)])
    if finite.size < 3:
        raise ValueError("too few distinct fused risks to recommend thresholds")
    candidates = np.unique(np.quantile(finite, np.linspace(0, 1, 400)))
    c_thr = _lowest_within(c, candidates, per_week, policy, 2)
    above = candidates[candidates > c_thr] if (candidates > c_thr).any() else np.array([c_thr])
    d_thr = _lowest_within(c, above, per_week * _D_SHARE, policy, 3, c_thr)
    d_thr = max(d_thr, c_thr * 1.05)
    b_time = _time_quantile(c, score, policy.horizon_s, _B_TIME)
    while True:  # the search set b and d apart; with all three, c must still keep the budget
        b_thr = min(b_time, c_thr / 2)
        thresholds = [float(f"{b_thr:.3g}"), _ceil3(c_thr), _ceil3(min(d_thr, 1.0))]
        if not thresholds[0] < thresholds[1] < thresholds[2]:
            thresholds = sorted({*thresholds})
        pol = replace(policy, thresholds=tuple(thresholds))  # type: ignore[arg-type]
        fig_c = alarm_figures(c, score, pol, 2, target_energy_j)
        higher = candidates[candidates > thresholds[1]]
        if fig_c["raises_per_zone_week"] <= per_week or not higher.size:
            break
        c_thr = float(higher[0])
        d_thr = max(d_thr, c_thr * 1.05)
    fig_d = alarm_figures(c, score, pol, 3, target_energy_j)
    return {"per_zone_week": per_week, "thresholds": thresholds, "state_c": fig_c,
            "state_d": fig_d}


def recommend_scopes(c: Collected, per_week: float, policy: MonitorPolicy) -> dict[str, Any]:
    """:func:`recommend` for the zones and, where the runs had one, for the mine-wide scope
    (``mine``), each held to the budget; ``toml`` is the settings snippet for both.

    The mine-wide scope's risk covers every face, so at the zones' thresholds it
    would spend the budget several times over.
    """
    rec = recommend(c, per_week, policy.hazard, policy.target_energy_j)
    scopes = [("thresholds", "per zone", rec)]
    if c.mine is not None:
        rec["mine"] = recommend(c.mine, per_week, policy.for_scope("mine").hazard,
                                policy.target_energy_j)
        scopes.append(("mine_thresholds", "for the mine-wide scope", rec["mine"]))
    lines = ["[alerts]"]
    for key, who, r in scopes:
        b, c_thr, d = r["thresholds"]
        lines += [f"# at most {per_week:g} raise(s) to c {who} per week: "
                  f"{r['state_c']['raises_per_zone_week']:.2f} to c, "
                  f"{r['state_d']['raises_per_zone_week']:.2f} to d",
                  f"{key} = [{b:.3g}, {c_thr:.3g}, {d:.3g}]"]
    rec["toml"] = "\n".join(lines) + "\n"
    return rec


def _ceil3(v: float) -> float:
    """``v`` rounded up to 3 significant digits: a rounded threshold never lets more in.

    >>> _ceil3(0.0036812), _ceil3(0.00368), _ceil3(1.0)
    (0.00369, 0.00368, 1.0)
    """
    if v <= 0:
        return v
    step = 10.0 ** (math.floor(math.log10(v)) - 2)
    out = float(f"{math.ceil(v / step) * step:.3g}")
    return out if out >= v else float(f"{(math.ceil(v / step) + 1) * step:.3g}")


def _time_quantile(c: Collected, score: np.ndarray, horizon_s: float, share: float) -> float:
    """The risk the standing forecast is at or above for ``share`` of zone-time."""
    duration, _, total = c.timeline().coverage(horizon_s)
    ok = np.isfinite(score)
    order = np.argsort(-score[ok])
    covered = np.cumsum(duration[ok][order]) / max(total, 1e-9)
    i = min(int(np.searchsorted(covered, share)), order.size - 1)
    return float(score[ok][order][i])
