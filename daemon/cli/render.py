"""How results look on a console: alert lines, the demo summary, latency quantiles."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from daemon.cli.common import (
    console,
)


def format_ms(seconds: float) -> str:
    """A latency quantile; one beyond the histogram's top bucket is a bound, not a value."""
    from daemon.metrics import LATENCY_BUCKETS_S

    if seconds == float("inf"):
        return f"> {LATENCY_BUCKETS_S[-1] * 1000:.0f} ms"
    return "n/a" if seconds != seconds else f"{seconds * 1000:.0f} ms"


STATE_STYLE = {"a": "green", "b": "yellow", "c": "dark_orange", "d": "bold red"}


def render_alert(record: dict[str, Any]) -> str:
    """One operator line: the mine's local time, then the alert's own words, coloured by
    the state it raises (an all-clear by the state it clears; re-entry records cyan)."""
    state = str(record.get("state", "?"))
    shown = record.get("previous_state", state) if record.get("kind") == "all-clear" else state
    style = ("cyan" if str(record.get("kind", "")).startswith("re-entry")
             else STATE_STYLE.get(str(shown), "white"))
    when = str(record.get("local_time") or record.get("time", "?"))[:16].replace("T", " ")
    text = record.get("text") or f"{record.get('zone', '?')} {record.get('kind', '?')} {state}"
    return f"{when}  [{style}]{escape(str(text))}[/]  [dim]{record.get('alert_id', '')}[/]"


def print_summary(summary: Any, speed: float | None) -> None:
    """The demo's closing table, read from the worker's metrics endpoint."""
    table = Table(title="seismowatch demo", show_header=False)
    table.add_row("events in the synthetic export", str(summary.events))
    table.add_row("events replayed / scored", f"{summary.sent} / {summary.scored}")
    table.add_row("dead-lettered messages", str(summary.rejected))
    for (kind, state), n in sorted(summary.alerts.items()):
        if n and not kind.startswith("re-entry"):
            table.add_row(f"alerts: {kind} to state {state}", str(n))
    for kind, what in (("re-entry", "re-entry estimates (updates included)"),
                       ("re-entry reached", "re-entries reached")):
        table.add_row(what, str(sum(n for (k, _), n in summary.alerts.items() if k == kind)))
    table.add_row("alerts in total", str(sum(summary.alerts.values())))
    hits = sum(hit for *_, hit in summary.dangerous)
    table.add_row("dangerous events (>= target) preceded by an alert in the horizon",
                  f"{hits} of {len(summary.dangerous)}")
    for when, zone, energy, hit in summary.dangerous:
        table.add_row(f"  {when} {zone} {energy:,.0f} J", "alert open" if hit else "missed")
    r = summary.retrainings
    for model, what in (("etas", "ETAS refits"), ("lstm", "LSTM fine-tunings")):
        table.add_row(f"{what}: promoted / rejected / skipped",
                      " / ".join(str(r.get((model, k), 0))
                                 for k in ("promoted", "rejected", "skipped")))
    for zone, (p_zone, p_cell, x, y) in sorted(summary.grid.items()):
        table.add_row(f"  hazard grid at the end, {zone}",
                      f"p = {p_zone:.2g} in the zone; hottest cell ({x:.0f}, {y:.0f}) m, "
                      f"p = {p_cell:.2g}")
    for zone in sorted({z for z, _ in summary.versions}):
        now = ", ".join(f"{m} {summary.versions.get((zone, m), '?')}" for m in ("etas", "lstm"))
        table.add_row(f"  scoring {zone} at the end", now)
    queued = " (queued behind the replay)" if speed is None else ""
    table.add_row(
        f"processing latency p50 / p99{queued}",
        f"{format_ms(summary.latency_p50_s)} / {format_ms(summary.latency_p99_s)}",
    )
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    table.add_row("metrics endpoint (while running)", summary.metrics_url)
    console.print(table)
    console.print(scores_table(summary.roc_auc, summary.own_fit))


def scores_table(roc_auc: dict[tuple[str, str], float],
                 own_fit: dict[tuple[str, str], float] | None = None) -> Table:
    """Models and baselines side by side: progressive ROC-AUC, one column per zone, and the
    share of events each scored with a fit of its own."""
    from stream_models.fusion.counts import FUSED
    from stream_models.online.experts import EXPERTS

    own_fit = own_fit or {}
    zones = sorted({zone for zone, _ in roc_auc})
    table = Table("model", *zones, title="progressive ROC-AUC on the learning target "
                  "(own fit: share of events scored with the model's own fit, the rest with "
                  "its prior)")
    for model in (*EXPERTS, FUSED):  # the learning target: the mixture's experts and itself
        cells = []
        for zone in zones:
            v, share = roc_auc.get((zone, model), float("nan")), own_fit.get((zone, model))
            text = "n/a" if v != v else f"{v:.3f}"
            cells.append(text if share is None or share != share else
                         f"{text} (own fit {share:.0%})")
        table.add_row(model, *cells)
    return table
