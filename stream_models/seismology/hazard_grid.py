"""Where in the mine the hazard is: space-time ETAS summed per cell of a grid, per event.

Control rooms look at a map; mXrap (ACG) grids a mine and maps, per cell, the
chance of exceeding a design magnitude. :class:`HazardGrid` does the same from
the space-time ETAS law: each cell carries, per decay rate of the Omori kernel's
sum of exponentials (:mod:`stream_models.seismology.etas`), the triggering mass
its cell received, so its expected count of events above Mc within the horizon is

    N_c = mu H u_c + K sum_k w_k reach_k(H) A_ck(t)

(``u_c`` the background's share of the cell: its share of the long-term event
counts, ``A_ck`` decayed since the cell was last touched). The probability of a
target is ``1 - exp(-N_c 10^(-b (log10 E_T - Mc) / 1.5))``.

Each event touches only the cells that hold ``reach_share`` of its aftershocks
(at most ``max_reach_cells`` cells on either side); the rest of its mass goes to a
far field spread evenly over the grid. Cells are kept in a sparse table of at
most ``max_cells``: when it is full, the least recently touched eighth of them
leaves at once, its mass joining the far field. So an event costs at most
(2 max_reach_cells + 1)^2 cell updates whatever the history (an eviction one pass
over the cells, shared by the eighth that leaves), and the state is bounded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from stream_models.seismology.etas import RATES, omori_weights, productivity, reach
from stream_models.seismology.gr import log_tail
from stream_models.seismology.grid_kernels import decay_rows, decayed_dot
from stream_models.seismology.grid_spec import GridSpec
from stream_models.seismology.spatial import SpatialKernel

# the decay rates that matter for hours-to-days forecasts (c >= 10 s): 1/3 yr to 1/10 s
_IDX = np.flatnonzero((RATES >= 1e-8) & (RATES <= 0.1))
GRID_RATES = RATES[_IDX]
BACKGROUND_E_FOLD_S = 90 * 86400.0  # the background's map follows the mining over months


@dataclass(frozen=True)
class GridSnapshot:
    """The grid at one time: each cell's centre, zone and probability of a target."""

    t: float
    horizon_s: float
    cell_m: float
    x: np.ndarray
    y: np.ndarray
    zone: list[str]
    probability: np.ndarray
    expected: np.ndarray  # events above Mc within the horizon, per cell
    tail: float = 1.0  # the share of events above Mc that reach the target (Gutenberg-Richter)

    def by_zone(self) -> dict[str, float]:
        """Per zone: the probability of a target anywhere in its cells within the horizon,
        the space-time intensity integrated over the zone's region (triggering from every
        zone's events included)."""
        zones = np.array(self.zone, object)
        return {z: float(-np.expm1(-self.expected[zones == z].sum() * self.tail))
                for z in dict.fromkeys(self.zone)}

    def hottest(self) -> dict[str, tuple[float, float, float]]:
        """Per zone: (probability, x, y) of its most hazardous cell."""
        out: dict[str, tuple[float, float, float]] = {}
        for i in np.argsort(-self.probability, kind="stable"):
            z = self.zone[i]
            if z not in out:
                out[z] = (float(self.probability[i]), float(self.x[i]), float(self.y[i]))
        return out


@lru_cache(maxsize=32)
def _offsets(reach_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets of the square of cells within ``reach_cells`` of an event's own."""
    d = np.arange(-reach_cells, reach_cells + 1)
    oi, oj = np.meshgrid(d, d, indexing="ij")
    return oi.ravel(), oj.ravel()


class HazardGrid:
    """A sparse grid of space-time ETAS sums, updated per event at bounded cost.

    Examples
    --------
    >>> from stream_models.seismology.etas import generic_law
    >>> g = HazardGrid(GridSpec(cell_m=20.0))
    >>> for i in range(20):
    ...     g.add(600.0 * i, 100.0, 100.0, 3.0, "a", SpatialKernel())
    >>> g.add(12_000.0, 900.0, 900.0, 3.0, "b", SpatialKernel())
    >>> snap = g.snapshot(12_060.0, generic_law(2.0, mu=1e-4), 8 * 3600.0, 5.0)
    >>> hot = snap.hottest()
    >>> hot["a"][0] > hot["b"][0], hot["a"][1:]
    (True, (110.0, 110.0))
    """

    def __init__(self, spec: GridSpec | None = None) -> None:
        self.spec = spec or GridSpec()
        n, r = self.spec.max_cells, GRID_RATES.size
        self.cells: dict[tuple[int, int], int] = {}
        self.ij = np.zeros((n, 2), np.int64)
        self.zone = [""] * n
        # triggering mass per decay rate, as of touched[c] (float32: the state stays small, and
        # every update rounds alike, so a restored grid continues bit for bit)
        self.mass = np.zeros((n, r), np.float32)
        self.touched = np.zeros(n)  # when each cell's mass was last decayed
        self.counts = np.zeros(n)  # events per cell, decayed over months: the background
        self.counted = np.zeros(n)
        self.far = np.zeros(r)  # mass beyond the cells each event touched
        self.far_t = -math.inf
        self.used = 0

    def _row(self, key: tuple[int, int], zone: str, t: float) -> int:
        """The row of a cell, a new one if needed (room was made before: see _make_room)."""
        row = self.cells.get(key)
        if row is not None:
            return row
        row, self.used = self.used, self.used + 1
        self.cells[key] = row
        self.ij[row] = key
        self.zone[row] = zone
        self.mass[row], self.touched[row] = 0.0, t
        self.counts[row], self.counted[row] = 0.0, t
        return row

    def _make_room(self, keys: list[tuple[int, int]], t: float) -> None:
        """Room for the cells of ``keys`` not held yet: when the cap is near, the least
        recently touched eighth of the other cells (at least as many as needed) leave at
        once, their mass joins the far field, and the rest close up in order, so an
        eviction costs one pass however many cells an event opens."""
        held = [self.cells[k] for k in keys if k in self.cells]
        new = len(keys) - len(held)
        if self.used + new <= self.spec.max_cells:
            return
        k = min(max(new, self.spec.max_cells // 8), self.used - len(held))
        age = self.touched[: self.used].copy()
        age[held] = np.inf  # the event's own window stays
        order = np.lexsort((np.arange(self.used), age))
        gone = np.sort(order[:k])
        decay_rows(self.mass, self.touched, gone, t, GRID_RATES)
        self._far_to(t)
        self.far = self.far + self.mass[gone].sum(axis=0, dtype=float)
        keep = np.sort(order[k:])
        u = keep.size
        for name in ("ij", "mass", "touched", "counts", "counted"):
            arr = getattr(self, name)
            arr[:u] = arr[keep]
        self.zone[:u] = [self.zone[i] for i in keep.tolist()]
        self.used = u
        self._reindex()

    def _reindex(self) -> None:
        """The table of cells from their rows (after a compaction, or a restore)."""
        self.cells = {(a, b): i for i, (a, b) in enumerate(self.ij[: self.used].tolist())}

    def _far_to(self, t: float) -> None:
        if math.isfinite(self.far_t):
            self.far = self.far * np.exp(-GRID_RATES * max(t - self.far_t, 0.0))
        self.far_t = t

    def _counts_at(self, t: float) -> np.ndarray:
        dt = np.maximum(t - self.counted[: self.used], 0.0)
        return self.counts[: self.used] * np.exp(-dt / BACKGROUND_E_FOLD_S)

    def add(self, t: float, x: float, y: float, log_e: float, zone: str,
            kernel: SpatialKernel, alpha: float = 1.0) -> None:
        """Count an event (above Mc) at (x, y): its cell's background count, and its
        aftershocks' mass over the cells within reach."""
        cell = self.spec.cell_m
        ci, cj = math.floor(x / cell), math.floor(y / cell)
        reach_cells = min(self.spec.max_reach_cells,
                          math.ceil(kernel.radius(self.spec.reach_share, log_e) / cell))
        oi, oj = _offsets(reach_cells)
        gi, gj = oi + ci, oj + cj
        r2 = ((gi + 0.5) * cell - x) ** 2 + ((gj + 0.5) * cell - y) ** 2
        share = kernel.density(r2, log_e) * cell * cell
        # cells within reach that hold material mass; the rest of it joins the far field
        take = np.flatnonzero(share >= 1e-3 * share.max())
        if take.size > self.spec.max_cells // 2:  # a window wider than the grid may hold
            take = np.sort(take[np.argsort(-share[take], kind="stable")
                                [: max(self.spec.max_cells // 2, 1)]])
        prod = float(productivity(log_e, alpha))
        keys = list(zip(gi[take].tolist(), gj[take].tolist(), strict=True))
        self._make_room(keys, t)
        cells = self.cells
        rows = np.array([cells[k] if k in cells else self._row(k, zone, t) for k in keys],
                        np.int64)
        decay_rows(self.mass, self.touched, rows, t, GRID_RATES)
        self.mass[rows] += prod * share[take][:, None]
        self._far_to(t)
        self.far = self.far + prod * max(1.0 - float(share[take].sum()), 0.0)
        own = self._row((ci, cj), zone, t)
        self.counts[own] = self.counts[own] * math.exp(
            -max(t - self.counted[own], 0.0) / BACKGROUND_E_FOLD_S) + 1.0
        self.counted[own] = t

    def snapshot(self, t: float, law: Any, horizon_s: float, target_log_e: float
                 ) -> GridSnapshot:
        """Each cell's expected count above the law's Mc within ``horizon_s`` after ``t``,
        and its probability of an event >= 10^target_log_e J."""
        weights = omori_weights(law.c_s, law.p)[_IDX] * reach(horizon_s)[_IDX]
        n = max(self.used, 1)
        trig = law.k * decayed_dot(self.mass, self.touched, self.used, t, GRID_RATES, weights)
        far_decay = np.exp(-GRID_RATES * max(t - self.far_t, 0.0))
        far = law.k * float((self.far * far_decay) @ weights) / n
        counts = self._counts_at(t)
        total = counts.sum()
        share = counts / total if total > 0 else np.full(self.used, 1.0 / n)
        expected = law.mu * horizon_s * share + trig + far
        tail = math.exp(log_tail(law.mc_log_e, target_log_e, law.b_value))
        prob = -np.expm1(-expected * tail)
        cell = self.spec.cell_m
        ij = self.ij[: self.used]
        return GridSnapshot(t, horizon_s, cell, (ij[:, 0] + 0.5) * cell, (ij[:, 1] + 0.5) * cell,
                            list(self.zone[: self.used]), prob, expected, tail)

    def to_state(self) -> dict[str, Any]:
        u = self.used
        return {"cell_m": self.spec.cell_m, "ij": self.ij[:u].copy(),
                "zone": list(self.zone[:u]), "mass": self.mass[:u].copy(),
                "touched": self.touched[:u].copy(), "counts": self.counts[:u].copy(),
                "counted": self.counted[:u].copy(), "far": self.far.copy(),
                "far_t": self.far_t}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], spec: GridSpec) -> HazardGrid:
        if float(state["cell_m"]) != spec.cell_m:
            raise ValueError("hazard grid state has another cell size than configured")
        g = cls(spec)
        ij = np.asarray(state["ij"], np.int64).reshape(-1, 2)
        u = g.used = min(len(ij), spec.max_cells)
        g.ij[:u] = ij[:u]
        g.zone[:u] = [str(z) for z in state["zone"]][:u]
        g.mass[:u] = np.asarray(state["mass"], np.float32)[:u]
        for name in ("touched", "counts", "counted"):
            getattr(g, name)[:u] = np.asarray(state[name], float)[:u]
        g.far, g.far_t = np.asarray(state["far"], float).copy(), float(state["far_t"])
        g._reindex()
        return g
