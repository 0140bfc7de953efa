"""Re-entry in the backtest: each exclusion's first estimate against the re-entry observed.

The observed re-entry after a large event is the first time ``s`` from which the
rate observed over the window that follows, events at or above the zone's
completeness in ``[s', s' + W)`` per hour, is at or below the estimate's own level
for every ``s' >= s`` up to the zone's next exclusion, the maximum exclusion, or
the end of its data (events after that end are not counted). ``W`` is the window
that holds :data:`WINDOW_EVENTS` events at the level, and never under
:data:`MIN_WINDOW_S`: a window shorter than that would call every lone background
event a rate above the level. The backtest has the future, so the window looks
ahead and the observed time is not delayed by it. Read on a one-minute grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_WINDOW_S = 6 * 3600.0
WINDOW_EVENTS = 3.0
_STEP_S = 60.0


@dataclass(frozen=True)
class Exclusion:
    """One large event's exclusion as the zone published it (times in event time, s)."""

    zone: str
    source: str
    t0: float
    energy_j: float
    estimate: float  # the first estimate, published at the event
    low: float
    high: float
    level_per_h: float
    min_s: float  # the mine's minimum exclusion ...
    max_s: float  # ... and the cap
    reached: float | None = None  # when the zone declared it reached

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_s(level_per_h: float) -> float:
    """The observation window for a level: :data:`WINDOW_EVENTS` events at it, >= 6 h."""
    return max(MIN_WINDOW_S, WINDOW_EVENTS / max(level_per_h, 1e-12) * 3600.0)


def observed_reentry(t: np.ndarray, t0: float, level_per_h: float, until: float) -> float:
    """The first time from ``t0`` after which the rate of the events ``t`` (sorted, above
    Mc) over each following window stays at or below ``level_per_h`` until ``until``.

    >>> t = np.r_[np.arange(6) * 600.0, 40 * 3600.0]  # six in 50 min, then a lone event
    >>> observed_reentry(t, 0.0, 0.25, 72 * 3600.0) / 60  # 3 allowed in 12 h: from minute 21
    21.0
    """
    w = window_s(level_per_h)
    t = t[t < until]
    grid = np.arange(t0, max(until, t0) + _STEP_S, _STEP_S)
    counts = np.searchsorted(t, grid + w, side="left") - np.searchsorted(t, grid, side="left")
    above = np.flatnonzero(counts / (w / 3600.0) > level_per_h)
    if not above.size:
        return t0
    return float(min(grid[above[-1]] + _STEP_S, until))


def reentry_table(exclusions: Sequence[Exclusion], t: np.ndarray, zone: np.ndarray,
                  log_e: np.ndarray, mc_log_e: Mapping[str, float], end: Mapping[str, float]
                  ) -> dict[str, Any]:
    """Predicted (first estimate) against observed re-entry, hours after each event; the
    observed time read as the estimate is, within the mine's minimum and maximum
    exclusion (``decayed`` keeps the time the rate itself came down)."""
    rows = []
    for i, ex in enumerate(exclusions):
        nxt = [e.t0 for e in exclusions[i + 1:] if e.zone == ex.zone]
        until = min([ex.t0 + ex.max_s, end.get(ex.zone, ex.t0), *nxt[:1]])
        mine = (zone == ex.zone) & (log_e >= mc_log_e.get(ex.zone, -math.inf))
        decayed = observed_reentry(np.sort(t[mine]), ex.t0, ex.level_per_h, until)
        observed = min(max(decayed, ex.t0 + ex.min_s), ex.t0 + ex.max_s)  # as the rule reads
        rows.append({**ex.to_dict(), "observed": observed, "decayed": decayed,
                     # the window after it not wholly seen: the data or the next one came first
                     "censored": (decayed + window_s(ex.level_per_h) > until
                                  and until < ex.t0 + ex.max_s),
                     "predicted_h": (ex.estimate - ex.t0) / 3600,
                     "observed_h": (observed - ex.t0) / 3600,
                     "within_interval": ex.low <= observed <= ex.high})
    ok = [r for r in rows if not r["censored"]]
    err = np.array([r["predicted_h"] - r["observed_h"] for r in ok])
    return {
        "min_window_h": MIN_WINDOW_S / 3600, "window_events": WINDOW_EVENTS,
        "exclusions": len(rows), "compared": len(ok),
        "median_error_h": float(np.median(err)) if err.size else math.nan,
        "median_abs_error_h": float(np.median(np.abs(err))) if err.size else math.nan,
        "error_p25_h": float(np.percentile(err, 25)) if err.size else math.nan,
        "error_p75_h": float(np.percentile(err, 75)) if err.size else math.nan,
        "within_interval": float(np.mean([r["within_interval"] for r in ok])) if ok else math.nan,
        "rows": rows,
    }
