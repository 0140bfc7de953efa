"""The hazard grid's geometry and bounds of cost, apart from its model code (settings read it
without loading numpy's or scipy's models)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GridSpec:
    """Cells of ``cell_m`` (tens of metres in a mine, km in a district), at most
    ``max_cells`` of them; each event updates the cells holding ``reach_share`` of its
    aftershocks, at most ``max_reach_cells`` on either side of its own; the grid is
    published every ``snapshot_every_s`` of event time; ``kernel_scale_m`` is the
    generic kernel's aftershock scale of a 10^4 J event."""

    cell_m: float = 50.0
    max_cells: int = 1024
    reach_share: float = 0.9
    max_reach_cells: int = 6
    snapshot_every_s: float = 3600.0
    kernel_scale_m: float = 30.0
