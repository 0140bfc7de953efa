"""What the worker must publish, computed in-process by the same MineRunner code."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import load_settings
from stream_models.events import Event
from stream_models.pipeline import MineRunner
from stream_models.records import features_record, risk_record
from stream_models.retrain import Retrainer
from stream_models.risk import INPUT_NAMES


def expected_records(
    events: list[Event], config: Path, env: dict[str, str], state_dir: Path
) -> tuple[dict[str, dict], dict[str, dict]]:  # type: ignore[type-arg]
    """(features, risk) records by event id, as JSON round-tripped dicts.

    The worker's ``SEISMOWATCH_*`` environment applies here too; the LSTM retrains in
    ``state_dir`` exactly as the worker's does in its own.
    """
    overrides = {
        key.removeprefix("SEISMOWATCH_").lower().replace("__", "."): value
        for key, value in env.items()
        if key.startswith(("SEISMOWATCH_LSTM__", "SEISMOWATCH_ALERTS__"))
    }
    settings = load_settings(config, **overrides)
    retrainer = None
    if settings.lstm.enabled:
        retrainer = Retrainer(state_dir, state_dir / "registry", INPUT_NAMES,
                              settings.retrain_policy(), settings.lstm.device)  # fmt: skip
    runner = MineRunner(settings.monitor_policy(), retrainer)
    features, risk = {}, {}
    for e in events:
        out = runner.process(e)
        features[e.event_id] = json.loads(json.dumps(features_record(out)))
        risk[e.event_id] = json.loads(json.dumps(risk_record(out)))
    runner.close()
    return features, risk


def by_event(messages: list[tuple[bytes | None, bytes]]) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    out: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for _, value in messages:
        record = json.loads(value)
        out.setdefault(record["event_id"], []).append(record)
    return out
