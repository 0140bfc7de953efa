"""The shipped Prometheus config and rules, checked and unit-tested with Debian's promtool."""

from __future__ import annotations

import subprocess

import pytest

from tests.test_ops.conftest import CONFIG, PROMTOOL_TESTS, RULES, load_yaml, rules, tool

pytestmark = pytest.mark.slow  # runs promtool


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120)


def test_config_and_rules_pass_promtool_check() -> None:
    config = _promtool("check", "config", str(CONFIG / "prometheus" / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    checked = _promtool("check", "rules", *map(str, RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("path", PROMTOOL_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path: object) -> None:
    result = _promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    recorded: set[str] = set()
    for path in PROMTOOL_TESTS:
        for case in load_yaml(path)["tests"]:
            for t in case.get("alert_rule_test", []):
                (fired if t.get("exp_alerts") else quiet).add(t["alertname"])
            for t in case.get("promql_expr_test", []):
                recorded.add(t["expr"])
    alerts = {r["alert"] for r in rules("alert")}
    assert alerts - fired == set(), "alerts no test fires"
    assert alerts - quiet == set(), "alerts no test keeps quiet"
    assert {r["record"] for r in rules("record")} - recorded == set()


def test_every_alert_says_how_bad_what_happened_and_what_to_do() -> None:
    for rule in rules("alert"):
        assert rule["labels"]["severity"] in {"critical", "notice", "warning"}, rule["alert"]
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]
    # the control room is paged for danger and for being blind
    critical = {r["alert"] for r in rules("alert") if r["labels"]["severity"] == "critical"}
    assert critical == {"SeismicHazardDanger", "SeismowatchNoWorker"}
