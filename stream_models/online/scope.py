"""One zone's whole pipeline: features -> scores -> fusion -> hazard state -> alerts.

:class:`ZoneMonitor` is the single code path of seismowatch: the Faust agent
calls :meth:`ZoneMonitor.process` for each event of a zone (and
:meth:`ZoneMonitor.advance` when the stream's clock moves on without one), and
a backtest calls the very same methods in-process. Per event it computes the
ETAS forecast (the promoted fit, or the prior before one), the River and LSTM
probabilities of the learning target (the LSTM one step of the zone's carried
state) lifted to the alert target by Gutenberg-Richter, the baselines, and the
fused risk (:class:`~stream_models.fusion.stacker.Stacker`, anchored on the ETAS law) that
drives the hazard
state, after a last recalibration on the alert target's own labels
(:class:`~stream_models.fusion.calibration.AlertCalibrator`); when labels mature it
teaches the online models, the stacker and the calibration and scores every
component progressively, on both targets. Its state is
fixed-shape arrays and small scalars (:meth:`to_state`), except the River
model, pickled into the daemon's state directory, and the LSTM and ETAS fits,
which live in the model registry.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from stream_models.features.inputs import (
    INPUT_NAMES,
    OMORI_P,
    STATIC_NAMES,
    model_inputs,
    static_context,
)
from stream_models.features.rolling import ZoneFeatures
from stream_models.fusion.calibration import AlertCalibrator
from stream_models.fusion.hazard import HazardTracker, State, Transition
from stream_models.fusion.stacker import FUSED, Stacker, clip_z, log_count, probability
from stream_models.learners.baselines import BASELINES, Baselines, WeekCounter
from stream_models.learners.river_model import RiskModel
from stream_models.learners.sequence import SequenceModel
from stream_models.online.labels import DelayedLabeler, RecentKeys, example_key
from stream_models.online.policies import MonitorPolicy
from stream_models.seismology.etas import EtasParams, EtasState, prior_params
from stream_models.seismology.gr import log_tail
from stream_models.seismology.reference import LEARNING_SAMPLE, Reference, learning_target
from stream_models.skill.progressive import ProgressiveScore
from stream_models.wire import Event, utc_text

EXPERTS = ("etas", "omori", "river", "lstm", *BASELINES)  # what the fused risk stacks
ANCHOR = "omori"  # the generic ETAS law: a forecast from the first event, nothing fitted
COMPONENTS = ("etas", "omori", "river", "lstm", FUSED, *BASELINES)  # reported: alert target
_SHIFT_KEYS = ("energy_sum_j_8h", "activity_ratio_8h")  # what the tabled baselines bin on


@dataclass(frozen=True)
class Payload:
    """Where each value sits in a waiting example's float32 payload."""

    inputs: slice  # the River/LSTM inputs it was scored on
    alert: slice  # each component's alert-target probability (progressive scores)
    learning: slice  # each expert's log expected count of learning-target events, then fused
    shift: slice  # the baselines' bin inputs
    static: slice  # the LSTM's static context
    fused_alert: slice  # the fused log expected count of targets, before calibration
    width: int

    @classmethod
    def layout(cls, n_inputs: int) -> Payload:
        edges = np.cumsum([0, n_inputs, len(COMPONENTS), len(EXPERTS) + 1, len(_SHIFT_KEYS),
                           len(STATIC_NAMES), 1]).tolist()  # fmt: skip
        parts = [slice(a, b) for a, b in itertools.pairwise(edges)]
        return cls(*parts, width=edges[-1])


PAYLOAD = Payload.layout(len(INPUT_NAMES))
TARGET_BIT, LEARNING_BIT = 0, 1  # label bits: the alert target, the learning target
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
    state: State
    warming_up: bool
    model_version: str
    transitions: list[Transition]
    learned: np.ndarray  # examples whose labels were released before this event
    components: dict[str, float]  # every model's and baseline's probability (NaN: none yet)
    lstm_version: str | None
    learning: dict[str, float] = field(default_factory=dict)  # experts' log expected counts
    weights: dict[str, float] = field(default_factory=dict)  # the stacker's coefficients
    etas_version: str | None = None


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
    ('river-logreg@3', ['baseline_abcd', 'baseline_last_shift_energy', 'baseline_rate'])
    """

    def __init__(
        self, zone: str, policy: MonitorPolicy | None = None, model: RiskModel | None = None
    ) -> None:
        self.zone = zone
        self.policy = pol = policy or MonitorPolicy()
        self.model = model or RiskModel()
        self.features = ZoneFeatures()
        self.labeler = DelayedLabeler(pol.horizon_s, (pol.target_energy_j, pol.learning_j),
                                      PAYLOAD.width)  # fmt: skip
        self.hazard = HazardTracker(zone, pol.hazard)
        self.etas = EtasState()
        self.week = WeekCounter((pol.target_energy_j, pol.learning_j))
        self.baselines = Baselines(pol.horizon_s, pol.target_energy_j, "targets_7d")
        self.experts = Baselines(pol.horizon_s, pol.target_energy_j, "learning_7d",
                                 min_learned=pol.min_examples)  # fmt: skip
        self.stacker = Stacker(EXPERTS, ANCHOR, pol.stacker_lr, pol.stacker_l2,
                               pol.stacker_calibration_lr)
        self.calibrator = AlertCalibrator()
        self.learning_j = pol.learning_j
        self.sample: list[float] | None = []  # the zone's first log10 E, until they fix things
        self.reference: Reference | None = None
        self.t_first: float | None = None
        self.scores = {name: ProgressiveScore() for name in COMPONENTS}
        self.learning_scores = {name: ProgressiveScore() for name in (*EXPERTS, FUSED)}
        self.learning_positives = 0
        w = pol.sequence_window
        self.recent = np.zeros((w, len(INPUT_NAMES)), np.float32)  # the last inputs, a ring
        self.n_recent = 0  # inputs written to the ring so far
        self.lstm_state: np.ndarray | None = None  # the LSTM's (h, c) for this zone
        self.lstm_for: str | None = None  # the version that state belongs to
        self.last_target_t: float | None = None
        self.last_learning_t: float | None = None
        self.prev_t: float | None = None
        self.events = 0
        self.applied = RecentKeys(max(pol.horizon_s, min(pol.max_lateness_s, 7 * 86400.0)))

    @property
    def warming_up(self) -> bool:
        pol = self.policy
        return self.stacker.n < pol.min_examples or self.learning_positives < pol.min_positives

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

    def process(self, event: Event, lstm: SequenceModel | None = None,
                etas: EtasParams | None = None) -> Outcome:  # fmt: skip
        """Features, then learn from labels that matured, then score, mix, and the hazard state.

        ``lstm`` and ``etas`` are the process's promoted LSTM and ETAS fit, if any.
        """
        pol = self.policy
        t = self.event_time(event)
        key = example_key(event.event_id)
        if not self.applied.add(key, t):
            raise DuplicateEventError(
                f"event {event.event_id} was already applied in zone {self.zone}: not again"
            )
        matured = self.advance(t)
        released = self.labeler.advance(t, event.energy_j)
        for row in released:
            self._learn(row)
        learned = matured.learned
        if len(released):  # most events release nothing: no array to join
            learned = np.concatenate([learned, released]) if len(learned) else released
        features = self.features.update(event, t)
        log_e = event.log_energy
        ref = self._sample(log_e, t)
        fitted = etas is not None
        b = etas.b_value if fitted else ref.b_value
        self.etas.add(t, log_e, ref.mc_log_e)
        generic = prior_params(ref.mc_log_e, {self.zone: ref.mu}, ref.b_value)
        expected = {"omori": self.etas.expected(generic, self.zone, t, pol.horizon_s)}
        if fitted:
            mu = etas.mu if self.zone in etas.mu else {**etas.mu, self.zone: ref.mu}
            etas = replace(etas, mu=mu)
            expected["etas"] = self.etas.expected(etas, self.zone, t, pol.horizon_s)
        if event.energy_j >= self.learning_j:
            self.last_learning_t = t
        if event.energy_j >= pol.target_energy_j:
            self.last_target_t = t
        since = {"previous": self.prev_t, "learning": self.last_learning_t,
                 "target": self.last_target_t}  # fmt: skip
        self.prev_t = t
        targets_7d, learning_7d = self.week.add(t, event.energy_j)
        omori = {p: self.etas.omori_sum(60.0, p, t) for p in OMORI_P}
        x = model_inputs(features, log_e, t, since, omori, expected.get("etas",
                                                                        expected["omori"]))
        static = static_context(t, self.last_target_t, pol.shift_s)
        vector = np.fromiter(x.values(), np.float32, len(INPUT_NAMES))
        self.recent[self.n_recent % len(self.recent)] = vector
        self.n_recent += 1
        table_x = {**features, "targets_7d": targets_7d, "learning_7d": learning_7d}
        log_t, log_l = math.log10(pol.target_energy_j), math.log10(self.learning_j)
        laws = {"omori": generic, **({"etas": etas} if fitted else {})}
        learning = {
            "etas": math.nan,  # asleep until a fit is promoted
            **{e: _log_expected(expected[e], law, log_l) for e, law in laws.items()},
            "river": log_count(self.model.predict_proba_one(x)
                               if self.model.n_learned >= pol.min_examples else math.nan),
            "lstm": log_count(self._lstm(lstm, vector, static)),
            **{e: log_count(p) for e, p in self.experts.predict(table_x).items()},
        }  # fmt: skip
        learning[FUSED] = self.stacker.predict_one(learning)
        up = log_tail(log_l, log_t, b)  # learning target -> alert target, Gutenberg-Richter
        fused_alert = learning[FUSED] + up
        components = {
            **{e: probability(_log_expected(expected[e], law, log_t)) for e, law in laws.items()},
            "etas": (probability(_log_expected(expected["etas"], etas, log_t)) if fitted
                     else math.nan),
            **{e: probability(learning[e] + up) if math.isfinite(learning[e]) else math.nan
               for e in ("river", "lstm")},
            FUSED: probability(self.calibrator.predict_one(fused_alert)),
            **self.baselines.predict(table_x),
        }  # fmt: skip
        fused = components[FUSED]
        warming = self.warming_up or not math.isfinite(fused)
        raised = self.hazard.update(0.0 if warming else fused, t, event.event_id)
        payload = np.empty(PAYLOAD.width, np.float32)
        payload[PAYLOAD.inputs] = vector
        payload[PAYLOAD.alert] = [components[c] for c in COMPONENTS]
        payload[PAYLOAD.learning] = [learning[e] for e in (*EXPERTS, FUSED)]
        payload[PAYLOAD.shift] = [_finite_or_zero(features.get(k)) for k in _SHIFT_KEYS]
        payload[PAYLOAD.static] = static
        payload[PAYLOAD.fused_alert] = fused_alert
        self.labeler.add(t, key, payload)
        self.events += 1
        return Outcome(
            event, features, x, fused, self.hazard.state, warming,
            self.model.version, [*matured.transitions, *raised], learned, components,
            lstm.version if lstm else None, learning, self.stacker.coefficients(),
            etas.version if fitted else None,
        )  # fmt: skip

    def _sample(self, log_e: float, t: float) -> Reference:
        """The zone's reference values; its first events fix them and the learning target
        (frequent enough to learn from whatever the catalog's completeness, never closer
        than a decade to the alert target)."""
        if self.reference is not None:
            return self.reference
        sample = self.sample
        assert sample is not None
        sample.append(log_e)
        self.t_first = t if self.t_first is None else self.t_first
        ref = Reference.of(sample, self.t_first, t)
        if len(sample) < LEARNING_SAMPLE:
            return ref
        self.reference, self.sample = ref, None
        if self.policy.learning_energy_j is None:
            self.learning_j = learning_target(ref, self.policy.horizon_s,
                                              self.policy.target_energy_j)  # fmt: skip
            self.labeler.thresholds_j = (self.policy.target_energy_j, self.learning_j)
            self.week.thresholds_j = (self.policy.target_energy_j, self.learning_j)
        return ref

    def _lstm(self, lstm: SequenceModel | None, vector: np.ndarray, static: list[float]) -> float:
        """One step of the zone's carried LSTM state; a new version warms up on the recent
        inputs first (the event's own included). The mine-wide scope goes without it."""
        if lstm is None or self.policy.max_lateness_s == math.inf:
            return math.nan
        if self.lstm_for != lstm.version or self.lstm_state is None:
            self.lstm_state = lstm.warm(self.recent_inputs())
            self.lstm_for = lstm.version
        else:
            self.lstm_state = lstm.step(self.lstm_state, vector)
        return lstm.calibrated(self.lstm_state, static)

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
        stream_models.online.scope.LateEventError: event c at 2021-03-01T09:00:00Z is 3.0 h ...
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
        """One matured example: the River model, the stacker, the baselines, every score."""
        y_t, y_l = bool(row["labels"][TARGET_BIT]), bool(row["labels"][LEARNING_BIT])
        payload = row["x"]
        self.model.learn_one(dict(zip(INPUT_NAMES, payload[PAYLOAD.inputs].tolist(),
                                      strict=True)), y_l)  # fmt: skip
        learning = dict(zip((*EXPERTS, FUSED), payload[PAYLOAD.learning].tolist(), strict=True))
        self.stacker.learn_one(learning, y_l, float(row["held_s"]) / self.policy.horizon_s)
        self.calibrator.learn_one(float(payload[PAYLOAD.fused_alert][0]), y_t)
        table_x = dict(zip(_SHIFT_KEYS, payload[PAYLOAD.shift].tolist(), strict=True))
        self.baselines.learn(table_x, y_t)
        self.experts.learn(table_x, y_l)
        self.learning_positives += int(y_l)
        for name, p in zip(COMPONENTS, payload[PAYLOAD.alert].tolist(), strict=True):
            if math.isfinite(p):
                self.scores[name].update(y_t, p)
        for name, z in learning.items():
            if math.isfinite(z):
                self.learning_scores[name].update(y_l, probability(z))

    def metrics(self, learning: bool = False) -> dict[str, dict[str, float]]:
        """Progressive-validation scores of every component (alert target) or expert
        (``learning``: the learning target, what the stacker learns on)."""
        scores = self.learning_scores if learning else self.scores
        return {name: s.get() for name, s in scores.items()}

    def to_state(self) -> dict[str, Any]:
        """Arrays and scalars of everything except the River model (saved separately)."""
        return {
            "zone": self.zone,
            "events": self.events,
            "features": self.features.to_state(),
            "labeler": self.labeler.to_state(),
            "hazard": self.hazard.to_state(),
            "etas": self.etas.to_state(),
            "week": self.week.to_state(),
            "baselines": self.baselines.to_state(),
            "experts": self.experts.to_state(),
            "stacker": self.stacker.to_state(),
            "calibrator": self.calibrator.to_state(),
            "scores": {k: v.to_state() for k, v in self.scores.items()},
            "learning_scores": {k: v.to_state() for k, v in self.learning_scores.items()},
            "learning_positives": self.learning_positives,
            "recent": self.recent,
            "n_recent": self.n_recent,
            "lstm_state": self.lstm_state,
            "lstm_for": self.lstm_for,
            "last_target_t": self.last_target_t,
            "last_learning_t": self.last_learning_t,
            "learning_j": self.learning_j,
            "sample": None if self.sample is None else np.array(self.sample),
            "reference": None if self.reference is None else asdict(self.reference),
            "t_first": self.t_first,
            "prev_t": self.prev_t,
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
        mon.hazard.policy = policy.hazard  # thresholds changed in the settings apply on restart
        mon.etas = EtasState.from_state(state["etas"])
        mon.week.restore(state["week"])
        mon.baselines.restore(state["baselines"])
        mon.experts.restore(state["experts"])
        mon.stacker = Stacker.from_state(state["stacker"])
        mon.calibrator = AlertCalibrator.from_state(state["calibrator"])
        mon.scores.update({k: ProgressiveScore.from_state(v) for k, v in state["scores"].items()})
        mon.learning_scores.update({k: ProgressiveScore.from_state(v)
                                    for k, v in state["learning_scores"].items()})  # fmt: skip
        mon.learning_positives = int(state["learning_positives"])
        recent = np.asarray(state["recent"], np.float32)
        if recent.shape != mon.recent.shape:
            raise ValueError(f"zone {mon.zone}: stored inputs have shape {recent.shape}, "
                             f"this version keeps {mon.recent.shape}")  # fmt: skip
        mon.recent, mon.n_recent = recent.copy(), int(state["n_recent"])
        lstm_state = state["lstm_state"]
        mon.lstm_state = None if lstm_state is None else np.asarray(lstm_state, float)
        mon.lstm_for = state["lstm_for"]
        mon.last_target_t = state["last_target_t"]
        mon.last_learning_t = state["last_learning_t"]
        mon.learning_j = float(state["learning_j"])
        sample, ref = state["sample"], state["reference"]
        mon.sample = None if sample is None else [float(v) for v in sample]
        mon.reference = None if ref is None else Reference(**ref)
        mon.t_first = state["t_first"]
        mon.week.thresholds_j = (policy.target_energy_j, mon.learning_j)
        mon.prev_t = state["prev_t"]
        mon.applied = RecentKeys.from_state(state["applied"])
        return mon


def _log_expected(expected_above_mc: float, law: EtasParams, log_e: float) -> float:
    """ln of the expected count of events >= 10^log_e J from the count above the law's Mc."""
    return clip_z(math.log(max(expected_above_mc, 1e-300)) + log_tail(law.mc_log_e, log_e,
                                                                         law.b_value))


def _finite_or_zero(v: float | None) -> float:
    return 0.0 if v is None or not math.isfinite(v) else float(v)
