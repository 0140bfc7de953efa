"""Every Prometheus metric of the worker, built on an injectable registry.

Names follow Prometheus conventions: base units (seconds, joules), ``_total`` on
counters, labels bounded by the zones a worker may own (``worker.max_zones``),
windows and partitions. Counters and histograms are updated per event; every
per-zone gauge (rolling windows, risk, hazard state, progressive scores, state
size) is computed when Prometheus scrapes, by :class:`ZoneCollector`, from the
zones the worker owns at that moment: a zone whose partition moved away is
simply not there, and no event pays for gauges nobody reads.
Tests pass a fresh ``CollectorRegistry`` so they never share state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from stream_models.fusion.hazard import STATES, Episode, ReentryNotice
from stream_models.online.outcome import Outcome
from stream_models.online.schedule import Decision
from stream_models.seismology.hazard_grid import GridSnapshot
from stream_models.wire import utc_text

PREFIX = "seismowatch"
_ENERGY_BUCKETS_J = tuple(10.0**k for k in range(1, 9))  # 10 J .. 100 MJ, one per decade
_DURATION_BUCKETS_S = (0.25, 0.5, 1, 2, 4, 8, 16, 32)
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30)
GAUGE_WINDOWS = ("1h", "8h", "24h", "7d")
# rolling gauge stem -> (feature name stem, help, factor): the window's statistic
_ROLLING = {
    "rolling_energy_joules": ("energy_sum_j", "Energy released in the window.", 1.0),
    "rolling_events": ("count", "Events in the window.", 1.0),
    "rolling_event_rate_per_second": ("rate_per_h", "Event rate over the window.", 1 / 3600),
    "rolling_duration_mean_seconds": ("duration_mean_s", "Mean event duration in the window.",
                                      1.0),
    "rolling_duration_p90_seconds": ("duration_p90_s",
                                     "90th percentile of event duration (window).", 1.0),
    "rolling_b_value": ("b_value", "Aki-Utsu b-value in the window (NaN: too few events).", 1.0),
    "rolling_benioff_strain_joules_sqrt": ("benioff_strain", "Benioff strain (sum of sqrt E).",
                                           1.0),
    "rolling_energy_per_volume_joules_per_cubic_meter": (
        "energy_per_volume_j_m3", "Energy released per mined volume in the window.", 1.0),
}
_SCORES = {
    "model_roc_auc": ("roc_auc", "Progressive-validation ROC-AUC."),
    "model_log_loss": ("log_loss", "Progressive-validation log loss."),
    "model_brier_score": ("brier", "Progressive-validation Brier score."),
    "model_scored_examples": ("n", "Labelled examples behind the progressive scores."),
    "model_scored_positives": ("positives", "Labelled targets behind the progressive scores."),
}
# the frequent target the experts and the stacker learn on: skill shows long before targets do
_LEARNING = {k: _SCORES[k] for k in ("model_roc_auc", "model_log_loss", "model_scored_positives")}


@dataclass(frozen=True)
class ZoneSnapshot:
    """What the collector reads of one owned zone (taken under the service's lock)."""

    zone: str
    last: Outcome | None  # the zone's last scored event
    scores: Callable[[], Mapping[str, Mapping[str, float]]]  # progressive scores, on demand
    state_bytes: int | None  # compressed size of its last stored state
    learning_scores: Callable[[], Mapping[str, Mapping[str, float]]] = dict  # learning target
    own_fit: Callable[[], Mapping[str, float]] = dict  # share of events scored with own fit
    retrainings: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # model, result
    state: str | None = None  # its hazard state now (a forecast expires with no event)
    episode: Episode | None = None  # its open alert episode
    why: str = ""  # ... and the reasons of its last raise, in words
    reentry: ReentryNotice | None = None  # its open exclusion after a large event
    clock: float | None = None  # its event-time clock
    grid: GridSnapshot | None = None  # its latest hazard-grid snapshot (the mine-wide scope)


class ZoneCollector(Collector):
    """Per-zone gauges computed at scrape time from the zones the worker owns now."""

    def __init__(self, zones: Callable[[], Sequence[ZoneSnapshot]],
                 stopped: Callable[[], Sequence[tuple[str, int]]]) -> None:
        self.zones = zones
        self.stopped = stopped

    def describe(self) -> list:  # type: ignore[type-arg]
        return []  # families depend on the zones owned at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        def gauge(stem: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{stem}", doc, labels=labels)

        rolling = {stem: gauge(stem, doc, ["zone", "window"])
                   for stem, (_, doc, _) in _ROLLING.items()}
        risk = gauge("risk_probability", "Probability of a target event within the horizon.",
                     ["zone"])
        comp = gauge("risk_component_probability",
                     "Probability by model or baseline for the zone's last event.",
                     ["zone", "model"])
        weight = gauge("fusion_weight", "Weight of each expert in the zone's fused risk (the "
                       "mixture's; they sum to 1).", ["zone", "model"])
        own = gauge("model_own_fit_ratio", "Share of the zone's events each model scored with "
                    "a fit of its own (the rest with its prior).", ["zone", "model"])
        hazard = gauge("hazard_state", "Hazard state: 0=a none, 1=b low, 2=c high, 3=d danger.",
                       ["zone"])
        last_t = gauge("last_event_timestamp_seconds", "Event time of the last scored event.",
                       ["zone"])
        size = gauge("zone_state_bytes",
                     "Compressed size of the zone's last stored state: one changelog message.",
                     ["zone"])
        scores = {stem: gauge(stem, doc, ["zone", "model"])
                  for stem, (_, doc) in _SCORES.items()}
        learning = {stem: gauge(f"{stem}_learning_target", f"{doc[:-1]}, learning target.",
                                ["zone", "model"]) for stem, (_, doc) in _LEARNING.items()}
        info = InfoMetricFamily(f"{PREFIX}_model", "The version of each model scoring the zone "
                                "now (river, lstm, etas).", labels=["zone", "model"])
        episode = InfoMetricFamily(
            f"{PREFIX}_alert_episode", "The zone's open alert episode: the highest state it "
            "alerted, when it opened (UTC), its peak probability and the reasons of its last "
            "raise, in words (absent when no episode is open).", labels=["zone"])
        left = gauge("reentry_remaining_seconds", "Exclusion time left after a large event: "
                     "from the zone's clock (event time) to its re-entry estimate (absent when "
                     "no exclusion is open).", ["zone"])
        reentry = gauge("reentry_timestamp_seconds", "The open exclusion's re-entry estimate "
                        "and its 5-95 % interval (bound: estimate, low, high).",
                        ["zone", "bound"])
        cell = {axis: gauge(f"hazard_cell_max_{stem}", doc, ["zone"]) for axis, stem, doc in (
            ("p", "probability", "Probability of a target within the horizon in the zone's "
             "most hazardous grid cell (the latest hazard-grid snapshot)."),
            ("x", "x_metres", "Mine-grid x of the centre of the zone's most hazardous cell."),
            ("y", "y_metres", "Mine-grid y of the centre of the zone's most hazardous cell."))}
        in_zone = gauge("hazard_zone_probability", "Probability of a target within the horizon "
                        "anywhere in the zone, from the hazard grid: space-time ETAS integrated "
                        "over the zone's cells, triggering from every zone included.", ["zone"])
        retrained = CounterMetricFamily(f"{PREFIX}_retrainings", "Retrainings of the zone's "
                                        "models by result: promoted, rejected by the gate, "
                                        "skipped (too little data).",
                                        labels=["zone", "model", "result"])
        for z in self.zones():
            if z.state_bytes is not None:
                size.add_metric([z.zone], z.state_bytes)
            for model, values in z.scores().items():
                for stem, (key, _) in _SCORES.items():
                    scores[stem].add_metric([z.zone, model], values.get(key, math.nan))
            for model, values in z.learning_scores().items():
                for stem, (key, _) in _LEARNING.items():
                    learning[stem].add_metric([z.zone, model], values.get(key, math.nan))
            for model, share in z.own_fit().items():
                own.add_metric([z.zone, model], share)
            for model, results in z.retrainings.items():
                for result, n in results.items():
                    retrained.add_metric([z.zone, model, result], n)
            if z.state is not None:
                hazard.add_metric([z.zone], STATES.index(z.state))
            if z.episode is not None:
                ep = z.episode
                episode.add_metric([z.zone], {
                    "state": ep.state, "since": utc_text(ep.start),
                    "peak_probability": f"{ep.peak_probability:.2g}", "reasons": z.why})
            if z.reentry is not None:
                n = z.reentry
                if z.clock is not None:
                    left.add_metric([z.zone], max(n.at - z.clock, 0.0))
                for bound, t in (("estimate", n.at), ("low", n.low), ("high", n.high)):
                    reentry.add_metric([z.zone, bound], t)
            for zone, (p, x, y) in (z.grid.hottest().items() if z.grid else ()):
                for axis, value in zip("pxy", (p, x, y), strict=True):
                    cell[axis].add_metric([zone], value)
            for zone, p in (z.grid.by_zone().items() if z.grid else ()):
                in_zone.add_metric([zone], p)
            o = z.last
            if o is None:
                continue
            f = o.features
            for stem, (name, _, factor) in _ROLLING.items():
                for w in GAUGE_WINDOWS:
                    value = f.get(f"{name}_{w}")
                    if value is not None:
                        rolling[stem].add_metric([z.zone, w], value * factor)
            risk.add_metric([z.zone], o.probability)
            for model, p in o.components.items():
                comp.add_metric([z.zone, model], p)
            for model, w in o.weights.items():
                weight.add_metric([z.zone, model], w)
            if z.state is None:
                hazard.add_metric([z.zone], STATES.index(o.state))
            last_t.add_metric([z.zone], o.event.timestamp)
            for model, version in o.versions.items():
                info.add_metric([z.zone, model], {"version": str(version)})
        stopped = gauge("partition_stopped",
                        "1 while a partition is stopped: its zones' state could not be restored.",
                        ["topic", "partition"])
        for topic, partition in self.stopped():
            stopped.add_metric([topic, str(partition)], 1.0)
        yield from (*rolling.values(), risk, comp, weight, own, hazard, last_t, size,
                    *scores.values(), *learning.values(), info, episode, left, reentry, retrained,
                    *cell.values(), in_zone, stopped)


class WorkerMetrics:
    """The worker's metrics; :meth:`observe` records one scored event."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        def name(stem: str) -> str:
            return f"{PREFIX}_{stem}"

        r = registry
        self.registry = registry
        self.events_processed = Counter(
            name("events_processed_total"), "Events scored, by zone.", ["zone"], registry=r
        )
        self.events_rejected = Counter(
            name("events_rejected_total"),
            "Messages on the events topic that were not valid events (dead-lettered).",
            ["reason"], registry=r,
        )
        self.dead_letters = Counter(
            name("dead_letters_total"),
            "Messages on the rejected topic: rows the replay adapter refused (source=replay) "
            "and messages the workers could not score (source=worker).", ["source"], registry=r,
        )
        self.duplicates_skipped = Counter(
            name("events_duplicate_total"),
            "Redelivered events already in the restored state, skipped.", ["partition"],
            registry=r,
        )
        self.gap_replayed = Counter(
            name("events_gap_replayed_total"),
            "Events the consumer skipped after a restart or rebalance, read from Kafka directly.",
            registry=r,
        )
        self.event_energy = Histogram(
            name("event_energy_joules"), "Seismic energy of scored events.", ["zone"],
            buckets=_ENERGY_BUCKETS_J, registry=r,
        )
        self.event_duration = Histogram(
            name("event_duration_seconds"), "Duration of scored events.", ["zone"],
            buckets=_DURATION_BUCKETS_S, registry=r,
        )
        self.alerts = Counter(
            name("alerts_total"), "Alerts sent, by zone, state and kind (raise, all-clear, "
            "re-entry, re-entry reached).",
            ["zone", "state", "kind"], registry=r,
        )
        self.labels_learned = Counter(
            name("labels_learned_total"), "Examples learned after their horizon passed.",
            ["zone", "label"], registry=r,
        )
        self.latency = Histogram(
            name("processing_latency_seconds"),
            "From the event entering Kafka (record timestamp) to its risk record being sent.",
            buckets=LATENCY_BUCKETS_S, registry=r,
        )
        self.consumer_lag = Gauge(
            name("consumer_lag_messages"), "Messages behind the log end, by partition.",
            ["topic", "partition"], registry=r,
        )
        self.snapshots = Counter(
            name("state_snapshots_total"), "State snapshots written (then offsets acked).",
            registry=r,
        )
        self.validation_skill = Gauge(
            name("validation_skill"),
            "Held-back skill of the last candidate of each model and of the model it was judged "
            "against (Molchan area skill for the LSTM, log-likelihood per event for ETAS).",
            ["zone", "model", "role"], registry=r,
        )
        self.training_seconds = Gauge(
            name("training_seconds"), "Wall time of the last LSTM fine-tuning.", registry=r
        )
        self.last_processed = Gauge(
            name("last_processed_timestamp_seconds"),
            "Wall-clock time this worker last scored an event (its start time before the first).",
            registry=r,
        )
        self.hazard_threshold = Gauge(
            name("hazard_threshold_probability"),
            "Settings alerts.thresholds (scope zone) and alerts.mine_thresholds (scope mine): "
            "the risk at which hazard states b, c, d begin.",
            ["scope", "state"], registry=r,
        )
        # settings the shipped alert rules compare against (config.settings.MonitoringSettings)
        self.stall_after = Gauge(
            name("stream_stall_after_seconds"),
            "Setting monitoring.stall_after_h: StreamStalled fires after this long without events.",
            registry=r,
        )
        self.roc_auc_floor = Gauge(
            name("model_roc_auc_floor"),
            "Setting monitoring.roc_auc_floor: ModelDegraded fires below it.", registry=r,
        )
        self.roc_auc_min_positives = Gauge(
            name("model_roc_auc_min_positives"),
            "Setting monitoring.roc_auc_min_positives: labelled targets before ModelDegraded.",
            registry=r,
        )
        self.duplicates_applied = Counter(
            name("events_already_applied_total"),
            "Events a zone had already applied (a re-export or a re-delivery): dropped, logged.",
            ["zone"], registry=r,
        )
        self.examples_thinned = Counter(
            name("examples_thinned_total"),
            "Scored examples a burst left unlearned (the waiting array was full), by zone.",
            ["zone"], registry=r,
        )

    def configure(
        self, thresholds: Mapping[str, Sequence[float]], stall_after_s: float,
        roc_auc_floor: float, min_positives: int,
    ) -> None:
        """Export the hazard thresholds by scope (``zone``, ``mine``) and the alert rules'
        settings; the stall clock starts."""
        for scope, values in thresholds.items():
            for state, value in zip(STATES[1:], values, strict=True):
                self.hazard_threshold.labels(scope, state).set(value)
        self.stall_after.set(stall_after_s)
        self.roc_auc_floor.set(roc_auc_floor)
        self.roc_auc_min_positives.set(min_positives)
        self.last_processed.set_to_current_time()

    def init_zones(self, zones: list[str]) -> None:
        """Export zeros for configured zones' counters at once, so rates exist from the start."""
        for source in ("replay", "worker"):
            self.dead_letters.labels(source)
        for zone in zones:
            self.events_processed.labels(zone)
            for state in STATES[1:]:
                self.alerts.labels(zone, state, "raise")
            for state in STATES[:-1]:
                self.alerts.labels(zone, state, "all-clear")

    def watch(self, zones: Callable[[], Sequence[ZoneSnapshot]],
              stopped: Callable[[], Sequence[tuple[str, int]]]) -> ZoneCollector:
        """Register the scrape-time collector of the zones a worker owns."""
        collector = ZoneCollector(zones, stopped)
        self.registry.register(collector)
        return collector

    def observe(self, outcome: Outcome, latency_s: float | None) -> None:
        """Record one scored event: counters and histograms (gauges come at scrape time)."""
        e, zone = outcome.event, outcome.event.zone
        self.events_processed.labels(zone).inc()
        self.event_energy.labels(zone).observe(e.energy_j)
        if e.duration_s is not None:
            self.event_duration.labels(zone).observe(e.duration_s)
        self.last_processed.set_to_current_time()
        if latency_s is not None:
            self.latency.observe(max(latency_s, 0.0))
        self.observe_learned(zone, outcome.learned)

    def observe_learned(self, zone: str, learned: Any) -> None:
        """Examples whose labels matured (label bit 0: the alert target)."""
        if len(learned):
            positives = int(learned["labels"][:, 0].sum())
            if positives:
                self.labels_learned.labels(zone, "positive").inc(positives)
            if len(learned) > positives:
                self.labels_learned.labels(zone, "negative").inc(len(learned) - positives)

    def observe_alert(self, zone: str, state: str, kind: str) -> None:
        self.alerts.labels(zone, state, kind).inc()

    def observe_retraining(self, d: Decision) -> None:
        """One finished retraining: its gate's evidence (the counts are the scopes' own)."""
        m = d.metrics
        pairs = (("validation_skill", "incumbent_validation_skill") if d.model == "lstm" else
                 ("validation_log_likelihood", "incumbent_log_likelihood"))
        n = max(float(m.get("held_back_events", 1.0)), 1.0) if d.model == "etas" else 1.0
        for role, key in zip(("candidate", "incumbent"), pairs, strict=True):
            if key in m:
                self.validation_skill.labels(d.scope, d.model, role).set(m[key] / n)
        if "train_seconds" in m:
            self.training_seconds.set(m["train_seconds"])


def serve(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Start the /metrics endpoint in a daemon thread."""
    start_http_server(port, addr=host, registry=registry)
