"""Factories shared by the tests: synthetic files, a real broker, a real consumer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from replay.gits_export import write_gits
from replay.synth import SynthParams, generate

REPO = Path(__file__).resolve().parents[1]
EATON = REPO / "examples" / "data" / "toc2me_eaton2018.csv"
EATON_MAP = ["x=Easting (m)", "y=Northing (m)", "z=TVD (m)", "magnitude=MW", "event_id=EventID"]


# Test files come from a busy mine (about 30 located events a day) whose large events follow
# the Gutenberg-Richter tail of that rate (the random calendar: ~50 events >= 1e4 J a year),
# so a few days have rows to read and a few months have targets to learn from. The
# calibrated paper year (SynthParams() alone) is tested in tests/test_replay/test_synth.py.
DENSE = {"background_per_day": 20.0, "large_events": "random"}


def synth_frame(days: int = 30, seed: int = 7, **overrides: object) -> pd.DataFrame:
    return generate(replace(SynthParams(days=days, seed=seed), **{**DENSE, **overrides}))


def synth_file(path: Path, days: int = 30, seed: int = 7, **overrides: object) -> Path:
    return write_gits(synth_frame(days, seed, **overrides), path)


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(extra or {})}


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real console script in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        capture_output=True,
        text=True,
        env=_child_env(env),
        timeout=timeout,
        cwd=cwd,
    )


def cli_popen(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "daemon", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_child_env(env),
        cwd=cwd,
    )


async def _consume(
    bootstrap: str, topic: str, expected: int | None, idle_s: float, timeout_s: float
) -> list[tuple[bytes | None, bytes]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + 10
        while not parts and time.monotonic() < deadline:
            await consumer.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[tuple[bytes | None, bytes]] = []
        last = time.monotonic()
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend((r.key, r.value) for r in records)
            if batch:
                last = time.monotonic()
            if expected is not None and len(out) >= expected:
                # a little longer, so duplicates beyond ``expected`` would be seen
                await asyncio.sleep(0.5)
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    out.extend((r.key, r.value) for r in records)
                break
            if expected is None and time.monotonic() - last > idle_s:
                break
        return out
    finally:
        await consumer.stop()


def consume_all(
    bootstrap: str,
    topic: str,
    expected: int | None = None,
    idle_s: float = 3.0,
    timeout_s: float = 120.0,
) -> list[tuple[bytes | None, bytes]]:
    """Every message of ``topic`` from the beginning (aiokafka, no consumer group)."""
    return asyncio.run(_consume(bootstrap, topic, expected, idle_s, timeout_s))


def free_port() -> int:
    from daemon.kafka.broker import free_port as _free_port

    return _free_port()


# Retraining in-line (each job before its scope's next event): every scope then refits and
# fine-tunes at the same events as the in-process reference, whatever the partitions and
# workers, so their records can be compared exactly, the scopes' own models included.
SERIAL_LSTM_ENV = {"SEISMOWATCH_LSTM__BLOCKING": "true"}


def worker_env(topic_env: dict[str, str], bootstrap: str, **extra: str) -> dict[str, str]:
    """Environment of a worker child: the test's topics, its own group, a free metrics port."""
    group = "g-" + topic_env["SEISMOWATCH_TOPICS__EVENTS"].replace(".", "-")
    return {
        **topic_env,
        "SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "SEISMOWATCH_WORKER__GROUP_ID": group,
        "SEISMOWATCH_METRICS_PORT": str(free_port()),
        **extra,
    }


def start_worker(  # type: ignore[type-arg]
    env: dict[str, str], log: Path, config: Path | None = None, *extra: str
) -> subprocess.Popen:
    """A real ``seismowatch worker`` process, its output in ``log``."""
    args = [sys.executable, "-m", "daemon", "worker", *extra]
    if config is not None:
        args += ["--config", str(config)]
    fh = log.open("ab")
    return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=_child_env(env))


def metrics_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['SEISMOWATCH_METRICS_PORT']}/metrics"


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.3):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value; fail the test with ``what`` if not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:  # type: ignore[type-arg]
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def etas_events(zone: str = "lava-1", days: float = 60.0, seed: int = 4,
                start: str = "2021-01-01") -> list:  # type: ignore[type-arg]
    """A simulated ETAS sequence unlike the generic law (fast decay, strong productivity), as
    events of one zone: its own fit is the better law, and a gate can tell."""
    from datetime import UTC, datetime, timedelta

    from stream_models.seismology.etas import generic_law
    from stream_models.seismology.simulate import simulate_etas
    from stream_models.wire import Event

    t, log_e = simulate_etas(mu=3e-4, k=generic_law(1.0).k * 0.3, alpha=1.6, c_s=300.0, p=1.5,
                             b_value=1.0, mc_log_e=1.0, span_s=days * 86400, seed=seed)
    t0 = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return [Event(f"{zone}-{i}", t0 + timedelta(seconds=float(ti)), 0.0, 0.0, -450.0,
                  float(10**le), 1.0, zone=zone) for i, (ti, le) in
            enumerate(zip(t, log_e, strict=True))]
