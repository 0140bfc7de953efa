"""A scope's whole state as one tree of arrays and scalars, and back.

What :func:`scope_state` writes is what a changelog record carries
(:mod:`stream_models.packing` turns it into bytes): a scope restored from it
computes, bit for bit, what it would have computed without the restart, on any
host. The base (pretrained) LSTM is not in it: it ships with the package, and
the state names the version it was scored with.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from stream_models.features.rolling import ZoneFeatures
from stream_models.fusion.calibration import AlertCalibrator
from stream_models.fusion.hazard import HazardTracker
from stream_models.fusion.mixture import Mixture
from stream_models.learners.river_model import RiverModel
from stream_models.learners.sequence import InputScale, SequenceModel
from stream_models.online.labels import DelayedLabeler, RecentKeys
from stream_models.online.reasons import LargeEvents
from stream_models.online.space_watch import SpaceWatch
from stream_models.seismology.background import Driver
from stream_models.seismology.etas import EtasParams, EtasState
from stream_models.seismology.reference import Reference
from stream_models.skill.progressive import ProgressiveScore

STATE_FORMAT = "seismowatch.scope/4"  # /4: the hazard grid


def scope_state(mon: Any) -> dict[str, Any]:
    """Everything a :class:`~stream_models.online.scope.ScopeMonitor` knows, as one tree."""
    own_lstm = mon.lstm is not None and mon.lstm is not mon.base_lstm
    return {
        "format": STATE_FORMAT, "name": mon.name, "kind": mon.kind, "events": mon.events,
        "features": mon.features.to_state(), "labeler": mon.labeler.to_state(),
        "hazard": mon.hazard.to_state(), "etas": mon.etas.to_state(),
        "driver": mon.driver.to_state(), "week": mon.week.to_state(),
        "baselines": mon.baselines.to_state(), "experts": mon.experts.to_state(),
        "river": mon.river.to_state(), "scale": mon.scale.to_state(),
        "mixture": mon.mixture.to_state(),
        "calibrator": mon.calibrator.to_state(), "history": mon.history.to_state(),
        "schedule": mon.schedule.to_state(),
        "etas_fit": mon.etas_fit.to_json() if mon.etas_fit else None,
        "lstm": mon.lstm.to_arrays() if own_lstm else None,  # type: ignore[union-attr]
        "base_lstm": mon.base_lstm.version if mon.base_lstm else None,
        "scores": {k: v.to_state() for k, v in mon.scores.items()},
        "learning_scores": {k: v.to_state() for k, v in mon.learning_scores.items()},
        "learning_positives": mon.learning_positives, "target_positives": mon.target_positives,
        "recent": mon.recent, "n_recent": mon.n_recent, "lstm_state": mon.lstm_state,
        "lstm_for": mon.lstm_for, "last_target_t": mon.last_target_t,
        "last_learning_t": mon.last_learning_t, "last_target_e": mon.last_target_e,
        "learning_j": mon.learning_j, "n_above": mon.n_above, "own": dict(mon.own),
        "sample": None if mon.sample is None else np.array(mon.sample),
        "reference": None if mon.reference is None else asdict(mon.reference),
        "t_first": mon.t_first, "prev_t": mon.prev_t, "applied": mon.applied.to_state(),
        "large": mon.large.to_state(), "why": mon.why,
        "reentry": None if mon.reentry is None else mon.reentry.to_state(),
        "space": None if mon.space is None else mon.space.to_state(),
    }


def restore_scope(mon: Any, state: dict[str, Any]) -> None:
    """Fill a new monitor (made with the policies now configured) from ``state``."""
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"scope {mon.name}: stored state is {state.get('format')!r}, this "
                         f"version reads {STATE_FORMAT!r}")
    base = mon.base_lstm.version if mon.base_lstm else None
    if state["base_lstm"] != base:
        raise ValueError(f"scope {mon.name} was scored with the base LSTM "
                         f"{state['base_lstm']!r}, this installation has {base!r}")
    mon.events = int(state["events"])
    mon.features = ZoneFeatures.from_state(state["features"])
    mon.labeler = DelayedLabeler.from_state(state["labeler"])
    mon.hazard = HazardTracker.from_state(state["hazard"])
    mon.hazard.policy = mon.policy.hazard  # thresholds changed in the settings apply on restart
    mon.etas = EtasState.from_state(state["etas"])
    mon.driver = Driver.from_state(state["driver"])
    mon.week.restore(state["week"])
    mon.baselines.restore(state["baselines"])
    mon.experts.restore(state["experts"])
    mon.river = RiverModel.from_state(state["river"])
    mon.scale = InputScale.from_state(state["scale"])
    mon.mixture = Mixture.from_state(state["mixture"])
    mon.calibrator = AlertCalibrator.from_state(state["calibrator"])
    mon.history.restore(state["history"])
    mon.schedule.restore(state["schedule"])
    mon.etas_fit = EtasParams.from_json(state["etas_fit"]) if state["etas_fit"] else None
    mon.lstm = SequenceModel.from_arrays(state["lstm"]) if state["lstm"] else mon.base_lstm
    mon.scores.update({k: ProgressiveScore.from_state(v) for k, v in state["scores"].items()})
    mon.learning_scores.update({k: ProgressiveScore.from_state(v)
                                for k, v in state["learning_scores"].items()})
    mon.learning_positives = int(state["learning_positives"])
    mon.target_positives = int(state["target_positives"])
    recent = np.asarray(state["recent"], np.float32)
    if recent.shape != mon.recent.shape:
        raise ValueError(f"scope {mon.name}: stored inputs have shape {recent.shape}, "
                         f"this version keeps {mon.recent.shape}")
    mon.recent, mon.n_recent = recent.copy(), int(state["n_recent"])
    lstm_state = state["lstm_state"]
    mon.lstm_state = None if lstm_state is None else np.asarray(lstm_state, float)
    mon.lstm_for = state["lstm_for"]
    mon.last_target_t, mon.last_learning_t = state["last_target_t"], state["last_learning_t"]
    mon.last_target_e = float(state["last_target_e"])
    mon.learning_j = float(state["learning_j"])
    mon.n_above = int(state["n_above"])
    mon.own = {k: int(v) for k, v in state["own"].items()}
    sample, ref = state["sample"], state["reference"]
    mon.sample = None if sample is None else [float(v) for v in sample]
    mon.reference = None if ref is None else Reference(**ref)
    mon.t_first, mon.prev_t = state["t_first"], state["prev_t"]
    mon.week.thresholds_j = (mon.policy.target_energy_j, mon.learning_j)
    mon.applied = RecentKeys.from_state(state["applied"])
    mon.large = LargeEvents.from_state(state["large"])
    mon.why = str(state["why"])
    if mon.reentry is not None and state["reentry"] is not None:
        mon.reentry.restore(state["reentry"])
    if mon.space is not None and state["space"] is not None:
        mon.space = SpaceWatch.from_state(state["space"], mon.space.spec, mon.space.horizon_s,
                                          mon.space.target_log_e)
