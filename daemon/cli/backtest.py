"""``seismowatch backtest``: every model, baseline and threshold scored online on files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from daemon.cli.common import (
    ConfigOpt,
    FormatOpt,
    MapOpt,
    SheetOpt,
    TzOpt,
    app,
    console,
    err_console,
    hours,
    read_for_models,
    settings_or_exit,
)
from stream_models.wire import dumps


@app.command()
def backtest(
    files: Annotated[list[Path], typer.Argument(help="GITS exports or catalogs, pooled")],
    fmt: FormatOpt = "gits",
    mapping: MapOpt = None,
    tz: TzOpt = None,
    sheet: SheetOpt = None,
    target_energy: Annotated[
        float | None, typer.Option("--target-energy", help="Target energy, J (default 1e4)")
    ] = None,
    horizon: Annotated[str | None, typer.Option(help="Horizon, e.g. 8h (default 8h)")] = None,
    thresholds: Annotated[
        str, typer.Option(help="State-c thresholds on the fused risk to compare")
    ] = "0.02,0.05,0.1,0.2,0.3,0.4,0.5",
    alerts_per_week: Annotated[
        float | None,
        typer.Option("--alerts-per-week", help="Recommend thresholds for at most N raises "
                                               "to state c per zone per week", min=0.01),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures")] = None,
    scores_out: Annotated[
        Path | None, typer.Option("--scores", help="Per-event scores (.csv or .parquet)")
    ] = None,
    report_out: Annotated[
        Path | None, typer.Option("--report", help="Self-contained HTML report")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Replay FILES at full speed through the daemon's own code, online, and score every
    model, baseline and alert threshold in one table across them."""
    from rich.progress import MofNCompleteColumn

    from daemon.offline import backtest_view
    from stream_models.evaluation.backtest import iter_thresholds

    try:
        levels = list(iter_thresholds(thresholds))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--thresholds") from None
    overrides = {"alerts.target_energy_j": target_energy,
                 "alerts.horizon_h": hours(horizon) if horizon else None,
                 "lstm.blocking": True}
    settings = settings_or_exit(config, **overrides)
    runs = [(f.stem if len(files) > 1 else f.name,
             read_for_models(f, fmt, mapping, tz, sheet, settings)) for f in files]
    progress = Progress(TextColumn("[bold]backtest"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console)
    with progress:
        task = progress.add_task("events", total=sum(len(e) for _, e in runs))
        report, collected = backtest_view.run(
            runs, settings, levels, alerts_per_week,
            on_event=lambda i: progress.update(task, completed=i + 1),
        )
    console.print(backtest_view.tables(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_bytes(dumps(report, indent=True))
        console.print(f"figures written to {json_out}")
    if scores_out is not None:
        frame = collected.frame()
        scores_out.parent.mkdir(parents=True, exist_ok=True)
        if scores_out.suffix == ".csv":
            frame.to_csv(scores_out, index=False)
        else:
            frame.to_parquet(scores_out, index=False)
        console.print(f"per-event scores written to {scores_out}")
    if report_out is not None:
        from daemon.offline.report import write_report

        events = [e for _, ev in runs for e in ev]
        with console.status("writing the report"):
            write_report(report_out, f"seismowatch backtest of {', '.join(r for r, _ in runs)}",
                         events, (report, collected))
        console.print(f"report written to {report_out}")
