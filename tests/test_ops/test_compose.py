"""docker-compose.yml and the Dockerfile: valid for Debian's docker-compose, and wired
consistently with the shipped Prometheus, Alertmanager and Grafana configs."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from tests.fixtures import REPO
from tests.test_ops.conftest import CONFIG, load_yaml, tool

pytestmark = pytest.mark.slow  # runs docker-compose

ENV = {**os.environ, "GRAFANA_ADMIN_PASSWORD": "test-only"}
ONE_SHOT = {"topics", "replay"}


def _disabled(check: dict[str, Any]) -> bool:
    """``disable: true`` as written; docker-compose v1 prints it as ``test: [NONE]``."""
    return bool(check.get("disable")) or check.get("test") == ["NONE"]


def _host_ip(port: Any) -> str:
    """Long syntax (compose v2) or ``ip:host:container`` (v1)."""
    return port["host_ip"] if isinstance(port, dict) else str(port).split(":")[0]


def _bind_source(volume: Any) -> str | None:
    if isinstance(volume, dict):
        return volume["source"] if volume["type"] == "bind" else None
    source = str(volume).split(":")[0]
    return source if source.startswith("/") else None


def _compose(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("docker-compose"), "--project-directory", str(REPO), "-f",
         str(REPO / "docker-compose.yml"), "--profile", "replay", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_the_stack_has_every_service(services: dict[str, Any]) -> None:
    assert set(services) == {
        "kafka", "topics", "worker", "replay", "prometheus", "alertmanager", "grafana"
    }


def test_every_service_has_a_healthcheck_and_jobs_gate_their_dependents(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        check = service.get("healthcheck", {})
        if name in ONE_SHOT:
            assert _disabled(check) and service["restart"] == "no", name
        else:
            assert check.get("test") and not _disabled(check), name
        for dep, cond in service.get("depends_on", {}).items():
            want = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert cond["condition"] == want, (name, dep)


def test_workers_scale_and_prometheus_finds_every_replica(services: dict[str, Any]) -> None:
    worker = services["worker"]
    # a fixed name or a published port would stop `--scale worker=N`
    assert "container_name" not in worker and "ports" not in worker
    env = worker["environment"]
    assert env["SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert int(env["SEISMOWATCH_PARTITIONS"]) >= 3
    scrape = load_yaml(CONFIG / "prometheus" / "prometheus.yml")["scrape_configs"]
    dns = next(s for s in scrape if s["job_name"] == "seismowatch")["dns_sd_configs"][0]
    assert dns["names"] == ["worker"] and str(dns["port"]) in worker["expose"]
    am = load_yaml(CONFIG / "prometheus" / "prometheus.yml")["alerting"]["alertmanagers"]
    assert am[0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    sources = load_yaml(CONFIG / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert {d["url"] for d in sources["datasources"]} == {
        "http://prometheus:9090", "http://alertmanager:9093"
    }


def test_published_ports_are_loopback_only_and_mounted_files_exist(
    services: dict[str, Any],
) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert _host_ip(port) == "127.0.0.1", (name, port)
        for volume in service.get("volumes", []):
            source = _bind_source(volume)
            if source is not None and not source.endswith("/data"):  # ./data: the user's
                assert os.path.exists(source), (name, source)


def test_grafana_refuses_to_start_without_an_admin_password() -> None:
    env = {k: v for k, v in ENV.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    result = _compose("config", "-q", env=env)
    assert result.returncode != 0 and "GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_the_image_is_non_root_with_cpu_torch_and_a_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert "HEALTHCHECK" in text and "download.pytorch.org/whl/cpu" in text
    pin = next(d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "dependencies"] if d.startswith("torch"))
    assert f"{pin.replace(' ', '')}" in text.replace(" ", "")
