"""The HTML report renders in headless Chromium, offline, with every figure and no script error."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from daemon.offline.report import BACKTEST, EXPLORATION
from tests.fixtures import REPO, cli, synth_file

pytestmark = pytest.mark.slow  # renders reports in headless Chromium

EATON = REPO / "examples" / "data" / "toc2me_eaton2018.csv"
EATON_MAP = ("--map", "x=Easting (m)", "--map", "y=Northing (m)", "--map", "z=TVD (m)",
             "--map", "magnitude=MW", "--map", "event_id=EventID")


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium is not installed")
    return path


def rendered_status(html: Path) -> tuple[int, int, str]:
    """(figures drawn, script errors, error text) after headless Chromium loaded ``html``."""
    dom = subprocess.run(
        [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
         "--virtual-time-budget=20000", "--dump-dom", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=True,
    ).stdout
    m = re.search(r'<div id="report-status" data-figures="(\d+)" data-errors="(\d+)">([^<]*)', dom)
    assert m, "the report's status script did not run"
    return int(m[1]), int(m[2]), m[3]


def _offline(html: Path) -> None:
    text = html.read_text()
    assert not re.search(r"<script[^>]+src=", text), "every script must be embedded"
    assert "Plotly.newPlot" in text


def test_backtest_report_has_every_figure_and_renders(tmp_path: Path) -> None:
    data = synth_file(tmp_path / "m.parquet", days=60)
    out = tmp_path / "backtest.html"
    r = cli("backtest", str(data), "--report", str(out), "--thresholds", "0.2,0.3",
            env={"SEISMOWATCH_STATE_DIR": str(tmp_path / "state")})
    assert r.returncode == 0, r.stdout + r.stderr
    _offline(out)
    text = out.read_text()
    for fid in (*EXPLORATION, *BACKTEST):
        assert f"id='{fid}'" in text, fid
    figures, errors, messages = rendered_status(out)
    assert errors == 0, messages
    assert figures == len(EXPLORATION) + len(BACKTEST)


def test_exploration_report_of_the_real_catalog(tmp_path: Path) -> None:
    out = tmp_path / "eaton.html"
    r = cli("report", str(EATON), "--format", "catalog", *EATON_MAP, "--out", str(out),
            env={"SEISMOWATCH_STATE_DIR": str(tmp_path / "state")})
    assert r.returncode == 0, r.stdout + r.stderr
    _offline(out)
    figures, errors, messages = rendered_status(out)
    assert errors == 0, messages
    assert figures == len(EXPLORATION)


def test_large_files_use_webgl_and_stay_small(tmp_path: Path) -> None:
    from daemon.offline.report import MAX_POINTS, dynamics, events_frame
    from replay.read import read_events

    data = synth_file(tmp_path / "busy.parquet", days=365, background_per_day=40.0)
    events = read_events(data, "gits", {}, timezone="UTC").events
    assert len(events) > MAX_POINTS
    fig = dynamics(events_frame(events))
    assert {t.type for t in fig.data} >= {"scattergl"}
    assert max(len(t.x) for t in fig.data) <= MAX_POINTS + 20
