"""``seismowatch broker``: the embedded Kafka-protocol broker in the foreground."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from daemon.cli.common import (
    ConfigOpt,
    StopFlag,
    app,
    console,
    err_console,
    fail,
    settings_or_exit,
)
from replay.exceptions import SeismowatchError


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 9092,
    config: ConfigOpt = None,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, in memory) in the foreground."""
    from daemon.kafka.broker import EmbeddedBroker, ensure_topics

    settings = settings_or_exit(config)
    stop = StopFlag()
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
        raise fail(exc) from None
