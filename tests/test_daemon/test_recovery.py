"""Faults and scale-out with real worker processes: SIGKILL and restart; 2 and 3 workers
in one group."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from daemon.demo import scrape, total
from daemon.kafka.broker import EmbeddedBroker
from stream_models.wire import Event
from tests.fixtures import (
    SERIAL_LSTM_ENV,
    cli,
    consume_all,
    free_port,
    metrics_url,
    start_worker,
    stop,
    wait_until,
    worker_env,
)
from tests.test_daemon.conftest import MINE_TOML
from tests.test_daemon.reference import by_event, expected_records

pytestmark = pytest.mark.integration

BANDS_TOML = """
[[zones]]
name = "z1"
y_max = 100
[[zones]]
name = "z2"
y_min = 100
y_max = 200
[[zones]]
name = "z3"
y_min = 200
y_max = 325
[[zones]]
name = "z4"
y_min = 325
y_max = 450
[[zones]]
name = "z5"
y_min = 450
y_max = 550
[[zones]]
name = "z6"
y_min = 550
[alerts]
thresholds = [0.1, 0.12, 0.15]
hysteresis = 0.01
min_examples = 50
min_positives = 2
"""  # six zones: their keys hash to all three partitions, so two workers both get work;
# each band sees a fraction of the targets: thresholds and warm-up low enough that 90 days
# raise alerts whose ids can be compared


MINE_WIDE = "mine-wide"


def _processed(url: str) -> float:
    return total(scrape(url), "seismowatch_events_processed_total")


def test_sigkill_mid_stream_then_restart_recovers_state_and_never_repeats_an_alert(
    broker: EmbeddedBroker, topic_env: dict[str, str], mine_file: Path,
    mine_events: list[Event], tmp_path: Path,
) -> None:
    n = len(mine_events)
    env = worker_env(topic_env, broker.bootstrap, **SERIAL_LSTM_ENV)
    first = start_worker(env, tmp_path / "worker-1.log", MINE_TOML)
    try:
        wait_until(lambda: scrape(metrics_url(env)), 60, "the first worker's endpoint")
        replay = cli("replay", str(mine_file), "--max", "--config", str(MINE_TOML), env=env)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        done = wait_until(
            lambda: (p := _processed(metrics_url(env))) >= n // 3 and p, 120, "a third scored"
        )
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        stop(first)
    assert done < n, "the worker finished before it could be killed mid-stream"

    env2 = {**env, "SEISMOWATCH_METRICS_PORT": str(free_port())}
    second = start_worker(env2, tmp_path / "worker-2.log", MINE_TOML)
    try:
        wait_until(
            lambda: len(by_event(consume_all(
                broker.bootstrap, env["SEISMOWATCH_TOPICS__RISK"], idle_s=2, timeout_s=20
            ))) >= 2 * n,
            180, "every event to be scored in its zone and mine-wide",
            interval_s=2,
        )
        resumed = _processed(metrics_url(env2))
        risk = consume_all(broker.bootstrap, env["SEISMOWATCH_TOPICS__RISK"], idle_s=2)
        alerts = consume_all(broker.bootstrap, env["SEISMOWATCH_TOPICS__ALERTS"], idle_s=2)
    finally:
        stop(second)
    log2 = (tmp_path / "worker-2.log").read_text()

    # the restarted worker resumed from the restored state rather than from scratch
    assert 0 < resumed < 2 * n, log2[-3000:]
    want_risk = expected_records(mine_events, MINE_TOML, env)
    got_risk = by_event(risk)
    # every event scored; every re-sent record (at-least-once) of every scope, the mine-wide
    # one included, is identical to the reference, which a worker that lost or double-counted
    # state, or met the events in another order, could not produce
    assert set(got_risk) == set(want_risk)
    assert {k[1] for k in got_risk} >= {"lava-1", "lava-2", MINE_WIDE}
    for key, recs in got_risk.items():
        bad = [r for r in recs if r != want_risk[key]]
        assert not bad, (key, _diff(bad[0], want_risk[key]))
    ids = [json.loads(v)["alert_id"] for _, v in alerts]
    assert ids and len(ids) == len(set(ids))


def _diff(got: dict, want: dict) -> dict:  # type: ignore[type-arg]
    """The fields of two records that differ (features and components flattened)."""
    flat = {}
    for name in sorted(set(got) | set(want)):
        a, b = got.get(name), want.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            flat.update({f"{name}.{k}": (a.get(k), b.get(k)) for k in set(a) | set(b)
                         if a.get(k) != b.get(k)})
        elif a != b:
            flat[name] = (a, b)
    return flat


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _owned_partitions(url: str, topic: str) -> set[str]:
    """Partitions of ``topic`` a worker reports lag for: the ones assigned to it now."""
    return {labels["partition"] for labels, _ in scrape(url).get(
        "seismowatch_consumer_lag_messages", []) if labels["topic"] == topic}


def _owned_or_why(url: str, topic: str) -> list[str] | str:
    try:
        return sorted(_owned_partitions(url, topic))
    except OSError as exc:  # a worker that died or never served its metrics
        return f"unreachable: {exc}"


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_in_one_group_share_the_partitions_and_score_every_event_once(
    workers: int, broker: EmbeddedBroker, topic_env: dict[str, str], mine_file: Path,
    mine_events: list[Event], tmp_path: Path,
) -> None:
    config = tmp_path / "bands.toml"
    config.write_text(BANDS_TOML)
    n = len(mine_events)
    base = worker_env(topic_env, broker.bootstrap)
    envs = [{**base, "SEISMOWATCH_METRICS_PORT": str(free_port())} for _ in range(workers)]
    procs = [start_worker(env, tmp_path / f"worker-{i}.log", config) for i, env in enumerate(envs)]
    topic = base["SEISMOWATCH_TOPICS__EVENTS"]
    try:
        # the group is stable when every partition has exactly one owner
        def stable() -> bool:
            if any(proc.poll() is not None for proc in procs):
                raise AssertionError("a worker exited")
            owned = [_owned_partitions(metrics_url(env), topic) for env in envs]
            flat = [p for parts in owned for p in parts]
            return all(owned) and sorted(flat) == [str(p) for p in range(3)]

        try:
            wait_until(stable, 120, f"{workers} workers to split the 3 partitions", interval_s=1)
        except AssertionError as exc:  # say who owned what, and what the workers logged
            owned = [_owned_or_why(metrics_url(env), topic) for env in envs]
            exits = [proc.poll() for proc in procs]
            logs = [_tail(tmp_path / f"worker-{i}.log") for i in range(workers)]
            raise AssertionError(f"{exc}; owned {owned}; exit codes {exits}; logs {logs}") from None
        replay = cli("replay", str(mine_file), "--max", "--config", str(config), env=envs[0])
        assert replay.returncode == 0, replay.stdout + replay.stderr
        wait_until(
            lambda: sum(_processed(metrics_url(env)) for env in envs) >= 2 * n,
            180, "the workers to score every event in its zone and mine-wide",
        )
        per_worker = [_processed(metrics_url(env)) for env in envs]
        risk = consume_all(broker.bootstrap, base["SEISMOWATCH_TOPICS__RISK"], idle_s=2)
        alerts = consume_all(broker.bootstrap, base["SEISMOWATCH_TOPICS__ALERTS"], idle_s=2)
    finally:
        for proc in procs:
            stop(proc)
    assert all(p > 0 for p in per_worker), per_worker  # every worker had a share
    assert sum(per_worker) == 2 * n  # nobody scored an event twice ...
    for scope in ("zones", "mine-wide"):  # ... and each has one risk record in each scope
        ids = sorted(r["event_id"] for r in map(json.loads, (v for _, v in risk))
                     if (r["zone"] == "mine-wide") == (scope == "mine-wide"))
        assert ids == sorted(e.event_id for e in mine_events), scope
    alert_ids = [json.loads(v)["alert_id"] for _, v in alerts]
    assert alert_ids and len(alert_ids) == len(set(alert_ids))
