"""A scope's hazard grid: each located event counted, a snapshot every interval of event time.

Kept by the scope that sees every event (the mine-wide scope, or the only zone
when none is configured), since triggering crosses zone borders. Snapshots fall
due by event time alone (the first event at or after each multiple of the
interval), so a restored scope publishes the same snapshots as one that never
stopped. The grid counts events above the scope's completeness with the generic
law's productivity exponent; the law in force (generic or fitted) weighs the
decay and the background when a snapshot is read, and the spatial kernel is the
generic one until a space-time fit is installed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stream_models.seismology.etas import GENERIC_ALPHA, EtasParams
from stream_models.seismology.grid_spec import GridSpec
from stream_models.seismology.hazard_grid import GridSnapshot, HazardGrid
from stream_models.seismology.spatial import SpatialKernel, generic_kernel

KERNEL_FIRST = 300  # located events above Mc before the first space-time fit
KERNEL_EVERY = 1000  # ... and between refits


class SpaceWatch:
    """The grid of one scope and when its next snapshot is due.

    >>> from stream_models.seismology.etas import generic_law
    >>> w = SpaceWatch(GridSpec(cell_m=25.0, snapshot_every_s=3600.0), 8 * 3600.0, 4.0)
    >>> law = generic_law(2.0, mu=1e-4)
    >>> snaps = [w.on_event(600.0 * i, 10.0 * (i % 3), 0.0, 2.5, True, "a", law)
    ...          for i in range(13)]
    >>> [s.t for s in snaps if s is not None]
    [0.0, 3600.0, 7200.0]
    """

    def __init__(self, spec: GridSpec, horizon_s: float, target_log_e: float) -> None:
        self.spec = spec
        self.horizon_s, self.target_log_e = horizon_s, target_log_e
        self.grid = HazardGrid(spec)
        self.kernel: SpatialKernel = generic_kernel(spec.kernel_scale_m)
        self.next_t = -math.inf
        self.last: GridSnapshot | None = None  # the latest snapshot (not stored: republished)
        self.counted = 0  # located events above Mc the grid has counted
        self.kernel_at = 0  # ... when the kernel in force was installed

    def on_event(self, t: float, x: float, y: float, log_e: float, above: bool, zone: str,
                 law: EtasParams) -> GridSnapshot | None:
        """Count the event (above Mc and located); the snapshot, when one fell due."""
        if above and math.isfinite(x) and math.isfinite(y):
            self.grid.add(t, x, y, log_e, zone, self.kernel, GENERIC_ALPHA)
            self.counted += 1
        if t < self.next_t or not self.grid.used:
            return None
        every = self.spec.snapshot_every_s
        self.next_t = (math.floor(t / every) + 1) * every
        self.last = self.grid.snapshot(t, law, self.horizon_s, self.target_log_e)
        return self.last

    def kernel_due(self) -> bool:
        """Whether the next promoted ETAS fit should fit the kernel too: a first fit once
        ``KERNEL_FIRST`` located events were counted, then every ``KERNEL_EVERY`` more (a
        joint fit costs seconds; the kernel changes slowly)."""
        if not self.kernel.fitted:
            return self.counted >= KERNEL_FIRST
        return self.counted - self.kernel_at >= KERNEL_EVERY

    def install(self, kernel: SpatialKernel) -> None:
        """A fitted kernel spreads the aftershocks of the events counted from now on."""
        self.kernel, self.kernel_at = kernel, self.counted

    def to_state(self) -> dict[str, Any]:
        return {"grid": self.grid.to_state(), "kernel": self.kernel.to_json(),
                "next_t": self.next_t, "counted": self.counted, "kernel_at": self.kernel_at}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], spec: GridSpec, horizon_s: float,
                   target_log_e: float) -> SpaceWatch:
        w = cls(spec, horizon_s, target_log_e)
        w.grid = HazardGrid.from_state(state["grid"], spec)
        w.kernel = SpatialKernel.from_json(dict(state["kernel"]))
        w.next_t = float(state["next_t"])
        w.counted, w.kernel_at = int(state["counted"]), int(state["kernel_at"])
        return w
