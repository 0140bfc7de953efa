"""The shipped Alertmanager config: valid for Debian's amtool, and routed by severity."""

from __future__ import annotations

import subprocess

import pytest

from tests.test_ops.conftest import CONFIG, load_yaml, rules, tool

pytestmark = pytest.mark.slow  # runs amtool

AM_CONFIG = CONFIG / "alertmanager" / "alertmanager.yml"


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("amtool"), *args], capture_output=True, text=True, timeout=60)


def test_config_passes_amtool() -> None:
    result = _amtool("check-config", str(AM_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=SeismicHazardDanger", "severity=critical", "zone=lava-1"], "control-room"),
        (["alertname=SeismowatchNoWorker", "severity=critical"], "control-room"),
        (["alertname=SeismicHazardHigh", "severity=warning", "zone=lava-1"], "engineers"),
        (["alertname=SeismicZoneExcluded", "severity=notice", "zone=lava-1"], "control-room"),
        (["alertname=SeismowatchConsumerLagHigh", "severity=warning"], "engineers"),
    ],
)
def test_alerts_are_routed_by_severity(labels: list[str], receiver: str) -> None:
    result = _amtool("config", "routes", "test", f"--config.file={AM_CONFIG}", *labels)
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


def test_every_severity_the_rules_use_has_its_own_route() -> None:
    routes = load_yaml(AM_CONFIG)["route"]["routes"]
    routed = {m.split("=", 1)[1].strip('"') for r in routes for m in r["matchers"]}
    assert {r["labels"]["severity"] for r in rules("alert")} <= routed
