"""``seismowatch``: one console script over the broker, synthetic data and replay.

Commands only parse options, call the generators of ``replay``/``stream_models``
and render what they yield with rich.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from config.settings import Settings, load_settings
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
# the CLI flag behind each setting a command may override, for error messages
FLAGS = {"kafka.bootstrap_servers": "--bootstrap", "alerts.target_energy_j": "--target-energy",
         "alerts.horizon_h": "--horizon", "metrics_port": "--metrics-port",
         "state_dir": "--state-dir"}  # fmt: skip
BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        "--bootstrap", help="Kafka bootstrap servers host:port[,...]; none: embedded broker."
    ),
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    import os

    from pydantic import ValidationError

    from config.keys import explain

    try:
        return load_settings(config, **overrides)
    except ValidationError as exc:
        given = {k: FLAGS.get(k, k) for k, v in overrides.items() if v is not None}
        err_console.print(f"[red]error:[/] {explain(exc.errors(), config, os.environ, given)}",
                          highlight=False)  # fmt: skip
        raise typer.Exit(2) from None
    except (FileNotFoundError, ValueError) as exc:
        err_console.print(f"[red]error:[/] settings: {exc}", highlight=False)
        raise typer.Exit(2) from None


def _bad(option: str, message: str) -> typer.Exit:
    """A one-line error naming the option; exit code 2 like any usage error."""
    err_console.print(f"[red]error:[/] {option}: {message}", highlight=False)
    return typer.Exit(2)


def _timezone(tz: str | None, settings: Settings, fmt: str) -> str:
    """The file's time zone: ``--tz``, else the format's setting; refused if unknown."""
    from zoneinfo import ZoneInfoNotFoundError

    name = tz or (settings.gits_timezone if fmt == "gits" else settings.catalog_timezone)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("--tz", f"unknown time zone {name!r} (e.g. Asia/Novokuznetsk, UTC)") from None
    return name


def _read(file: Path, fmt: str, mapping: list[str] | None, tz: str | None, sheet: str | None,
          settings: Settings) -> Any:  # fmt: skip
    """Read FILE as every command does (format, zones, limits); a file that cannot be read
    at all is a one-line error, exit 2. Rejected rows stay in the result."""
    from replay.columns import ColumnError, parse_mapping
    from replay.read import read_events

    if fmt not in ("gits", "catalog"):
        raise _bad("--format", f"gits or catalog, not {fmt!r}")
    try:
        return read_events(
            file, fmt, parse_mapping(mapping or []), sheet=sheet,  # type: ignore[arg-type]
            timezone=_timezone(tz, settings, fmt), zone_of=settings.zone_of,
            default_zone=settings.default_zone, limits=settings.input.limits(),
        )  # fmt: skip
    except ColumnError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except SeismowatchError as exc:
        raise _fail(exc) from None


def _cluster_settings(config: Path | None, bootstrap: str | None, refusal: str) -> Settings:
    """Settings of a command that needs a real cluster: an embedded one would not outlive it."""
    settings = _settings(config, **{"kafka.bootstrap_servers": bootstrap})
    if settings.kafka.embedded:
        err_console.print(f"[red]error:[/] {refusal}")
        raise typer.Exit(2)
    return settings


def _fail(exc: SeismowatchError) -> typer.Exit:
    err_console.print(f"[red]error:[/] {exc}")
    return typer.Exit(exc.exit_code)


class _StopFlag:
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


@config_app.command("show")
def config_show(
    config: ConfigOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Print the effective settings (defaults < TOML < SEISMOWATCH_* env); secrets masked."""
    settings = _settings(config)
    data = json.loads(settings.model_dump_json())
    if as_json:
        console.print_json(data=data)
        return
    table = Table("setting", "value", title="effective settings")

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            table.add_row(prefix, json.dumps(value, ensure_ascii=False))

    walk("", data)
    console.print(table)


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 9092,
    config: ConfigOpt = None,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, in memory) in the foreground."""
    from replay.broker import EmbeddedBroker, ensure_topics

    settings = _settings(config)
    stop = _StopFlag()
    try:
        with EmbeddedBroker(port=port, log_path=settings.state_dir / "broker.log") as b:
            counts = ensure_topics(settings, b.bootstrap)
            console.print(
                f"embedded broker (Tansu, in-memory) on [bold]{b.bootstrap}[/], "
                f"cluster id {b.cluster_id}"
            )
            console.print("topics: " + ", ".join(f"{t} ({n})" for t, n in counts.items()))
            console.print(
                f"use it with --bootstrap {b.bootstrap} or "
                f"SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS={b.bootstrap}; Ctrl-C stops"
            )
            stop.install()
            while not stop() and b.process is not None and b.process.poll() is None:
                time.sleep(0.2)
            if b.process is not None and b.process.poll() is not None and not stop():
                err_console.print(f"[red]error:[/] broker exited with code {b.process.returncode}")
                raise typer.Exit(3)
        console.print("broker stopped")
    except SeismowatchError as exc:
        raise _fail(exc) from None


@app.command()
def topics(bootstrap: BootstrapOpt = None, config: ConfigOpt = None) -> None:
    """Create the configured topics on a Kafka cluster (a one-shot deployment job)."""
    from replay.broker import ensure_topics

    settings = _cluster_settings(
        config, bootstrap, "topics needs --bootstrap or "
        "SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS (a cluster that outlives it)",
    )  # fmt: skip
    try:
        counts = ensure_topics(settings, settings.kafka.bootstrap_servers, timeout_s=60)
    except SeismowatchError as exc:
        raise _fail(exc) from None
    table = Table("topic", "partitions", title=f"topics on {settings.kafka.bootstrap_servers}")
    for topic, n in counts.items():
        table.add_row(topic, str(n))
    console.print(table)


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

    from replay.large_events import LARGE_LOG_E
    from replay.synth import SynthParams, generate, with_precursors, write_gits, zones_toml

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
                      f"{row.duration_s:.1f} s")  # fmt: skip
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


def _ms(seconds: float) -> str:
    """A latency quantile; one beyond the histogram's top bucket is a bound, not a value."""
    from daemon.metrics import LATENCY_BUCKETS_S

    if seconds == float("inf"):
        return f"> {LATENCY_BUCKETS_S[-1] * 1000:.0f} ms"
    return "n/a" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def _print_rows(label: str, rows: list[Any], shown: int = 5) -> None:
    """The first rows of a kind on stderr, then how many more."""
    for r in rows[:shown]:
        err_console.print(f"[yellow]{label}[/] {r}: {r.value}", highlight=False)
    if len(rows) > shown:
        err_console.print(f"[yellow]... {len(rows) - shown} more[/]")


def _parse_bound(text: str | None, tz: str, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(option, f"{text!r} is not an ISO time (e.g. 2020-08-01T06:00)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))


@app.command()
def replay(
    file: FileArg,
    fmt: FormatOpt = "gits",
    mapping: MapOpt = None,
    sheet: SheetOpt = None,
    tz: TzOpt = None,
    speed: Annotated[float, typer.Option(help="K x real time.")] = 1.0,
    max_speed: Annotated[bool, typer.Option("--max", help="As fast as possible.")] = False,
    start: Annotated[str | None, typer.Option(help="First event time (ISO), file's zone")] = None,
    end: Annotated[str | None, typer.Option(help="Last event time (ISO), exclusive")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Rejects report CSV path")] = None,
    fresh: Annotated[bool, typer.Option(
        help="Send every row again: ignore the checkpoint and what earlier replays sent")] = False,
    outage_timeout: Annotated[float, typer.Option(help="Seconds to wait for Kafka")] = 300.0,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Validate FILE and produce its events to Kafka, paced, resumable, with a progress bar."""
    from replay.broker import cluster_id, kafka_endpoint
    from replay.checkpoint import Checkpoint, SentLedger, file_digest, replay_key
    from replay.columns import parse_mapping
    from replay.rejects import write_report
    from replay.stream import KafkaSink, build_items, iter_replay

    if not 0 < speed < float("inf"):
        raise _bad("--speed", f"a positive multiple of real time, not {speed}")
    settings = _settings(config, **{"kafka.bootstrap_servers": bootstrap})
    timezone = _timezone(tz, settings, fmt)
    lo, hi = _parse_bound(start, timezone, "--start"), _parse_bound(end, timezone, "--end")
    result = _read(file, fmt, mapping, tz, sheet, settings)
    events = [
        e for e in result.events if (lo is None or e.time >= lo) and (hi is None or e.time < hi)
    ]
    outside = len(result.events) - len(events)
    report = rejects or settings.state_dir / "rejects" / f"{file.stem}.rejects.csv"
    write_report(result.rejects, report)
    _print_rows("rejected", result.rejects)
    _print_rows("read, extra cells ignored", result.extra_cells)

    stop = _StopFlag()
    stop.install()
    sent_before = already = 0
    final = None
    ledger: Any = None
    try:
        with kafka_endpoint(settings, announce=lambda m: console.print(f"[cyan]{m}[/]")) as bs:
            key = replay_key(
                file_digest(file),
                fmt,
                sorted(parse_mapping(mapping or []).items()),
                sheet,
                timezone,
                lo,
                hi,
                settings.topics.all(),
                settings.zones,
                cluster_id(settings, bs),
            )
            checkpoint = Checkpoint.load(settings.state_dir / "replay" / f"{key[:16]}.json", key)
            if fresh:
                checkpoint = Checkpoint(checkpoint.path, key)
            items = build_items(events, result.rejects, settings)
            # what the destination already holds, whatever file it came from
            destination = replay_key(settings.topics.all(), cluster_id(settings, bs))
            ledger = SentLedger(settings.state_dir / "replay" / f"sent-{destination[:16]}.sqlite")
            idents = [*(f"r:{r.file}:{r.row}" for r in result.rejects),
                      *(f"e:{e.timestamp:.3f}|{e.x:.3f}|{e.y:.3f}|{e.z:.3f}" for e in events)]
            known = set() if fresh else ledger.known(idents)
            for item, ident in zip(items, idents, strict=True):
                if ident in known and not checkpoint.is_acked(item.index):
                    checkpoint.mark(item.index)
                    already += 1
            sent_before = checkpoint.next_index + len(checkpoint.acked_after) - already
            if already:
                console.print(f"{already} messages already sent to these topics by an earlier "
                              "replay (same event time and place): skipped; --fresh sends them")
            if sent_before:
                console.print(
                    f"resuming from checkpoint {checkpoint.path}: {sent_before} of "
                    f"{len(items)} messages already acknowledged"
                )
            sink = KafkaSink(settings, bs)
            progress = Progress(
                TextColumn("[bold]replay"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[rate]:>7.0f} ev/s"),
                TextColumn("{task.fields[sim]}"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            t0 = time.monotonic()
            outage = False
            with progress:
                task = progress.add_task(
                    "replay", total=len(items), rate=0.0, sim="", completed=sent_before + already
                )
                for final in iter_replay(
                    items,
                    sink.send,
                    checkpoint,
                    speed=None if max_speed else speed,
                    rejects_total=len(result.rejects),
                    outage_timeout_s=outage_timeout,
                    should_stop=stop,
                ):
                    elapsed = max(time.monotonic() - t0, 1e-6)
                    sim = final.sim_time.strftime("%Y-%m-%d %H:%M UTC") if final.sim_time else ""
                    if final.state == "broker-down":
                        sim = f"[red]{final.message}[/]"
                        if not outage:
                            progress.console.print(
                                f"[red]Kafka unavailable[/] at "
                                f"{final.acked}/{final.total}: retrying"
                            )
                        outage = True
                    elif outage and final.state == "sending":
                        progress.console.print(
                            f"[green]Kafka reachable again[/]: resumed at "
                            f"{final.acked}/{final.total}"
                        )
                        outage = False
                    progress.update(
                        task,
                        completed=final.acked,
                        rate=(final.acked - sent_before - already) / elapsed,
                        sim=sim,
                    )
            sink.close()
    except SeismowatchError as exc:
        raise _fail(exc) from None
    finally:
        if ledger is not None:
            ledger.add(ident for item, ident in zip(items, idents, strict=True)
                       if checkpoint.is_acked(item.index))  # fmt: skip
            ledger.close()
    acked = (final.acked if final else sent_before + already) - already
    table = Table(title=f"replay of {file.name}", show_header=False)
    table.add_row("rows read", str(result.rows_read))
    table.add_row("valid events", str(len(result.events)))
    table.add_row("rejected rows", f"{len(result.rejects)} (report: {report})")
    table.add_row("out-of-order rows sorted", str(result.out_of_order))
    if outside:
        table.add_row("outside --start/--end", str(outside))
    table.add_row("sent now (events + rejects)", str(acked - sent_before))
    if sent_before:
        table.add_row("sent before (checkpoint)", str(sent_before))
    if already:
        table.add_row("already on the topics (earlier replays)", str(already))
    table.add_row("topics", f"{settings.topics.events}, {settings.topics.rejected}")
    console.print(table)
    if final is not None and final.state == "stopped":
        raise typer.Exit(130)


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
    from stream_models.offline import train_offline

    settings = _settings(config)
    events = _read_for_models(file, fmt, mapping, tz, sheet, settings)
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


def _read_for_models(file: Path, fmt: str, mapping: list[str] | None, tz: str | None,
                     sheet: str | None, settings: Settings) -> list[Any]:  # fmt: skip
    """Read FILE for training or a backtest; rejected rows go to a report, never silently."""
    from replay.rejects import write_report

    result = _read(file, fmt, mapping, tz, sheet, settings)
    if result.rejects:
        report = settings.state_dir / "rejects" / f"{file.stem}.rejects.csv"
        write_report(result.rejects, report)
        err_console.print(f"[yellow]{len(result.rejects)} rejected rows[/] (report: {report})")
    _print_rows("read, extra cells ignored", result.extra_cells)
    if not result.events:
        err_console.print(f"[red]error:[/] {file}: no valid events")
        raise typer.Exit(2)
    return list(result.events)


def _hours(text: str, option: str = "--horizon") -> float:
    """``8h``, ``30m``, ``2d`` or a number of hours; finite and positive."""
    units = {"m": 1 / 60, "h": 1.0, "d": 24.0}
    try:
        hours = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        hours = float("nan")
    if not 0 < hours < float("inf"):
        raise _bad(option, f"{text!r} is not a positive duration (e.g. 8h, 30m or 2d)")
    return hours


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

    from daemon import backtest_view
    from stream_models.backtest import iter_thresholds

    try:
        levels = list(iter_thresholds(thresholds))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--thresholds") from None
    overrides = {"alerts.target_energy_j": target_energy,
                 "alerts.horizon_h": _hours(horizon) if horizon else None,
                 "lstm.blocking": True}  # fmt: skip
    settings = _settings(config, **overrides)
    runs = [(f.stem if len(files) > 1 else f.name,
             _read_for_models(f, fmt, mapping, tz, sheet, settings)) for f in files]  # fmt: skip
    progress = Progress(TextColumn("[bold]backtest"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console)  # fmt: skip
    with progress:
        task = progress.add_task("events", total=sum(len(e) for _, e in runs))
        report, collected = backtest_view.run(
            runs, settings, levels, alerts_per_week,
            on_event=lambda i: progress.update(task, completed=i + 1),
        )  # fmt: skip
    console.print(backtest_view.tables(report))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False))
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
        from daemon.report import write_report

        events = [e for _, ev in runs for e in ev]
        with console.status("writing the report"):
            write_report(report_out, f"seismowatch backtest of {', '.join(r for r, _ in runs)}",
                         events, (report, collected))  # fmt: skip
        console.print(f"report written to {report_out}")


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
    from daemon.report import write_report

    settings = _settings(config)
    events = _read_for_models(file, fmt, mapping, tz, sheet, settings)
    with console.status(f"figures of {len(events)} events"):
        write_report(out, f"seismowatch report of {file.name}", events, None)
    console.print(f"report written to {out}")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _setup_logging(verbose: bool) -> str:
    import logging

    level = "info" if verbose else "warning"
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return level


@app.command()
def worker(
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Prometheus endpoint port (setting metrics_port).")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Model files and alert log.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a Faust worker: features -> risk -> alerts -> metrics. Start several to scale out."""
    from replay.broker import kafka_endpoint

    settings = _settings(
        config,
        **{
            "kafka.bootstrap_servers": bootstrap,
            "metrics_port": metrics_port,
            "state_dir": state_dir,
        },
    )
    loglevel = _setup_logging(verbose)
    from daemon.worker import run_worker

    try:
        with kafka_endpoint(settings, announce=lambda m: err_console.print(f"[cyan]{m}[/]")) as bs:
            err_console.print(
                f"worker [bold]{settings.worker.group_id}[/] on {bs}: events from "
                f"{settings.topics.events}, metrics on "
                f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
            )
            run_worker(settings, bs, loglevel)
    except SeismowatchError as exc:
        raise _fail(exc) from None


STATE_STYLE = {"a": "green", "b": "yellow", "c": "dark_orange", "d": "bold red"}


def render_alert(record: dict[str, Any]) -> str:
    """One operator line: time, zone, state (coloured), kind, probability, top features."""
    state = str(record.get("state", "?"))
    style = STATE_STYLE.get(state, "white")
    kind = record.get("kind", "?")
    top = ", ".join(f"{f['feature']}={f['value']:.3g}" for f in record.get("top_features", [])[:3])
    label = "ALL CLEAR" if kind == "all-clear" else f"STATE {state.upper()}"
    prob = record.get("probability")
    prob_text = f"p={prob:.2g}" if isinstance(prob, int | float) else "p=?"  # c can be 0.004
    return (
        f"{record.get('time', '?')}  [bold]{record.get('zone', '?'):<8}[/] "
        f"[{style}]{label:<9}[/] {prob_text} "
        f"(from {record.get('previous_state', '?')})"
        + (f"  {top}" if top else "")
        + f"  [dim]{record.get('alert_id', '')}[/]"
    )


@app.command()
def alerts(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new alerts.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON record per line.")] = False,
    bootstrap: BootstrapOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The operator feed: alerts from gits.alerts, oldest first, coloured by hazard state."""
    import asyncio

    from daemon.feed import iter_alerts

    settings = _cluster_settings(
        config, bootstrap, "alerts reads an existing cluster: pass --bootstrap HOST:PORT "
        "(an embedded broker started for this command would hold no alerts)",
    )  # fmt: skip

    async def show() -> int:
        n = 0
        async for record in iter_alerts(settings, settings.kafka.bootstrap_servers, follow=follow):
            n += 1
            if as_json:
                print(json.dumps(record, ensure_ascii=False, sort_keys=True), flush=True)
            else:
                console.print(render_alert(record), highlight=False)
        return n

    try:
        n = asyncio.run(show())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if not as_json:
        err_console.print(f"{n} alerts on {settings.topics.alerts}")


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
    )  # fmt: skip

    if speed is not None and speed <= 0:
        err_console.print("[red]error:[/] --speed must be positive")
        raise typer.Exit(2)
    settings = _settings(config or SYNTHETIC_MINE_TOML, **{"kafka.bootstrap_servers": bootstrap})
    base = workdir or settings.state_dir / "demo"
    settings = demo_settings(settings, base, metrics_port)
    stop = _StopFlag()
    stop.install()
    progress = Progress(
        TextColumn("[bold]{task.description:<7}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.0f} ev/s"), TimeElapsedColumn(), console=console,
    )  # fmt: skip
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
                    )  # fmt: skip
                    progress.update(
                        scored_task, total=update.total, completed=int(update.scored),
                        rate=update.scored / elapsed,
                    )  # fmt: skip
                elif isinstance(update, Summary):
                    summary = update
                    progress.stop()
                    print_summary(summary, speed)
    except (RuntimeError, SeismowatchError) as exc:
        err_console.print(f"[red]error:[/] demo: {exc}")
        raise typer.Exit(3 if isinstance(exc, SeismowatchError) else 1) from None
    if summary is None:
        raise typer.Exit(130)


def print_summary(summary: Any, speed: float | None) -> None:
    """The demo's closing table, read from the worker's metrics endpoint."""
    table = Table(title="seismowatch demo", show_header=False)
    table.add_row("events in the synthetic export", str(summary.events))
    table.add_row("events replayed / scored", f"{summary.sent} / {summary.scored}")
    table.add_row("dead-lettered messages", str(summary.rejected))
    for (kind, state), n in sorted(summary.alerts.items()):
        if n:
            table.add_row(f"alerts: {kind} to state {state}", str(n))
    table.add_row("alerts in total", str(sum(summary.alerts.values())))
    hits = sum(hit for *_, hit in summary.dangerous)
    table.add_row("dangerous events (>= target) preceded by an alert in the horizon",
                  f"{hits} of {len(summary.dangerous)}")
    for when, zone, energy, hit in summary.dangerous:
        table.add_row(f"  {when} {zone} {energy:,.0f} J", "alert open" if hit else "missed")
    r = summary.retrainings
    table.add_row(
        "LSTM retrainings: promoted / rejected / skipped",
        f"{r.get('promoted', 0)} / {r.get('rejected', 0)} / {r.get('skipped', 0)} "
        f"(scoring now: {summary.lstm_version})",
    )
    queued = " (queued behind the replay)" if speed is None else ""
    table.add_row(
        f"processing latency p50 / p99{queued}",
        f"{_ms(summary.latency_p50_s)} / {_ms(summary.latency_p99_s)}",
    )
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    table.add_row("metrics endpoint (while running)", summary.metrics_url)
    console.print(table)
    console.print(scores_table(summary.roc_auc))


def scores_table(roc_auc: dict[tuple[str, str], float]) -> Table:
    """Models and baselines side by side: progressive ROC-AUC, one column per zone."""
    from stream_models.monitor import COMPONENTS

    zones = sorted({zone for zone, _ in roc_auc})
    table = Table("model", *zones, title="progressive ROC-AUC on the learning target "
                  "(n/a: not scored on it)")
    for model in COMPONENTS:
        cells = [roc_auc.get((zone, model), float("nan")) for zone in zones]
        table.add_row(model, *("n/a" if v != v else f"{v:.3f}" for v in cells))
    return table


def main() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
