"""In-process benchmark: the per-event code path without Kafka, in one run.

Run by hand: ``.venv/bin/python bench/inprocess.py [--events N]``. It measures the
one-off import of the LSTM stack, then the in-process backtest (the daemon's own
:class:`Orchestrator`, LSTM retrained in-line) on the example catalog and on the
synthetic year, with and without the refits, the cost of each stage per event,
one zone's state bytes after a 10x burst of the example catalog's densest 8 hours,
and the RSS of a long synthetic stream at two points. It prints JSON and writes
``bench/last-inprocess.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stages import stage_profile  # noqa: E402
from config.settings import load_settings  # noqa: E402
from replay.columns import parse_mapping  # noqa: E402
from replay.gits_export import write_gits  # noqa: E402
from replay.read import read_events  # noqa: E402
from replay.synth import SynthParams, generate  # noqa: E402
from stream_models.evaluation.backtest import collect  # noqa: E402
from stream_models.online.orchestrator import Orchestrator  # noqa: E402
from stream_models.online.policies import ScopeKind  # noqa: E402
from stream_models.online.scope import ScopeMonitor  # noqa: E402
from stream_models.retraining.jobs import run_job  # noqa: E402
from stream_models.retraining.registry import base_lstm  # noqa: E402
from stream_models.wire import Event  # noqa: E402

MINE = ROOT / "config" / "synthetic-mine.toml"
EATON = ROOT / "examples" / "data" / "toc2me_eaton2018.csv"
EATON_MAP = ["x=Easting (m)", "y=Northing (m)", "z=TVD (m)", "magnitude=MW", "event_id=EventID"]


def rss_mb() -> float:
    """Current resident set size (Linux /proc), MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def import_seconds() -> float:
    """The LSTM stack's one-off imports (torch, and torch._dynamo that its optimiser loads on
    first use): part of a backtest command's wall time, not of its cost per event."""
    t0 = time.perf_counter()
    import torch._dynamo  # noqa: F401

    import stream_models.retraining.training  # noqa: F401

    return round(time.perf_counter() - t0, 2)


def backtest_rate(events: list[Event], overrides: dict[str, object], config: Path | None,
                  retrain: bool = True) -> dict[str, float]:
    """Events/s of the in-process backtest; ``retrain=False``: the per-event path alone
    (the ETAS prior scores, no LSTM), which the live worker runs between retrainings."""
    off = {} if retrain else {"lstm.enabled": False, "etas.enabled": False}
    s = load_settings(config, **{"lstm.blocking": True, **overrides, **off})
    runner = Orchestrator(s.monitor_policy(), s.retrain_policy(), mine_scope=s.mine_scope_name,
                          base_lstm=base_lstm(s.lstm.base_model, s.lstm.enabled))
    t0 = time.perf_counter()
    collect(runner, events, run_job=run_job)
    dt = time.perf_counter() - t0
    return {"events": len(events), "seconds": round(dt, 2), "events_per_s": round(len(events) / dt)}


def stage_costs(events: list[Event], overrides: dict[str, object], config: Path | None,
                kind: ScopeKind = "zone") -> dict[str, float]:
    """Microseconds per event of each stage of one scope's event path (no retraining:
    the prior models score, as between a live worker's retrainings)."""
    s = load_settings(config, **overrides)
    mon = ScopeMonitor("profiled", kind, s.monitor_policy(),
                       base_lstm=base_lstm(s.lstm.base_model, s.lstm.enabled))
    return stage_profile(mon, [replace(e, zone="profiled") for e in events])


def grid_cost(events: list[Event], n_events: int = 100_000, block: int = 10_000
              ) -> dict[str, float]:
    """The hazard grid alone (the mine-wide scope's), fed a long stream (``events`` repeated a
    year apart): microseconds per event over the first and the last ``block`` events, the
    cells it holds and its state's bytes. Bounded when the last block costs no more than
    the first."""
    from stream_models.online.space_watch import SpaceWatch
    from stream_models.packing import nbytes
    from stream_models.seismology.etas import generic_law

    s = load_settings(MINE)
    watch = SpaceWatch(s.space.spec(), s.alerts.horizon_h * 3600, 4.0)
    law = generic_law(1.5, mu=1e-4)
    span = events[-1].timestamp - events[0].timestamp + 86400.0
    times: list[float] = []
    rep = 0
    while len(times) < n_events:
        for e in events:
            t0 = time.perf_counter()
            watch.on_event(e.timestamp + rep * span, e.x, e.y, e.log_energy, True, e.zone, law)
            times.append(time.perf_counter() - t0)
            if len(times) >= n_events:
                break
        rep += 1
    return {"first_us": round(float(np.mean(times[:block])) * 1e6, 1),
            "last_us": round(float(np.mean(times[-block:])) * 1e6, 1),
            "cells": watch.grid.used, "state_bytes": nbytes(watch.to_state())}


def burst_state_bytes(events: list[Event], grid: bool = False) -> dict[str, float]:
    """One zone's stored state after the catalog's densest 8 h replayed 10x denser: a zone
    of a mine with zones, or (``grid``) the scope that keeps the hazard grid."""
    from stream_models.packing import nbytes

    t = np.array([e.timestamp for e in events])
    j = np.searchsorted(t, t + 8 * 3600)
    i = int(np.argmax(j - np.arange(len(t))))
    window = events[i: j[i]]
    burst = [replace(e, event_id=f"{e.event_id}-{k}",
                     time=e.time + timedelta(seconds=k * 2.9)) for e in window
             for k in range(10)]
    burst.sort(key=lambda e: e.time)
    policy = replace(load_settings().monitor_policy(), grid_kinds=("mine",))
    mon = ScopeMonitor("mine", "mine" if grid else "zone", policy)
    for e in events[:i]:
        mon.process(e)
    before = nbytes(mon.to_state())
    for e in burst:
        mon.process(e)
    after = nbytes(mon.to_state())
    return {"burst_events": len(burst), "state_bytes_before": before, "state_bytes_after": after}


def rss_over(n_events: list[int]) -> dict[str, float]:
    """RSS of one runner fed a long synthetic stream (the synthetic year repeated)."""
    year = generate(SynthParams(seed=3, large_events="random"))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_gits(year, Path(tmp) / "y.parquet")
        s = load_settings(MINE)
        base = read_events(path, "gits", {}, timezone=s.gits_timezone, zone_of=s.zone_of,
                           default_zone=s.default_zone).events
    span = base[-1].time - base[0].time + timedelta(days=1)
    runner = Orchestrator(s.monitor_policy(), mine_scope=s.mine_scope_name)
    out, done, rep = {}, 0, 0
    while done < max(n_events):
        for e in base:
            runner.process(replace(e, event_id=f"{e.event_id}-{rep}", time=e.time + span * rep))
            done += 1
            if done in n_events:
                out[f"rss_mb_at_{done}"] = round(rss_mb(), 1)
            if done >= max(n_events):
                break
        rep += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", default="100000,1000000",
                    help="RSS checkpoints (events of a long synthetic stream)")
    args = ap.parse_args()
    eaton = read_events(EATON, "catalog", parse_mapping(EATON_MAP)).events
    with tempfile.TemporaryDirectory() as tmp:
        path = write_gits(generate(SynthParams()), Path(tmp) / "year.parquet")
        s = load_settings(MINE)
        year = read_events(path, "gits", {}, timezone=s.gits_timezone, zone_of=s.zone_of,
                           default_zone=s.default_zone).events
    eaton_alerts = {"alerts.target_energy_j": 2e6, "alerts.horizon_h": 24}
    report = {
        "lstm_import_seconds": import_seconds(),  # before the timed runs below
        "backtest_example_catalog": backtest_rate(eaton, eaton_alerts, None),
        "backtest_synthetic_year": backtest_rate(year, {}, MINE),
        "per_event_path_example_catalog": backtest_rate(eaton, eaton_alerts, None, False),
        "per_event_path_synthetic_year": backtest_rate(year, {}, MINE, False),
        "stage_us_per_event_example_catalog": stage_costs(eaton, eaton_alerts, None),
        "stage_us_per_event_synthetic_year": stage_costs(year, {}, MINE),
        "hazard_grid_synthetic_year_repeated": grid_cost(year),
        "mine_scope_stage_us_per_event_synthetic_year": stage_costs(year, {}, MINE, "mine"),
        "zone_state_after_burst": burst_state_bytes(eaton),
        "grid_scope_state_after_burst": burst_state_bytes(eaton, grid=True),
        **rss_over([int(v) for v in args.events.split(",")]),
    }
    rss = [v for k, v in report.items() if k.startswith("rss_mb_at_")]
    if len(rss) == 2 and math.isfinite(rss[0]):
        report["rss_growth"] = round(rss[1] / rss[0] - 1, 3)
    text = json.dumps(report, indent=2)
    print(text)
    (ROOT / "bench" / "last-inprocess.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
