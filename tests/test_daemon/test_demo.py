"""The README's first quickstart command, shortened to 100 days: it runs and sums up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_models.online.scope import COMPONENTS
from tests.fixtures import cli, free_port

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_system_and_prints_a_summary(tmp_path: Path) -> None:
    result = cli(
        "demo", "--days", "100", "--dir", str(tmp_path / "demo"),
        "--metrics-port", str(free_port()),
        env={"SEISMOWATCH_EMBEDDED_PORT": "0"}, timeout=400,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "embedded broker" in out and "worker running" in out
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in out.splitlines() if line.count("│") == 3}  # fmt: skip
    sent, scored = (int(v) for v in lines["events replayed / scored"].split(" / "))
    assert sent == scored == int(lines["events in the synthetic export"]) > 0
    assert int(lines["alerts in total"]) > 0
    preceded = lines["dangerous events (>= target) preceded by an alert in the horizon"]
    hits, of = preceded.split(" of ")
    assert int(of) >= 1 and 0 <= int(hits) <= int(of)  # 1 Oct 2019, 13,950 J, is in the 100 days
    promoted, rejected, skipped = (
        int(v) for v in lines["LSTM retrainings: promoted / rejected / skipped"].split()[:5:2]
    )
    # every 30 days of event time; at full replay speed a job may outlast the replay
    assert promoted + rejected + skipped >= 1
    decisions = (tmp_path / "demo" / "state" / "registry" / "decisions.jsonl").read_text()
    assert all(json.loads(line)["reason"] for line in decisions.splitlines())
    scores = {cells[1].strip(): [c.strip() for c in cells[2:-1]]
              for line in out.splitlines() if len(cells := line.split("│")) == 6}  # fmt: skip
    assert set(COMPONENTS) <= set(scores)  # side by side: two panels and the mine-wide scope
    assert scores["fused"][0] != "n/a" and float(scores["fused"][0]) > 0
    assert (tmp_path / "demo" / "state" / "alerts.jsonl").read_text().strip()
