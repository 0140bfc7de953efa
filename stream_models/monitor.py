"""One zone's whole pipeline: features -> scores -> fusion -> hazard state -> alerts.

:class:`ZoneMonitor` is the single code path of seismowatch: the Faust agent
calls :meth:`ZoneMonitor.process` for each event of a zone, and a backtest calls
the very same method in-process. Per event it computes the River probability,
the anomaly score, the LSTM probability (when a version is promoted), the
baselines and the fused risk that drives the hazard state; when labels mature it
teaches the online models and scores every component progressively. Its state
splits in two: everything but the River models is JSON (:meth:`to_state`, kept
in a changelog-backed table), the River models are pickled into the daemon's
state directory, and the LSTM lives in the model registry.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_models.baselines import BASELINES, Baselines
from stream_models.events import Event, utc_text
from stream_models.features import ZoneFeatures
from stream_models.fusion import FUSED, fusion_inputs
from stream_models.hazard import HazardPolicy, HazardTracker, State, Transition
from stream_models.labels import DelayedLabeler, Pending
from stream_models.metrics import ProgressiveScore
from stream_models.risk import INPUT_NAMES, RiskModel, input_vector, model_inputs
from stream_models.sequence import SequenceModel, static_context

COMPONENTS = ("river", "anomaly", "lstm", FUSED, *BASELINES)


@dataclass(frozen=True)
class MonitorPolicy:
    """What is predicted, and when the model is trusted enough to move the hazard state."""

    target_energy_j: float = 1e4
    horizon_s: float = 8 * 3600.0
    hazard: HazardPolicy = field(default_factory=HazardPolicy)
    min_examples: int = 200  # labelled examples learned before the state may leave "a"
    min_positives: int = 5  # ... of which targets: an untrained model says 0.5 to everything
    sequence_window: int = 64  # input vectors kept per zone for the LSTM
    shift_s: float = 8 * 3600.0
    max_lateness_s: float = 24 * 3600.0  # later than this behind the zone's clock: refused


class LateEventError(ValueError):
    """An event too far behind its zone's clock to be scored; the zone's state is untouched.

    Scoring it would put it in windows and labels that have already moved on, and
    a whole past period replayed into live topics would pile up examples that
    never mature. The worker dead-letters it with this message.
    """


@dataclass
class Outcome:
    """What one event produced: its features, its score and the alerts to send."""

    event: Event
    features: dict[str, float]
    inputs: dict[str, float]
    probability: float  # the fused risk: what the hazard state follows
    anomaly: float
    state: State
    warming_up: bool
    model_version: str
    transitions: list[Transition]
    learned: list[Pending]  # examples whose label was released by this event
    components: dict[str, float]  # every model's and baseline's probability (NaN: none yet)
    lstm_version: str | None


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
    >>> out[-1].model_version, sorted(out[-1].components)[:3]
    ('river-logreg+hst@3', ['anomaly', 'baseline_abcd', 'baseline_last_shift_energy'])
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
        self.baselines = Baselines(self.policy.horizon_s, self.policy.target_energy_j)
        self.scores = {name: ProgressiveScore() for name in COMPONENTS}
        self.sequence: deque[np.ndarray] = deque(maxlen=self.policy.sequence_window)
        self.last_target_t: float | None = None
        self.events = 0

    @property
    def warming_up(self) -> bool:
        m, pol = self.model, self.policy
        return m.n_learned < pol.min_examples or m.n_positive < pol.min_positives

    def process(self, event: Event, lstm: SequenceModel | None = None) -> Outcome:
        """Features, then learn from labels that matured, then score, fuse, and the hazard state.

        ``lstm`` is the promoted sequence model of the process, if any.
        """
        pol = self.policy
        t = self.event_time(event)
        features = self.features.update(event)
        learned = self.labeler.advance(t, event.energy_j)
        for ex in learned:
            self._learn(ex)
        x = model_inputs(features, event.log_energy)
        if event.energy_j >= pol.target_energy_j:
            self.last_target_t = t
        static = static_context(t, self.last_target_t, pol.shift_s)
        self.sequence.append(np.asarray(input_vector(x), np.float32))
        p = self.model.predict_proba_one(x)
        anomaly = self.model.score_one(x)
        self.model.learn_anomaly_one(x)
        p_lstm = lstm.predict_proba(np.stack(self.sequence), static) if lstm else math.nan
        baselines, bins = self.baselines.score(features, t, event.energy_j)
        fused = self.model.fusion.predict_proba_one(fusion_inputs(p, p_lstm, anomaly))
        components = {"river": p, "anomaly": anomaly, "lstm": p_lstm, FUSED: fused, **baselines}
        warming = self.warming_up
        transitions = self.hazard.update(0.0 if warming else fused, t, event.event_id)
        extra = {**components, **{f"bin_{k}": float(v) for k, v in bins.items()},
                 **{f"static_{i}": v for i, v in enumerate(static)}}  # fmt: skip
        self.labeler.add(Pending(t, event.event_id, x, fused, anomaly, extra=extra))
        self.events += 1
        return Outcome(
            event, features, x, fused, anomaly, self.hazard.state, warming,
            self.model.version, transitions, learned, components,
            lstm.version if lstm else None,
        )  # fmt: skip

    def event_time(self, event: Event) -> float:
        """The time ``event`` counts at: the zone's clock never goes back.

        An event up to ``max_lateness_s`` behind the clock (GITS locates some
        events late) is counted now, at the clock's time, by features, labels
        and hazard state alike (a late target also labels positive the examples
        scored between its real time and the clock: the conservative side); an
        older one raises :class:`LateEventError`.

        >>> from datetime import UTC, datetime
        >>> mon = ZoneMonitor("z", MonitorPolicy(max_lateness_s=3600))
        >>> day = datetime(2021, 3, 1, 12, tzinfo=UTC)
        >>> _ = mon.process(Event("a", day, 0, 0, -400, 100.0, 1.0))
        >>> mon.event_time(Event("b", day.replace(hour=11, minute=30), 0, 0, -400, 1.0, 1.0))
        1614600000.0
        >>> mon.event_time(Event("c", day.replace(hour=9), 0, 0, -400, 1.0, 1.0))
        Traceback (most recent call last):
        ...
        stream_models.monitor.LateEventError: event c at 2021-03-01T09:00:00Z is 3.0 h behind ...
        """
        t, clock = event.timestamp, self.features.clock
        if clock is None or t >= clock:
            return t
        if clock - t > self.policy.max_lateness_s:
            raise LateEventError(
                f"event {event.event_id} at {utc_text(t)} is {(clock - t) / 3600:.1f} h behind "
                f"zone {self.zone}'s clock ({utc_text(clock)}), more than the "
                f"{self.policy.max_lateness_s / 3600:g} h allowed (alerts.max_lateness_h): "
                "not scored. A past period replayed into the live topics?"
            )
        return clock

    def _learn(self, ex: Pending) -> None:
        """One matured label: online models, fusion, baselines and every progressive score."""
        y, extra = ex.positive, ex.extra
        self.model.learn_one(ex.x, y)
        lstm = extra.get("lstm", math.nan)
        self.model.fusion.learn_one(
            fusion_inputs(extra["river"], lstm, extra["anomaly"]), y, self.model.positive_weight()
        )
        self.baselines.learn({"shift": int(extra["bin_shift"]), "abcd": int(extra["bin_abcd"])}, y)
        for name, score in self.scores.items():
            v = extra.get(name, math.nan)
            if math.isfinite(v):
                score.update(y, v)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Progressive-validation scores of every model and baseline, by component name."""
        return {name: s.get() for name, s in self.scores.items()}

    def to_state(self) -> dict[str, Any]:
        """JSON state of everything except the River model (saved separately)."""
        return {
            "zone": self.zone,
            "events": self.events,
            "features": self.features.to_state(),
            "labeler": self.labeler.to_state(),
            "hazard": self.hazard.to_state(),
            "baselines": self.baselines.to_state(),
            "scores": {k: v.to_state() for k, v in self.scores.items()},
            "sequence": base64.b64encode(b"".join(v.tobytes() for v in self.sequence)).decode(),
            "last_target_t": self.last_target_t,
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
        mon.baselines = Baselines.from_state(state["baselines"])
        mon.scores.update({k: ProgressiveScore.from_state(v) for k, v in state["scores"].items()})
        rows = np.frombuffer(base64.b64decode(state["sequence"]), np.float32)
        for row in rows.reshape(-1, len(INPUT_NAMES)):
            mon.sequence.append(row.copy())
        mon.last_target_t = state["last_target_t"]
        return mon


def json_safe(values: Mapping[str, float]) -> dict[str, float | None]:
    """NaN and infinities become ``null``: JSON has no NaN."""
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}
