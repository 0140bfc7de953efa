"""Space-time skill: Molchan over grid cells and snapshot intervals, beside the temporal view.

Each hazard-grid snapshot stands until the next one (at most a horizon). The
space-time volume is every (interval, cell) of the region: the cells any
snapshot held, plus those a target struck. An alarm covers the volume whose
rate (expected events per cell, the grid's ranking) is at or above a threshold;
``tau`` is the share of the volume in alarm, ``nu`` the share of targets outside
it. A cell a snapshot did not hold counts at that snapshot's lowest rate.

Two forecasts are scored on the same volume: the grid's own cells, and the same
expected counts spread evenly over each zone's cells (what a forecast that knows
only the zone says), so the difference is what space adds within zones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_models.seismology.hazard_grid import GridSnapshot
from stream_models.skill.molchan import area_skill, gain_at


@dataclass(frozen=True)
class SpatialSkill:
    """Space-time Molchan area skill and gain at 10 % of the volume, grid and zone-uniform."""

    grid_area_skill: float
    zone_uniform_area_skill: float
    grid_gain_10: float
    zone_uniform_gain_10: float
    targets: int
    cells: int
    snapshots: int


_LOG_RATE = (-14.0, 3.0, 3400)  # log10 expected-count bins: 0.005 decades each


class _Curve:
    """Volume and targets per bin of log rate: a Molchan curve in fixed memory however many
    snapshots a year holds (ties within a bin share one threshold)."""

    def __init__(self) -> None:
        self.volume = np.zeros(_LOG_RATE[2])
        self.hits = np.zeros(_LOG_RATE[2])

    def add(self, rate: np.ndarray, volume: np.ndarray, hits: np.ndarray) -> None:
        lo, hi, n = _LOG_RATE
        b = np.clip(((np.log10(np.maximum(rate, 1e-300)) - lo) / (hi - lo) * n).astype(int),
                    0, n - 1)
        self.volume += np.bincount(b, volume, n)
        self.hits += np.bincount(b, hits, n)

    def molchan(self, n_targets: int) -> tuple[np.ndarray, np.ndarray]:
        """(tau, nu) from the highest rate down; targets no snapshot covered are misses."""
        total = float(self.volume.sum())
        if total <= 0 or n_targets <= 0:
            return np.array([0.0, 1.0]), np.array([1.0, 0.0])
        v, h = self.volume[::-1], self.hits[::-1]
        used = v > 0
        tau = np.cumsum(v)[used] / total
        nu = 1 - np.cumsum(h)[used] / n_targets
        return np.r_[0.0, tau, 1.0], np.r_[1.0, nu, 0.0]


class SpaceTimeScore:
    """Scores snapshots as they come, in fixed memory: each stands until the next (at most
    a horizon); a target is judged by the snapshot standing before it.

    The region is every cell a snapshot held or a target struck, known at the end: the
    volume of a snapshot's unheld cells (at its lowest rate) is added then.
    """

    def __init__(self, target_energy_j: float) -> None:
        self.target_energy_j = target_energy_j
        self.grid, self.uniform = _Curve(), _Curve()
        self.pending: GridSnapshot | None = None
        self._row: dict[int, int] = {}  # cell code -> its row in the pending snapshot
        self._spread = np.zeros(0)  # the pending snapshot's expected counts, zone-uniform
        self.region: set[int] = set()  # cell codes
        self.unheld: list[tuple[float, float, int]] = []  # (lowest rate, duration, cells held)
        self.targets = 0
        self.snapshots = 0

    def event(self, t: float, x: float, y: float, energy_j: float) -> None:
        """An event, before any snapshot it caused."""
        s = self.pending
        if s is None or energy_j < self.target_energy_j or not (
                math.isfinite(x) and math.isfinite(y)):
            return
        key = _code(math.floor(x / s.cell_m), math.floor(y / s.cell_m))
        self.region.add(key)
        self.targets += 1
        if t > s.t + s.horizon_s:
            return  # no snapshot stood: a miss at every threshold
        row = self._row.get(key)
        low = float(s.expected.min())
        g, u = (low, low) if row is None else (float(s.expected[row]), float(self._spread[row]))
        self.grid.add(np.array([g]), np.zeros(1), np.ones(1))
        self.uniform.add(np.array([u]), np.zeros(1), np.ones(1))

    def snapshot(self, s: GridSnapshot) -> None:
        self._close(s.t)
        self.pending = s
        keys = _code(np.floor(s.x / s.cell_m).astype(np.int64),
                     np.floor(s.y / s.cell_m).astype(np.int64)).tolist()
        self.region.update(keys)
        self._row = dict(zip(keys, range(len(keys)), strict=True))
        # the zone's expected count, spread evenly over its cells
        _, zone = np.unique(np.array(s.zone, object), return_inverse=True)
        mean = np.bincount(zone, s.expected) / np.bincount(zone)
        self._spread = mean[zone]

    def _close(self, until: float) -> None:
        s = self.pending
        if s is None:
            return
        duration = min(until, s.t + s.horizon_s) - s.t
        if duration > 0:
            n = len(s.expected)
            volume = np.full(n, duration)
            self.grid.add(s.expected, volume, np.zeros(n))
            self.uniform.add(self._spread, volume, np.zeros(n))
            self.unheld.append((float(s.expected.min()), duration, n))
            self.snapshots += 1
        self.pending = None

    def result(self, end: float) -> SpatialSkill:
        """The skill over everything seen, the last snapshot standing until ``end``."""
        self._close(end)
        n = len(self.region)
        for low, duration, held in self.unheld:
            for c in (self.grid, self.uniform):
                c.add(np.array([low]), np.array([duration * (n - held)]), np.zeros(1))
        self.unheld = []
        curves = [c.molchan(self.targets) for c in (self.grid, self.uniform)]
        return SpatialSkill(area_skill(*curves[0]), area_skill(*curves[1]),
                            gain_at(*curves[0], 0.10), gain_at(*curves[1], 0.10),
                            self.targets, n, self.snapshots)


def _code(i: Any, j: Any) -> Any:
    """One integer per cell (i, j) (ints or int64 arrays; |j| < 2^31 cells): what sets and
    dicts of cells hold."""
    return i * (1 << 32) + j
