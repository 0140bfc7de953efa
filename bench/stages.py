"""Where a scope's event path spends its time: microseconds per event, per stage.

The stages are the calls :meth:`ScopeMonitor.process` makes (labels maturing and the
learning they cause, features, re-entry, ETAS, inputs, each expert, the mixture,
the hazard state); each is wrapped with a timer on one monitor's own instances,
so the production code carries no timing. What no stage claims is the body of
``process`` itself (dicts, the payload, the outcome). Used by ``bench/inprocess.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from stream_models.online import scope as scope_module
from stream_models.online.scope import ScopeMonitor
from stream_models.wire import Event

# (stage, object path on the monitor or None for scope.py's module, attribute)
STAGES: tuple[tuple[str, str | None, str], ...] = (
    ("hazard clock", "hazard", "tick"),
    ("labels matured", "labeler", "advance"),
    ("learning from labels", None, "_learn"),
    ("history of examples", None, "_record_examples"),
    ("features (windows)", "features", "update"),
    ("re-entry watch", "reentry", "on_event"),
    ("ETAS sums", "etas", "add"),
    ("ETAS expected counts", "etas", "expected"),
    ("Omori sums", "etas", "omori_sum"),
    ("history of events", "history", "add_event"),
    ("model inputs", "module", "model_inputs"),
    ("input scaling", "scale", "scale"),
    ("LSTM step", None, "_lstm"),
    ("River predict", "river", "predict_proba_one"),
    ("experts and baselines", "experts", "predict"),
    ("baselines", "baselines", "predict"),
    ("mixture", "mixture", "predict_one"),
    ("calibration", "calibrator", "predict_one"),
    ("hazard state", "hazard", "update"),
    ("reasons", "module", "why_risk_rose"),
    ("hazard grid", "space", "on_event"),  # the scope that keeps the grid only
)


def _timed(fn: Callable[..., Any], totals: dict[str, float], stage: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[stage] += time.perf_counter() - t0

    return wrapper


def stage_profile(monitor: ScopeMonitor, events: Iterable[Event]) -> dict[str, float]:
    """Run ``events`` through ``monitor``; microseconds per event of each stage, the
    body of ``process`` that no stage claims, and the whole."""
    totals = dict.fromkeys([s for s, *_ in STAGES], 0.0)
    patched_module: list[tuple[str, Any]] = []
    for stage, owner, attr in STAGES:
        if owner == "module":
            original = getattr(scope_module, attr)
            patched_module.append((attr, original))
            setattr(scope_module, attr, _timed(original, totals, stage))
            continue
        target = monitor if owner is None else getattr(monitor, owner)
        if target is not None:
            setattr(target, attr, _timed(getattr(target, attr), totals, stage))
    n, whole = 0, 0.0
    try:
        for e in events:
            t0 = time.perf_counter()
            monitor.process(e)
            whole += time.perf_counter() - t0
            n += 1
    finally:
        for attr, original in patched_module:
            setattr(scope_module, attr, original)
    n = max(n, 1)
    out = {stage: round(v / n * 1e6, 1) for stage, v in totals.items()}
    out["process body (unclaimed)"] = round((whole - sum(totals.values())) / n * 1e6, 1)
    out["whole event path"] = round(whole / n * 1e6, 1)
    return out
