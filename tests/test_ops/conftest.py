"""Operations tests: the shipped Prometheus, Alertmanager, Grafana and compose files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures import REPO

CONFIG = REPO / "config"
RULES = sorted((CONFIG / "prometheus" / "rules").glob("*.yml"))
PROMTOOL_TESTS = sorted((Path(__file__).parent / "promtool").glob("*_test.yml"))


def tool(name: str) -> str:
    """Path of a Debian tool; CI installs it (``.ci/run``), so there a missing one fails."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; .ci/run must install it")
        pytest.skip(f"{name} not installed (apt-get install prometheus prometheus-alertmanager)")
    return path


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(kind: str) -> list[dict[str, Any]]:
    """Every shipped rule with an ``alert`` (kind="alert") or ``record`` key."""
    return [
        rule
        for path in RULES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if kind in rule
    ]
