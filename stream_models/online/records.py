"""Versioned JSON records the daemon publishes: risk (with its features) and alerts.

Keys are sorted and NaN is ``null`` (orjson writes non-finite floats as
``null``), so the same outcome always gives the same bytes (except an alert's
``emitted_at``), and consumers can de-duplicate by id. Each record is
serialised once, where it is built.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from stream_models.fusion.hazard import Transition
from stream_models.online.outcome import Outcome
from stream_models.online.reasons import alert_text
from stream_models.seismology.hazard_grid import GridSnapshot
from stream_models.wire import dumps, utc_text

# /3: the window features ride inside the risk record (gits.features is gone)
# /4: every expert's own-fit flag; the mixture's weights; versions of the scope's own models
RISK_SCHEMA = "seismowatch.risk/4"
# /3: all-clears name the time the episode closed; /4: text, reasons, episode, local_time
ALERT_SCHEMA = "seismowatch.alert/5"  # /5: re-entry records
GRID_SCHEMA = "seismowatch.hazard_grid/1"


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


def alert_record(tr: Transition, outcome: Outcome | None, emitted_at: str,
                 utc_offset_s: float = 0.0, horizon_s: float = 8 * 3600.0) -> dict[str, Any]:
    """An operator alert; ``alert_id`` is stable for the same zone, kind, state and trigger.

    ``text`` is the line an operator reads; ``reasons`` (a raise: what moved the
    forecast) and ``episode`` (when it opened, its peak, and for an all-clear when it
    closed) carry the same in fields. A raise carries the event that triggered it and
    the forecast's components; an all-clear carries neither: its time is fixed by the
    scope's own events, whichever event or timer noticed it, so its record is too.
    """
    if tr.kind != "raise":  # fixed by its own times, not by whichever event noticed them
        outcome = None
    reasons = outcome.reasons if outcome is not None else []
    ep = tr.episode
    return {
        "schema": ALERT_SCHEMA, "alert_id": tr.alert_id, "kind": tr.kind, "zone": tr.zone,
        "state": tr.state, "previous_state": tr.previous_state, "probability": tr.probability,
        "time": utc_text(tr.t), "local_time": local_text(tr.t, utc_offset_s),
        "trigger": tr.event_id, "text": alert_text(tr, reasons, utc_offset_s, horizon_s),
        "reasons": [r.to_dict() for r in reasons],
        "episode": None if ep is None else {
            "start": utc_text(ep.start), "state": ep.state,
            "peak_probability": ep.peak_probability, "peak_time": utc_text(ep.peak_t),
            "end": None if ep.end is None else utc_text(ep.end), "duration_s": ep.duration_s,
        },
        **reentry_fields(tr, utc_offset_s),
        "model_version": outcome.model_version if outcome else None,
        "lstm_version": outcome.lstm_version if outcome else None,
        "components": outcome.components if outcome else None,
        "event": outcome.event.to_dict() if outcome else None,
        "emitted_at": emitted_at,
    }


def reentry_fields(tr: Transition, utc_offset_s: float) -> dict[str, Any]:
    """``re_entry_at`` (ISO, UTC), ``re_entry_s`` (after the source event), its interval
    and the source: null in records of other kinds."""
    n = tr.reentry
    if n is None:
        return dict.fromkeys(("re_entry_at", "re_entry_local", "re_entry_s",
                              "re_entry_interval", "re_entry"))
    return {
        "re_entry_at": utc_text(n.at), "re_entry_local": local_text(n.at, utc_offset_s),
        "re_entry_s": n.exclusion_s, "re_entry_interval": [utc_text(n.low), utc_text(n.high)],
        "re_entry": {"source": n.source_id, "source_time": utc_text(n.source_t),
                     "source_energy_j": n.source_energy_j, "level_per_h": n.level_per_h,
                     "aftershocks": n.aftershocks, "floor_applied": n.floor_applied},
    }


def local_text(t: float, utc_offset_s: float) -> str:
    """ISO 8601 in the mine's local time, with its offset.

    >>> local_text(0.0, 7 * 3600)
    '1970-01-01T07:00:00+07:00'
    """
    tz = timezone(timedelta(seconds=utc_offset_s))
    return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")


def grid_record(snap: GridSnapshot, scope: str, target_energy_j: float) -> bytes:
    """A hazard-grid snapshot: every cell's centre (mine grid, m), zone, probability of an
    event >= ``target_energy_j`` within the horizon and expected events above Mc, the
    most hazardous first; per zone its most hazardous cell, and the probability of a
    target anywhere in it (the intensity integrated over its cells)."""
    order = sorted(range(len(snap.zone)), key=lambda i: -float(snap.probability[i]))
    return dumps({
        "schema": GRID_SCHEMA, "scope": scope, "time": utc_text(snap.t),
        "horizon_h": snap.horizon_s / 3600, "cell_m": snap.cell_m,
        "target_energy_j": target_energy_j,
        "hottest": {z: {"probability": p, "x": x, "y": y}
                    for z, (p, x, y) in snap.hottest().items()},
        "zones": snap.by_zone(),
        "cells": [{"x": float(snap.x[i]), "y": float(snap.y[i]), "zone": snap.zone[i],
                   "probability": float(snap.probability[i]),
                   "expected": float(snap.expected[i])} for i in order],
    })
