"""Versioned JSON records the daemon publishes: risk (with its features) and alerts.

Keys are sorted and NaN is ``null`` (orjson writes non-finite floats as
``null``), so the same outcome always gives the same bytes (except an alert's
``emitted_at``), and consumers can de-duplicate by id. Each record is
serialised once, where it is built.
"""

from __future__ import annotations

from typing import Any

from stream_models.fusion.hazard import Transition
from stream_models.online.scope import Outcome
from stream_models.wire import dumps, utc_text

# /3: the window features ride inside the risk record (gits.features is gone)
# /4: every expert's own-fit flag; the mixture's weights; versions of the scope's own models
RISK_SCHEMA = "seismowatch.risk/4"
ALERT_SCHEMA = "seismowatch.alert/3"  # /3: all-clears name the time the episode closed


def risk_record(outcome: Outcome) -> bytes:
    e = outcome.event
    return dumps({
        "schema": RISK_SCHEMA, "event_id": e.event_id, "zone": e.zone,
        "time": utc_text(e.time), "energy_j": e.energy_j, "probability": outcome.probability,
        "hazard_state": outcome.state, "learning": outcome.learning,
        "weights": outcome.weights, "etas_version": outcome.etas_version,
        "warming_up": outcome.warming_up, "model_version": outcome.model_version,
        "lstm_version": outcome.lstm_version, "components": outcome.components,
        "own_fit": outcome.own_fit, "features": outcome.features,
    })


def alert_record(
    tr: Transition, outcome: Outcome | None, top_features: list[dict[str, Any]],
    emitted_at: str,
) -> dict[str, Any]:
    """An operator alert; ``alert_id`` is stable for the same zone, kind, state and trigger.

    A raise carries the event that triggered it; an all-clear that the stream's
    clock brought (no event of the zone) carries none.
    """
    return {
        "schema": ALERT_SCHEMA, "alert_id": tr.alert_id, "kind": tr.kind, "zone": tr.zone,
        "state": tr.state, "previous_state": tr.previous_state, "probability": tr.probability,
        "time": utc_text(tr.t), "trigger": tr.event_id, "top_features": top_features,
        "model_version": outcome.model_version if outcome else None,
        "lstm_version": outcome.lstm_version if outcome else None,
        "components": outcome.components if outcome else None,
        "event": outcome.event.to_dict() if outcome else None,
        "emitted_at": emitted_at,
    }
