"""One zone's whole pipeline: features -> score -> delayed learning -> hazard state -> alerts.

:class:`ZoneMonitor` is the single code path of seismowatch: the Faust agent
calls :meth:`ZoneMonitor.process` for each event of a zone, and a backtest calls
the very same method in-process. Its state splits in two: everything but the
River model is JSON (:meth:`to_state`, kept in a changelog-backed table), the
model is pickled into the daemon's own state directory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream_models.events import Event
from stream_models.features import ZoneFeatures
from stream_models.hazard import HazardPolicy, HazardTracker, State, Transition
from stream_models.labels import DelayedLabeler, Pending
from stream_models.metrics import ProgressiveScore
from stream_models.risk import RiskModel, model_inputs


@dataclass(frozen=True)
class MonitorPolicy:
    """What is predicted, and when the model is trusted enough to move the hazard state."""

    target_energy_j: float = 1e4
    horizon_s: float = 8 * 3600.0
    hazard: HazardPolicy = field(default_factory=HazardPolicy)
    min_examples: int = 200  # labelled examples learned before the state may leave "a"
    min_positives: int = 5  # ... of which targets: an untrained model says 0.5 to everything


@dataclass
class Outcome:
    """What one event produced: its features, its score and the alerts to send."""

    event: Event
    features: dict[str, float]
    inputs: dict[str, float]
    probability: float
    anomaly: float
    state: State
    warming_up: bool
    model_version: str
    transitions: list[Transition]
    learned: list[Pending]  # examples whose label was released by this event


class ZoneMonitor:
    """Scores the risk of a target event in one zone and learns from outcomes.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> mon = ZoneMonitor("lava-1", MonitorPolicy(horizon_s=3600, min_examples=1,
    ...                                           min_positives=0))
    >>> t0 = datetime(2021, 1, 1, tzinfo=UTC)
    >>> out = [mon.process(Event(str(i), t0 + timedelta(minutes=30 * i), 0, 0, -400,
    ...                          10 ** (2 + i % 3), 1.0)) for i in range(6)]
    >>> [o.learned[0].event_id for o in out if o.learned]  # labels after 1 h, in order
    ['0', '1', '2']
    >>> out[-1].model_version
    'river-logreg+hst@3'
    """

    def __init__(
        self, zone: str, policy: MonitorPolicy | None = None, model: RiskModel | None = None
    ) -> None:
        self.zone = zone
        self.policy = policy or MonitorPolicy()
        self.model = model or RiskModel()
        self.features = ZoneFeatures()
        self.labeler = DelayedLabeler(self.policy.horizon_s, self.policy.target_energy_j)
        self.hazard = HazardTracker(zone, self.policy.hazard)
        self.score = ProgressiveScore()
        self.anomaly_score = ProgressiveScore()
        self.events = 0

    @property
    def warming_up(self) -> bool:
        m, pol = self.model, self.policy
        return m.n_learned < pol.min_examples or m.n_positive < pol.min_positives

    def process(self, event: Event) -> Outcome:
        """Features, then release labels that matured, then score, then the hazard state."""
        features = self.features.update(event)
        learned = self.labeler.advance(event.timestamp, event.energy_j)
        for ex in learned:
            self.model.learn_one(ex.x, ex.positive)
            self.score.update(ex.positive, ex.p)
            self.anomaly_score.update(ex.positive, ex.anomaly)
        x = model_inputs(features, event.log_energy)
        p = self.model.predict_proba_one(x)
        anomaly = self.model.score_one(x)
        self.model.learn_anomaly_one(x)
        warming = self.warming_up
        transitions = self.hazard.update(0.0 if warming else p, event.timestamp, event.event_id)
        self.labeler.add(Pending(event.timestamp, event.event_id, x, p, anomaly))
        self.events += 1
        return Outcome(
            event, features, x, p, anomaly, self.hazard.state, warming,
            self.model.version, transitions, learned,
        )  # fmt: skip

    def metrics(self) -> dict[str, float]:
        """Progressive-validation scores of the classifier and of the anomaly score."""
        out = {f"model_{k}": v for k, v in self.score.get().items()}
        out["anomaly_roc_auc"] = self.anomaly_score.auc.get()
        return out

    def to_state(self) -> dict[str, Any]:
        """JSON state of everything except the River model (saved separately)."""
        return {
            "zone": self.zone,
            "events": self.events,
            "features": self.features.to_state(),
            "labeler": self.labeler.to_state(),
            "hazard": self.hazard.to_state(),
            "score": self.score.to_state(),
            "anomaly_score": self.anomaly_score.to_state(),
            "model_version": self.model.version,
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], policy: MonitorPolicy, model: RiskModel | None
    ) -> ZoneMonitor:
        mon = cls(str(state["zone"]), policy, model)
        mon.events = int(state["events"])
        mon.features = ZoneFeatures.from_state(state["features"])
        mon.labeler = DelayedLabeler.from_state(state["labeler"])
        mon.hazard = HazardTracker.from_state(state["hazard"])
        mon.score = ProgressiveScore.from_state(state["score"])
        mon.anomaly_score = ProgressiveScore.from_state(state["anomaly_score"])
        return mon


def json_safe(values: Mapping[str, float]) -> dict[str, float | None]:
    """NaN and infinities become ``null``: JSON has no NaN."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}
