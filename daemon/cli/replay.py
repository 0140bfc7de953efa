"""``seismowatch replay``: validate a file and produce its events to Kafka, paced and resumable."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from daemon.cli.common import (
    BootstrapOpt,
    ConfigOpt,
    FileArg,
    FormatOpt,
    MapOpt,
    SheetOpt,
    StopFlag,
    TzOpt,
    app,
    bad_option,
    console,
    fail,
    file_timezone,
    print_rows,
    read_file,
    settings_or_exit,
)
from replay.exceptions import SeismowatchError


def _parse_bound(text: str | None, tz: str, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise bad_option(option, f"{text!r} is not an ISO time (e.g. 2020-08-01T06:00)") from None
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
    from daemon.kafka.broker import cluster_id, kafka_endpoint
    from replay.checkpoint import Checkpoint, SentLedger, file_digest, replay_key
    from replay.columns import parse_mapping
    from replay.rejects import write_report
    from replay.stream import KafkaSink, build_items, iter_replay

    if not 0 < speed < float("inf"):
        raise bad_option("--speed", f"a positive multiple of real time, not {speed}")
    settings = settings_or_exit(config, **{"kafka.bootstrap_servers": bootstrap})
    timezone = file_timezone(tz, settings, fmt)
    lo, hi = _parse_bound(start, timezone, "--start"), _parse_bound(end, timezone, "--end")
    result = read_file(file, fmt, mapping, tz, sheet, settings)
    events = [
        e for e in result.events if (lo is None or e.time >= lo) and (hi is None or e.time < hi)
    ]
    outside = len(result.events) - len(events)
    from replay.derive_zones import with_derived_zones

    # none configured: clusters of the first weeks' epicentres
    settings, events, note = with_derived_zones(settings, events)
    if note:
        console.print(f"[cyan]{note}[/]")
    report = rejects or settings.state_dir / "rejects" / f"{file.stem}.rejects.csv"
    write_report(result.rejects, report)
    print_rows("rejected", result.rejects)
    print_rows("read, extra cells ignored", result.extra_cells)

    stop = StopFlag()
    stop.install()
    sent_before = already = 0
    final = None
    ledger: Any = None
    try:
        with kafka_endpoint(settings, announce=lambda m: console.print(f"[cyan]{m}[/]")) as bs:
            cluster = cluster_id(settings, bs)
            # the topics a replay writes, not every topic: adding an output topic must not
            # make a re-export send again what the destination already holds
            written = [settings.topics.events, settings.topics.mine, settings.topics.rejected]
            key = replay_key(
                file_digest(file),
                fmt,
                sorted(parse_mapping(mapping or []).items()),
                sheet,
                timezone,
                lo,
                hi,
                written,
                settings.zones,
                settings.derived_zones,
                cluster,
            )
            checkpoint = Checkpoint.load(settings.state_dir / "replay" / f"{key[:16]}.json", key)
            if fresh:
                checkpoint = Checkpoint(checkpoint.path, key)
            items = build_items(events, result.rejects, settings)
            # what the destination already holds, whatever file it came from
            destination = replay_key(written, cluster)
            ledger = SentLedger(settings.state_dir / "replay" / f"sent-{destination[:16]}.sqlite")
            idents = [*(f"r:{r.file}:{r.row}" for r in result.rejects),
                      *(f"e:{e.place!r}" for e in events)]  # the reader's duplicate rule
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
        raise fail(exc) from None
    finally:
        if ledger is not None:
            ledger.add(ident for item, ident in zip(items, idents, strict=True)
                       if checkpoint.is_acked(item.index))
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
