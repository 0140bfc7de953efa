"""`seismowatch train`: a registry entry from a historical file that a worker starts from."""

from __future__ import annotations

import json
from pathlib import Path

from config.settings import load_settings
from stream_models.features.inputs import INPUT_NAMES
from stream_models.learners.sequence import META_FILE
from stream_models.retraining.registry import ModelRegistry
from stream_models.retraining.retrainer import Retrainer
from tests.fixtures import cli, synth_file
from tests.test_daemon.conftest import MINE_TOML


def test_train_writes_an_entry_a_worker_loads(tmp_path: Path) -> None:
    data = synth_file(tmp_path / "history.parquet", days=150)
    out = tmp_path / "registry"
    env = {"SEISMOWATCH_STATE_DIR": str(tmp_path / "state")}
    result = cli("train", str(data), "--out", str(out), "--config", str(MINE_TOML), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    registry = ModelRegistry(out)
    [decision] = [d for d in registry.decisions() if d["model"] == "lstm"]
    assert "ETAS fit" in result.stdout
    meta = json.loads((out / decision["version"] / META_FILE).read_text())
    # trained on the file's labelled history only: every label's horizon ends in the file
    assert meta["train_end"] < meta["validation_start"] <= meta["window_end_t"]
    assert meta["train_examples"] > 500 and meta["reason"] in result.stdout

    verdict = "promoted" if decision["promoted"] else "not promoted"
    assert verdict in result.stdout
    if not decision["promoted"]:  # the gate said no: an analyst may still force it
        forced = cli("train", str(data), "--out", str(out), "--force", "--config",
                     str(MINE_TOML), env=env)  # fmt: skip
        assert forced.returncode == 0 and "(forced)" in forced.stdout
    settings = load_settings(MINE_TOML, state_dir=tmp_path / "worker",
                             **{"lstm.registry_dir": str(out)})  # fmt: skip
    retrainer = Retrainer(settings.state_dir, settings.registry_dir, INPUT_NAMES,
                          settings.retrain_policy())  # fmt: skip
    assert retrainer.active is not None and retrainer.active.version == registry.current()
    retrainer.close()


def test_train_names_the_file_of_a_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("no,columns,here\n1,2,3\n")
    result = cli("train", str(bad), "--out", str(tmp_path / "r"))
    assert result.returncode != 0
    assert "bad.csv" in result.stdout + result.stderr
