"""What every command shares: the consoles, option types, settings loading, reading a
file with its rejects, and one-line errors (exit 2) naming the option."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from config.settings import Settings, known_timezone, load_settings
from replay.exceptions import SeismowatchError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Near-real-time seismic-hazard monitoring for underground coal mines.",
)
config_app = typer.Typer(no_args_is_help=True, help="Inspect the effective settings.")
app.add_typer(config_app, name="config")


def _width(stream: Any) -> int | None:
    """Piped output (a log, a ticket) keeps whole table rows instead of an 80-column cut;
    a terminal, or COLUMNS, decides otherwise."""
    return None if stream.isatty() or os.environ.get("COLUMNS") else 160


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file.", exists=False, dir_okay=False),
]
FileArg = Annotated[Path, typer.Argument(help="GITS export (.xlsx/.csv/.parquet) or catalog")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="gits or catalog")]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="field=header, repeatable, e.g. --map magnitude=MW"),
]
TzOpt = Annotated[
    str | None,
    typer.Option("--tz", help="Time zone of naive times in the file (default per format)"),
]
SheetOpt = Annotated[str | None, typer.Option(help="Sheet name or 0-based index (.xlsx)")]
BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        "--bootstrap", help="Kafka bootstrap servers host:port[,...]; none: embedded broker."
    ),
]

# the CLI flag behind each setting a command may override, for error messages
FLAGS = {"kafka.bootstrap_servers": "--bootstrap", "alerts.target_energy_j": "--target-energy",
         "alerts.horizon_h": "--horizon", "metrics_port": "--metrics-port",
         "state_dir": "--state-dir"}


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    from pydantic import ValidationError

    from config.keys import explain

    try:
        return load_settings(config, **overrides)
    except ValidationError as exc:
        given = {k: FLAGS.get(k, k) for k, v in overrides.items() if v is not None}
        err_console.print(f"[red]error:[/] {explain(exc.errors(), config, os.environ, given)}",
                          highlight=False)
        raise typer.Exit(2) from None
    except (FileNotFoundError, ValueError) as exc:
        err_console.print(f"[red]error:[/] settings: {exc}", highlight=False)
        raise typer.Exit(2) from None


def bad_option(option: str, message: str) -> typer.Exit:
    """A one-line error naming the option; exit code 2 like any usage error."""
    err_console.print(f"[red]error:[/] {option}: {message}", highlight=False)
    return typer.Exit(2)


def file_timezone(tz: str | None, settings: Settings, fmt: str) -> str:
    """The file's time zone: ``--tz``, else the format's setting; refused if unknown."""
    name = tz or (settings.gits_timezone if fmt == "gits" else settings.catalog_timezone)
    try:
        return known_timezone(name)
    except ValueError as exc:
        raise bad_option("--tz", f"{exc} (e.g. Asia/Novokuznetsk)") from None


def read_file(file: Path, fmt: str, mapping: list[str] | None, tz: str | None,
              sheet: str | None, settings: Settings) -> Any:
    """Read FILE as every command does (format, zones, limits); a file that cannot be read
    at all is a one-line error, exit 2. Rejected rows stay in the result."""
    from replay.columns import ColumnError, parse_mapping
    from replay.read import read_events

    if fmt not in ("gits", "catalog"):
        raise bad_option("--format", f"gits or catalog, not {fmt!r}")
    try:
        return read_events(
            file, fmt, parse_mapping(mapping or []), sheet=sheet,  # type: ignore[arg-type]
            timezone=file_timezone(tz, settings, fmt), zone_of=settings.zone_of,
            default_zone=settings.default_zone, limits=settings.input.limits(),
        )
    except ColumnError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except SeismowatchError as exc:
        raise fail(exc) from None


def cluster_settings(config: Path | None, bootstrap: str | None, refusal: str) -> Settings:
    """Settings of a command that needs a real cluster: an embedded one would not outlive it."""
    settings = settings_or_exit(config, **{"kafka.bootstrap_servers": bootstrap})
    if settings.kafka.embedded:
        err_console.print(f"[red]error:[/] {refusal}")
        raise typer.Exit(2)
    return settings


def fail(exc: SeismowatchError) -> typer.Exit:
    err_console.print(f"[red]error:[/] {exc}")
    return typer.Exit(exc.exit_code)


class StopFlag:
    """First Ctrl-C/SIGTERM asks for a clean stop; a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        def handler(signum: int, frame: object) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            err_console.print("[yellow]stopping after the current batch (Ctrl-C again to abort)[/]")

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def print_rows(label: str, rows: list[Any], shown: int = 5) -> None:
    """The first rows of a kind on stderr, then how many more."""
    for r in rows[:shown]:
        err_console.print(f"[yellow]{label}[/] {r}: {r.value}", highlight=False)
    if len(rows) > shown:
        err_console.print(f"[yellow]... {len(rows) - shown} more[/]")


def read_for_models(file: Path, fmt: str, mapping: list[str] | None, tz: str | None,
                     sheet: str | None, settings: Settings) -> list[Any]:
    """Read FILE for training or a backtest; rejected rows go to a report, never silently."""
    from replay.rejects import write_report

    result = read_file(file, fmt, mapping, tz, sheet, settings)
    if result.rejects:
        report = settings.state_dir / "rejects" / f"{file.stem}.rejects.csv"
        write_report(result.rejects, report)
        err_console.print(f"[yellow]{len(result.rejects)} rejected rows[/] (report: {report})")
    print_rows("read, extra cells ignored", result.extra_cells)
    if not result.events:
        err_console.print(f"[red]error:[/] {file}: no valid events")
        raise typer.Exit(2)
    return list(result.events)


def hours(text: str, option: str = "--horizon") -> float:
    """``8h``, ``30m``, ``2d`` or a number of hours; finite and positive."""
    units = {"m": 1 / 60, "h": 1.0, "d": 24.0}
    try:
        value = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise bad_option(option, f"{text!r} is not a positive duration (e.g. 8h, 30m or 2d)")
    return value


def setup_logging(verbose: bool) -> str:
    import logging

    level = "info" if verbose else "warning"
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return level
