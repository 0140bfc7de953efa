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

    @property
    def clock(self) -> float | None:
        """Event time of the newest event seen (late ones do not move it back)."""
        return self._last_t

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
        cols = _Columns(data)
        out: dict[str, float] = {}
        # rows are in time order, so every window is a suffix of the longest one
        starts = {
            name: int(np.searchsorted(cols.t, now - span, side="right"))
            for name, span in self.windows_s.items()
        }
        for name, start in starts.items():
            out.update(_window_stats(cols, start, self.windows_s[name], name))
        bg = BACKGROUND if BACKGROUND in starts else max(self.windows_s, key=self.windows_s.get)
        bg_rate = out[f"rate_per_h_{bg}"]
        bg_energy = out[f"energy_sum_j_{bg}"] / (self.windows_s[bg] / 3600)
        bg_centroid = np.array([out[f"centroid_{a}_{bg}"] for a in "xyz"])
        for name in starts:
            span_h = self.windows_s[name] / 3600
            out[f"activity_ratio_{name}"] = _ratio(out[f"rate_per_h_{name}"], bg_rate)
            out[f"energy_ratio_{name}"] = _ratio(out[f"energy_sum_j_{name}"] / span_h, bg_energy)
            out[f"b_anomaly_{name}"] = out[f"b_value_{name}"] - out[f"b_value_{bg}"]
            centroid = np.array([out[f"centroid_{a}_{name}"] for a in "xyz"])
            out[f"centroid_drift_m_{name}"] = float(np.linalg.norm(centroid - bg_centroid))
        out["log_t_residual"] = _log_t_residual(cols, starts[bg], event)
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


class _Columns:
    """The kept rows as columns, with the per-row terms every window sums."""

    def __init__(self, data: np.ndarray) -> None:
        self.t, self.log_e, self.duration = data[:, 0], data[:, 1], data[:, 2]
        self.volume = data[:, 6]
        self.xyz = data[:, 3:6]
        self.energy = 10**self.log_e
        self.sqrt_energy = np.sqrt(self.energy)


def _p90(values: np.ndarray) -> float:
    """90th percentile, linear interpolation (numpy's default method), without its overhead."""
    v = np.sort(values)
    pos = 0.9 * (v.size - 1)
    lo = int(pos)
    hi = min(lo + 1, v.size - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def _window_stats(cols: _Columns, start: int, span_s: float, name: str) -> dict[str, float]:
    t, log_e, duration = cols.t[start:], cols.log_e[start:], cols.duration[start:]
    energy, xyz, volume = cols.energy[start:], cols.xyz[start:], cols.volume[start:]
    n = t.size
    dur = duration[~np.isnan(duration)]
    vol = volume[~np.isnan(volume)]
    iet = np.diff(t)
    iet_mean = float(iet.sum()) / iet.size if iet.size else math.nan
    b = aki_utsu(log_e)
    energy_sum = float(energy.sum())
    if n:
        centroid = xyz.sum(axis=0) / n
        spread = math.sqrt(float(((xyz - centroid) ** 2).sum()) / n)
    else:
        centroid, spread = np.full(3, math.nan), math.nan
    mean_volume = float(vol.sum()) / vol.size if vol.size else math.nan
    return {
        f"count_{name}": n,
        f"rate_per_h_{name}": n / (span_s / 3600),
        f"energy_sum_j_{name}": energy_sum,
        f"energy_max_j_{name}": float(energy.max()) if n else 0.0,
        f"log_energy_mean_{name}": float(log_e.sum()) / n if n else math.nan,
        f"duration_mean_s_{name}": float(dur.sum()) / dur.size if dur.size else math.nan,
        f"duration_p90_s_{name}": _p90(dur) if dur.size else math.nan,
        f"benioff_strain_{name}": float(cols.sqrt_energy[start:].sum()),
        f"b_value_{name}": b.b,
        f"b_value_se_{name}": b.se,
        f"mc_log_energy_{name}": b.mc_log_e,
        f"iet_mean_s_{name}": iet_mean,
        f"iet_cv_{name}": float(iet.std()) / iet_mean if iet.size and iet_mean > 0 else math.nan,
        f"centroid_x_{name}": float(centroid[0]),
        f"centroid_y_{name}": float(centroid[1]),
        f"centroid_z_{name}": float(centroid[2]),
        f"spread_m_{name}": spread,
        f"energy_per_volume_j_m3_{name}": (energy_sum / mean_volume
                                           if mean_volume > 0 else math.nan),
    }  # fmt: skip


def _log_t_residual(cols: _Columns, start: int, event: Event | None) -> float:
    """Residual of the event's log t against the log t ~ log E line of the background window.

    Long events for their energy point to slower, larger ruptures than their
    energy says; the least-squares fit is refreshed on every event, so it follows the mine.
    """
    if event is None or event.duration_s is None or event.duration_s <= 0:
        return math.nan
    log_e, duration = cols.log_e[start:], cols.duration[start:]
    ok = ~np.isnan(duration) & (duration > 0)
    if ok.sum() < 10:
        return math.nan
    xs, ys = log_e[ok], np.log10(duration[ok])
    dx = xs - xs.mean()
    var = float((dx * dx).sum())
    if var == 0:
        return math.nan
    slope = float((dx * (ys - ys.mean())).sum()) / var
    intercept = float(ys.mean()) - slope * float(xs.mean())
    return float(math.log10(event.duration_s) - (intercept + slope * event.log_energy))
