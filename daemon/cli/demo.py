"""``seismowatch demo``: broker, worker and a synthetic year, with a summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from daemon.cli.common import (
    BootstrapOpt,
    ConfigOpt,
    StopFlag,
    app,
    console,
    err_console,
    settings_or_exit,
)
from daemon.cli.render import (
    print_summary,
    render_alert,
)
from replay.exceptions import SeismowatchError


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, help="Days of synthetic mine to replay.")] = 365,
    speed: Annotated[
        float | None, typer.Option(help="K x real time (default: as fast as possible).")
    ] = None,
    seed: int = 7,
    metrics_port: Annotated[
        int | None, typer.Option(help="Worker metrics port (default: setting, else a free one).")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option("--dir", help="Demo directory (wiped): <state_dir>/demo.")
    ] = None,
    hold: Annotated[
        bool, typer.Option(help="After the summary, keep broker and worker up until Ctrl-C.")
    ] = False,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Broker + worker + a synthetic mine replayed fast: alerts live, metrics, a summary."""
    from rich.progress import MofNCompleteColumn

    from daemon.demo import (
        SYNTHETIC_MINE_TOML,
        Alert,
        DemoProgress,
        Status,
        Summary,
        demo_settings,
        iter_demo,
    )

    if speed is not None and speed <= 0:
        err_console.print("[red]error:[/] --speed must be positive")
        raise typer.Exit(2)
    settings = settings_or_exit(config or SYNTHETIC_MINE_TOML,
                                **{"kafka.bootstrap_servers": bootstrap})
    base = workdir or settings.state_dir / "demo"
    settings = demo_settings(settings, base, metrics_port)
    stop = StopFlag()
    stop.install()
    progress = Progress(
        TextColumn("[bold]{task.description:<7}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.0f} ev/s"), TimeElapsedColumn(), console=console,
    )
    summary: Summary | None = None
    t_start = time.monotonic()
    try:
        with progress:
            sent_task = progress.add_task("replay", total=None, rate=0.0)
            scored_task = progress.add_task("scored", total=None, rate=0.0)
            for update in iter_demo(
                settings, base, days=days, seed=seed, speed=speed, should_stop=stop, hold=hold
            ):
                if isinstance(update, Status):
                    progress.console.print(f"[cyan]{update.message}[/]")
                elif isinstance(update, Alert):
                    progress.console.print(render_alert(update.record), highlight=False)
                elif isinstance(update, DemoProgress):
                    elapsed = max(time.monotonic() - t_start, 1e-6)
                    progress.update(
                        sent_task, total=update.total, completed=update.sent,
                        rate=update.sent / elapsed,
                    )
                    progress.update(
                        scored_task, total=update.total, completed=int(update.scored),
                        rate=update.scored / elapsed,
                    )
                elif isinstance(update, Summary):
                    summary = update
                    progress.stop()
                    print_summary(summary, speed)
    except (RuntimeError, SeismowatchError) as exc:
        err_console.print(f"[red]error:[/] demo: {exc}")
        raise typer.Exit(3 if isinstance(exc, SeismowatchError) else 1) from None
    if summary is None:
        raise typer.Exit(130)
