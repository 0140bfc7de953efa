"""``seismowatch train``: fit ETAS and train the LSTM on a historical file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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
def train(
    file: FileArg,
    out: Annotated[Path, typer.Option("--out", help="Model registry directory to write to")],
    fmt: FormatOpt = "gits",
    mapping: MapOpt = None,
    tz: TzOpt = None,
    sheet: SheetOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate rejects it (logged)")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Train the LSTM on a historical FILE through the daemon's feature code; write a
    registry entry a worker can start from (``lstm.registry_dir``)."""
    from stream_models.retraining.offline_train import train_offline

    settings = settings_or_exit(config)
    events = read_for_models(file, fmt, mapping, tz, sheet, settings)
    with console.status(f"features and labels of {len(events)} events, then training"):
        decision = train_offline(
            events, settings.monitor_policy(), settings.retrain_policy(), out, force=force
        )
    table = Table(title=f"LSTM trained on {file.name}", show_header=False)
    keys = ("version", "train_examples", "train_positives", "validation_examples",
            "validation_positives", "validation_roc_auc", "train_seconds", "reason")  # fmt: skip
    for key in keys:
        value = decision.get(key)
        table.add_row(key.replace("_", " "), f"{value:.4f}" if isinstance(value, float) else
                      str(value))  # fmt: skip
    verdict = "promoted" if decision["promoted"] else "not promoted"
    table.add_row("result", f"{verdict}{' (forced)' if decision.get('forced') else ''}")
    etas = decision.get("etas") or {}
    table.add_row("ETAS fit", f"{'promoted' if etas.get('promoted') else 'not promoted'}: "
                              f"{etas.get('reason', 'not run')}")
    table.add_row("registry", str(out))
    console.print(table)
    if decision["promoted"]:
        console.print(f"start workers from it: SEISMOWATCH_LSTM__REGISTRY_DIR={out}")
    elif not decision.get("version"):
        raise typer.Exit(1)
