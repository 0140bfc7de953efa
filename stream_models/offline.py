"""Offline LSTM training on a historical file, through the daemon's own per-event code.

Features, inputs, static context and labels come from :class:`MineRunner` (the
code path of the worker and of backtests); only labels whose horizon has passed
within the file are used. The candidate goes through the same gate as in the
daemon and lands in a registry a worker can start from.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from stream_models.events import Event
from stream_models.monitor import PAYLOAD, MonitorPolicy
from stream_models.pipeline import Advanced, MineRunner
from stream_models.registry import ModelRegistry
from stream_models.retrain import Retrainer, RetrainPolicy, retrain_job
from stream_models.risk import INPUT_NAMES


def train_offline(
    events: list[Event], monitor: MonitorPolicy, retrain: RetrainPolicy, registry_dir: Path,
    force: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Train on all of ``events``; promote if the gate passes (or ``force``); the decision."""
    if not events:
        raise ValueError("no events to train on")
    span = events[-1].timestamp - events[0].timestamp
    policy = replace(retrain, train_window_s=span + 1, retention_s=span + 1, blocking=True)
    with tempfile.TemporaryDirectory(prefix="seismowatch-train-") as tmp:
        retrainer = Retrainer(Path(tmp), registry_dir, INPUT_NAMES, policy)
        runner = MineRunner(monitor)  # no retraining while features build
        for step in runner.run(events):
            retrainer.record(step.zone if isinstance(step, Advanced) else step.event.zone,
                             step.learned, PAYLOAD)  # fmt: skip
        retrainer.close()
        decision = retrain_job(retrainer.store_path, registry_dir, INPUT_NAMES,
                               events[-1].timestamp, policy)  # fmt: skip
    if decision.get("version") and (decision["promoted"] or force):
        ModelRegistry(registry_dir).promote(str(decision["version"]))
        decision = {**decision, "promoted": True, "forced": not decision["promoted"]}
    return decision
