"""What the worker must publish, computed in-process by the same Orchestrator code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import load_settings
from stream_models.online.orchestrator import Orchestrator
from stream_models.online.outcome import Outcome
from stream_models.online.records import alert_record, grid_record, risk_record
from stream_models.retraining.jobs import run_job
from stream_models.retraining.registry import base_lstm
from stream_models.wire import Event, dumps, loads

Key = tuple[str, str]  # (event id, scope): each event is scored in its zone and mine-wide


@dataclass
class Reference:
    """Risk records by (event id, scope); alert records by id (less ``emitted_at``); the
    event time of each scope's last event."""

    risk: dict[Key, dict[str, Any]]
    alerts: dict[str, dict[str, Any]]
    last_t: dict[str, float]
    grids: list[dict[str, Any]]  # hazard-grid snapshots, in order


def reference(events: list[Event], config: Path, env: dict[str, str]) -> Reference:
    """The worker's ``SEISMOWATCH_*`` model and alert settings apply here too; every due
    retraining runs before its scope's next event, as a worker with ``lstm.blocking`` runs it.
    """
    overrides = {
        key.removeprefix("SEISMOWATCH_").lower().replace("__", "."): value
        for key, value in env.items()
        if key.startswith(("SEISMOWATCH_LSTM__", "SEISMOWATCH_ALERTS__", "SEISMOWATCH_ETAS__"))
    }
    settings = load_settings(config, **overrides)
    policy = settings.monitor_policy()
    orch = Orchestrator(policy, settings.retrain_policy(),
                        mine_scope=settings.mine_scope_name,
                        base_lstm=base_lstm(settings.lstm.base_model, settings.lstm.enabled))
    out = Reference({}, {}, {}, [])
    for step in orch.run(events, run_job):
        outcome = step if isinstance(step, Outcome) else None
        if outcome is not None:
            out.risk[(outcome.event.event_id, outcome.event.zone)] = json.loads(
                risk_record(outcome))
            out.last_t[outcome.event.zone] = outcome.event.timestamp
            if outcome.grid is not None:
                out.grids.append(json.loads(grid_record(outcome.grid, outcome.event.zone,
                                                        policy.target_energy_j)))
        for tr in step.transitions:
            record = alert_record(tr, outcome, "", policy.utc_offset_s, policy.horizon_s)
            out.alerts[tr.alert_id] = without_emitted_at(loads(dumps(record)))  # as sent
    return out


def expected_records(events: list[Event], config: Path, env: dict[str, str]
                     ) -> dict[Key, dict[str, Any]]:
    """Risk records (features inside) by (event id, scope), as JSON-decoded dicts."""
    return reference(events, config, env).risk


def without_emitted_at(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "emitted_at"}


def by_event(messages: list[tuple[bytes | None, bytes]]) -> dict[Key, list[dict[str, Any]]]:
    out: dict[Key, list[dict[str, Any]]] = {}
    for _, value in messages:
        record = json.loads(value)
        out.setdefault((record["event_id"], record["zone"]), []).append(record)
    return out
