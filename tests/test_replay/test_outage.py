"""Kafka unreachable: the replay waits and retries instead of dying, then fails clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from daemon.kafka.broker import free_port
from replay.checkpoint import Checkpoint
from replay.exceptions import BrokerError
from replay.stream import Item, KafkaSink, iter_replay
from tests.fixtures import cli, synth_file

pytestmark = pytest.mark.integration


def test_sink_reports_failure_while_kafka_is_down_instead_of_raising() -> None:
    sink = KafkaSink(load_settings(), f"127.0.0.1:{free_port()}")  # nothing listens there
    assert sink.send([Item(0, "gits.events", b"mine", b"{}", None)]) == set()


def test_replay_gives_up_after_outage_timeout_with_checkpoint(tmp_path: Path) -> None:
    sink = KafkaSink(load_settings(), f"127.0.0.1:{free_port()}")
    cp = Checkpoint(tmp_path / "cp.json", "k")
    items = [Item(i, "gits.events", b"mine", b"{}", None) for i in range(3)]
    states = []
    with pytest.raises(BrokerError, match="run the same command to resume"):
        for p in iter_replay(items, sink.send, cp, speed=None, outage_timeout_s=6):
            states.append(p.state)
    assert states and set(states) == {"broker-down"}  # it retried before giving up
    assert cp.path.exists() and cp.next_index == 0


def test_cli_unreachable_kafka_exits_3_without_traceback(tmp_path: Path) -> None:
    path = synth_file(tmp_path / "m.csv", days=2)
    res = cli(
        "replay",
        str(path),
        "--max",
        "--bootstrap",
        f"127.0.0.1:{free_port()}",
        env={"SEISMOWATCH_STATE_DIR": str(tmp_path / "state")},
    )
    assert res.returncode == 3, res.stdout + res.stderr
    assert "cannot reach Kafka" in res.stderr and "Traceback" not in res.stderr
