"""Versioned JSON records the daemon publishes: features, risk and alerts.

Keys are sorted and NaN is ``null``, so the same outcome always gives the same
bytes (except an alert's ``emitted_at``), and consumers can de-duplicate by id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from stream_models.events import utc_text
from stream_models.hazard import Transition
from stream_models.monitor import Outcome

FEATURES_SCHEMA = "seismowatch.features/1"
RISK_SCHEMA = "seismowatch.risk/2"  # /2: fused probability, components, lstm_version
ALERT_SCHEMA = "seismowatch.alert/2"  # /2: components, lstm_version


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dumps(record: Mapping[str, Any]) -> bytes:
    """Compact sorted JSON; the builders below have already replaced NaN by ``null``."""
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _time(outcome: Outcome) -> str:
    return utc_text(outcome.event.time)


def features_record(outcome: Outcome) -> dict[str, Any]:
    e = outcome.event
    return {
        "schema": FEATURES_SCHEMA, "event_id": e.event_id, "zone": e.zone,
        "time": _time(outcome),
        "features": {k: _finite(v) for k, v in outcome.features.items()},
    }  # fmt: skip


def risk_record(outcome: Outcome) -> dict[str, Any]:
    e = outcome.event
    return {
        "schema": RISK_SCHEMA, "event_id": e.event_id, "zone": e.zone, "time": _time(outcome),
        "energy_j": e.energy_j, "probability": _finite(outcome.probability),
        "anomaly_score": _finite(outcome.anomaly), "hazard_state": outcome.state,
        "warming_up": outcome.warming_up, "model_version": outcome.model_version,
        "lstm_version": outcome.lstm_version,
        "components": {k: _finite(v) for k, v in outcome.components.items()},
    }  # fmt: skip


def alert_record(
    tr: Transition, outcome: Outcome, top_features: list[dict[str, Any]], emitted_at: str
) -> dict[str, Any]:
    """An operator alert; ``alert_id`` is stable for the same zone, kind, state and trigger."""
    return _clean({
        "schema": ALERT_SCHEMA, "alert_id": tr.alert_id, "kind": tr.kind, "zone": tr.zone,
        "state": tr.state, "previous_state": tr.previous_state,
        "probability": tr.probability, "anomaly_score": outcome.anomaly,
        "time": _time(outcome), "model_version": outcome.model_version,
        "lstm_version": outcome.lstm_version, "components": outcome.components,
        "top_features": top_features, "event": outcome.event.to_dict(),
        "emitted_at": emitted_at,
    })  # fmt: skip
