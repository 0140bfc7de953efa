"""``seismowatch topics``: create the configured topics on a cluster."""

from __future__ import annotations

from rich.table import Table

from daemon.cli.common import (
    BootstrapOpt,
    ConfigOpt,
    app,
    cluster_settings,
    console,
    fail,
)
from replay.exceptions import SeismowatchError


@app.command()
def topics(bootstrap: BootstrapOpt = None, config: ConfigOpt = None) -> None:
    """Create the configured topics on a Kafka cluster (a one-shot deployment job)."""
    from daemon.kafka.broker import ensure_topics

    settings = cluster_settings(
        config, bootstrap, "topics needs --bootstrap or "
        "SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS (a cluster that outlives it)",
    )
    try:
        counts = ensure_topics(settings, settings.kafka.bootstrap_servers, timeout_s=60)
    except SeismowatchError as exc:
        raise fail(exc) from None
    table = Table("topic", "partitions", title=f"topics on {settings.kafka.bootstrap_servers}")
    for topic, n in counts.items():
        table.add_row(topic, str(n))
    console.print(table)
