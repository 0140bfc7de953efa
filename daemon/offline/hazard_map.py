"""The hazard grid as a map: each cell's probability of a target, and the events around it.

Drawn from the snapshot that stood before the largest event of a backtest (what the
control room's map showed just before it), with the located events of the day
before the snapshot, and the largest event itself, marked where it struck.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from stream_models.seismology.hazard_grid import GridSnapshot
from stream_models.wire import Event, utc_text


def hazard_map(snap: GridSnapshot, events: Sequence[Event], target_energy_j: float
               ) -> go.Figure:
    cell = snap.cell_m
    i = np.floor(snap.x / cell).astype(int)
    j = np.floor(snap.y / cell).astype(int)
    grid = np.full((j.max() - j.min() + 1, i.max() - i.min() + 1), np.nan)
    grid[j - j.min(), i - i.min()] = snap.probability
    xs = (np.arange(i.min(), i.max() + 1) + 0.5) * cell
    ys = (np.arange(j.min(), j.max() + 1) + 0.5) * cell
    fig = go.Figure(go.Heatmap(
        x=xs, y=ys, z=grid, colorscale="YlOrRd", name="hazard",
        colorbar={"title": f"P(E >= {target_energy_j:g} J)<br>in {snap.horizon_s / 3600:g} h"},
        hovertemplate="x %{x:.0f} m, y %{y:.0f} m<br>P = %{z:.2g}<extra></extra>"))
    before = [e for e in events if snap.t - 86400.0 <= e.timestamp <= snap.t]
    if before:
        fig.add_trace(go.Scatter(
            x=[e.x for e in before], y=[e.y for e in before], mode="markers",
            name="events of the day before",
            marker={"size": [4 + 2 * max(e.log_energy - 2, 0) for e in before],
                    "color": "rgba(30,60,160,0.6)"}))
    after = [e for e in events if snap.t < e.timestamp <= snap.t + snap.horizon_s]
    if after:
        big = max(after, key=lambda e: e.energy_j)
        fig.add_trace(go.Scatter(
            x=[big.x], y=[big.y], mode="markers", name=f"next largest: {big.energy_j:.3g} J",
            marker={"symbol": "star", "size": 16, "color": "black"}))
    fig.update_layout(
        title=f"Hazard grid at {utc_text(snap.t)} ({cell:g} m cells)", height=600,
        xaxis={"title": "x (m)", "scaleanchor": "y"}, yaxis={"title": "y (m)"})
    return fig
