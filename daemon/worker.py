"""Run one Faust worker: metrics endpoint, topics, the app, until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

from config.settings import Settings
from daemon import metrics as metrics_mod
from daemon.app import create_app
from daemon.kafka.broker import cluster_id, ensure_topics
from daemon.kafka.compat import is_embedded_cluster
from daemon.kafka.feed import range_fetcher
from replay.exceptions import SeismowatchError

log = logging.getLogger(__name__)


def run_worker(settings: Settings, bootstrap: str, loglevel: str = "warning") -> None:
    """Blocks until the worker is stopped; Faust's worker handles the signals."""
    import faust

    from replay.derive_zones import saved_zones

    settings = saved_zones(settings)  # zones a replay derived, when none are configured
    embedded = is_embedded_cluster(cluster_id(settings, bootstrap))
    ensure_topics(settings, bootstrap)
    worker_metrics = metrics_mod.WorkerMetrics()
    worker_metrics.init_zones(settings.known_zones)
    m = settings.monitoring
    scopes = {"zone": settings.alerts.thresholds}
    if settings.mine_scope_name:
        scopes["mine"] = settings.alerts.mine_thresholds
    worker_metrics.configure(scopes, m.stall_after_h * 3600, m.roc_auc_floor,
                             m.roc_auc_min_positives)
    try:
        metrics_mod.serve(settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        raise SeismowatchError(
            f"metrics endpoint {settings.metrics_host}:{settings.metrics_port}: {exc.strerror} "
            "(set metrics_port or SEISMOWATCH_METRICS_PORT)"
        ) from None

    built = create_app(
        settings,
        bootstrap,
        embedded_cluster=embedded,
        metrics=worker_metrics,
        fetch_range=range_fetcher(settings, bootstrap),
    )
    faust.Worker(built.app, loglevel=loglevel, quiet=True).execute_from_commandline()
