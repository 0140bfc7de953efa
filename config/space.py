"""Where in the mine: zones configured (boxes of the mine grid) or derived from the data,
and the hazard grid's settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stream_models.seismology.grid_spec import GridSpec


class Zone(BaseModel):
    """An axis-aligned box of the mine grid (m); events inside it belong to the zone."""

    name: str
    x_min: float = float("-inf")
    x_max: float = float("inf")
    y_min: float = float("-inf")
    y_max: float = float("inf")
    z_min: float = float("-inf")
    z_max: float = float("inf")

    def contains(self, x: float, y: float, z: float) -> bool:
        return (
            self.x_min <= x <= self.x_max
            and self.y_min <= y <= self.y_max
            and self.z_min <= z <= self.z_max
        )


class DataZone(BaseModel):
    """A zone derived from the data (a cluster of epicentres): the events nearer its centre
    than any other derived zone's belong to it (faces advance; a mine's events move away
    from where its first weeks' cluster was, but stay nearer it than another mine's)."""

    name: str
    x: float
    y: float
    events: int = 0  # its epicentres in the window it was derived from


class SpaceSettings(BaseModel):
    """The hazard grid: where in the mine an event >= the alert target is likely."""

    model_config = ConfigDict(allow_inf_nan=False)

    enabled: bool = True
    cell_m: float = Field(50.0, gt=0)  # tens of metres in a mine; a few km in a district
    max_cells: int = Field(1024, ge=1)  # the grid's cap: its state and cost stay bounded
    # the generic kernel's aftershock scale of a 10^4 J event (m): GITS locates to ~10 m
    kernel_scale_m: float = Field(30.0, gt=0)
    snapshot_interval_h: float = Field(1.0, gt=0)  # event time between published snapshots
    max_reach_cells: int = Field(6, ge=0)  # cells on either side an event updates
    # with no zones configured, zones are derived from the data (clusters of epicentres)
    derive_zones: bool = True

    def spec(self) -> GridSpec:
        return GridSpec(self.cell_m, self.max_cells, 0.9, self.max_reach_cells,
                        self.snapshot_interval_h * 3600, self.kernel_scale_m)
