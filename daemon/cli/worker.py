"""``seismowatch worker``: one Faust worker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daemon.cli.common import (
    BootstrapOpt,
    ConfigOpt,
    app,
    err_console,
    fail,
    settings_or_exit,
    setup_logging,
)
from replay.exceptions import SeismowatchError


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
    from daemon.kafka.broker import kafka_endpoint

    settings = settings_or_exit(
        config,
        **{
            "kafka.bootstrap_servers": bootstrap,
            "metrics_port": metrics_port,
            "state_dir": state_dir,
        },
    )
    loglevel = setup_logging(verbose)
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
        raise fail(exc) from None
