"""Time-based forecast skill: Molchan diagrams, probability gains, calibration.

Seismicity clusters, so a per-event score over-weights busy hours; the alarm
view is time-based (Molchan 1990, 1991; Zechar & Jordan 2008). A zone's score
stands from its event until the zone's next event, at most one horizon: what
the control room had. At a threshold the zone is in alarm while the standing
score is at or above it. ``tau`` is the fraction of zone-time in alarm (each
zone's time runs from its first event to the end of the data; time with no
standing forecast is never in alarm), ``nu`` the fraction of target events that
struck outside an alarm (judged by the score standing just before each one).
The curve runs from (0, 1) to (1, 0), alarm everywhere catching everything,
so a forecast that knows nothing has an area skill ``1 - area`` of 0.5 when
targets strike at times unrelated to it. The probability gain at ``tau`` is
``(1 - nu) / tau``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GAIN_AT = (0.05, 0.10, 0.20)


@dataclass
class Timeline:
    """Events of several zones (one run or several files), in any order.

    ``zone`` must be unique across files (prefix it with the file); ``end`` gives
    each zone's end of observation (default: the last event of all).
    """

    t: np.ndarray
    zone: np.ndarray  # object array of zone names
    energy_j: np.ndarray
    end: dict[str, float] | None = None

    def coverage(self, horizon_s: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(how long each event's score stands, index of the score standing before each
        event or -1, total zone-time)."""
        duration = np.zeros(len(self.t))
        standing = np.full(len(self.t), -1)
        total = 0.0
        last_all = float(self.t.max()) if len(self.t) else 0.0
        for z in dict.fromkeys(self.zone):
            idx = np.flatnonzero(self.zone == z)
            idx = idx[np.argsort(self.t[idx], kind="stable")]
            tz = self.t[idx]
            end = (self.end or {}).get(z, last_all)
            nxt = np.r_[tz[1:], max(end, tz[-1])]
            duration[idx] = np.minimum(nxt - tz, horizon_s)
            gaps = np.diff(tz)
            standing[idx] = np.where(np.r_[False, gaps <= horizon_s], np.r_[-1, idx[:-1]], -1)
            total += max(end, tz[-1]) - tz[0]
        return duration, standing, total


def molchan(line: Timeline, score: np.ndarray, horizon_s: float, target_energy_j: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Molchan curve: (tau, nu) at every distinct score as threshold, from (0, 1) to (1, 0)."""
    duration, standing, total = line.coverage(horizon_s)
    targets = np.flatnonzero(line.energy_j >= target_energy_j)
    finite = np.isfinite(score)
    if total <= 0 or targets.size == 0 or not finite.any():
        return np.array([0.0, 1.0]), np.array([1.0, 0.0])
    before = standing[targets]
    caught_at = np.where(before >= 0, score[np.maximum(before, 0)], -np.inf)
    caught_at = np.where(np.isfinite(caught_at), caught_at, -np.inf)
    s, d = score[finite], duration[finite]
    order = np.argsort(-s, kind="stable")
    s, d = s[order], d[order]
    tau_at = np.cumsum(d) / total
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    ts = np.sort(caught_at)[::-1]
    hits = np.searchsorted(-ts, -s[last], side="right")
    return np.r_[0.0, tau_at[last], 1.0], np.r_[1.0, 1 - hits / targets.size, 0.0]


def area_skill(tau: np.ndarray, nu: np.ndarray) -> float:
    """1 - area under the Molchan curve (trapezoids); 0.5 for a forecast that knows nothing."""
    return float(1 - np.trapezoid(nu, tau))


def gain_at(tau: np.ndarray, nu: np.ndarray, at: float) -> float:
    """Probability gain (1 - nu) / tau at the curve's point with the most alarm time <= ``at``."""
    i = int(np.searchsorted(tau, at, side="right")) - 1
    i = max(min(i, len(tau) - 1), 0)
    return float((1 - nu[i]) / tau[i]) if tau[i] > 0 else math.nan


def brier_skill(y: np.ndarray, p: np.ndarray) -> float:
    """1 - Brier / Brier of always forecasting the observed rate (>0: better than climate)."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if not len(y):
        return math.nan
    rate = y.mean()
    climate = rate * (1 - rate)
    return float(1 - np.mean((p - y) ** 2) / climate) if climate > 0 else math.nan


def reliability(y: np.ndarray, p: np.ndarray, edges: Sequence[float] | None = None
                ) -> list[dict[str, float]]:
    """Calibration table: forecasts binned by probability (decades, rare events crowd near 0),
    with the mean forecast and the observed frequency in each bin."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    edges = list(edges) if edges is not None else [0.0, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0]
    rows = []
    for lo, hi in itertools.pairwise(edges):
        inside = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if inside.any():
            rows.append({"from": lo, "to": hi, "forecasts": int(inside.sum()),
                         "mean_forecast": float(p[inside].mean()),
                         "observed": float(y[inside].mean())})
    return rows
