"""`seismowatch train`: a mine's own base LSTM from its historical file, that workers start
every scope from."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from stream_models.retraining.registry import base_lstm, load_model
from tests.fixtures import cli, synth_file
from tests.test_daemon.conftest import MINE_TOML

pytestmark = pytest.mark.slow


def test_train_writes_a_base_model_a_worker_starts_from(tmp_path: Path) -> None:
    data = synth_file(tmp_path / "history.parquet", days=150)
    out = tmp_path / "site-lstm.npz"
    env = {"SEISMOWATCH_STATE_DIR": str(tmp_path / "state")}
    result = cli("train", str(data), "--out", str(out), "--config", str(MINE_TOML), "--force",
                 env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation skill" in result.stdout and "base validation skill" in result.stdout
    assert "SEISMOWATCH_LSTM__BASE_MODEL" in result.stdout
    model = load_model(out)
    assert model.version == f"site-from-{base_lstm().version}"
    settings = load_settings(MINE_TOML, **{"lstm.base_model": str(out)})
    assert base_lstm(settings.lstm.base_model).version == model.version


def test_train_names_the_file_of_a_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("no,columns,here\n1,2,3\n")
    result = cli("train", str(bad), "--out", str(tmp_path / "m.npz"))
    assert result.returncode != 0
    assert "bad.csv" in result.stdout + result.stderr
