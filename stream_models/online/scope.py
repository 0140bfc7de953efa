"""One scope's whole pipeline: features -> experts -> mixture -> hazard state -> alerts.

A scope is a zone of the mine, or the mine-wide scope that sees every event.
:class:`ScopeMonitor` is the single per-event code path of seismowatch: the
worker and a backtest call the very same :meth:`ScopeMonitor.process` for each
event of a scope (through :class:`~stream_models.online.orchestrator.Orchestrator`).
Per event it releases the labels that matured and learns from them, computes
the features and model inputs, asks every expert (:mod:`stream_models.online.experts`)
for its probability of a learning-target event within the horizon, mixes them
(:class:`~stream_models.fusion.mixture.Mixture`) whose weights follow how well each
expert forecast both targets at once (no learning-target event, one but no
target, a target: the frequent labels and the rare ones in one likelihood), and
moves the hazard state with the fused risk. It also recalibrates the fused risk
on the alert target's own labels (the ``calibrated`` component: a probability to
quote, kept out of the hazard state because a calibration that learns over time
reorders forecasts made at different times, which costs the alarms their timing).

Everything a scope knows is in :meth:`ScopeMonitor.to_state`: fixed-shape arrays
and small scalars, the River model, its own ETAS fit and fine-tuned LSTM
included, plus the open chunks of its history (:mod:`stream_models.online.history`):
a worker on any host resumes it exactly from the changelog.
"""

from __future__ import annotations

import math
from dataclasses import replace
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
from stream_models.fusion.counts import FUSED, clip_z, log_count, probability
from stream_models.fusion.hazard import HazardTracker, Transition
from stream_models.fusion.mixture import Mixture
from stream_models.learners.baselines import Baselines, WeekCounter
from stream_models.learners.river_model import RiverModel
from stream_models.learners.sequence import InputScale, SequenceModel
from stream_models.mathutil import P_CLIP, logit
from stream_models.online.experts import ANCHOR, CALIBRATED, COMPONENTS, EXPERTS, PRIOR
from stream_models.online.history import ScopeHistory
from stream_models.online.labels import DelayedLabeler, RecentKeys, example_key
from stream_models.online.outcome import (
    LEARNING_BIT,
    TARGET_BIT,
    DuplicateEventError,
    LateEventError,
    Outcome,
)
from stream_models.online.payload import PAYLOAD, SHIFT_KEYS
from stream_models.online.policies import MonitorPolicy, RetrainPolicy, ScopeKind
from stream_models.online.reasons import LargeEvents, Reason, why_risk_rose
from stream_models.online.reentry_watch import ReentryWatch
from stream_models.online.schedule import RetrainSchedule
from stream_models.online.scope_state import restore_scope, scope_state
from stream_models.online.space_watch import SpaceWatch
from stream_models.seismology.background import Driver
from stream_models.seismology.etas import EtasParams, EtasState, generic_law
from stream_models.seismology.gr import log_tail
from stream_models.seismology.reference import LEARNING_SAMPLE, Reference, learning_target
from stream_models.skill.progressive import ProgressiveScore
from stream_models.wire import Event, utc_text


class ScopeMonitor:
    """Scores the risk of a target event in one scope and learns from outcomes.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> mon = ScopeMonitor("lava-1", "zone", MonitorPolicy(horizon_s=3600, min_examples=1,
    ...                                                    min_positives=0))
    >>> t0 = datetime(2021, 1, 1, tzinfo=UTC)
    >>> out = [mon.process(Event(str(i), t0 + timedelta(minutes=30 * i), 0, 0, -400,
    ...                          10 ** (2 + i % 3), 1.0)) for i in range(6)]
    >>> [len(o.learned) for o in out]     # labels after 1 h, one per later event
    [0, 0, 0, 1, 1, 1]
    >>> all(0 < o.components[m] < 1 for o in out for m in COMPONENTS)   # from the first event
    True
    """

    def __init__(self, name: str, kind: ScopeKind, policy: MonitorPolicy | None = None,
                 retrain: RetrainPolicy | None = None, base_lstm: SequenceModel | None = None
                 ) -> None:
        self.name, self.kind = name, kind
        self.policy = pol = (policy or MonitorPolicy()).for_scope(kind)
        self.retrain = retrain or RetrainPolicy()
        self.features = ZoneFeatures()
        self.labeler = DelayedLabeler(pol.horizon_s, (pol.target_energy_j, pol.learning_j),
                                      PAYLOAD.width)
        self.hazard = HazardTracker(name, pol.hazard)
        self.etas = EtasState()
        self.driver = Driver()
        self.week = WeekCounter((pol.target_energy_j, pol.learning_j))
        self.baselines = Baselines(pol.horizon_s, pol.target_energy_j, "targets_7d",
                                   min_learned=pol.river_min_examples)
        self.experts = Baselines(pol.horizon_s, pol.target_energy_j, "learning_7d",
                                 min_learned=pol.river_min_examples)
        self.river = RiverModel()
        self.base_lstm = base_lstm  # the pretrained model every scope starts from
        self.lstm = base_lstm  # the one scoring now: the base, or a promoted fine-tuning
        self.etas_fit: EtasParams | None = None  # the scope's own fit, once promoted
        self.scale = base_lstm.input_scale() if base_lstm else InputScale(
            np.zeros(len(INPUT_NAMES)), np.ones(len(INPUT_NAMES)), prior_events=0.0)
        self.mixture = Mixture(PRIOR)
        self.calibrator = AlertCalibrator()
        self.history = ScopeHistory(name, len(INPUT_NAMES), len(STATIC_NAMES),
                                    self.retrain.retention_s, self.retrain.max_rows)
        self.schedule = RetrainSchedule(self.retrain)
        self.learning_j = pol.learning_j
        self.sample: list[float] | None = []  # the scope's first log10 E, until they fix things
        self.reference: Reference | None = None
        self.t_first: float | None = None
        self.scores = {name: ProgressiveScore() for name in COMPONENTS}
        self.learning_scores = {name: ProgressiveScore() for name in (*EXPERTS, FUSED)}
        self.learning_positives = 0
        self.target_positives = 0
        self.recent = np.zeros((pol.sequence_window, len(INPUT_NAMES)), np.float32)  # z ring
        self.n_recent = 0
        self.lstm_state: np.ndarray | None = None  # the LSTM's (h, c) for this scope
        self.lstm_for: str | None = None  # the version that state belongs to
        self.last_target_t: float | None = None
        self.last_learning_t: float | None = None
        self.last_target_e = 0.0
        self.prev_t: float | None = None
        self.events = 0
        self.n_above = 0  # events at or above the reference completeness: ETAS' data
        self.own = dict.fromkeys(EXPERTS, 0)  # events each expert scored with its own fit
        self.large = LargeEvents()  # the recent events whose aftershocks a raise may name
        self.reentry = ReentryWatch(name, pol.reentry) if kind == "zone" else None
        self.space = (SpaceWatch(pol.grid, pol.horizon_s, math.log10(pol.target_energy_j))
                      if pol.grid is not None and kind in pol.grid_kinds else None)
        self.why = ""  # the open alert episode's reasons, in words
        self.applied = RecentKeys(max(pol.horizon_s, min(pol.max_lateness_s, 7 * 86400.0)))

    # -- clock ----------------------------------------------------------------------

    @property
    def warming_up(self) -> bool:
        pol = self.policy
        return self.mixture.n < pol.min_examples or self.learning_positives < pol.min_positives

    @property
    def clock(self) -> float | None:
        """Event time of the scope's newest event (the time late events count at)."""
        return self.features.clock

    def advance(self, clock: float) -> list[Transition]:
        """Let event time pass up to ``clock`` with no event: the forecast expires and a
        cooled alert episode closes, at times fixed by the scope's own events."""
        transitions = self.hazard.tick(clock)
        self._note(transitions, [])
        if self.reentry is not None:
            transitions += self.reentry.tick(clock)
        return transitions

    def _note(self, transitions: list[Transition], reasons: list[Reason]) -> None:
        """Keep the open episode's reasons (what the metrics show until its all-clear)."""
        for tr in transitions:
            self.why = "; ".join(r.text for r in reasons) if tr.kind == "raise" else ""

    def event_time(self, event: Event) -> float:
        """The time ``event`` counts at: the scope's clock never goes back.

        An event up to ``max_lateness_s`` behind the clock (GITS locates some
        events late) is counted now, at the clock's time, by features, labels
        and hazard state alike (a late target also labels positive the examples
        scored between its real time and the clock: the conservative side); an
        older one raises :class:`LateEventError`.

        >>> from datetime import UTC, datetime
        >>> mon = ScopeMonitor("z", "zone", MonitorPolicy(max_lateness_s=3600))
        >>> day = datetime(2021, 3, 1, 12, tzinfo=UTC)
        >>> _ = mon.process(Event("a", day, 0, 0, -400, 100.0, 1.0))
        >>> mon.event_time(Event("b", day.replace(hour=11, minute=30), 0, 0, -400, 1.0, 1.0))
        1614600000.0
        >>> mon.event_time(Event("c", day.replace(hour=9), 0, 0, -400, 1.0, 1.0))
        Traceback (most recent call last):
        ...
        stream_models.online.outcome.LateEventError: event c at 2021-03-01T09:00:00Z is 3.0 h ...
        """
        t, clock = event.timestamp, self.features.clock
        if clock is None or t >= clock:
            return t
        if clock - t > self.policy.max_lateness_s:
            raise LateEventError(
                f"event {event.event_id} at {utc_text(t)} is {(clock - t) / 3600:.1f} h behind "
                f"scope {self.name}'s clock ({utc_text(clock)}), more than the "
                f"{self.policy.max_lateness_s / 3600:g} h allowed (alerts.max_lateness_h): "
                "not scored. A past period replayed into the live topics?"
            )
        return clock

    # -- the event path --------------------------------------------------------------

    def process(self, event: Event) -> Outcome:
        """Learn from the labels that matured, then features, experts, mixture, hazard state."""
        pol = self.policy
        t = self.event_time(event)
        source_zone = event.zone  # the mine-wide scope's grid maps cells to the zones
        if event.zone != self.name:  # the mine-wide scope: its records name the scope
            event = replace(event, zone=self.name)
        key = example_key(event.event_id)
        if not self.applied.add(key, t):
            raise DuplicateEventError(
                f"event {event.event_id} was already applied in scope {self.name}: not again"
            )
        transitions = self.hazard.tick(t)
        learned = self.labeler.advance(t, event.energy_j)
        for row in learned:
            self._learn(row)
        self._record_examples(learned)
        features = self.features.update(event, t)
        log_e = event.log_energy
        ref = self._sample(log_e, t)
        generic = generic_law(ref.mc_log_e, ref.mu, ref.b_value)
        fit = self.etas_fit
        law = fit or generic
        if self.reentry is not None:
            # before the zone's reference is fixed its law has no background: the rate
            # before the event is then the one observed over the last 7 days
            observed = (features.get("count_7d", 1.0) - 1.0) / (7 * 86400.0)
            reentry = self.reentry.on_event(t, event.energy_j, event.event_id,
                                            log_e >= ref.mc_log_e, law,
                                            self.etas.decayed(law, t), self.hazard.state,
                                            observed if law.mu == 0 else 0.0)
        self.etas.add(t, log_e)
        above = log_e >= ref.mc_log_e
        self.n_above += int(above)
        self.driver.add(t, above, event.volume_m3)
        self.history.add_event(t, log_e, _nan(event.volume_m3), event.x, event.y, event.z)
        grid = (self.space.on_event(t, event.x, event.y, log_e, above, source_zone, law)
                if self.space is not None else None)
        self.schedule.on_event(above)
        since = {"previous": self.prev_t, "learning": self.last_learning_t,
                 "target": self.last_target_t}
        if event.energy_j >= self.learning_j:
            self.last_learning_t = t
        if event.energy_j >= pol.target_energy_j:
            self.last_target_t, self.last_target_e = t, event.energy_j
        self.prev_t = t
        targets_7d, learning_7d = self.week.add(t, event.energy_j)
        driver = self.driver.value(law.background.driver, t) if fit else math.nan
        if event.energy_j >= self.learning_j:  # a source of aftershocks a raise may name
            self.large.add(t, log_e, event.event_id, law, pol.horizon_s)
        expected_g = self.etas.expected(generic, t, pol.horizon_s)
        expected_f = self.etas.expected(fit, t, pol.horizon_s, driver) if fit else expected_g
        omori = {p: self.etas.omori_sum(60.0, p, t) for p in OMORI_P}
        x = model_inputs(features, log_e, t, since, omori, expected_f)
        z = self.scale.scale(np.fromiter(x.values(), float, len(INPUT_NAMES)))
        static = static_context(t, self.last_target_t, pol.shift_s)
        self.recent[self.n_recent % len(self.recent)] = z
        self.n_recent += 1
        table_x = {**features, "targets_7d": targets_7d, "learning_7d": learning_7d}
        log_l, log_t = math.log10(self.learning_j), math.log10(pol.target_energy_j)
        p_generic = probability(_log_expected(expected_g, generic, log_l))
        anchor = logit(p_generic)  # the learned models correct the generic law's log-odds
        zx = dict(zip(INPUT_NAMES, z.tolist(), strict=True))
        lstm_p = self._lstm(z, static, anchor)
        learning_p = {
            "omori": p_generic,
            "etas": probability(_log_expected(expected_f, law, log_l)) if fit else p_generic,
            "river": self.river.predict_proba_one(zx, anchor),
            "lstm": p_generic if math.isnan(lstm_p) else lstm_p,
            **self.experts.predict(table_x),
        }
        up = log_tail(log_l, log_t, ref.b_value)  # fixed: the lift never reorders over time
        components = {
            "omori": probability(_log_expected(expected_g, generic, log_t)),
            "etas": probability(_log_expected(expected_f, law, log_t)),
            **{e: probability(log_count(learning_p[e]) + up) for e in ("river", "lstm")},
            **self.baselines.predict(table_x),
        }
        fused_l = self.mixture.predict_one(learning_p)
        fused = self.mixture.predict_one({e: components[e] for e in EXPERTS})
        fused_z = log_count(fused)
        components[FUSED] = fused
        components[CALIBRATED] = probability(self.calibrator.predict_one(fused_z))
        own = {"omori": True, "etas": fit is not None,
               "river": self.river.n_learned >= pol.river_min_examples,
               "lstm": self.lstm is not None and self.lstm is not self.base_lstm,
               **self.experts.fitted()}
        for name, mine in own.items():
            self.own[name] += int(mine)
        warming = self.warming_up
        transitions += self.hazard.update(0.0 if warming else fused, t, event.event_id)
        payload = np.empty(PAYLOAD.width, np.float32)
        payload[PAYLOAD.z] = z
        payload[PAYLOAD.static] = static
        payload[PAYLOAD.log_e] = log_e
        payload[PAYLOAD.alert] = [components[c] for c in COMPONENTS]
        payload[PAYLOAD.learning] = [learning_p[e] for e in EXPERTS]
        payload[PAYLOAD.gate] = (fused_z, fused_l)
        payload[PAYLOAD.shift] = [_finite_or_zero(features.get(k)) for k in SHIFT_KEYS]
        self.labeler.add(t, key, payload)
        self.events += 1
        reasons = why_risk_rose(
            components, self.mixture.weights(), features,
            self.large.dominant(law, t, pol.horizon_s, expected_f), t, pol.utc_offset_s,
        ) if any(tr.kind == "raise" for tr in transitions) else []
        self._note(transitions, reasons)
        if self.reentry is not None:
            transitions += reentry
        return Outcome(
            event, features, x, zx, fused, self.hazard.state, warming, transitions, learned,
            components, {e: log_count(p) for e, p in {**learning_p, FUSED: fused_l}.items()},
            self.mixture.weights(),
            {"river": self.river.version, "lstm": self.lstm.version if self.lstm else None,
             "etas": law.version}, own, reasons, grid,
        )

    def _lstm(self, z: np.ndarray, static: list[float], anchor: float) -> float:
        """One step of the scope's carried LSTM state, its correction of the ``anchor``
        log-odds; a new version warms up on the recent inputs first (the event's own
        included). NaN without a model."""
        lstm = self.lstm
        if lstm is None:
            return math.nan
        if self.lstm_for != lstm.version or self.lstm_state is None:
            self.lstm_state = lstm.warm(self.recent_inputs())
            self.lstm_for = lstm.version
        else:
            self.lstm_state = lstm.step(self.lstm_state, z)
        return lstm.proba(self.lstm_state, static, anchor)

    def recent_inputs(self) -> np.ndarray:
        """The last ``sequence_window`` scaled input vectors, oldest first."""
        n, ring = self.n_recent, self.recent
        if n <= len(ring):
            return ring[:n].copy()
        k = n % len(ring)
        return np.concatenate([ring[k:], ring[:k]])

    def _sample(self, log_e: float, t: float) -> Reference:
        """The scope's reference values; its first events fix them and the learning target
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
                                              self.policy.target_energy_j)
            self.labeler.thresholds_j = (self.policy.target_energy_j, self.learning_j)
            self.week.thresholds_j = (self.policy.target_energy_j, self.learning_j)
        return ref

    def _learn(self, row: np.void) -> None:
        """One matured example: River, the mixture, the calibration, the baselines, scores."""
        y_t, y_l = bool(row["labels"][TARGET_BIT]), bool(row["labels"][LEARNING_BIT])
        x, held = row["x"], min(float(row["held_s"]) / self.policy.horizon_s, 1.0)
        learning = dict(zip(EXPERTS, x[PAYLOAD.learning].tolist(), strict=True))
        self.river.learn_one(dict(zip(INPUT_NAMES, x[PAYLOAD.z].tolist(), strict=True)), y_l,
                             logit(learning[ANCHOR]))
        alert = dict(zip(COMPONENTS, x[PAYLOAD.alert].tolist(), strict=True))
        self.mixture.learn_outcome(_outcome(learning, alert, y_l, y_t), held)
        fused_z, fused_l = x[PAYLOAD.gate].tolist()
        self.calibrator.learn_one(fused_z, y_t)
        table_x = dict(zip(SHIFT_KEYS, x[PAYLOAD.shift].tolist(), strict=True))
        self.baselines.learn(table_x, y_t)
        self.experts.learn(table_x, y_l)
        self.learning_positives += int(y_l)
        self.target_positives += int(y_t)
        for name, p in alert.items():
            self.scores[name].update(y_t, p)
        for name, p in {**learning, FUSED: fused_l}.items():
            self.learning_scores[name].update(y_l, p)

    def _record_examples(self, learned: np.ndarray) -> None:
        if not len(learned):
            return
        x = learned["x"]
        p = np.clip(x[:, PAYLOAD.learning][:, EXPERTS.index(ANCHOR)].astype(float), P_CLIP,
                    1 - P_CLIP)
        self.history.add_examples(learned["t"], x[:, PAYLOAD.log_e][:, 0], np.log(p / (1 - p)),
                                  x[:, PAYLOAD.z], x[:, PAYLOAD.static],
                                  learned["labels"][:, LEARNING_BIT],
                                  learned["labels"][:, TARGET_BIT])
        self.schedule.on_examples(len(learned))

    def metrics(self, learning: bool = False) -> dict[str, dict[str, float]]:
        """Progressive-validation scores of every component (alert target) or expert
        (``learning``: the learning target, what the mixture learns on)."""
        scores = self.learning_scores if learning else self.scores
        return {name: s.get() for name, s in scores.items()}

    def own_fit_share(self) -> dict[str, float]:
        """The share of this scope's events each expert scored with a fit of its own."""
        return {name: n / self.events if self.events else math.nan
                for name, n in self.own.items()}

    def to_state(self) -> dict[str, Any]:
        return scope_state(self)

    @classmethod
    def from_state(cls, state: dict[str, Any], policy: MonitorPolicy, retrain: RetrainPolicy,
                   base_lstm: SequenceModel | None) -> ScopeMonitor:
        mon = cls(str(state["name"]), state["kind"], policy, retrain, base_lstm)
        restore_scope(mon, state)
        return mon


def _outcome(learning: dict[str, float], alert: dict[str, float], y_l: bool, y_t: bool
             ) -> dict[str, float]:
    """The probability each expert gave what happened, out of three outcomes: no
    learning-target event, one but no target, a target (a target is a learning-target
    event too, so an expert's target probability is at most its learning one)."""
    out = {}
    for e, p_l in learning.items():
        p_t = min(alert[e], p_l)
        out[e] = p_t if y_t else (p_l - p_t if y_l else 1.0 - p_l)
    return out


def _log_expected(expected_above_mc: float, law: EtasParams, log_e: float) -> float:
    """ln of the expected count of events >= 10^log_e J from the count above the law's Mc."""
    return clip_z(math.log(max(expected_above_mc, 1e-300)) + log_tail(law.mc_log_e, log_e,
                                                                         law.b_value))


def _finite_or_zero(v: float | None) -> float:
    return 0.0 if v is None or not math.isfinite(v) else float(v)


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)
