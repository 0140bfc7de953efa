"""The worker's handler without Kafka: outputs in a list, the changelog table in a dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from config.settings import load_settings
from daemon.metrics import WorkerMetrics
from daemon.service import ScoringService
from daemon.state_table import TableStore
from tests.test_daemon.conftest import MINE_TOML

EVENTS, MINE, ALERTS = "gits.events", "gits.events.mine", "gits.alerts"


class Outputs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushes = 0

    async def send(self, topic: str, key: bytes, value: bytes,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        self.sent.append((topic, key, value))

    async def deliver(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        """One partition per topic: the offset is the record's place among the topic's."""
        await self.send(topic, key, value)
        return 0, len(self.on(topic)) - 1

    def on(self, topic: str) -> list[bytes]:
        return [v for t, _, v in self.sent if t == topic]

    async def flush(self) -> None:
        self.flushes += 1


class Tables:
    """The changelog table as a dict of bytes, through the worker's own codecs; ``log`` keeps
    every write in order, as the changelog topic would."""

    def __init__(self) -> None:
        self.state: dict[bytes, bytes] = _Logged(self)
        self.log: list[tuple[bytes, bytes | None]] = []

    def prefix(self, n: int) -> Tables:
        """The table a recovery that read only the first ``n`` changelog records restores."""
        out = Tables()
        for key, value in self.log[:n]:
            if value is None:
                dict.pop(out.state, key, None)
            else:
                dict.__setitem__(out.state, key, value)
        return out


class _Logged(dict):  # type: ignore[type-arg]
    def __init__(self, tables: Tables) -> None:
        super().__init__()
        self.tables = tables

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.tables.log.append((key, value))
        super().__setitem__(key, value)

    def __delitem__(self, key: bytes) -> None:
        self.tables.log.append((key, None))
        super().__delitem__(key)


def _service(tmp_path: Path, tables: Tables, wire: list[bytes], fetched: list[int] | None = None,
             short: int = 0, executor: Any = None, alerts: Outputs | None = None,
             **overrides: Any) -> tuple[ScoringService, Outputs, list]:  # type: ignore[type-arg]
    """A service over ``tables``; its gap re-reads come from ``wire``, its alert read-backs
    from ``alerts``' alerts topic (another service's outputs: a run before a crash), else
    its own."""
    settings = load_settings(MINE_TOML, state_dir=tmp_path,
                             **{"worker.snapshot_every": 10, "lstm.enabled": False,
                                "etas.enabled": False, **overrides})
    outputs, paused = Outputs(), []
    reads = {"n": 0}

    async def fetch_range(topic: str, partition: int, start: int, end: int | None) -> list:  # type: ignore[type-arg]
        if topic == ALERTS:
            log = (alerts or outputs).on(ALERTS)
            return [(o, log[o], None) for o in range(start, len(log))]
        assert end is not None
        reads["n"] += 1
        if fetched is not None:
            fetched.extend(range(start, end))
        got = [(o, wire[o], None) for o in range(start, end)]
        return got[: len(got) - short] if reads["n"] <= 2 or short > 1 else got

    svc = ScoringService(settings, outputs, TableStore(tables.state),
                         WorkerMetrics(CollectorRegistry()), fetch_range,
                         lambda t, p: paused.append((t, p)), executor)
    return svc, outputs, paused


async def _noack() -> None:
    return None


def _risk(outputs: Outputs, zone: str | None = None) -> list[str]:
    recs = [json.loads(v) for t, _, v in outputs.sent if t == "gits.risk"]
    return [r["event_id"] for r in recs if zone is None or r["zone"] == zone]


def _sample(svc: ScoringService, name: str, labels: dict[str, str]) -> float | None:
    return svc.metrics.registry.get_sample_value(name, labels)
