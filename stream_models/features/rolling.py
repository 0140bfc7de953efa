"""Rolling per-zone features over sliding event-time windows, updated one event at a time.

:class:`ZoneFeatures` feeds each event into :class:`~stream_models.features.windows.BucketWindows`
(fixed rings of time buckets: constant work and a fixed state size per zone,
whatever the burst) and derives every window's statistics and the ratios
against the 7-day background. Its state is a few fixed-shape arrays
(:meth:`ZoneFeatures.to_state`): a restored zone computes the same features,
bit for bit, as one that never stopped. A backtest runs the very same class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stream_models.features.windows import WINDOW_KEYS, BucketWindows
from stream_models.wire import Event

WINDOWS_S: dict[str, float] = {"1h": 3600.0, "8h": 8 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
BACKGROUND = "7d"  # the window "current" activity is compared with
_MIN_REGRESSION = 10  # events with a duration before the log t ~ log E line is trusted
_N_STATS = len(WINDOW_KEYS)
_RATE, _ENERGY, _B = (WINDOW_KEYS.index(k) for k in ("rate_per_h", "energy_sum_j", "b_value"))
_CX = WINDOW_KEYS.index("centroid_x")
DERIVED_KEYS = ("activity_ratio", "energy_ratio", "b_anomaly", "centroid_drift_m")


def feature_names(windows: list[str]) -> tuple[str, ...]:
    """Every feature's name, in the order of :meth:`ZoneFeatures.vector`."""
    return (*(f"{k}_{w}" for w in windows for k in (*WINDOW_KEYS, *DERIVED_KEYS)),
            "log_t_residual")


class ZoneFeatures:
    """Sliding-window statistics of one zone's events (windows in event time).

    Parameters
    ----------
    windows_s
        Window name -> length in seconds; the longest is the background.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> zf = ZoneFeatures()
    >>> t0 = datetime(2020, 1, 1, tzinfo=UTC)
    >>> for i, e in enumerate([100.0, 1000.0, 10000.0]):
    ...     f = zf.update(Event(str(i), t0 + timedelta(minutes=20 * i), 0, 0, -450, e, 1.0))
    >>> f["count_1h"], f["energy_sum_j_1h"], f["log_energy_mean_1h"]
    (3, 11100.0, 3.0)
    """

    def __init__(self, windows_s: Mapping[str, float] | None = None) -> None:
        self.windows_s = dict(windows_s or WINDOWS_S)
        self.background = (BACKGROUND if BACKGROUND in self.windows_s
                           else max(self.windows_s, key=self.windows_s.__getitem__))
        self.rings = BucketWindows(self.windows_s)
        self._last_t: float | None = None
        self.names = feature_names(list(self.windows_s))
        self._bg = list(self.windows_s).index(self.background)
        self._spans_h = [v / 3600 for v in self.windows_s.values()]

    @property
    def clock(self) -> float | None:
        """Event time of the newest event seen (late ones do not move it back)."""
        return self._last_t

    def update(self, event: Event, t: float | None = None) -> dict[str, float]:
        """Add ``event`` (at ``t``, the zone's clock for a late one) and return the features."""
        t = event.timestamp if t is None else t
        if self._last_t is not None and t < self._last_t:
            t = self._last_t  # late event: counted now, never moves windows backwards
        self._last_t = t
        nan = math.nan
        self.rings.add(
            t, event.log_energy, nan if event.duration_s is None else event.duration_s,
            event.x, event.y, event.z, nan if event.volume_m3 is None else event.volume_m3,
        )
        return self.features(event)

    def features(self, event: Event | None = None) -> dict[str, float]:
        return dict(zip(self.names, self.vector(event), strict=True))

    def vector(self, event: Event | None = None) -> list[float]:
        """Every feature in :attr:`names` order (the dict of :meth:`features`, cheaper)."""
        windows = self.rings.values()
        bg = windows[self._bg]
        bg_rate, bg_energy, bg_b = bg[_RATE], bg[_ENERGY] / self._spans_h[self._bg], bg[_B]
        bgx, bgy, bgz = bg[_CX], bg[_CX + 1], bg[_CX + 2]
        out: list[float] = []
        for w, vals in enumerate(windows):
            out += vals[:_N_STATS]
            rate, energy = vals[_RATE], vals[_ENERGY] / self._spans_h[w]
            out.append(rate / bg_rate if bg_rate > 0 else math.nan)
            out.append(energy / bg_energy if bg_energy > 0 else math.nan)
            out.append(vals[_B] - bg_b)
            out.append(math.sqrt((vals[_CX] - bgx) ** 2 + (vals[_CX + 1] - bgy) ** 2
                                 + (vals[_CX + 2] - bgz) ** 2))
        out.append(_log_t_residual(bg[_N_STATS:], event))
        return out

    def to_state(self) -> dict[str, Any]:
        """Fixed-shape arrays: restoring them gives identical future features."""
        return {"windows": self.rings.to_state(), "last_t": self._last_t}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ZoneFeatures:
        rings = BucketWindows.from_state(state["windows"])
        zf = cls(dict(zip(rings.names, [r.span for r in rings.rings], strict=True)))
        zf.rings = rings
        zf._last_t = state["last_t"]
        return zf


def _log_t_residual(reg: list[float], event: Event | None) -> float:
    """Residual of the event's log t against the log t ~ log E line of the background window.

    Long events for their energy point to slower, larger ruptures than their
    energy says; the least-squares line is refreshed on every event, so it follows the mine.
    """
    if event is None or event.duration_s is None or event.duration_s <= 0:
        return math.nan
    n, sx, sy, sxx, sxy = reg
    if n < _MIN_REGRESSION:
        return math.nan
    var = sxx - sx * sx / n
    if var <= 1e-12 * max(sxx, 1.0):
        return math.nan
    slope = (sxy - sx * sy / n) / var
    intercept = (sy - slope * sx) / n
    return float(math.log10(event.duration_s) - (intercept + slope * event.log_energy))
