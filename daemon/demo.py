"""``seismowatch demo``: broker, worker, a synthetic mine replayed fast, alerts live, a summary.

Everything runs for real: the embedded Tansu broker (or the configured
cluster), a ``seismowatch worker`` child process with its metrics endpoint, and
the replay adapter's own producer in a thread. The demo reads the worker's
progress from that metrics endpoint, exactly as Prometheus would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings, child_env
from daemon.kafka.broker import free_port, kafka_endpoint, port_open
from replay.checkpoint import Checkpoint
from replay.gits_export import write_gits
from replay.read import read_events
from replay.stream import KafkaSink, build_items, iter_replay
from replay.synth import SynthParams, generate

SYNTHETIC_MINE_TOML = Path(__file__).resolve().parents[1] / "config" / "synthetic-mine.toml"
_WORKER_READY_TIMEOUT_S = 90.0
_DRAIN_TIMEOUT_S = 300.0  # after the replay: how long the worker may take to catch up


@dataclass
class DemoProgress:
    """Shared between the replay thread, the metrics poller and the renderer."""

    total: int = 0
    sent: int = 0
    scored: float = 0.0
    replay_done: bool = False
    replay_error: str | None = None


def scrape(url: str, timeout: float = 2.0) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples of a Prometheus text endpoint: name -> [(labels, value)]."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return parse_samples(resp.read().decode())


def parse_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text exposition as name -> [(labels, value)]."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
          skip_zone: str | None = None) -> float:
    """Sum of a metric's samples, leaving out one zone's (the mine-wide scope repeats them)."""
    return sum(v for labels, v in samples.get(name, [])
               if skip_zone is None or labels.get("zone") != skip_zone)


@contextlib.contextmanager
def worker_process(settings: Settings, bootstrap: str, log_path: Path) -> Iterator[Any]:
    """A real ``seismowatch worker`` child; stopped with SIGTERM (then SIGKILL) on exit."""
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    env = {**os.environ, **child_env(settings.model_copy(update={"kafka": kafka}))}
    env["PYTHONUNBUFFERED"] = "1"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "worker"], env=env, stdout=log, stderr=log
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_endpoint(url: str, proc: Any, timeout_s: float = _WORKER_READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with code {proc.returncode}")
        try:
            scrape(url)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"worker metrics endpoint {url} did not answer in {timeout_s:.0f} s")


def demo_settings(settings: Settings, base_dir: Path, metrics_port: int | None) -> Settings:
    """The demo's own state directory (wiped each run); another metrics port if it is taken;
    retraining in-line, so every run of the demo raises the same alerts (a background job
    would take over at an event that depends on the host's speed)."""
    port = metrics_port if metrics_port is not None else settings.metrics_port
    if port == 0 or port_open(settings.metrics_host, port):
        port = free_port(settings.metrics_host)
    lstm = settings.lstm.model_copy(update={"blocking": True})
    return settings.model_copy(update={"state_dir": base_dir / "state", "metrics_port": port,
                                       "lstm": lstm})


def run_replay(
    settings: Settings, bootstrap: str, path: Path, speed: float | None, progress: DemoProgress,
    should_stop: Callable[[], bool],
) -> None:
    """The replay adapter's own code path, in a thread."""
    try:
        result = read_events(
            path, "gits", {}, timezone=settings.gits_timezone, zone_of=settings.zone_of,
            default_zone=settings.default_zone,
        )
        items = build_items(result.events, result.rejects, settings)
        progress.total = len(result.events)
        sink = KafkaSink(settings, bootstrap)
        checkpoint = Checkpoint(settings.state_dir / "replay.json", "demo")
        for state in iter_replay(
            items, sink.send, checkpoint, speed=speed, should_stop=should_stop,
            rejects_total=len(result.rejects),
        ):
            progress.sent = max(state.acked - len(result.rejects), 0)
        sink.close()
    except Exception as exc:  # reported by the renderer, never swallowed
        progress.replay_error = repr(exc)
    finally:
        progress.replay_done = True


def prepare(base_dir: Path, days: int, seed: int) -> tuple[Path, int]:
    """A fresh demo directory with a synthetic export of ``days`` days."""
    if base_dir.exists():
        shutil.rmtree(base_dir)
    base_dir.mkdir(parents=True)
    frame = generate(SynthParams(days=days, seed=seed))
    path = write_gits(frame, base_dir / f"synthetic-{days}d.parquet")
    return path, len(frame)


def _follow_alerts(
    settings: Settings, bootstrap: str, out: queue.Queue[dict[str, Any]]
) -> tuple[threading.Thread, Callable[[], None]]:
    """Follow the alerts topic in a thread with its own event loop; returns (thread, stop)."""
    from daemon.kafka.feed import iter_alerts

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def consume() -> None:
        async def read() -> None:
            async for record in iter_alerts(settings, bootstrap, follow=True):
                out.put(record)

        task = asyncio.ensure_future(read())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    thread = threading.Thread(target=loop.run_until_complete, args=(consume(),), daemon=True)
    thread.start()
    return thread, lambda: loop.call_soon_threadsafe(stop.set)


@dataclass
class Status:
    message: str


@dataclass
class Alert:
    record: dict[str, Any]


@dataclass
class Summary:
    events: int
    sent: int
    scored: int
    rejected: int
    alerts: dict[tuple[str, str], int]  # (kind, state) -> count
    roc_auc: dict[tuple[str, str], float]  # (zone, model) -> progressive ROC-AUC, learning target
    retrainings: dict[tuple[str, str], int]  # (model, result) -> count, over the zones
    versions: dict[tuple[str, str], str]  # (zone, model) -> the version scoring at the end
    own_fit: dict[tuple[str, str], float]  # (zone, model) -> share scored with its own fit
    latency_p50_s: float
    latency_p99_s: float
    wall_s: float
    metrics_url: str
    bootstrap: str
    dangerous: list[tuple[str, str, float, bool]]  # (time, zone, E, alert state open before)
    # zone -> (probability anywhere in it, its hottest cell's, the cell's x, y): the grid
    grid: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)


Update = Status | DemoProgress | Alert | Summary


def _grid(samples: dict[str, list[tuple[dict[str, str], float]]]
          ) -> dict[str, tuple[float, float, float, float]]:
    """Each zone's hazard from the grid's latest snapshot, as the metrics endpoint has it."""
    stems = ("zone_probability", "cell_max_probability", "cell_max_x_metres",
             "cell_max_y_metres")
    values = [{labels["zone"]: v for labels, v in samples.get(f"seismowatch_hazard_{s}", [])}
              for s in stems]
    return {z: tuple(v.get(z, float("nan")) for v in values)  # type: ignore[misc]
            for z in values[0]}


def histogram_quantile(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
                       q: float) -> float:
    """Prometheus' histogram_quantile over a scraped histogram (linear within a bucket);
    infinite when the quantile lies above the top finite bucket, which bounds no value.

    >>> s = {"h_bucket": [({"le": "1"}, 2.0), ({"le": "30"}, 3.0), ({"le": "+Inf"}, 10.0)]}
    >>> histogram_quantile(s, "h", 0.1), histogram_quantile(s, "h", 0.99)
    (0.5, inf)
    """
    buckets = sorted((float(labels["le"]), v) for labels, v in samples.get(f"{name}_bucket", []))
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return le
            frac = (rank - prev_count) / (count - prev_count) if count > prev_count else 0
            return prev_le + (le - prev_le) * frac
        prev_le, prev_count = le, count
    return prev_le


def _counts(samples: list[tuple[dict[str, str], float]]) -> dict[tuple[str, str], int]:
    """Retrainings summed over the zones, by (model, result)."""
    out: dict[tuple[str, str], int] = {}
    for labels, v in samples:
        key = (labels["model"], labels["result"])
        out[key] = out.get(key, 0) + int(v)
    return out


def dangerous_events(settings: Settings, path: Path, records: list[dict[str, Any]]
                     ) -> list[tuple[str, str, float, bool]]:
    """Each target event of the export, and whether its zone had an alert episode open
    (raised to the alert state, not yet all-clear) at some time in the horizon before it."""
    from datetime import datetime

    events = read_events(path, "gits", {}, timezone=settings.gits_timezone,
                         zone_of=settings.zone_of, default_zone=settings.default_zone).events
    horizon = settings.alerts.horizon_h * 3600
    episodes: dict[str, list[list[float]]] = {}
    for r in sorted(records, key=lambda r: r["time"]):
        t = datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
        spans = episodes.setdefault(r["zone"], [])
        if r["kind"] == "raise" and (not spans or spans[-1][1] < t):
            spans.append([t, float("inf")])
        elif r["kind"] == "all-clear" and spans:
            spans[-1][1] = min(spans[-1][1], t)
    out = []
    for e in events:
        if e.energy_j >= settings.alerts.target_energy_j:
            t = e.timestamp
            hit = any(a < t and b > t - horizon for a, b in episodes.get(e.zone, []))
            out.append((e.time.strftime("%Y-%m-%d %H:%M UTC"), e.zone, e.energy_j, hit))
    return out


def iter_demo(
    settings: Settings, base_dir: Path, *, days: int, seed: int, speed: float | None,
    should_stop: Callable[[], bool] = lambda: False, hold: bool = False,
) -> Iterator[Update]:
    """Run the whole system once; yield what the CLI renders.

    With ``hold`` the broker and worker keep running after the summary until
    ``should_stop``, so Prometheus and Grafana can go on scraping and querying them.
    """
    t0 = time.monotonic()
    mine = settings.mine_scope_name  # it scores every event again: counted once, by zone
    yield Status(f"writing {days} days of a synthetic mine (seed {seed}) to {base_dir}")
    path, n_events = prepare(base_dir, days, seed)
    announced: list[str] = []
    with kafka_endpoint(settings, announced.append, port=settings.embedded_port) as bootstrap:
        for message in announced:
            yield Status(message)
        yield Status(f"follow the alerts from another terminal with "
                     f"`seismowatch alerts --follow --bootstrap {bootstrap}`")
        url = f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
        with worker_process(settings, bootstrap, base_dir / "worker.log") as proc:
            wait_for_endpoint(url, proc)
            yield Status(f"worker running (log {base_dir / 'worker.log'}); metrics at {url}")
            progress = DemoProgress(total=n_events)
            alerts: queue.Queue[dict[str, Any]] = queue.Queue()
            seen: list[dict[str, Any]] = []
            follower, stop_follower = _follow_alerts(settings, bootstrap, alerts)
            replayer = threading.Thread(
                target=run_replay, args=(settings, bootstrap, path, speed, progress, should_stop),
                daemon=True,
            )
            replayer.start()
            drain_deadline = None
            last_scrape = 0.0
            try:
                while True:
                    while not alerts.empty():
                        seen.append(alerts.get())
                        yield Alert(seen[-1])
                    if time.monotonic() - last_scrape >= 0.5:
                        last_scrape = time.monotonic()
                        with contextlib.suppress(OSError):
                            samples = scrape(url)
                            progress.scored = total(
                                samples, "seismowatch_events_processed_total", mine
                            )
                        yield progress
                    if proc.poll() is not None:
                        raise RuntimeError(f"worker exited with code {proc.returncode}; "
                                           f"see {base_dir / 'worker.log'}")
                    if progress.replay_error:
                        raise RuntimeError(f"replay failed: {progress.replay_error}")
                    if should_stop():
                        break
                    if progress.replay_done:
                        if progress.scored >= progress.sent:
                            break
                        drain_deadline = drain_deadline or time.monotonic() + _DRAIN_TIMEOUT_S
                        if time.monotonic() > drain_deadline:
                            raise RuntimeError("the worker did not catch up with the replay")
                    time.sleep(0.1)
                time.sleep(1.5)  # alerts of the last events reach the follower
                while not alerts.empty():
                    seen.append(alerts.get())
                    yield Alert(seen[-1])
            finally:
                stop_follower()
                follower.join(5)
                replayer.join(5)
            samples = scrape(url)
            alert_counts: dict[tuple[str, str], int] = {}
            for labels, v in samples.get("seismowatch_alerts_total", []):
                key = (labels["kind"], labels["state"])
                alert_counts[key] = alert_counts.get(key, 0) + int(v)
            yield Summary(
                events=n_events,
                sent=progress.sent,
                scored=int(total(samples, "seismowatch_events_processed_total", mine)),
                rejected=int(total(samples, "seismowatch_events_rejected_total")),
                alerts=alert_counts,
                roc_auc={
                    (labels["zone"], labels["model"]): v
                    for labels, v in samples.get("seismowatch_model_roc_auc_learning_target", [])
                },
                retrainings=_counts(samples.get("seismowatch_retrainings_total", [])),
                versions={(labels["zone"], labels["model"]): labels["version"]
                          for labels, _ in samples.get("seismowatch_model_info", [])},
                own_fit={(labels["zone"], labels["model"]): v
                         for labels, v in samples.get("seismowatch_model_own_fit_ratio", [])},
                grid=_grid(samples),
                latency_p50_s=histogram_quantile(
                    samples, "seismowatch_processing_latency_seconds", 0.5
                ),
                latency_p99_s=histogram_quantile(
                    samples, "seismowatch_processing_latency_seconds", 0.99
                ),
                wall_s=time.monotonic() - t0,
                metrics_url=url,
                bootstrap=bootstrap,
                dangerous=dangerous_events(settings, path, seen),
            )
            if hold:
                yield Status(f"holding: broker {bootstrap} and worker {url} keep running; "
                             "Ctrl-C stops them")
                while not should_stop():
                    if proc.poll() is not None:
                        raise RuntimeError(f"worker exited with code {proc.returncode}; "
                                           f"see {base_dir / 'worker.log'}")
                    time.sleep(0.2)
