"""Space-time Molchan: a grid that knows where targets strike scores above the zone-uniform one."""

from __future__ import annotations

import numpy as np
import pytest

from stream_models.evaluation.spatial_skill import SpaceTimeScore
from stream_models.seismology.hazard_grid import GridSnapshot

CELL = 10.0


def _snap(t: float, rate: np.ndarray, zones: list[str]) -> GridSnapshot:
    x = (np.arange(rate.size) + 0.5) * CELL
    return GridSnapshot(t, 3600.0, CELL, x, np.full(rate.size, 5.0), zones, 1 - np.exp(-rate),
                        rate)


def _score(rate_of: callable, seed: int) -> tuple[float, float]:  # type: ignore[valid-type]
    """Targets strike cell 3 or 7 (both zone 'a'); snapshots hourly over 200 h."""
    rng = np.random.default_rng(seed)
    zones = ["a"] * 10 + ["b"] * 10
    score = SpaceTimeScore(1e4)
    for h in range(200):
        score.snapshot(_snap(h * 3600.0, rate_of(rng), zones))
        if rng.random() < 0.3:
            cell = int(rng.choice([3, 7]))
            score.event(h * 3600.0 + 1800.0, (cell + 0.5) * CELL, 5.0, 2e4)
    s = score.result(200 * 3600.0)
    assert s.targets > 40 and s.cells == 20 and s.snapshots == 200
    return s.grid_area_skill, s.zone_uniform_area_skill


def test_a_grid_that_knows_the_cells_beats_one_that_knows_only_the_zone() -> None:
    def knows(rng: np.random.Generator) -> np.ndarray:
        rate = np.full(20, 1e-3)
        rate[[3, 7]] = 1e-1
        return rate

    grid, uniform = _score(knows, 1)
    assert grid > 0.9 and 0.6 < uniform < 0.8  # the zone holds half the space-time volume
    assert grid > uniform


def test_a_grid_that_knows_nothing_scores_chance() -> None:
    grid, _ = _score(lambda rng: rng.uniform(0, 1, 20), 2)
    assert grid == pytest.approx(0.5, abs=0.1)
