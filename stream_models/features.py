"""Rolling per-zone features over sliding event-time windows, updated one event at a time.

:class:`ZoneFeatures` keeps, for one zone (or the whole mine), the events of the
longest window and derives every window's statistics from them. Its whole state
is a JSON-able dict (:meth:`ZoneFeatures.to_state`), so the daemon can keep it in
a changelog-backed table and a restarted worker recovers it; a backtest runs
the very same class in-process.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from stream_models.bvalue import aki_utsu
from stream_models.events import Event

WINDOWS_S: dict[str, float] = {"1h": 3600.0, "8h": 8 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
BACKGROUND = "7d"  # the window "current" activity is compared with
_COLS = ("t", "log_e", "duration", "x", "y", "z", "volume")


def _nan_if_empty(values: np.ndarray, fn: Any) -> float:
    return float(fn(values)) if values.size else math.nan


class ZoneFeatures:
    """Sliding-window statistics of one zone's events (windows in event time).

    Parameters
    ----------
    windows_s
        Window name -> length in seconds; the longest bounds the memory kept.

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
        self.horizon_s = max(self.windows_s.values())
        self._rows: deque[tuple[float, ...]] = deque()
        self._last_t: float | None = None

    def _evict(self, now: float) -> None:
        while self._rows and self._rows[0][0] <= now - self.horizon_s:
            self._rows.popleft()

    def update(self, event: Event) -> dict[str, float]:
        """Add ``event`` and return the features as of (and including) it."""
        t = event.timestamp
        if self._last_t is not None and t < self._last_t:
            t = self._last_t  # late event: counted now, never moves windows backwards
        self._last_t = t
        self._rows.append(
            (
                t,
                event.log_energy,
                math.nan if event.duration_s is None else event.duration_s,
                event.x,
                event.y,
                event.z,
                math.nan if event.volume_m3 is None else event.volume_m3,
            )
        )
        self._evict(t)
        return self.features(t, event)

    def features(self, now: float, event: Event | None = None) -> dict[str, float]:
        data = np.array(self._rows, dtype=float).reshape(-1, len(_COLS))
        out: dict[str, float] = {}
        windows = {name: data[data[:, 0] > now - span] for name, span in self.windows_s.items()}
        for name, rows in windows.items():
            out.update(_window_stats(rows, self.windows_s[name], name))
        bg = BACKGROUND if BACKGROUND in windows else max(self.windows_s, key=self.windows_s.get)
        bg_rate = out[f"rate_per_h_{bg}"]
        bg_energy = out[f"energy_sum_j_{bg}"] / (self.windows_s[bg] / 3600)
        bg_centroid = np.array([out[f"centroid_{a}_{bg}"] for a in "xyz"])
        for name in windows:
            span_h = self.windows_s[name] / 3600
            out[f"activity_ratio_{name}"] = _ratio(out[f"rate_per_h_{name}"], bg_rate)
            out[f"energy_ratio_{name}"] = _ratio(out[f"energy_sum_j_{name}"] / span_h, bg_energy)
            out[f"b_anomaly_{name}"] = out[f"b_value_{name}"] - out[f"b_value_{bg}"]
            centroid = np.array([out[f"centroid_{a}_{name}"] for a in "xyz"])
            out[f"centroid_drift_m_{name}"] = float(np.linalg.norm(centroid - bg_centroid))
        out["log_t_residual"] = _log_t_residual(windows[bg], event)
        return out

    def to_state(self) -> dict[str, Any]:
        """JSON-able state: restoring it gives identical future features."""
        return {
            "windows_s": self.windows_s,
            "rows": [list(r) for r in self._rows],
            "last_t": self._last_t,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ZoneFeatures:
        zf = cls(state["windows_s"])
        zf._rows = deque(tuple(float(v) for v in r) for r in state["rows"])
        zf._last_t = state["last_t"]
        return zf


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _window_stats(rows: np.ndarray, span_s: float, name: str) -> dict[str, float]:
    t, log_e, duration, x, y, z, volume = rows.T
    energy = 10**log_e
    n = rows.shape[0]
    dur = duration[~np.isnan(duration)]
    vol = volume[~np.isnan(volume)]
    iet = np.diff(t)
    iet_mean = _nan_if_empty(iet, np.mean)
    b = aki_utsu(log_e)
    centroid = (x.mean(), y.mean(), z.mean()) if n else (math.nan,) * 3
    offsets = rows[:, 3:6] - np.asarray(centroid)
    spread = float(np.sqrt((offsets**2).sum(axis=1).mean())) if n else math.nan
    mean_volume = _nan_if_empty(vol, np.mean)
    return {
        f"count_{name}": n,
        f"rate_per_h_{name}": n / (span_s / 3600),
        f"energy_sum_j_{name}": float(energy.sum()),
        f"energy_max_j_{name}": float(energy.max()) if n else 0.0,
        f"log_energy_mean_{name}": _nan_if_empty(log_e, np.mean),
        f"duration_mean_s_{name}": _nan_if_empty(dur, np.mean),
        f"duration_p90_s_{name}": _nan_if_empty(dur, lambda d: np.percentile(d, 90)),
        f"benioff_strain_{name}": float(np.sqrt(energy).sum()),
        f"b_value_{name}": b.b,
        f"b_value_se_{name}": b.se,
        f"mc_log_energy_{name}": b.mc_log_e,
        f"iet_mean_s_{name}": iet_mean,
        f"iet_cv_{name}": (_nan_if_empty(iet, np.std) / iet_mean
                           if iet.size and iet_mean > 0 else math.nan),
        f"centroid_x_{name}": centroid[0],
        f"centroid_y_{name}": centroid[1],
        f"centroid_z_{name}": centroid[2],
        f"spread_m_{name}": spread,
        f"energy_per_volume_j_m3_{name}": (float(energy.sum()) / mean_volume
                                           if mean_volume > 0 else math.nan),
    }  # fmt: skip


def _log_t_residual(rows: np.ndarray, event: Event | None) -> float:
    """Residual of the event's log t against the log t ~ log E line of the background window.

    Long events for their energy point to slower, larger ruptures than their
    energy says; the fit is refreshed on every event, so it follows the mine.
    """
    if event is None or event.duration_s is None or event.duration_s <= 0:
        return math.nan
    _, log_e, duration, *_ = rows.T
    ok = ~np.isnan(duration) & (duration > 0)
    if ok.sum() < 10 or np.ptp(log_e[ok]) == 0:
        return math.nan
    slope, intercept = np.polyfit(log_e[ok], np.log10(duration[ok]), 1)
    return float(math.log10(event.duration_s) - (intercept + slope * event.log_energy))
