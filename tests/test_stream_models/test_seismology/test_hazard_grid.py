"""The hazard grid: it keeps the law's mass, puts it where the events are, and stays bounded."""

from __future__ import annotations

import numpy as np
import pytest

from stream_models.seismology.etas import EtasState, generic_law
from stream_models.seismology.grid_spec import GridSpec
from stream_models.seismology.hazard_grid import HazardGrid
from stream_models.seismology.spatial import SpatialKernel

LAW = generic_law(1.0, mu=2e-4)
H = 8 * 3600.0


def test_the_grid_sums_to_the_temporal_law_s_expected_count() -> None:
    """Cells plus far field hold every event's aftershocks: summed over the grid, the
    expected count is the temporal ETAS law's (its fastest and slowest rates aside)."""
    rng = np.random.default_rng(3)
    grid, temporal = HazardGrid(GridSpec(cell_m=25.0)), EtasState()
    t = np.cumsum(rng.exponential(900.0, 300))
    for ti, x, y, m in zip(t, rng.normal(0, 150, 300), rng.normal(0, 150, 300),
                           rng.uniform(1.0, 4.5, 300), strict=True):
        grid.add(float(ti), float(x), float(y), float(m), "a", SpatialKernel())
        temporal.add(float(ti), float(m))
    now = float(t[-1]) + 600.0
    snap = grid.snapshot(now, LAW, H, 4.0)
    assert snap.expected.sum() == pytest.approx(temporal.expected(LAW, now, H), rel=0.02)


def test_the_hazard_is_highest_where_the_events_are_and_falls_off_with_distance() -> None:
    grid = HazardGrid(GridSpec(cell_m=20.0))
    for i in range(30):
        grid.add(300.0 * i, 500.0, 500.0, 3.0, "a", SpatialKernel())
    snap = grid.snapshot(9000.0, LAW, H, 4.0)
    p, x, y = snap.hottest()["a"]
    assert (x, y) == (510.0, 510.0) and p == snap.probability.max()
    r = np.hypot(snap.x - 510.0, snap.y - 510.0)
    near, far = snap.probability[r < 30].mean(), snap.probability[r > 80].mean()
    assert near > 5 * far > 0


def test_cost_and_state_stay_bounded_however_many_places() -> None:
    spec = GridSpec(cell_m=10.0, max_cells=200, max_reach_cells=2)
    grid = HazardGrid(spec)
    rng = np.random.default_rng(1)
    for i in range(400):  # events all over a wide field: far more cells than the cap
        before = set(grid.cells)
        x, y = float(rng.uniform(0, 5000)), float(rng.uniform(0, 5000))
        grid.add(60.0 * i, x, y, 2.0, "a", SpatialKernel())
        assert len(set(grid.cells) - before) <= (2 * spec.max_reach_cells + 1) ** 2  # its window
        assert grid.used == len(grid.cells) <= spec.max_cells
        assert sorted(grid.cells.values()) == list(range(grid.used))  # one row per cell
    assert grid.used > spec.max_cells // 2  # full, less the batch that left last
    assert (int(x // 10), int(y // 10)) in grid.cells  # the newest event's cell is held


def test_a_zone_s_probability_integrates_its_cells_and_feels_its_neighbours() -> None:
    """Triggering crosses zone borders: events of zone a next to zone b raise b's hazard."""
    def grid_with(neighbours: bool) -> dict[str, float]:
        grid = HazardGrid(GridSpec(cell_m=20.0))
        for i in range(10):  # zone b's own events, east of the border at x = 100
            grid.add(600.0 * i, 140.0, 0.0, 2.5, "b", SpatialKernel())
        if neighbours:  # zone a's burst, 30 m west of the border
            for i in range(10):
                grid.add(6000.0 + 60.0 * i, 70.0, 0.0, 3.5, "a", SpatialKernel())
        snap = grid.snapshot(7000.0, LAW, H, 4.0)
        zones = np.array(snap.zone)
        b = -np.expm1(-snap.expected[zones == "b"].sum() * snap.tail)
        assert snap.by_zone()["b"] == pytest.approx(b)
        assert snap.by_zone()["b"] >= snap.hottest()["b"][0]
        return snap.by_zone()

    assert grid_with(True)["b"] > 2 * grid_with(False)["b"]
