"""One zone's whole pipeline: features -> scores -> fusion -> hazard state -> alerts.

:class:`ZoneMonitor` is the single code path of seismowatch: the Faust agent
calls :meth:`ZoneMonitor.process` for each event of a zone (and
:meth:`ZoneMonitor.advance` when the stream's clock moves on without one), and
a backtest calls the very same methods in-process. Per event it computes the
River probability, the anomaly score, the LSTM probability (one step of the
zone's carried state, when a version is promoted), the baselines and the fused
risk that drives the hazard state; when labels mature it teaches the online
models and scores every component progressively. Its state is fixed-shape
arrays and small scalars (:meth:`to_state`), except the River models, which are
pickled into the daemon's state directory, and the LSTM, which lives in the
model registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_models.baselines import BASELINES, Baselines
from stream_models.events import Event, utc_text
from stream_models.features import ZoneFeatures
from stream_models.fusion import FUSED, fusion_inputs
from stream_models.hazard import HazardPolicy, HazardTracker, State, Transition
from stream_models.labels import DelayedLabeler, RecentKeys, example_key
from stream_models.metrics import ProgressiveScore
from stream_models.risk import INPUT_NAMES, RiskModel, model_inputs
from stream_models.sequence import STATIC_NAMES, SequenceModel, static_context

COMPONENTS = ("river", "anomaly", "lstm", FUSED, *BASELINES)
BINS = ("shift", "abcd")  # the baselines' bins, learned when the label matures


@dataclass(frozen=True)
class Payload:
    """Where each value sits in a waiting example's float32 payload."""

    inputs: slice
    components: slice
    bins: slice
    static: slice
    width: int

    @classmethod
    def layout(cls, n_inputs: int) -> Payload:
        a = n_inputs
        b = a + len(COMPONENTS)
        c = b + len(BINS)
        d = c + len(STATIC_NAMES)
        return cls(slice(0, a), slice(a, b), slice(b, c), slice(c, d), d)


PAYLOAD = Payload.layout(len(INPUT_NAMES))


@dataclass(frozen=True)
class MonitorPolicy:
    """What is predicted, and when the model is trusted enough to move the hazard state."""

    target_energy_j: float = 1e4
    horizon_s: float = 8 * 3600.0
    hazard: HazardPolicy = field(default_factory=HazardPolicy)
    min_examples: int = 200  # labelled examples learned before the state may leave "a"
    min_positives: int = 5  # ... of which targets: an untrained model says 0.5 to everything
    sequence_window: int = 64  # input vectors kept per zone for an LSTM swap's warm-up
    shift_s: float = 8 * 3600.0
    max_lateness_s: float = 24 * 3600.0  # later than this behind the zone's clock: refused


class DuplicateEventError(ValueError):
    """The zone already applied an event with this id (a re-delivery or a re-export):
    applying it twice would count its energy and labels twice; nothing changes."""


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
    learned: np.ndarray  # examples whose labels were released before this event
    components: dict[str, float]  # every model's and baseline's probability (NaN: none yet)
    lstm_version: str | None


@dataclass
class Advance:
    """What letting the zone's clock move on produced: learned examples and alerts."""

    learned: np.ndarray
    transitions: list[Transition]


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
    >>> [len(o.learned) for o in out]     # labels after 1 h, one per later event
    [0, 0, 0, 1, 1, 1]
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
        self.labeler = DelayedLabeler(
            self.policy.horizon_s, (self.policy.target_energy_j,), PAYLOAD.width
        )
        self.hazard = HazardTracker(zone, self.policy.hazard)
        self.baselines = Baselines(self.policy.horizon_s, self.policy.target_energy_j)
        self.scores = {name: ProgressiveScore() for name in COMPONENTS}
        w = self.policy.sequence_window
        self.recent = np.zeros((w, len(INPUT_NAMES)), np.float32)  # the last inputs, a ring
        self.n_recent = 0  # inputs written to the ring so far
        self.lstm_state: np.ndarray | None = None  # the LSTM's (h, c) for this zone
        self.lstm_for: str | None = None  # the version that state belongs to
        self.last_target_t: float | None = None
        self.events = 0
        self.applied = RecentKeys(max(self.policy.horizon_s, min(self.policy.max_lateness_s, 7
                                                                     * 86400.0)))  # fmt: skip

    @property
    def warming_up(self) -> bool:
        m, pol = self.model, self.policy
        return m.n_learned < pol.min_examples or m.n_positive < pol.min_positives

    @property
    def clock(self) -> float | None:
        """Event time of the zone's newest event (the time late events count at)."""
        return self.features.clock

    def advance(self, clock: float) -> Advance:
        """Let event time pass up to ``clock`` with no event: mature labels, expire the
        forecast, close a cooled alert episode. Results depend only on ``clock``."""
        learned = self.labeler.advance(clock, math.nan)
        for row in learned:
            self._learn(row)
        return Advance(learned, self.hazard.tick(clock))

    def process(self, event: Event, lstm: SequenceModel | None = None) -> Outcome:
        """Features, then learn from labels that matured, then score, fuse, and the hazard state.

        ``lstm`` is the promoted sequence model of the process, if any.
        """
        pol = self.policy
        t = self.event_time(event)
        key = example_key(event.event_id)
        if not self.applied.add(key, t):
            raise DuplicateEventError(
                f"event {event.event_id} was already applied in zone {self.zone}: not again"
            )
        matured = self.advance(t)
        learned = np.concatenate([matured.learned, self.labeler.advance(t, event.energy_j)])
        for row in learned[len(matured.learned) :]:
            self._learn(row)
        features = self.features.update(event, t)
        x = model_inputs(features, event.log_energy)
        if event.energy_j >= pol.target_energy_j:
            self.last_target_t = t
        static = static_context(t, self.last_target_t, pol.shift_s)
        vector = np.fromiter(x.values(), np.float32, len(INPUT_NAMES))
        self.recent[self.n_recent % len(self.recent)] = vector
        self.n_recent += 1
        p = self.model.predict_proba_one(x)
        anomaly = self.model.score_one(x)
        self.model.learn_anomaly_one(x)
        p_lstm = self._lstm(lstm, vector, static)
        baselines, bins = self.baselines.score(features, t, event.energy_j)
        fused = self.model.fusion.predict_proba_one(fusion_inputs(p, p_lstm, anomaly))
        components = {"river": p, "anomaly": anomaly, "lstm": p_lstm, FUSED: fused, **baselines}
        warming = self.warming_up
        raised = self.hazard.update(0.0 if warming else fused, t, event.event_id)
        transitions = [*matured.transitions, *raised]
        payload = np.empty(PAYLOAD.width, np.float32)
        payload[PAYLOAD.inputs] = vector
        payload[PAYLOAD.components] = [components[c] for c in COMPONENTS]
        payload[PAYLOAD.bins] = [bins[b] for b in BINS]
        payload[PAYLOAD.static] = static
        self.labeler.add(t, key, payload)
        self.events += 1
        return Outcome(
            event, features, x, fused, anomaly, self.hazard.state, warming,
            self.model.version, transitions, learned, components,
            lstm.version if lstm else None,
        )  # fmt: skip

    def _lstm(self, lstm: SequenceModel | None, vector: np.ndarray, static: list[float]) -> float:
        """One step of the zone's carried LSTM state; a new version warms up on the recent
        inputs first (the event's own included)."""
        if lstm is None:
            return math.nan
        if self.lstm_for != lstm.version or self.lstm_state is None:
            self.lstm_state = lstm.warm(self.recent_inputs())
            self.lstm_for = lstm.version
        else:
            self.lstm_state = lstm.step(self.lstm_state, vector)
        return lstm.proba(self.lstm_state, static)

    def recent_inputs(self) -> np.ndarray:
        """The last ``sequence_window`` input vectors, oldest first."""
        n, ring = self.n_recent, self.recent
        if n <= len(ring):
            return ring[:n].copy()
        k = n % len(ring)
        return np.concatenate([ring[k:], ring[:k]])

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

    def _learn(self, row: np.void) -> None:
        """One matured label: online models, fusion, baselines and every progressive score."""
        y = bool(row["labels"][0])
        payload = row["x"]
        x = dict(zip(INPUT_NAMES, payload[PAYLOAD.inputs].tolist(), strict=True))
        comp = dict(zip(COMPONENTS, payload[PAYLOAD.components].tolist(), strict=True))
        self.model.learn_one(x, y)
        self.model.fusion.learn_one(
            fusion_inputs(comp["river"], comp["lstm"], comp["anomaly"]), y,
            self.model.positive_weight(),
        )  # fmt: skip
        shift, abcd = payload[PAYLOAD.bins].tolist()
        self.baselines.learn({"shift": int(shift), "abcd": int(abcd)}, y)
        for name, score in self.scores.items():
            v = comp[name]
            if math.isfinite(v):
                score.update(y, v)

    def metrics(self) -> dict[str, dict[str, float]]:
        """Progressive-validation scores of every model and baseline, by component name."""
        return {name: s.get() for name, s in self.scores.items()}

    def to_state(self) -> dict[str, Any]:
        """Arrays and scalars of everything except the River model (saved separately)."""
        return {
            "zone": self.zone,
            "events": self.events,
            "features": self.features.to_state(),
            "labeler": self.labeler.to_state(),
            "hazard": self.hazard.to_state(),
            "baselines": self.baselines.to_state(),
            "scores": {k: v.to_state() for k, v in self.scores.items()},
            "recent": self.recent,
            "n_recent": self.n_recent,
            "lstm_state": self.lstm_state,
            "lstm_for": self.lstm_for,
            "last_target_t": self.last_target_t,
            "applied": self.applied.to_state(),
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
        recent = np.asarray(state["recent"], np.float32)
        if recent.shape != mon.recent.shape:
            raise ValueError(f"zone {mon.zone}: stored inputs have shape {recent.shape}, "
                             f"this version keeps {mon.recent.shape}")  # fmt: skip
        mon.recent, mon.n_recent = recent.copy(), int(state["n_recent"])
        lstm_state = state["lstm_state"]
        mon.lstm_state = None if lstm_state is None else np.asarray(lstm_state, float)
        mon.lstm_for = state["lstm_for"]
        mon.last_target_t = state["last_target_t"]
        mon.applied = RecentKeys.from_state(state["applied"])
        return mon
