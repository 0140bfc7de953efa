"""The README's first quickstart command, shortened to a month: it runs and sums up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import cli, free_port

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_system_and_prints_a_summary(tmp_path: Path) -> None:
    result = cli(
        "demo", "--days", "45", "--dir", str(tmp_path / "demo"),
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
    assert any(k.startswith("progressive ROC-AUC") for k in lines)
    assert (tmp_path / "demo" / "state" / "alerts.jsonl").read_text().strip()
