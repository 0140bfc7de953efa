"""``seismowatch alerts``: print the alert feed."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli.common import (
    BootstrapOpt,
    ConfigOpt,
    app,
    cluster_settings,
    console,
    err_console,
)
from daemon.cli.render import (
    render_alert,
)
from stream_models.wire import dumps


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

    from daemon.kafka.feed import iter_alerts

    settings = cluster_settings(
        config, bootstrap, "alerts reads an existing cluster: pass --bootstrap HOST:PORT "
        "(an embedded broker started for this command would hold no alerts)",
    )

    async def show() -> int:
        n = 0
        async for record in iter_alerts(settings, settings.kafka.bootstrap_servers, follow=follow):
            n += 1
            if as_json:
                print(dumps(record).decode(), flush=True)
            else:
                console.print(render_alert(record), highlight=False)
        return n

    try:
        n = asyncio.run(show())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if not as_json:
        err_console.print(f"{n} alerts on {settings.topics.alerts}")
