"""Backtest figures: independent recomputation, no look-ahead, and the command's JSON."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from config.settings import load_settings
from replay.read import read_events
from stream_models.evaluation.backtest import Collected, collect, evaluate
from stream_models.evaluation.thresholds import alarm_figures, recommend, recommend_scopes
from stream_models.online.experts import COMPONENTS, EXPERTS
from stream_models.online.orchestrator import Orchestrator
from stream_models.retraining.jobs import run_job
from stream_models.retraining.registry import base_lstm
from stream_models.skill.molchan import molchan
from stream_models.wire import Event
from tests.fixtures import REPO, cli, synth_file

pytestmark = pytest.mark.slow  # backtests months with retraining

MINE = REPO / "config" / "synthetic-mine.toml"
FAST = {"lstm.blocking": True}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    path = synth_file(tmp_path_factory.mktemp("bt") / "m.parquet", days=75)
    s = load_settings(MINE)
    events = read_events(path, "gits", {}, timezone=s.gits_timezone, zone_of=s.zone_of,
                         default_zone=s.default_zone).events
    return path, events


def _run(events: list[Event], tmp: Path, **overrides: object) -> tuple[dict, Collected]:  # type: ignore[type-arg]
    s = load_settings(MINE, **FAST, **overrides)
    runner = Orchestrator(s.monitor_policy(), s.retrain_policy(), mine_scope=s.mine_scope_name,
                          base_lstm=base_lstm())
    c = collect(runner, events, run_job=run_job)
    return evaluate(c, s.monitor_policy().horizon_s, s.monitor_policy().target_energy_j), c


def test_scores_match_an_independent_recomputation(small, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, events = small
    report, c = _run(events, tmp_path)
    known = c.label >= 0
    assert 0 < known.sum() < len(events)  # the last horizon of the file has no label yet
    for name in COMPONENTS:  # every model forecasts every event: 100 % coverage
        assert np.isfinite(c.scores[name]).all(), name
    for name in COMPONENTS:
        p = c.scores[name]
        ok = known & np.isfinite(p)
        y = c.label[ok]
        got = report["scores"][name]
        if len(set(y)) < 2:
            continue
        assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p[ok]), abs=1e-12), name
        assert got["pr_auc"] == pytest.approx(average_precision_score(y, p[ok]), abs=1e-12)
        assert got["brier"] == pytest.approx(brier_score_loss(y, p[ok]), abs=1e-12)


def _brute_molchan_point(c, name: str, thr: float, horizon: float, target: float):  # type: ignore[no-untyped-def]
    """tau, nu at one threshold, by walking each zone's events in time: a score stands until
    the zone's next event or one horizon; zone time runs from its first event to its end."""
    in_alarm = total = 0.0
    missed = n_targets = 0
    for z in set(c.zone):
        idx = sorted((i for i in range(len(c.t)) if c.zone[i] == z), key=lambda i: c.t[i])
        end = c.end[z]
        total += end - c.t[idx[0]]
        for k, i in enumerate(idx):
            nxt = c.t[idx[k + 1]] if k + 1 < len(idx) else end
            if c.scores[name][i] >= thr:
                in_alarm += min(nxt - c.t[i], horizon)
            if c.energy_j[i] >= target:
                n_targets += 1
                prev = idx[k - 1] if k else None
                ok = prev is not None and c.t[i] - c.t[prev] <= horizon
                if not (ok and c.scores[name][prev] >= thr):
                    missed += 1
    return in_alarm / total, missed / n_targets


def test_molchan_curve_matches_a_brute_force_walk(small, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, events = small
    _, c = _run(events[:1500], tmp_path)
    target = float(np.quantile(c.energy_j, 0.97))  # enough targets in a short run
    score = c.scores["omori"]
    tau, nu = molchan(c.timeline(), score, 8 * 3600, target)
    for thr in np.quantile(score, [0.2, 0.5, 0.8, 0.95]):
        want_tau, want_nu = _brute_molchan_point(c, "omori", thr, 8 * 3600, target)
        i = int(np.argmin(np.abs(tau - want_tau)))
        assert tau[i] == pytest.approx(want_tau, abs=1e-9)
        assert nu[i] == pytest.approx(want_nu, abs=1e-9)


def test_recommended_thresholds_keep_to_the_budget_and_no_lower_one_does(small, tmp_path: Path
                                                                          ) -> None:  # type: ignore[no-untyped-def]
    _, events = small
    _, c = _run(events, tmp_path)
    policy = load_settings(MINE).monitor_policy()
    rec = recommend(c, 1.0, policy.hazard, policy.target_energy_j)
    b, cc, d = rec["thresholds"]
    assert 0 < b < cc < d <= 1
    assert rec["state_c"]["raises_per_zone_week"] <= 1.0
    assert rec["state_d"]["raises_per_zone_week"] <= rec["state_c"]["raises_per_zone_week"]
    lower = replace(policy.hazard, thresholds=(b / 2, cc * 0.8, d))
    assert alarm_figures(c, c.scores["fused"], lower, 2, policy.target_energy_j)[
        "raises_per_zone_week"] > 1.0
    toml = recommend_scopes(c, 1.0, policy)["toml"]
    assert f"\nthresholds = [{b:.3g}, {cc:.3g}, {d:.3g}]" in toml


def test_the_mine_wide_scope_is_kept_apart_with_thresholds_of_its_own(small, tmp_path: Path
                                                                      ) -> None:  # type: ignore[no-untyped-def]
    _, events = small
    _, c = _run(events, tmp_path / "a")
    assert c.mine is not None and set(c.mine.zone) == {"mine-wide"} and "mine-wide" not in c.zone
    assert sorted(c.mine.event_id) == sorted(c.event_id)  # every zone event, seen again
    policy = load_settings(MINE).monitor_policy()
    rec = recommend_scopes(c, 1.0, policy)
    assert rec["mine"]["state_c"]["raises_per_zone_week"] <= 1.0
    zones_thresholds = replace(policy.hazard, thresholds=tuple(rec["thresholds"]))
    mine_at_zones = alarm_figures(c.mine, c.mine.scores["fused"], zones_thresholds, 2,
                                  policy.target_energy_j)
    assert mine_at_zones["raises_per_zone_week"] > 1.0  # the zones' would overspend mine-wide
    assert rec["mine"]["thresholds"][1] > rec["thresholds"][1]

    _, strict = _run(events, tmp_path / "b", **{"alerts.mine_thresholds": (0.97, 0.98, 0.99)})
    assert strict.state == c.state and "d" in c.mine.state  # the zones' states are untouched
    assert set(strict.mine.state) == {"a"}  # type: ignore[union-attr]


def test_shuffling_the_future_cannot_change_a_past_score(small, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, events = small
    cut = int(len(events) * 0.7)
    rng = np.random.default_rng(0)
    future = events[cut:]
    energies = rng.permutation([e.energy_j for e in future])
    shuffled = events[:cut] + [
        replace(e, energy_j=float(x)) for e, x in zip(future, energies, strict=True)
    ]
    _, a = _run(events, tmp_path / "a")
    _, b = _run(shuffled, tmp_path / "b")
    assert {d["model"] for d in a.decisions if d["version"]} >= {"etas"}  # refits before it
    for name in COMPONENTS:
        x, y = a.scores[name][:cut], b.scores[name][:cut]
        assert np.array_equal(np.nan_to_num(x, nan=-1), np.nan_to_num(y, nan=-1)), name
    assert a.state[:cut] == b.state[:cut]
    assert any(  # the shuffle is no no-op: later scores do change
        not np.array_equal(np.nan_to_num(a.scores[n][cut:]), np.nan_to_num(b.scores[n][cut:]))
        for n in COMPONENTS
    )


def test_backtest_command_pools_files_and_recommends_thresholds(small, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _ = small
    other = synth_file(tmp_path / "other.parquet", days=30, seed=11)
    out = tmp_path / "bt.json"
    env = {"SEISMOWATCH_STATE_DIR": str(tmp_path / "state")}
    r = cli("backtest", str(path), str(other), "--config", str(MINE), "--horizon", "8h",
            "--thresholds", "0.2,0.3", "--alerts-per-week", "2", "--json", str(out),
            env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    assert doc["files"] == [path.stem, other.stem]
    assert doc["horizon_h"] == 8 and doc["target_energy_j"] == 1e4
    assert set(COMPONENTS) <= set(doc["scores"])
    for m in doc["scores"].values():
        assert {"molchan_area_skill", "gain_at_10pct", "brier_skill", "roc_auc",
                "information_gain", "own_fit_share"} <= set(m)
    for name in EXPERTS:  # every model scored every labelled event, from its prior at first
        assert doc["scores"][name]["scored_events"] == doc["labelled_events"], name
    assert doc["scores"]["etas"]["own_fit_share"] > 0.5  # its own fit took over
    assert [t["threshold"] for t in doc["thresholds"]] == [0.2, 0.3]
    keys = {"raises_per_zone_week", "hit_rate", "alarm_time_fraction", "median_lead_h"}
    assert all(keys <= set(t) for t in doc["thresholds"])
    rec = doc["recommendation"]
    assert rec["state_c"]["raises_per_zone_week"] <= 2
    assert rec["mine"]["state_c"]["raises_per_zone_week"] <= 2
    snippet = tomllib.loads(rec["toml"])
    assert snippet["alerts"]["thresholds"] == rec["thresholds"]
    assert snippet["alerts"]["mine_thresholds"] == rec["mine"]["thresholds"]
    assert load_settings(None, **{f"alerts.{k}": tuple(v) for k, v in snippet["alerts"].items()})
    assert [t["threshold"] for t in doc["mine_thresholds"]] == [0.2, 0.3]
    assert "alerting on the fused risk" in r.stdout and "[alerts]" in r.stdout
    zones = {z.split(":")[0] for z in doc["learning_energy_j"]}
    assert zones == {path.stem, other.stem}  # each file's zones kept apart

    bad = cli("backtest", str(path), "--thresholds", "0.2,1.5", env=env)
    assert bad.returncode == 2 and "1.5" in bad.stdout + bad.stderr
    assert math.isfinite(doc["scores"]["fused"]["molchan_area_skill"])
