"""The ``backtest`` command's work and tables: run files, pool them, show skill and thresholds.

Each file runs through its own :class:`~stream_models.online.orchestrator.Orchestrator`
(the daemon's per-event code, online, no look-ahead; every retraining in-line, before
its scope's next event, as a worker with ``lstm.blocking`` runs them); the runs are pooled into
one table so that an analyst judges a method on several years or mines at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Column, Table
from rich.text import Text

from config.settings import Settings
from replay.derive_zones import with_derived_zones
from stream_models.evaluation.backtest import Collected, collect, evaluate
from stream_models.evaluation.thresholds import recommend_scopes, trade_off
from stream_models.online.orchestrator import Orchestrator
from stream_models.retraining.jobs import run_job
from stream_models.retraining.registry import base_lstm
from stream_models.wire import Event

log = logging.getLogger(__name__)

def run(runs: Sequence[tuple[str, Sequence[Event]]], settings: Settings, levels: Sequence[float],
        per_week: float | None, on_event: Callable[[int], None] | None = None
        ) -> tuple[dict[str, Any], Collected]:
    """The pooled report of every (name, events) run, and the pooled per-event rows."""
    policy = settings.monitor_policy()
    parts = []
    done = 0
    zones: dict[str, Any] = {}
    for name, file_events in runs:
        # with no zones configured, each file's own (clusters of its first weeks' epicentres)
        run_settings, events, note = with_derived_zones(settings, list(file_events),
                                                        persist=False)
        if note:
            log.warning("%s: %s", name, note)
            zones[name] = [z.model_dump() for z in run_settings.derived_zones]
        runner = Orchestrator(run_settings.monitor_policy(), settings.retrain_policy(),
                              mine_scope=run_settings.mine_scope_name,
                              base_lstm=base_lstm(settings.lstm.base_model, settings.lstm.enabled))
        base = done
        parts.append((name, collect(runner, events,
                                    on_event and (lambda i, b=base: on_event(b + i)), run_job)))
        done += len(events)
    pooled = Collected.pool(parts)
    report = evaluate(pooled, policy.horizon_s, policy.target_energy_j)
    report["files"] = [name for name, _ in runs]
    report["derived_zones"] = zones
    report["thresholds"] = trade_off(pooled, levels, policy.hazard, policy.target_energy_j)
    if pooled.mine is not None:
        report["mine_thresholds"] = trade_off(pooled.mine, levels, policy.for_scope("mine").hazard,
                                              policy.target_energy_j)
    if per_week is not None:
        try:
            report["recommendation"] = recommend_scopes(pooled, per_week, policy)
        except ValueError as exc:
            report["recommendation"] = {"error": str(exc)}
    return report, pooled


def _fmt(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or v != v else f"{v:.{digits}f}"


def tables(report: dict[str, Any]) -> Group:
    """Time-based skill first, calibration and per-event ranking next, then thresholds."""
    head = (f"{report['events']} events over {report['zone_days']:.0f} zone-days, "
            f"{report['targets']} targets (>= {report['target_energy_j']:g} J), "
            f"horizon {report['horizon_h']:g} h")
    heads = ("model", "Molchan", "g@5%", "g@10%", "g@20%", "IG", "BSS", "ROC-AUC", "PR-AUC",
             "own fit")
    scores = Table(*(Column(h, no_wrap=True) for h in heads), title=head, box=box.SIMPLE_HEAD,
                   caption="Molchan: area skill (0.5 = chance); g@x: probability gain at x of "
                           "time in alarm; IG: information gain per target event over the rate "
                           "baseline (nats); BSS: Brier skill against the climatological rate; "
                           "own fit: share of events scored with the model's own fit (the rest "
                           "with its prior)")
    for name, m in report["scores"].items():
        short = name.replace("baseline_", "base:").replace("last_shift_", "shift_")
        scores.add_row(short, _fmt(m["molchan_area_skill"]), _fmt(m["gain_at_5pct"], 2),
                       _fmt(m["gain_at_10pct"], 2), _fmt(m["gain_at_20pct"], 2),
                       _fmt(m["information_gain"], 2), _fmt(m["brier_skill"]),
                       _fmt(m["roc_auc"]), _fmt(m["pr_auc"]), _fmt(m["own_fit_share"], 2))
    parts: list[Any] = [scores, _trade_off(report["thresholds"], "the zones")]
    if "mine_thresholds" in report:
        parts.append(_trade_off(report["mine_thresholds"], "the mine-wide scope"))
    if report.get("reentry", {}).get("exclusions"):
        parts.append(_reentry(report["reentry"]))
    if report.get("space"):
        parts.append(_space(report["space"]))
    for run, zones in report.get("derived_zones", {}).items():
        parts.append(Text(f"{run}: no zones configured, {len(zones)} derived from the first "
                          "weeks' epicentres: " + ", ".join(
                              f"{z['name']} ({z['x']:.0f}, {z['y']:.0f}; {z['events']} events)"
                              for z in zones)))
    rec = report.get("recommendation")
    if rec and "toml" in rec:
        hits = _fmt(rec["state_c"]["hit_rate"], 2)
        if "mine" in rec:
            hits += f" in the zones, {_fmt(rec['mine']['state_c']['hit_rate'], 2)} mine-wide"
        parts.append(Text(f"recommended for this alert budget (hit rate at c {hits}):\n"
                          f"{rec['toml']}"))
    elif rec:
        parts.append(Text(f"no recommendation: {rec['error']}"))
    return Group(*parts)


def _trade_off(rows: list[dict[str, float]], scope: str) -> Table:
    table = Table("threshold", "raises/zone/week", "hit rate", "time in alarm",
                  "median lead (h)", title=f"alerting on the fused risk (state c), {scope}",
                  box=box.SIMPLE_HEAD)
    for r in rows:
        table.add_row(_fmt(r["threshold"], 2), _fmt(r["raises_per_zone_week"], 2),
                      _fmt(r["hit_rate"]), _fmt(r["alarm_time_fraction"]),
                      _fmt(r["median_lead_h"], 1))
    return table


def _space(runs: dict[str, dict[str, Any]]) -> Table:
    """Space-time skill of the hazard grid against the same forecast spread over each zone."""
    table = Table("run", "grid Molchan", "zone-uniform Molchan", "grid g@10%",
                  "zone-uniform g@10%", "targets", "cells", "snapshots", box=box.SIMPLE_HEAD,
                  title="where: space-time skill of the hazard grid",
                  caption="Molchan over (snapshot interval, cell); alarm fraction = share of "
                          "space-time volume; zone-uniform: each zone's expected count spread "
                          "evenly over its cells (what space adds within zones)")
    for run, s in runs.items():
        table.add_row(run or "all", _fmt(s["grid_area_skill"]),
                      _fmt(s["zone_uniform_area_skill"]), _fmt(s["grid_gain_10"], 1),
                      _fmt(s["zone_uniform_gain_10"], 1), str(s["targets"]), str(s["cells"]),
                      str(s["snapshots"]))
    return table


def _reentry(r: dict[str, Any]) -> Table:
    """Each exclusion's first estimate against the re-entry observed, and the summary."""
    table = Table("zone", "event", "energy (J)", "estimate (h)", "interval (h)", "observed (h)",
                  "in interval", box=box.SIMPLE_HEAD,
                  title=f"re-entry after large events: {r['compared']} of {r['exclusions']} "
                        f"compared, estimate - observed median {_fmt(r['median_error_h'], 1)} h "
                        f"(quartiles {_fmt(r['error_p25_h'], 1)} to {_fmt(r['error_p75_h'], 1)})"
                        f", {_fmt(r['within_interval'], 2)} in the 5-95 % interval",
                  caption="observed: from when the rate over the following window (3 events at "
                          "the re-entry level, at least 6 h) stays at or below the level; "
                          "censored rows (the data or the next exclusion came first) are not "
                          "compared")
    for row in r["rows"][:40]:
        t0 = row["t0"]
        table.add_row(row["zone"], row["source"], f"{row['energy_j']:,.0f}",
                      _fmt(row["predicted_h"], 1),
                      f"{(row['low'] - t0) / 3600:.1f}-{(row['high'] - t0) / 3600:.1f}",
                      _fmt(row["observed_h"], 1) + (" (censored)" if row["censored"] else ""),
                      "yes" if row["within_interval"] else "no")
    return table
