"""Offline training on a historical file, through the daemon's own per-event code.

Features, inputs, static context and labels come from :class:`MineRunner` (the
code path of the worker and of backtests); only labels whose horizon has passed
within the file are used. The ETAS fit and the LSTM candidate go through the same
gates as in the daemon and land in a registry a worker can start from.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from stream_models.features.inputs import INPUT_NAMES
from stream_models.online.labels import example_key
from stream_models.online.orchestrator import Advanced, MineRunner
from stream_models.online.policies import RetrainPolicy
from stream_models.online.scope import PAYLOAD, MonitorPolicy
from stream_models.retraining.registry import ModelRegistry
from stream_models.retraining.retrainer import Retrainer, retrain_job
from stream_models.wire import Event


def train_offline(
    events: list[Event], monitor: MonitorPolicy, retrain: RetrainPolicy, registry_dir: Path,
    force: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Train on all of ``events``; promote if the gate passes (or ``force``); the LSTM's
    decision, with the ETAS fit's under ``etas``."""
    if not events:
        raise ValueError("no events to train on")
    span = events[-1].timestamp - events[0].timestamp
    policy = replace(retrain, train_window_s=span + 1, retention_s=span + 1, blocking=True)
    with tempfile.TemporaryDirectory(prefix="seismowatch-train-") as tmp:
        retrainer = Retrainer(Path(tmp), registry_dir, INPUT_NAMES, policy)
        runner = MineRunner(monitor)  # no retraining while features build
        for step in runner.run(events):
            if isinstance(step, Advanced):
                retrainer.record(step.zone, step.learned, PAYLOAD)
                continue
            zone = step.event.zone
            retrainer.record(zone, step.learned, PAYLOAD, runner.monitors[zone].learning_j)
            retrainer.record_event(zone, example_key(step.event.event_id), step.event.timestamp,
                                   step.event.log_energy)  # fmt: skip
        retrainer.close()
        decisions = retrain_job(retrainer.store_path, registry_dir, INPUT_NAMES,
                                events[-1].timestamp, policy)  # fmt: skip
    by_model = {str(d.get("model")): d for d in decisions}
    decision = by_model.get("lstm", decisions[-1])
    if decision.get("version") and (decision["promoted"] or force):
        ModelRegistry(registry_dir).promote(str(decision["version"]))
        decision = {**decision, "promoted": True, "forced": not decision["promoted"]}
    return {**decision, "etas": by_model.get("etas")}
