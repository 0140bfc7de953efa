"""Chaos run: two workers of one group, SIGKILLed at random points, against the reference.

Run by hand: ``.venv/bin/python bench/chaos.py [--runs N] [--seed S] [--days D] [--kills K]``.

Each run replays one synthetic year (``--days``) through the embedded broker into two
``seismowatch worker`` processes of one consumer group, retraining in-line (every due
job runs before its scope's next event, so every record can be compared exactly).
At ``--kills`` points drawn from the run's seed (shares of the work done) it SIGKILLs
a worker and restarts it, with an empty state directory, as a worker on another host
would start; at least one kill per run is a double fault: after the
first worker is killed and restarted, the second is killed while the first is still
booting and the group is rebalancing (some partitions have no owner). The records
are then compared with the in-process reference (the same ``Orchestrator`` run over
the same events):

* every risk record of every scope, every copy that at-least-once delivery re-sent,
  must equal the reference's (``mismatched_records``), and every (event, scope) have
  one (``unscored_events``);
* every alert the reference raises up to each scope's last event must be on the
  alerts topic (``missing_alerts``), equal to the reference's but for ``emitted_at``
  (``mismatched_alerts``), once (``duplicate_alert_ids``), and nothing else
  (``extra_alerts``).

One line per run, then, last, one JSON object: ``runs``, ``exact_runs``,
``unscored_events``, ``duplicate_alert_ids``, ``missing_alerts``, ``extra_alerts``,
``mismatched_records``, ``mismatched_alerts``, ``kills``, ``kills_during_rebalance``,
``wall_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import TopicSettings, load_settings  # noqa: E402
from daemon.demo import scrape, total  # noqa: E402
from daemon.kafka.broker import EmbeddedBroker, free_port  # noqa: E402
from replay.gits_export import write_gits  # noqa: E402
from replay.read import read_events  # noqa: E402
from replay.synth import SynthParams, generate  # noqa: E402
from stream_models.wire import Event  # noqa: E402
from tests.fixtures import cli, consume_all, start_worker, stop, wait_until  # noqa: E402
from tests.test_daemon.reference import Reference, reference, without_emitted_at  # noqa: E402

MINE = ROOT / "config" / "synthetic-mine.toml"
SERIAL = {"SEISMOWATCH_LSTM__BLOCKING": "true"}
WORKERS = 2


@dataclass
class Kill:
    share: float  # of the work (events scored, re-scores included) when it lands
    victim: int
    double: bool  # then kill the other worker while the victim restarts ...
    pause_s: float  # ... this long after


@dataclass
class RunResult:
    seed: int
    kills: int = 0
    kills_during_rebalance: int = 0
    unscored_events: int = 0
    mismatched_records: int = 0
    duplicate_alert_ids: int = 0
    missing_alerts: int = 0
    extra_alerts: int = 0
    mismatched_alerts: int = 0
    alerts: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.unscored_events or self.mismatched_records or self.duplicate_alert_ids
                    or self.missing_alerts or self.extra_alerts or self.mismatched_alerts)


def plan(seed: int, kills: int) -> list[Kill]:
    """The run's kill points: sorted shares of the work, one of them a double fault."""
    rng = np.random.default_rng(seed)
    shares = np.sort(rng.uniform(0.05, 0.85, kills))
    victims = rng.integers(0, WORKERS, kills)
    double = int(rng.integers(0, kills))
    pauses = rng.uniform(0.5, 2.5, kills)
    return [Kill(float(shares[i]), int(victims[i]), i == double, float(pauses[i]))
            for i in range(kills)]


def year(days: int, tmp: Path) -> tuple[Path, list[Event]]:
    path = write_gits(generate(replace(SynthParams(), days=days)), tmp / "year.parquet")
    s = load_settings(MINE)
    events = read_events(path, "gits", {}, timezone=s.gits_timezone, zone_of=s.zone_of,
                         default_zone=s.default_zone).events
    return path, events


class Group:
    """Two worker processes of one group; a killed one is restarted on a fresh port and an
    empty state directory."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp = env, tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.done_before = 0.0  # events the killed incarnations had scored
        self.n = 0
        for _ in range(WORKERS):
            self.procs.append(self._start())
            self.ports.append(self._port)

    def _start(self) -> subprocess.Popen[bytes]:
        """A worker on a fresh port with an empty state directory of its own, as on another
        host: everything a scope knows must come from the changelog."""
        self._port = free_port()
        self.n += 1
        env = {**self.env, "SEISMOWATCH_METRICS_PORT": str(self._port),
               "SEISMOWATCH_STATE_DIR": str(self.tmp / f"worker-{self.n}-state")}
        return start_worker(env, self.tmp / f"worker-{self.n}.log", MINE, "--verbose")

    def scored(self, i: int) -> float:
        try:
            return total(scrape(f"http://127.0.0.1:{self.ports[i]}/metrics"),
                         "seismowatch_events_processed_total")
        except OSError:
            return 0.0

    def work(self) -> float:
        self.check()
        return self.done_before + sum(self.scored(i) for i in range(WORKERS))

    def check(self) -> None:
        """A worker that exited on its own is a failure of the run, not a fault injected."""
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited with code {proc.returncode}; see the "
                                   f"worker logs in {self.tmp}")

    def owners(self, topic: str) -> Counter[str]:
        """How many live workers report each partition of ``topic`` as theirs."""
        owned: Counter[str] = Counter()
        for port in self.ports:
            try:
                lag = scrape(f"http://127.0.0.1:{port}/metrics").get(
                    "seismowatch_consumer_lag_messages", [])
            except OSError:
                continue
            owned.update(labels["partition"] for labels, _ in lag if labels["topic"] == topic)
        return owned

    def settled(self, topic: str, partitions: int) -> bool:
        owned = self.owners(topic)
        return all(owned[str(p)] == 1 for p in range(partitions))

    def kill(self, i: int) -> None:
        self.done_before += self.scored(i)
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()
        self.procs[i] = self._start()
        self.ports[i] = self._port

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)


def env_for(prefix: str, bootstrap: str, state: Path) -> dict[str, str]:
    env = {**os.environ, **SERIAL, "SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
           "SEISMOWATCH_STATE_DIR": str(state), "SEISMOWATCH_WORKER__GROUP_ID": f"{prefix}-g"}
    for t in TopicSettings.model_fields:
        env[f"SEISMOWATCH_TOPICS__{t.upper()}"] = f"{prefix}.{t}"
    return env


def one_run(seed: int, kills: int, broker: EmbeddedBroker, path: Path, events: list[Event],
            ref: Reference, tmp: Path) -> RunResult:
    t0 = time.monotonic()
    out = RunResult(seed)
    prefix = f"chaos{seed}"
    env = env_for(prefix, broker.bootstrap, tmp / prefix / "state")
    (tmp / prefix).mkdir(parents=True, exist_ok=True)
    topic, partitions = env["SEISMOWATCH_TOPICS__EVENTS"], load_settings(MINE).partitions
    want = 2 * len(events)  # each event in its zone and mine-wide
    group = Group(env, tmp / prefix)
    try:
        wait_until(lambda: group.settled(topic, partitions), 120, "the group to settle", 0.5)
        replay = cli("replay", str(path), "--max", "--config", str(MINE), env=env)
        if replay.returncode != 0:
            raise RuntimeError(replay.stdout + replay.stderr)
        for k in plan(seed, kills):
            wait_until(lambda k=k: group.work() >= k.share * want, 600,
                       f"{k.share:.0%} of the work", 0.2)
            group.kill(k.victim)
            out.kills += 1
            if k.double:  # the other one, while the victim boots and the group rebalances
                time.sleep(k.pause_s)
                out.kills_during_rebalance += int(not group.settled(topic, partitions))
                group.kill(1 - k.victim)
                out.kills += 1
        risk_topic = env["SEISMOWATCH_TOPICS__RISK"]
        wait_until(lambda: group.work() and len({(r["event_id"], r["zone"]) for r in _records(
            consume_all(broker.bootstrap, risk_topic, idle_s=2))}) >= want,
            900, "every event scored in its zone and mine-wide", 5)
        risk = _records(consume_all(broker.bootstrap, risk_topic, idle_s=3))
        alerts = _records(consume_all(broker.bootstrap, env["SEISMOWATCH_TOPICS__ALERTS"],
                                      idle_s=3))
    finally:
        group.close()
    compare(ref, risk, alerts, out)
    out.wall_s = round(time.monotonic() - t0, 1)
    return out


def _records(messages: list[tuple[bytes | None, bytes]]) -> list[dict[str, Any]]:
    return [json.loads(v) for _, v in messages]


def compare(ref: Reference, risk: list[dict[str, Any]], alerts: list[dict[str, Any]],
            out: RunResult) -> None:
    """Count every way the published records differ from the reference's."""
    got = {(r["event_id"], r["zone"]) for r in risk}
    out.unscored_events = len(set(ref.risk) - got)
    out.mismatched_records = sum(r != ref.risk.get((r["event_id"], r["zone"])) for r in risk)
    ids = Counter(a["alert_id"] for a in alerts)
    out.alerts = len(ids)
    out.duplicate_alert_ids = sum(n - 1 for n in ids.values())
    due = {i for i, a in ref.alerts.items() if _t(a["time"]) <= ref.last_t.get(a["zone"], 0.0)}
    out.missing_alerts = len(due - set(ids))
    out.extra_alerts = len(set(ids) - set(ref.alerts))
    out.mismatched_alerts = sum(without_emitted_at(a) != ref.alerts[a["alert_id"]]
                                for a in alerts if a["alert_id"] in ref.alerts)


def _t(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def chaos(runs: int, seed: int, days: int, kills: int, tmp: Path) -> dict[str, Any]:
    """``runs`` runs with seeds ``seed``, ``seed + 1``, ...; the summary of them all."""
    t0 = time.monotonic()
    path, events = year(days, tmp)
    ref = reference(events, MINE, SERIAL)
    results = []
    with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
        for s in range(seed, seed + runs):
            r = one_run(s, kills, broker, path, events, ref, tmp)
            results.append(r)
            print(json.dumps({"seed": s, "exact": r.exact, **{
                k: v for k, v in vars(r).items() if k not in ("seed", "notes")}}), flush=True)
    keys = ("unscored_events", "duplicate_alert_ids", "missing_alerts", "extra_alerts",
            "mismatched_records", "mismatched_alerts", "kills", "kills_during_rebalance")
    return {"runs": runs, "exact_runs": sum(r.exact for r in results),
            **{k: sum(getattr(r, k) for r in results) for k in keys},
            "events": len(events), "reference_alerts": len(ref.alerts),
            "wall_s": round(time.monotonic() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1, help="first run's seed")
    ap.add_argument("--days", type=int, default=365, help="length of the synthetic year")
    ap.add_argument("--kills", type=int, default=4, help="kill points per run")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="seismowatch-chaos-"))
    print(json.dumps(chaos(args.runs, args.seed, args.days, args.kills, tmp)))


if __name__ == "__main__":
    main()
