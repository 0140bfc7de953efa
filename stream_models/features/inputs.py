"""The inputs every learned model sees, built the same way live and in backtests.

:func:`model_inputs` turns a zone's features, its ETAS state and the times of
its last events into one vector. Seismicity clusters, so most inputs measure
how much happened how recently: counts and energy over several windows,
Omori-weighted sums of past events with three decay exponents, the ETAS
expectation for the horizon, and the time since the last event, the last
learning-target event and the last target; the rest are shape statistics
(b-value, activity and energy ratios, the event's own size and duration).
:func:`static_context` is what the sequence model reads beside its hidden state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

OMORI_P = (0.8, 1.1, 1.5)  # decay exponents of the Omori-weighted input sums (c = 60 s)
_HOUR = 3600.0


def _log1p10(v: float) -> float:
    return math.log10(1 + max(v, 0.0)) if v == v else 0.0


def _hours_since(t: float, then: float | None) -> float:
    """log10(1 + hours since ``then``); ten years when never."""
    return math.log10(1 + (max(t - then, 0.0) / _HOUR if then is not None else 87600.0))


def _finite(v: float | None) -> float:
    return 0.0 if v is None or not math.isfinite(v) else float(v)


def model_inputs(features: Mapping[str, float], log_energy: float, t: float,
                 since: Mapping[str, float | None], omori: Mapping[float, float],
                 etas_expected: float) -> dict[str, float]:
    """The model's input vector; missing values are 0 (the scaler centres them).

    ``since`` holds the times of the zone's previous event, last learning-target
    event and last target; ``omori`` the Omori-weighted sums by decay exponent.

    >>> x = model_inputs({"count_1h": 9}, 3.0, 7200.0, {"previous": 3600.0},
    ...                  {1.1: 1e-3}, 0.5)
    >>> x["log_count_1h"], round(x["log_hours_since_previous"], 3), x["log_omori_p1.1"]
    (1.0, 0.301, -3.0)
    """
    f = features.get
    x: dict[str, float] = {"event_log_energy": log_energy}
    for w in ("1h", "8h", "24h", "7d"):
        x[f"log_count_{w}"] = _log1p10(_finite(f(f"count_{w}")))
    for w in ("8h", "24h"):
        x[f"log_energy_sum_{w}"] = _log1p10(_finite(f(f"energy_sum_j_{w}")))
    for name in ("previous", "learning", "target"):
        x[f"log_hours_since_{name}"] = _hours_since(t, since.get(name))
    for p in OMORI_P:
        x[f"log_omori_p{p}"] = math.log10(max(omori.get(p, 0.0), 1e-12))
    x["log_etas_expected"] = math.log10(max(etas_expected, 1e-9))
    x["b_value_7d"] = _finite(f("b_value_7d"))
    x["b_anomaly_24h"] = _finite(f("b_anomaly_24h"))
    for name in ("activity_ratio_8h", "energy_ratio_8h"):
        r = _finite(f(name))
        x[f"log_{name}"] = math.log10(r) if r > 0 else 0.0
    x["log_t_residual"] = _finite(f("log_t_residual"))
    return x


INPUT_NAMES: tuple[str, ...] = tuple(model_inputs({}, 0.0, 0.0, {}, {}, 0.0))


STATIC_NAMES = ("log_hours_since_target", "shift_sin", "shift_cos")


def static_context(t: float, last_target_t: float | None, shift_s: float) -> list[float]:
    """Log10 hours since the last target event (10 years when none) and the shift phase.

    >>> [round(v, 3) for v in static_context(7200.0, 3600.0, 8 * 3600)]  # 2 h into a shift
    [0.301, 1.0, 0.0]
    """
    hours = (t - last_target_t) / 3600 if last_target_t is not None else 87600.0
    phase = 2 * math.pi * ((t % shift_s) / shift_s)
    return [math.log10(1 + max(hours, 0.0)), math.sin(phase), math.cos(phase)]
