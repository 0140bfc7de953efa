"""``seismowatch train``: a mine's own base LSTM, fine-tuned on its historical file."""

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
    out: Annotated[Path, typer.Option("--out", help="Model file to write (.npz)")],
    fmt: FormatOpt = "gits",
    mapping: MapOpt = None,
    tz: TzOpt = None,
    sheet: SheetOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write it even if it does not beat the base")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Fine-tune the base LSTM on a mine's historical FILE through the daemon's own per-event
    code, judged on the file's newest time against the base; write it for workers to start
    every scope from (``lstm.base_model``). Each scope still fits its own ETAS law and
    fine-tunes its own copy as its data come."""
    from dataclasses import replace

    from stream_models.retraining.pretrain import train_site
    from stream_models.retraining.registry import base_lstm, save_model

    settings = settings_or_exit(config)
    base = base_lstm(settings.lstm.base_model)
    if base is None:
        raise typer.BadParameter("no base model to start from (lstm.base_model)")
    events = read_for_models(file, fmt, mapping, tz, sheet, settings)
    cfg = replace(settings.retrain_policy().finetune, epochs=settings.lstm.epochs + 3)
    with console.status(f"features and labels of {len(events)} events, then training"):
        try:
            model, report = train_site(events, settings.monitor_policy(), base, cfg,
                                       settings.mine_scope_name)
        except ValueError as exc:
            raise typer.BadParameter(f"{file.name}: {exc}") from None
    table = Table(title=f"LSTM fine-tuned on {file.name}", show_header=False)
    for key in ("base", "scopes", "examples", "train_examples", "train_positives",
                "validation_skill", "base_validation_skill", "train_seconds"):
        value = report.get(key)
        table.add_row(key.replace("_", " "), f"{value:.4f}" if isinstance(value, float) else
                      str(value))
    written = report["promoted"] or force
    verdict = "beats the base" if report["promoted"] else "does not beat the base"
    table.add_row("result", verdict + (" (written anyway: --force)" if force and
                                       not report["promoted"] else ""))
    if written:
        save_model(model, out)
        table.add_row("written to", str(out))
    console.print(table)
    if written:
        console.print(f"start workers from it: SEISMOWATCH_LSTM__BASE_MODEL={out}")
    else:
        raise typer.Exit(1)
