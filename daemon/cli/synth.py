"""``seismowatch synth``: write a synthetic GITS export."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from daemon.cli.common import (
    app,
    console,
)


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help=".xlsx, .csv or .parquet")],
    days: Annotated[int, typer.Option(min=1, help="Days from the start (the paper's year: 361).")]
    = 361,
    seed: int = 7,
    rate: Annotated[
        float | None,
        typer.Option(help="Ordinary events per day per panel at nominal production "
                          "(default: calibrated to 5 events >= 8e3 J a year)."),
    ] = None,
    b_value: Annotated[float | None, typer.Option(help="Gutenberg-Richter b (magnitude).")] = None,
    precursors: Annotated[
        str, typer.Option(help="Precursor strength (rate multiple in the last shift before a "
                               "large event), 0 for none, or 'none': the same sequences moved "
                               "away from the large events.")
    ] = "3",
    large_events: Annotated[
        str | None, typer.Option(help="paper (the GITS paper's dates) or random (drawn from "
                                      "the seed); default: paper for seed 7, else random.")
    ] = None,
) -> None:
    """Write a physically plausible synthetic GITS export (see docs: the synthetic mine)."""
    from dataclasses import replace

    from replay.gits_export import write_gits
    from replay.large_events import LARGE_LOG_E
    from replay.synth import SynthParams, generate, with_precursors, zones_toml

    params = SynthParams(days=days, seed=seed)
    if rate is not None:
        params = replace(params, background_per_day=rate)
    if b_value is not None:
        params = replace(params, b_value=b_value)
    if large_events is not None:
        if large_events not in ("paper", "random"):
            raise typer.BadParameter("use paper or random", param_hint="--large-events")
        params = replace(params, large_events=large_events)  # type: ignore[arg-type]
    params = with_precursors(params, _precursor_strength(precursors))
    frame = generate(params)
    write_gits(frame, out)
    large = frame[frame["energy_j"] >= 10**LARGE_LOG_E]
    console.print(
        f"wrote {len(frame)} events over {days} days to [bold]{out}[/] "
        f"({len(large)} with E >= 8e3 J, {int((frame['energy_j'] >= 1e4).sum())} >= 1e4 J; "
        f"calendar {params.calendar}; precursors "
        f"{'moved away (none)' if not params.precursors.linked else params.precursors.strength})"
    )
    for row in large.itertuples():
        console.print(f"  {row.time:%Y-%m-%d %H:%M}  {row.zone:<8} {row.energy_j:>9,.0f} J  "
                      f"{row.duration_s:.1f} s")
    console.print("zones of this mine:")
    console.print(zones_toml(params), markup=False)


def _precursor_strength(text: str) -> float | None:
    """``--precursors``: a non-negative strength, or ``none`` (sequences moved away)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise typer.BadParameter(f"{text!r}: a number >= 0 or 'none'", param_hint="--precursors")
    return value
