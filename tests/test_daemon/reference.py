"""What the worker must publish, computed in-process by the same MineRunner code."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import load_settings
from stream_models.online.orchestrator import MineRunner
from stream_models.online.records import risk_record
from stream_models.online.scope import Outcome
from stream_models.wire import Event

Key = tuple[str, str]  # (event id, zone): each event is scored in its zone and mine-wide


def expected_records(
    events: list[Event], config: Path, env: dict[str, str], state_dir: Path
) -> dict[Key, dict]:  # type: ignore[type-arg]
    """Risk records (features inside) by (event id, zone), as JSON-decoded dicts.

    The worker's ``SEISMOWATCH_*`` environment applies here too; the LSTM retrains in
    ``state_dir`` exactly as the worker's does in its own.
    """
    overrides = {
        key.removeprefix("SEISMOWATCH_").lower().replace("__", "."): value
        for key, value in env.items()
        if key.startswith(("SEISMOWATCH_LSTM__", "SEISMOWATCH_ALERTS__"))
    }
    settings = load_settings(config, **overrides)
    runner = MineRunner.build(
        settings.monitor_policy(), settings.retrain_policy(), state_dir,
        mine_scope=settings.mine_scope_name,
    )  # fmt: skip
    risk = {}
    for e in events:
        for step in runner.process(e):
            if isinstance(step, Outcome):
                risk[(step.event.event_id, step.event.zone)] = json.loads(risk_record(step))
    runner.close()
    return risk


def by_event(messages: list[tuple[bytes | None, bytes]]) -> dict[Key, list[dict]]:  # type: ignore[type-arg]
    out: dict[Key, list[dict]] = {}  # type: ignore[type-arg]
    for _, value in messages:
        record = json.loads(value)
        out.setdefault((record["event_id"], record["zone"]), []).append(record)
    return out
