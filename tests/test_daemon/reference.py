"""What the worker must publish, computed in-process by the same Orchestrator code."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import load_settings
from stream_models.online.orchestrator import Orchestrator
from stream_models.online.outcome import Outcome
from stream_models.online.records import risk_record
from stream_models.retraining.jobs import run_job
from stream_models.retraining.registry import base_lstm
from stream_models.wire import Event

Key = tuple[str, str]  # (event id, scope): each event is scored in its zone and mine-wide


def expected_records(events: list[Event], config: Path, env: dict[str, str]
                     ) -> dict[Key, dict]:  # type: ignore[type-arg]
    """Risk records (features inside) by (event id, scope), as JSON-decoded dicts.

    The worker's ``SEISMOWATCH_*`` model and alert settings apply here too; every due
    retraining runs before its scope's next event, as a worker with ``lstm.blocking`` runs it.
    """
    overrides = {
        key.removeprefix("SEISMOWATCH_").lower().replace("__", "."): value
        for key, value in env.items()
        if key.startswith(("SEISMOWATCH_LSTM__", "SEISMOWATCH_ALERTS__", "SEISMOWATCH_ETAS__"))
    }
    settings = load_settings(config, **overrides)
    orch = Orchestrator(settings.monitor_policy(), settings.retrain_policy(),
                        mine_scope=settings.mine_scope_name,
                        base_lstm=base_lstm(settings.lstm.base_model, settings.lstm.enabled))
    risk = {}
    for step in orch.run(events, run_job):
        if isinstance(step, Outcome):
            risk[(step.event.event_id, step.event.zone)] = json.loads(risk_record(step))
    return risk


def by_event(messages: list[tuple[bytes | None, bytes]]) -> dict[Key, list[dict]]:  # type: ignore[type-arg]
    out: dict[Key, list[dict]] = {}  # type: ignore[type-arg]
    for _, value in messages:
        record = json.loads(value)
        out.setdefault((record["event_id"], record["zone"]), []).append(record)
    return out
