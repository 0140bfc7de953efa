"""The ETAS background: what drives the seismicity that is not triggered by earlier events.

Mining seismicity follows production, so a constant background is only one
candidate. A fit (:mod:`stream_models.seismology.etas_fit`) tries three forms
and keeps the one with the lowest AIC, so a form must earn its parameters:

* ``constant``: ``mu``;
* ``weekly``: ``mu`` shaped by the working week and the time of day (7 days x 4
  six-hour blocks in the mine's local time, log-linear, mean 1 over a week):
  where a catalog has no mined volume, the calendar of the work carries part
  of the production signal (in a public coal-district catalog, Sundays have a
  third of a weekday's large events);
* ``driven``: ``mu0 + mu1 d(t) / d_mean``, with the driver ``d`` the mined volume
  of the latest event (GITS' V, m³ per day) where the export has it, else the
  rate of events above Mc over the last 30 days (the seismogenic-index view:
  the background follows whatever drives the seismicity, an injection or a
  face advance, as the recent rate reveals it).

:class:`Driver` keeps the driver's current value from the scope's events (its
state is one ring of daily counts and the latest volume).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

BackgroundKind = Literal["constant", "weekly", "driven"]
DriverKind = Literal["volume", "rate"]
WEEK_H = 168
BLOCK_H = 6  # the day in four blocks: shifts in Kuzbass mines are six or eight hours
N_BLOCKS = 24 // BLOCK_H
RATE_DAYS = 30  # the rate driver's window
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def hour_of_week(t: float | np.ndarray, utc_offset_s: float) -> Any:
    """Hours since Monday 00:00 local time, in [0, 168).

    >>> float(hour_of_week(0.0, 0.0)), float(hour_of_week(4 * 86400.0 + 3600, 7 * 3600.0))
    (72.0, 8.0)
    """
    return ((np.asarray(t, float) + utc_offset_s) / 3600.0 + 24 * _EPOCH_WEEKDAY) % WEEK_H


def cell_of(t: float | np.ndarray, utc_offset_s: float) -> Any:
    """The (day, block) cell as one index in [0, 28): day * 4 + six-hour block."""
    h = np.floor(hour_of_week(t, utc_offset_s)).astype(int)
    return (h // 24) * N_BLOCKS + (h % 24) // BLOCK_H


@dataclass(frozen=True)
class Background:
    """A background form and its fitted numbers (``mu`` is always the mean rate, events/s
    above Mc, so every form reads alike).

    >>> Background("constant", 1e-4).rate(0.0, 1.0)
    0.0001
    >>> wk = Background.weekly(1e-4, [0.0] * 6, [0.0] * 3)
    >>> round(wk.rate(0.0, 1.0) / 1e-4, 6), round(wk.integral(0.0, 86400.0, 1.0) / 8.64, 6)
    (1.0, 1.0)
    """

    kind: BackgroundKind
    mu: float
    shape: tuple[float, ...] = ()  # weekly: exp(day + block) factor of each of the 28 cells
    mu1: float = 0.0  # driven: the part that follows the driver, at its mean
    driver: DriverKind | None = None
    driver_mean: float = 1.0
    utc_offset_s: float = 0.0
    _cum: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def weekly(cls, mu: float, day: Sequence[float], block: Sequence[float],
               utc_offset_s: float = 0.0) -> Background:
        """From log factors of days 1..6 and blocks 1..3 (Monday and the first block are 0),
        normalised so the shape's mean over a week is 1."""
        d, b = np.r_[0.0, day], np.r_[0.0, block]
        shape = np.exp(d[:, None] + b[None, :]).ravel()
        shape /= shape.mean()
        return cls("weekly", mu, tuple(shape.tolist()), utc_offset_s=utc_offset_s)

    def __post_init__(self) -> None:
        if self.kind == "weekly":
            hourly = np.repeat(np.asarray(self.shape), BLOCK_H) * 3600.0  # seconds-weighted
            object.__setattr__(self, "_cum", tuple(np.r_[0.0, np.cumsum(hourly)].tolist()))

    def rate(self, t: float, driver: float) -> float:
        """Background events/s above Mc at ``t`` with the driver at ``driver``."""
        if self.kind == "constant":
            return self.mu
        if self.kind == "driven":  # no driver known yet: at its mean
            d = driver / self.driver_mean if math.isfinite(driver) else 1.0
            return max(self.mu - self.mu1, 0.0) + self.mu1 * d
        return self.mu * self.shape[int(cell_of(t, self.utc_offset_s))]

    def integral(self, t: float, horizon_s: float, driver: float) -> float:
        """Expected background events above Mc in ``(t, t + horizon]`` (the driver held)."""
        if self.kind != "weekly":
            return self.rate(t, driver) * horizon_s
        return self.mu * (self._shape_integral(t + horizon_s) - self._shape_integral(t))

    def _shape_integral(self, t: float) -> float:
        """int_0^t of the shape (seconds), continuous across weeks."""
        h = float(hour_of_week(t, self.utc_offset_s))
        weeks = math.floor((t + self.utc_offset_s + 24 * _EPOCH_WEEKDAY * 3600.0) / (WEEK_H *
                                                                                     3600.0))
        cum = self._cum
        i = int(h)
        within = cum[i] + (h - i) * (cum[i + 1] - cum[i])
        return weeks * cum[-1] + within

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mu": self.mu, "shape": list(self.shape), "mu1": self.mu1,
                "driver": self.driver, "driver_mean": self.driver_mean,
                "utc_offset_s": self.utc_offset_s}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Background:
        return cls(str(data["kind"]), float(data["mu"]), tuple(map(float, data["shape"])),  # type: ignore[arg-type]
                   float(data["mu1"]), data.get("driver"), float(data["driver_mean"]),
                   float(data["utc_offset_s"]))


class Driver:
    """The background's driver as the scope's events reveal it, causally: the latest mined
    volume (m³ per day) and the count of events above Mc over the last 30 days.

    >>> d = Driver()
    >>> for day in range(3):
    ...     d.add(day * 86400.0, above_mc=True, volume_m3=None)
    >>> round(d.value("rate", 2 * 86400.0) * 86400 * RATE_DAYS, 6), d.value("volume", 0.0)
    (2.0, nan)
    """

    def __init__(self) -> None:
        self.days = np.zeros(RATE_DAYS, np.int64)  # ring of daily counts above Mc
        self.head = -1  # index (day number) of the newest day counted
        self.volume = math.nan

    def add(self, t: float, above_mc: bool, volume_m3: float | None) -> None:
        day = math.floor(t / 86400.0)
        if day > self.head:
            for d in range(max(self.head + 1, day - RATE_DAYS + 1), day + 1):
                self.days[d % RATE_DAYS] = 0
            self.head = day
        if above_mc:
            self.days[day % RATE_DAYS] += 1
        if volume_m3 is not None and math.isfinite(volume_m3):
            self.volume = float(volume_m3)

    def value(self, kind: DriverKind | None, t: float) -> float:
        """The driver at ``t``: the latest volume, or the rate over the 30 whole days before
        ``t``'s day (per second)."""
        if kind == "volume":
            return self.volume
        self.add(t, above_mc=False, volume_m3=None)  # roll the ring to t
        today = self.days[math.floor(t / 86400.0) % RATE_DAYS]
        return float(self.days.sum() - today) / (RATE_DAYS * 86400.0)

    def to_state(self) -> dict[str, Any]:
        return {"days": self.days, "head": self.head, "volume": self.volume}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Driver:
        d = cls()
        d.days = np.asarray(state["days"], np.int64).copy()
        d.head, d.volume = int(state["head"]), float(state["volume"])
        return d


def rate_driver(t: np.ndarray, above_mc: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The rate driver at times ``at`` from a history (what :class:`Driver` reads online):
    events above Mc in the 30 whole days before each time's day, per second.

    >>> t = np.array([0.0, 86400.0, 2 * 86400.0]); at = np.array([2 * 86400.0 + 5])
    >>> float(rate_driver(t, np.ones(3, bool), at)[0] * 86400 * RATE_DAYS)
    2.0
    """
    day = np.sort(np.floor(np.asarray(t, float) / 86400.0).astype(np.int64)[above_mc])
    at_day = np.floor(np.asarray(at, float) / 86400.0).astype(np.int64)
    hi = np.searchsorted(day, at_day, side="left")
    lo = np.searchsorted(day, at_day - RATE_DAYS, side="left")
    return (hi - lo) / (RATE_DAYS * 86400.0)


def volume_driver(t: np.ndarray, volume: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The volume driver at times ``at``: the latest finite volume at or before each
    (NaN before the first).

    >>> volume_driver(np.array([0.0, 10.0]), np.array([5.0, np.nan]), np.array([-1.0, 11.0]))
    array([nan,  5.])
    """
    ok = np.isfinite(volume)
    tv, vv = np.asarray(t, float)[ok], np.asarray(volume, float)[ok]
    idx = np.searchsorted(tv, at, side="right") - 1
    return np.where(idx >= 0, vv[np.maximum(idx, 0)] if vv.size else np.nan, np.nan)
