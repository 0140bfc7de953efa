"""What the worker must publish, computed in-process by the same ZoneMonitor code."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import load_settings
from stream_models.events import Event
from stream_models.monitor import ZoneMonitor
from stream_models.records import features_record, risk_record


def expected_records(events: list[Event], config: Path) -> tuple[dict[str, dict], dict[str, dict]]:  # type: ignore[type-arg]
    """(features, risk) records by event id, as JSON round-tripped dicts."""
    policy = load_settings(config).monitor_policy()
    monitors: dict[str, ZoneMonitor] = {}
    features, risk = {}, {}
    for e in events:
        mon = monitors.setdefault(e.zone, ZoneMonitor(e.zone, policy))
        out = mon.process(e)
        features[e.event_id] = json.loads(json.dumps(features_record(out)))
        risk[e.event_id] = json.loads(json.dumps(risk_record(out)))
    return features, risk


def by_event(messages: list[tuple[bytes | None, bytes]]) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    out: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for _, value in messages:
        record = json.loads(value)
        out.setdefault(record["event_id"], []).append(record)
    return out
