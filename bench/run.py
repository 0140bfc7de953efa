"""Benchmark: framework limits and the full pipeline on one embedded broker, in one run.

Run by hand (not in CI): ``.venv/bin/python bench/run.py [--events N] [--rss-events A,B]``.
It prints a JSON report and a Markdown table for the README. Every figure is
measured here; the pipeline is reported as a ratio of the no-op Faust agent
measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.settings import TopicSettings, load_settings  # noqa: E402
from daemon.demo import scrape, total  # noqa: E402
from daemon.kafka.broker import EmbeddedBroker, ensure_topics, free_port  # noqa: E402
from replay.gits_export import write_gits  # noqa: E402
from replay.read import read_events  # noqa: E402
from replay.stream import SENT_AT_HEADER  # noqa: E402
from replay.synth import SynthParams, generate  # noqa: E402

MINE = ROOT / "config" / "synthetic-mine.toml"


def env_for(prefix: str, bootstrap: str, state: Path) -> dict[str, str]:
    env = {**os.environ, "SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
           "SEISMOWATCH_STATE_DIR": str(state), "SEISMOWATCH_WORKER__GROUP_ID": f"{prefix}-g",
           "SEISMOWATCH_METRICS_PORT": str(free_port())}
    for t in TopicSettings.model_fields:
        env[f"SEISMOWATCH_TOPICS__{t.upper()}"] = f"{prefix}.{t}"
    return env


def produce(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    t0 = time.perf_counter()
    for k, v in payloads:
        p.send(topic, key=k, value=v, headers=[(SENT_AT_HEADER, repr(time.time()).encode())])
    p.flush()
    dt = time.perf_counter() - t0
    p.close()
    return len(payloads) / dt


def consume_rate(bootstrap: str, topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    async def run() -> float:
        c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await c.start()
        got, t0 = 0, None
        try:
            while got < n:
                for recs in (await c.getmany(timeout_ms=1000, max_records=5000)).values():
                    t0 = t0 or time.perf_counter()
                    got += len(recs)
        finally:
            await c.stop()
        return n / (time.perf_counter() - t0)

    return asyncio.run(run())


def noop_rate(bootstrap: str, topic: str, n: int, tmp: Path) -> float:
    out = tmp / "noop.txt"
    subprocess.run([sys.executable, str(ROOT / "bench" / "noop_agent.py"), bootstrap, topic,
                    str(n), str(out)], cwd=tmp, timeout=600, capture_output=True)
    return n / float(out.read_text())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pipeline(bootstrap: str, events: list, tmp: Path, rss_at: list[int]) -> dict:  # type: ignore[type-arg]
    """Produce everything, then start a worker and time it from first to last event scored."""
    env = env_for("pipe", bootstrap, tmp / "pipe")
    settings = load_settings(MINE)
    ensure_topics(settings.model_copy(update={"topics": settings.topics.model_copy(update={
        k: f"pipe.{k}" for k in TopicSettings.model_fields})}),
        bootstrap)
    produce(bootstrap, "pipe.events", [(e.zone.encode(), e.to_wire()) for e in events])
    worker = subprocess.Popen([sys.executable, "-m", "daemon", "worker", "--config", str(MINE)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{env['SEISMOWATCH_METRICS_PORT']}/metrics"
    n, t_first, rss, t_start = len(events), None, {}, time.perf_counter()
    try:
        while True:
            try:
                done = total(scrape(url), "seismowatch_events_processed_total")
            except OSError:
                done = 0
            if done and t_first is None:
                t_first, first_done = time.perf_counter(), done
            for mark in rss_at:
                if done >= mark and mark not in rss:
                    rss[mark] = rss_mb(worker.pid)
            if done >= n:
                break
            time.sleep(0.2)
        t_end = time.perf_counter()
    finally:
        worker.terminate()
        worker.wait(30)
    return {"events": n, "events_per_s": (n - first_done) / (t_end - t_first),
            "file_to_last_alert_s": t_end - t_start, "rss_mb": rss}


def latency(bootstrap: str, events: list, tmp: Path, rate: float, seconds: float) -> dict:  # type: ignore[type-arg]
    """Feed events at ``rate``/s to a running worker; latency = risk record time - send time."""
    from kafka import KafkaConsumer, KafkaProducer

    env = env_for("lat", bootstrap, tmp / "lat")
    worker = subprocess.Popen([sys.executable, "-m", "daemon", "worker", "--config", str(MINE)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{env['SEISMOWATCH_METRICS_PORT']}/metrics"
    try:
        warm = events[:20]
        p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        for e in warm:
            p.send("lat.events", key=e.zone.encode(), value=e.to_wire())
        p.flush()
        deadline = time.time() + 120
        while time.time() < deadline:  # the worker has joined and scored the warm-up
            try:
                if total(scrape(url), "seismowatch_events_processed_total") >= len(warm):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        sent: dict[str, float] = {}
        todo = events[20 : 20 + int(rate * seconds)]
        t0 = time.perf_counter()
        for i, e in enumerate(todo):
            time.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
            sent[e.event_id] = time.time()
            p.send("lat.events", key=e.zone.encode(), value=e.to_wire())
            p.flush()
        c = KafkaConsumer("lat.risk", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                          consumer_timeout_ms=5000)
        lat = [m.timestamp / 1000 - sent[json.loads(m.value)["event_id"]] for m in c
               if json.loads(m.value)["event_id"] in sent]
        c.close()
    finally:
        worker.terminate()
        worker.wait(30)
    arr = np.array(lat)
    return {"rate_per_s": rate, "events": len(arr), "p50_ms": float(np.percentile(arr, 50) * 1000),
            "p99_ms": float(np.percentile(arr, 99) * 1000)}


def lstm_figures(tmp: Path) -> dict:  # type: ignore[type-arg]
    """Fine-tuning the base LSTM on one default synthetic year, and inference per event.

    The worker steps the LSTM once per event with its carried state (numpy); that is
    compared with torch's own floor in the same run: one forward pass of a single
    linear layer on one input vector (call overhead only).
    """
    import torch

    from stream_models.retraining.pretrain import train_site
    from stream_models.retraining.registry import base_lstm

    s = load_settings(MINE)
    year = write_gits(generate(SynthParams(days=365)), tmp / "default-year.parquet")
    events = read_events(year, "gits", {}, timezone=s.gits_timezone, zone_of=s.zone_of,
                         default_zone=s.default_zone).events
    t0 = time.perf_counter()
    model, report = train_site(events, s.monitor_policy(), base_lstm(),
                               s.retrain_policy().finetune, s.mine_scope_name)
    offline_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(model.window, len(model.input_names)))
    static = np.array([1.0, 0.0, 1.0])
    carried = {"state": model.zero_state(), "i": 0}

    def one_event() -> None:  # how the worker scores: one step of the carried state
        carried["state"] = model.step(carried["state"], rows[carried["i"] % model.window])
        carried["i"] += 1
        model.logit(carried["state"], static)

    def timed(fn, n: int = 2000) -> list[float]:  # type: ignore[no-untyped-def]
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    lstm_ms = np.array(timed(one_event)) * 1000
    floor = torch.nn.Linear(len(model.input_names), 1)
    x = torch.from_numpy(rows[:1].astype(np.float32))

    def linear() -> None:
        with torch.no_grad():
            floor(x)

    floor_ms = np.array(timed(linear)) * 1000
    return {
        "events": len(events), "train_examples": report.get("train_examples"),
        "retrain_seconds": report.get("train_seconds"),
        "offline_train_command_seconds": offline_s,
        "inference_ms_p50": float(np.percentile(lstm_ms, 50)),
        "inference_ms_p99": float(np.percentile(lstm_ms, 99)),
        "torch_linear_floor_ms_p50": float(np.percentile(floor_ms, 50)),
        "window": model.window, "hidden": model.hidden,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000, help="pipeline events (synthetic)")
    ap.add_argument("--latency-s", type=float, default=30.0)
    ap.add_argument("--lstm-only", action="store_true", help="only the LSTM figures")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="seismowatch-bench-"))
    if args.lstm_only:
        print(json.dumps({"cpus": os.cpu_count(), "lstm": lstm_figures(tmp)}, indent=2))
        return
    # a busier mine so that one synthetic year holds ~args.events events
    params = SynthParams(days=365)
    scale = max(args.events / len(generate(params)), 1.0)  # aftershocks scale along
    frame = generate(replace(params, background_per_day=params.rate_per_day * scale))
    path = write_gits(frame, tmp / "year.parquet")
    s = load_settings(MINE)
    events = read_events(path, "gits", {}, timezone=s.gits_timezone, zone_of=s.zone_of,
                         default_zone=s.default_zone).events
    report: dict = {"cpus": os.cpu_count()}  # type: ignore[type-arg]
    with EmbeddedBroker(log_path=tmp / "broker.log") as b:
        payloads = [(e.zone.encode(), e.to_wire()) for e in events]
        report["kafka_python_producer_msgs_per_s"] = produce(b.bootstrap, "lim.events", payloads)
        report["aiokafka_consumer_msgs_per_s"] = consume_rate(
            b.bootstrap, "lim.events", len(events)
        )
        report["faust_noop_agent_events_per_s"] = noop_rate(
            b.bootstrap, "lim.events", len(events), tmp
        )
        marks = [len(events) // 5, len(events)]
        report["pipeline"] = pipeline(b.bootstrap, events, tmp, marks)
        report["latency"] = latency(b.bootstrap, events, tmp, 50.0, args.latency_s)
    (ROOT / "bench" / "last-run.json").write_text(json.dumps(report, indent=2))  # so far
    report["lstm"] = lstm_figures(tmp)
    pipe = report["pipeline"]
    report["pipeline_to_noop_ratio"] = (
        pipe["events_per_s"] / report["faust_noop_agent_events_per_s"]
    )
    print(json.dumps(report, indent=2))
    (ROOT / "bench" / "last-run.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
