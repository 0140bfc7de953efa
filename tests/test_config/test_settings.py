"""Settings precedence: defaults < TOML < SEISMOWATCH_* env < CLI flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.settings import load_settings
from tests.fixtures import cli


def _toml(tmp_path: Path) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(
        'partitions = 5\nmetrics_port = 9300\n[kafka]\nbootstrap_servers = "toml:9092"\n'
        'sasl_password = "s3cret"\n[[zones]]\nname = "north"\ny_min = 100\n'
    )
    return path


def test_toml_overrides_defaults(tmp_path: Path) -> None:
    s = load_settings(_toml(tmp_path))
    assert (s.partitions, s.metrics_port, s.kafka.servers) == (5, 9300, ["toml:9092"])
    assert s.zone_of(0, 150, 0) == "north" and s.zone_of(0, 50, 0) == "mine"


def test_env_overrides_toml_and_cli_overrides_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEISMOWATCH_PARTITIONS", "7")
    monkeypatch.setenv("SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS", "env:1,env:2")
    s = load_settings(_toml(tmp_path))
    assert s.partitions == 7 and s.kafka.servers == ["env:1", "env:2"]
    assert s.metrics_port == 9300  # untouched by env: still from TOML
    s = load_settings(_toml(tmp_path), partitions=2, **{"kafka.bootstrap_servers": "cli:3"})
    assert s.partitions == 2 and s.kafka.servers == ["cli:3"]
    assert s.kafka.sasl_password is not None  # a flag on kafka.* keeps the other kafka keys


def test_invalid_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_settings(partitions=0)
    with pytest.raises(ValueError, match="0 < b < c < d"):
        load_settings(**{"alerts.mine_thresholds": (0.01, 0.005, 0.02)})
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("toml", "line", "key", "hint"),
    [
        ("[alerts]\nhorizon_h = 8\ntarget_energy = 1e5\n", 3, "alerts.target_energy",
         "alerts.target_energy_j"),
        ('[[zones]]\nname = "a"\n[[zones]]\nnmae = "b"\n', 4, "zones[1].nmae", "zones[1].name"),
        ("[alert]\nhorizon_h = 8\n", 1, "alert", "alerts"),
    ],
)
def test_an_unknown_key_in_the_toml_file_is_refused_with_its_line_and_closest_name(
    tmp_path: Path, toml: str, line: int, key: str, hint: str
) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match="unknown setting") as err:
        load_settings(path)
    assert str(err.value) == f"{path}:{line}: unknown setting {key!r}; did you mean {hint!r}?"


def test_an_unknown_environment_variable_is_refused_by_the_cli_with_exit_2() -> None:
    res = cli("config", "show", env={"SEISMOWATCH_ALERTS__HORIZON": "2"})
    assert res.returncode == 2
    assert "SEISMOWATCH_ALERTS__HORIZON" in res.stderr and "'alerts.horizon_h'" in res.stderr
    assert "SEISMOWATCH_ALERTS__HORIZON_H" in res.stderr and "Traceback" not in res.stderr
    ok = cli("config", "show", "--json", env={"SEISMOWATCH_ALERTS__HORIZON_H": "2"})
    assert ok.returncode == 0 and json.loads(ok.stdout)["alerts"]["horizon_h"] == 2


def test_sasl_options_pass_through_to_clients() -> None:
    s = load_settings(
        **{
            "kafka.security_protocol": "SASL_SSL",
            "kafka.sasl_mechanism": "SCRAM-SHA-512",
            "kafka.sasl_username": "u",
            "kafka.sasl_password": "p",
            "kafka.ssl_cafile": "/ca.pem",
        }
    )
    opts = s.kafka.client_options()
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512" and opts["sasl_plain_password"] == "p"
    assert opts["ssl_cafile"] == "/ca.pem"


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    res = cli("config", "show", "--json", "--config", str(_toml(tmp_path)))
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["partitions"] == 5 and data["topics"]["events"] == "gits.events"
    assert "s3cret" not in res.stdout and data["kafka"]["sasl_password"] == "**********"


def test_shipped_synthetic_mine_zones_match_the_generator() -> None:
    from replay.synth import SynthParams, zones_toml
    from tests.fixtures import REPO, synth_frame

    path = REPO / "config" / "synthetic-mine.toml"
    assert zones_toml(SynthParams()).strip() in path.read_text()
    s = load_settings(path)
    f = synth_frame(days=120)
    assigned = [s.zone_of(x, y, z) for x, y, z in f[["x", "y", "z"]].itertuples(index=False)]
    assert (f["zone"] == assigned).mean() > 0.99


def test_reading_settings_and_the_cli_load_no_model_library() -> None:
    """``--help``, ``config show`` and ``alerts`` start fast: no River, scipy or torch."""
    import subprocess
    import sys

    code = ("import sys, config.settings, daemon.cli; "
            "print(sorted(m for m in ('torch', 'river', 'scipy', 'sklearn', 'faust') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_child_process_environment_rebuilds_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo and the benchmarks hand settings to workers through SEISMOWATCH_* variables:
    every kind of value (secrets, paths, dates, zone boxes) must survive the trip."""
    from config.settings import child_env

    s = load_settings(_toml(tmp_path), **{"input.max_energy_j": 1e9,
                                          "input.earliest": "2001-02-03"})
    for name, value in child_env(s).items():
        monkeypatch.setenv(name, value)
    assert load_settings() == s
