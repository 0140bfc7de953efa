"""The README's first quickstart command, shortened to 100 days: it runs, sums up, and every
model has figures in every scope; every record it writes is strict JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_models.fusion.counts import FUSED
from stream_models.online.experts import EXPERTS
from stream_models.wire import loads
from tests.fixtures import cli, free_port

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_system_and_prints_a_summary(tmp_path: Path) -> None:
    result = cli(
        "demo", "--days", "100", "--dir", str(tmp_path / "demo"),
        "--metrics-port", str(free_port()),
        env={"SEISMOWATCH_EMBEDDED_PORT": "0"}, timeout=400,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "embedded broker" in out and "worker running" in out
    lines = {line.split("│")[1].strip(): line.split("│")[2].strip()
             for line in out.splitlines() if line.count("│") == 3}
    sent, scored = (int(v) for v in lines["events replayed / scored"].split(" / "))
    assert sent == scored == int(lines["events in the synthetic export"]) > 0
    assert int(lines["alerts in total"]) > 0
    preceded = lines["dangerous events (>= target) preceded by an alert in the horizon"]
    hits, of = preceded.split(" of ")
    assert int(of) >= 1 and 0 <= int(hits) <= int(of)  # 1 Oct 2019, 13,950 J, is in the 100 days
    refits = [int(v) for v in lines["ETAS refits: promoted / rejected / skipped"].split(" / ")]
    assert sum(refits) >= 1  # each scope refits as its data grow
    decisions = (tmp_path / "demo" / "state" / "decisions.jsonl").read_text()
    assert all(loads(line)["reason"] for line in decisions.splitlines())
    scores = {cells[1].strip(): [c.strip() for c in cells[2:-1]]
              for line in out.splitlines() if len(cells := line.split("│")) == 6}
    assert {*EXPERTS, FUSED} <= set(scores)  # side by side: two panels and the mine-wide scope
    for model in ("etas", "lstm", "fused"):  # every model has figures in every scope
        assert all(cell != "n/a" for cell in scores[model]), (model, scores[model])
    # every record the demo wrote parses as strict JSON (no NaN): the alert log ...
    log = (tmp_path / "demo" / "state" / "alerts.jsonl").read_text().splitlines()
    assert log and all(loads(line)["alert_id"] for line in log)
