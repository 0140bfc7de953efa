"""A synthetic mining district: several synthetic mines kilometres apart, as one catalog.

What a regional network's catalog of a coal district looks like to seismowatch:
each mine's seismicity follows its own faces and production (:mod:`replay.synth`),
and nothing triggers across the kilometres between them. Used to check that zones
derived from the data do as well as zones drawn around each mine.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from replay.synth import SynthParams, generate

SPACING_M = 15_000.0  # between the mines' origins, along x


def district(mines: int = 3, seed: int = 11, days: int = 365) -> pd.DataFrame:
    """One catalog of ``mines`` synthetic mines (seeds ``seed``, ``seed + 1``, ...), mine k
    shifted ``k * SPACING_M`` along x; ``zone`` names the mine (what hand-drawn zones give)."""
    parts = []
    for k in range(mines):
        frame = generate(replace(SynthParams(seed=seed + k, days=days)))
        frame["x"] = frame["x"] + k * SPACING_M
        frame["zone"] = f"mine-{k + 1}"
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True).sort_values("time", kind="stable")
    out["event_id"] = range(1, len(out) + 1)
    return out.reset_index(drop=True)


def hand_drawn_zones_toml(mines: int = 3) -> str:
    """``[[zones]]`` boxes around each mine of :func:`district` (what a user would draw)."""
    lines = []
    for k in range(mines):
        lo, hi = k * SPACING_M - SPACING_M / 2, k * SPACING_M + SPACING_M / 2
        lines += ["[[zones]]", f'name = "mine-{k + 1}"', f"x_min = {lo}", f"x_max = {hi}", ""]
    return "\n".join(lines)
