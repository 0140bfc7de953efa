"""One seed of the chaos run (bench/chaos.py): two workers of one group on the embedded
broker, SIGKILLed at points the seed picks, one kill of the second worker while the
first restarts; every record of every scope and every alert against the reference."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.fixtures import REPO

pytestmark = pytest.mark.integration


def _chaos_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("chaos", REPO / "bench" / "chaos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_one_chaos_seed_is_exact(tmp_path: Path) -> None:
    summary = _chaos_module().chaos(runs=1, seed=14, days=90, kills=3, tmp=tmp_path)
    assert summary["kills"] >= 4 and summary["kills_during_rebalance"] >= 1
    assert summary["reference_alerts"] > 0
    assert summary["exact_runs"] == summary["runs"] == 1, summary
    for key in ("unscored_events", "duplicate_alert_ids", "missing_alerts", "extra_alerts",
                "mismatched_records", "mismatched_alerts"):
        assert summary[key] == 0, (key, summary)
