"""``seismowatch report``: the exploratory HTML report of a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daemon.cli.common import (
    ConfigOpt,
    FileArg,
    FormatOpt,
    MapOpt,
    SheetOpt,
    TzOpt,
    app,
    console,
    read_for_models,
    settings_or_exit,
)


@app.command()
def report(
    file: FileArg,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write")],
    fmt: FormatOpt = "gits",
    mapping: MapOpt = None,
    tz: TzOpt = None,
    sheet: SheetOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The exploratory figures of FILE (correlations, 3D map, dynamics, PCA/t-SNE) as one
    self-contained HTML file."""
    from daemon.offline.report import write_report

    settings = settings_or_exit(config)
    events = read_for_models(file, fmt, mapping, tz, sheet, settings)
    with console.status(f"figures of {len(events)} events"):
        write_report(out, f"seismowatch report of {file.name}", events, None)
    console.print(f"report written to {out}")
