"""The shipped base LSTM: pretrained reproducibly on synthetic years, small, read lazily, and
scoring a fresh clone's scopes from the first event."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from config.settings import load_settings
from replay.gits_export import write_gits
from replay.read import read_events
from replay.synth import generate, pretraining_params
from stream_models.retraining.pretrain import CONFIG, pretrain
from stream_models.retraining.registry import BASE_LSTM, load_model
from tests.fixtures import REPO
from tests.test_daemon.conftest import MINE_TOML


def test_the_shipped_model_is_small_and_loads_without_pickle_or_torch() -> None:
    assert BASE_LSTM.stat().st_size < 100_000  # well under 1 MB, in the wheel
    code = ("import sys; from stream_models.retraining.registry import base_lstm; "
            "m = base_lstm(); print(m.version, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.split()
    assert out == [load_model(BASE_LSTM).version, "False"]


def test_help_does_not_read_the_model() -> None:
    code = ("import sys; from daemon.cli import app; "
            "print(any(m.startswith(('torch', 'river', 'numba')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.slow
def test_pretraining_is_reproducible_and_learns(tmp_path: Path) -> None:
    """Two short years, twice: the same weights, and held-back skill above chance."""
    settings = load_settings(MINE_TOML)
    years = []
    for params in pretraining_params(range(1001, 1003)):
        path = write_gits(generate(replace(params, days=120)), tmp_path / f"{params.seed}.parquet")
        years.append((str(params.seed), read_events(
            path, "gits", {}, timezone=settings.gits_timezone, zone_of=settings.zone_of,
            default_zone=settings.default_zone).events))
    config = replace(CONFIG, epochs=2)
    a, report = pretrain(years, settings.monitor_policy(), settings.mine_scope_name, config)
    b, _ = pretrain(years, settings.monitor_policy(), settings.mine_scope_name, config)
    for name, w in a.weights.items():
        assert np.array_equal(w, b.weights[name]), name
    assert report["scopes"] >= 4 and report["validation_skill_mean"] > 0.5
