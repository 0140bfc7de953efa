"""Every Prometheus metric of the worker, built on an injectable registry.

Names follow Prometheus conventions: base units (seconds, joules), ``_total`` on
counters, labels bounded by the configured zones, windows and partitions.
Tests pass a fresh ``CollectorRegistry`` so they never share state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)

from stream_models.hazard import STATES
from stream_models.monitor import Outcome

PREFIX = "seismowatch"
_ENERGY_BUCKETS_J = tuple(10.0**k for k in range(1, 9))  # 10 J .. 100 MJ, one per decade
_DURATION_BUCKETS_S = (0.25, 0.5, 1, 2, 4, 8, 16, 32)
_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30)
GAUGE_WINDOWS = ("1h", "8h", "24h", "7d")


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
        )  # fmt: skip
        self.dead_letters = Counter(
            name("dead_letters_total"),
            "Messages on the rejected topic: rows the replay adapter refused (source=replay) "
            "and messages the workers could not score (source=worker).", ["source"], registry=r,
        )  # fmt: skip
        self.duplicates_skipped = Counter(
            name("events_duplicate_total"),
            "Redelivered events already in the restored state, skipped.", ["partition"],
            registry=r,
        )  # fmt: skip
        self.gap_replayed = Counter(
            name("events_gap_replayed_total"),
            "Events the consumer skipped after a restart or rebalance, read from Kafka directly.",
            registry=r,
        )  # fmt: skip
        self.event_energy = Histogram(
            name("event_energy_joules"), "Seismic energy of scored events.", ["zone"],
            buckets=_ENERGY_BUCKETS_J, registry=r,
        )  # fmt: skip
        self.event_duration = Histogram(
            name("event_duration_seconds"), "Duration of scored events.", ["zone"],
            buckets=_DURATION_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.rolling_energy = Gauge(
            name("rolling_energy_joules"), "Energy released in the window.", ["zone", "window"],
            registry=r,
        )  # fmt: skip
        self.rolling_events = Gauge(
            name("rolling_events"), "Events in the window.", ["zone", "window"], registry=r
        )
        self.rolling_rate = Gauge(
            name("rolling_event_rate_per_second"), "Event rate over the window.",
            ["zone", "window"], registry=r,
        )  # fmt: skip
        self.rolling_duration_mean = Gauge(
            name("rolling_duration_mean_seconds"), "Mean event duration in the window.",
            ["zone", "window"], registry=r,
        )  # fmt: skip
        self.rolling_duration_p90 = Gauge(
            name("rolling_duration_p90_seconds"), "90th percentile of event duration (window).",
            ["zone", "window"], registry=r,
        )  # fmt: skip
        self.rolling_b = Gauge(
            name("rolling_b_value"), "Aki-Utsu b-value in the window (NaN: too few events).",
            ["zone", "window"], registry=r,
        )  # fmt: skip
        self.rolling_benioff = Gauge(
            name("rolling_benioff_strain_joules_sqrt"), "Benioff strain (sum of sqrt E).",
            ["zone", "window"], registry=r,
        )  # fmt: skip
        self.energy_per_volume = Gauge(
            name("rolling_energy_per_volume_joules_per_cubic_meter"),
            "Energy released per mined volume in the window.", ["zone", "window"], registry=r,
        )  # fmt: skip
        self.risk_probability = Gauge(
            name("risk_probability"), "Probability of a target event within the horizon.",
            ["zone"], registry=r,
        )  # fmt: skip
        self.component_probability = Gauge(
            name("risk_component_probability"),
            "Probability by model or baseline (river, lstm, fused, baseline_*) for the last event.",
            ["zone", "model"], registry=r,
        )  # fmt: skip
        self.anomaly_score = Gauge(
            name("anomaly_score"), "Half-Space Trees anomaly score of the last event.", ["zone"],
            registry=r,
        )  # fmt: skip
        self.hazard_state = Gauge(
            name("hazard_state"), "Hazard state: 0=a none, 1=b low, 2=c high, 3=d danger.",
            ["zone"], registry=r,
        )  # fmt: skip
        self.alerts = Counter(
            name("alerts_total"), "Alerts sent, by zone, state and kind (raise, all-clear).",
            ["zone", "state", "kind"], registry=r,
        )  # fmt: skip
        self.model_roc_auc = Gauge(
            name("model_roc_auc"), "Progressive-validation ROC-AUC.", ["zone", "model"],
            registry=r,
        )  # fmt: skip
        self.model_log_loss = Gauge(
            name("model_log_loss"), "Progressive-validation log loss.", ["zone", "model"],
            registry=r,
        )  # fmt: skip
        self.model_brier = Gauge(
            name("model_brier_score"), "Progressive-validation Brier score.", ["zone", "model"],
            registry=r,
        )  # fmt: skip
        self.labels_learned = Counter(
            name("labels_learned_total"), "Examples learned after their horizon passed.",
            ["zone", "label"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            name("processing_latency_seconds"),
            "From the event entering Kafka (record timestamp) to its risk record being sent.",
            buckets=_LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.consumer_lag = Gauge(
            name("consumer_lag_messages"), "Messages behind the log end, by partition.",
            ["topic", "partition"], registry=r,
        )  # fmt: skip
        self.last_event_timestamp = Gauge(
            name("last_event_timestamp_seconds"), "Event time of the last scored event.",
            ["zone"], registry=r,
        )  # fmt: skip
        self.snapshots = Counter(
            name("state_snapshots_total"), "State snapshots written (then offsets acked).",
            registry=r,
        )  # fmt: skip
        self.model_info = Info(
            name("model"), "Risk model name and version, by zone.", ["zone"], registry=r
        )
        self.retrainings = Counter(
            name("lstm_retrainings_total"),
            "LSTM retrainings by result: promoted, rejected (gate), skipped (too little data).",
            ["result"], registry=r,
        )  # fmt: skip
        self.lstm_validation_auc = Gauge(
            name("lstm_validation_roc_auc"),
            "Validation ROC-AUC of the last candidate and of the model it was judged against.",
            ["model"], registry=r,
        )  # fmt: skip
        self.lstm_training_seconds = Gauge(
            name("lstm_training_seconds"), "Wall time of the last LSTM training.", registry=r
        )
        self.lstm_info = Info(name("lstm"), "The LSTM version scoring now.", registry=r)
        self.model_examples = Gauge(
            name("model_scored_examples"), "Labelled examples behind the progressive scores.",
            ["zone", "model"], registry=r,
        )  # fmt: skip
        self.model_positives = Gauge(
            name("model_scored_positives"), "Labelled targets behind the progressive scores.",
            ["zone", "model"], registry=r,
        )  # fmt: skip
        self.last_processed = Gauge(
            name("last_processed_timestamp_seconds"),
            "Wall-clock time this worker last scored an event (its start time before the first).",
            registry=r,
        )  # fmt: skip
        self.hazard_threshold = Gauge(
            name("hazard_threshold_probability"),
            "Setting alerts.thresholds: the risk at which hazard states b, c, d begin.",
            ["state"], registry=r,
        )  # fmt: skip
        # settings the shipped alert rules compare against (config.settings.MonitoringSettings)
        self.stall_after = Gauge(
            name("stream_stall_after_seconds"),
            "Setting monitoring.stall_after_h: StreamStalled fires after this long without events.",
            registry=r,
        )  # fmt: skip
        self.roc_auc_floor = Gauge(
            name("model_roc_auc_floor"),
            "Setting monitoring.roc_auc_floor: ModelDegraded fires below it.", registry=r,
        )  # fmt: skip
        self.roc_auc_min_positives = Gauge(
            name("model_roc_auc_min_positives"),
            "Setting monitoring.roc_auc_min_positives: labelled targets before ModelDegraded.",
            registry=r,
        )  # fmt: skip
        self.zone_state_bytes = Gauge(
            name("zone_state_bytes"),
            "Compressed size of the zone's last stored state: one changelog message.",
            ["zone"], registry=r,
        )  # fmt: skip
        self._version_seen: dict[str, str] = {}
        self._window_children: dict[str, list[tuple[str, tuple]]] = {}

    def configure(
        self, thresholds: Sequence[float], stall_after_s: float, roc_auc_floor: float,
        min_positives: int,
    ) -> None:  # fmt: skip
        """Export the hazard thresholds and the alert rules' settings; the stall clock starts."""
        for state, value in zip(STATES[1:], thresholds, strict=True):
            self.hazard_threshold.labels(state).set(value)
        self.stall_after.set(stall_after_s)
        self.roc_auc_floor.set(roc_auc_floor)
        self.roc_auc_min_positives.set(min_positives)
        self.last_processed.set_to_current_time()

    def init_zones(self, zones: list[str]) -> None:
        """Export zeros for configured zones at once, so dashboards and rules see them."""
        for result in ("promoted", "rejected", "skipped"):
            self.retrainings.labels(result)
        for source in ("replay", "worker"):
            self.dead_letters.labels(source)
        self.lstm_info.info({"version": "none"})
        for model in ("candidate", "incumbent"):
            self.lstm_validation_auc.labels(model).set(math.nan)  # no gate has run yet
        for zone in zones:
            self.events_processed.labels(zone)
            self.hazard_state.labels(zone).set(0)
            for state in STATES[1:]:
                self.alerts.labels(zone, state, "raise")
            for state in STATES[:-1]:
                self.alerts.labels(zone, state, "all-clear")

    def observe(self, outcome: Outcome, latency_s: float | None) -> None:
        """Record one scored event: counters, histograms and the zone's gauges."""
        e, zone, f = outcome.event, outcome.event.zone, outcome.features
        self.events_processed.labels(zone).inc()
        self.event_energy.labels(zone).observe(e.energy_j)
        if e.duration_s is not None:
            self.event_duration.labels(zone).observe(e.duration_s)
        for w, (energy, events, rate, dur, dur90, b, benioff, per_volume) in self._windows(zone, f):
            energy.set(f[f"energy_sum_j_{w}"])
            dur.set(f[f"duration_mean_s_{w}"])
            dur90.set(f[f"duration_p90_s_{w}"])
            events.set(f[f"count_{w}"])
            rate.set(f[f"rate_per_h_{w}"] / 3600)
            b.set(f[f"b_value_{w}"])
            benioff.set(f[f"benioff_strain_{w}"])
            per_volume.set(f[f"energy_per_volume_j_m3_{w}"])
        self.risk_probability.labels(zone).set(outcome.probability)
        for model, p in outcome.components.items():
            self.component_probability.labels(zone, model).set(p)
        self.anomaly_score.labels(zone).set(outcome.anomaly)
        self.hazard_state.labels(zone).set(STATES.index(outcome.state))
        self.last_event_timestamp.labels(zone).set(e.timestamp)
        self.last_processed.set_to_current_time()
        for ex in outcome.learned:
            self.labels_learned.labels(zone, "positive" if ex.positive else "negative").inc()
        for tr in outcome.transitions:
            self.alerts.labels(zone, tr.state, tr.kind).inc()
        if latency_s is not None:
            self.latency.observe(max(latency_s, 0.0))
        name, _, version = outcome.model_version.partition("@")
        if self._version_seen.get(zone) != outcome.model_version:
            self.model_info.labels(zone).info({"name": name, "version": version})
            self._version_seen[zone] = outcome.model_version

    def _windows(self, zone: str, features: Mapping[str, float]) -> list[tuple[str, tuple]]:
        """The zone's per-window gauge children, looked up once (labels() is not free)."""
        if zone not in self._window_children:
            gauges = (self.rolling_energy, self.rolling_events, self.rolling_rate,
                      self.rolling_duration_mean, self.rolling_duration_p90, self.rolling_b,
                      self.rolling_benioff, self.energy_per_volume)  # fmt: skip
            self._window_children[zone] = [
                (w, tuple(g.labels(zone, w) for g in gauges))
                for w in GAUGE_WINDOWS
                if f"count_{w}" in features
            ]
        return self._window_children[zone]

    def observe_scores(self, zone: str, scores: Mapping[str, Mapping[str, float]]) -> None:
        """Progressive scores per model name (``river``, ``anomaly``, ...)."""
        for model, values in scores.items():
            for gauge, key in ((self.model_roc_auc, "roc_auc"), (self.model_log_loss, "log_loss"),
                               (self.model_brier, "brier"), (self.model_examples, "n"),
                               (self.model_positives, "positives")):  # fmt: skip
                v = values.get(key, math.nan)
                gauge.labels(zone, model).set(v)

    def forget_zone(self, zone: str) -> None:
        """Drop the zone's gauges when its partition moves to another worker.

        A gauge left behind would go on reporting the zone's last hazard state
        from this worker, and keep a hazard alert firing after the zone calmed down.
        Counters and histograms stay: rates over them remain right.
        """
        gauges = [m for m in vars(self).values() if isinstance(m, Gauge)
                  and "zone" in m._labelnames]  # fmt: skip
        for gauge in gauges:
            for family in gauge.collect():
                for sample in family.samples:
                    if sample.labels.get("zone") == zone:
                        gauge.remove(*sample.labels.values())
        self._window_children.pop(zone, None)
        self._version_seen.pop(zone, None)

    def observe_state_size(self, zone: str, size_bytes: int) -> None:
        """A zone's state was stored: its message size (alert rule ZoneStateLarge)."""
        self.zone_state_bytes.labels(zone).set(size_bytes)

    def observe_retraining(self, decision: Mapping[str, object], active: str | None) -> None:
        """One finished retraining: its result, its scores, and the version now scoring."""
        if decision.get("promoted"):
            result = "promoted"
        elif decision.get("version"):
            result = "rejected"
        else:
            result = "skipped"
        self.retrainings.labels(result).inc()
        for model, key in (("candidate", "validation_roc_auc"),
                           ("incumbent", "incumbent_validation_roc_auc")):  # fmt: skip
            value = decision.get(key)
            if isinstance(value, int | float):
                self.lstm_validation_auc.labels(model).set(value)
        seconds = decision.get("train_seconds")
        if isinstance(seconds, int | float):
            self.lstm_training_seconds.set(seconds)
        self.lstm_info.info({"version": active or "none"})


def serve(host: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Start the /metrics endpoint in a daemon thread."""
    start_http_server(port, addr=host, registry=registry)
