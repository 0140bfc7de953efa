"""The demo scraped by Debian's Prometheus with the shipped rules, alerting through
Debian's Alertmanager with the shipped routes: every dashboard query returns data,
and a hazard-state-d alert reaches the control room's webhook."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures import cli_popen, free_port, stop, wait_until
from tests.test_ops.conftest import CONFIG, load_yaml, tool

pytestmark = pytest.mark.integration

DASHBOARDS = sorted((CONFIG / "grafana" / "dashboards").glob("*.json"))
# Grafana's variables, as a user who picked "All" sees them
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "10m", "$__interval": "15s",
                "$zone": ".*", "$window": ".*"}
# 90 days of the synthetic mine, with thresholds low enough that zones reach state d
DEMO_ENV = {
    "SEISMOWATCH_EMBEDDED_PORT": "0",
    "SEISMOWATCH_ALERTS__THRESHOLDS": "[0.0001, 0.0005, 0.001]",
    "SEISMOWATCH_ALERTS__MIN_EXAMPLES": "100",
}


@dataclass
class Webhook:
    """A local HTTP receiver standing in for the site's alert gateway."""

    port: int
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def serve(self) -> ThreadingHTTPServer:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class Stack:
    prometheus: str
    alertmanager: str
    webhook: Webhook
    demo_output: list[str]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read()) if "json" in resp.headers.get("Content-Type", "") else True


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def query(prometheus: str, expr: str) -> dict[str, Any]:
    """An instant query through Prometheus' HTTP API; errors come back as the answer."""
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        return _get(url)
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("ops")
    prometheus_bin, alertmanager_bin = tool("prometheus"), tool("prometheus-alertmanager")
    hook = Webhook(free_port())
    server = hook.serve()
    procs: list[subprocess.Popen[Any]] = []
    try:
        # Alertmanager first, with the shipped routes; receivers point at the local webhook
        am_config = load_yaml(CONFIG / "alertmanager" / "alertmanager.yml")
        for receiver in am_config["receivers"]:
            for hook_config in receiver["webhook_configs"]:
                hook_config["url"] = f"http://127.0.0.1:{hook.port}/{receiver['name']}"
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
        am = f"127.0.0.1:{free_port()}"
        procs.append(_spawn([
            alertmanager_bin, f"--config.file={tmp / 'alertmanager.yml'}",
            f"--storage.path={tmp / 'am-data'}", f"--web.listen-address={am}",
            "--cluster.listen-address=",
        ], tmp / "alertmanager.log"))
        wait_until(lambda: _ready(f"http://{am}/-/ready"), 30, "Alertmanager")

        # Prometheus with the shipped rules, scraping the demo's worker every second
        metrics_port = free_port()
        prom_config = load_yaml(CONFIG / "prometheus" / "prometheus.yml")
        prom_config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        prom_config["rule_files"] = [
            str(CONFIG / "prometheus" / f) for f in prom_config["rule_files"]
        ]
        prom_config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [am]}]}]
        prom_config["scrape_configs"] = [{
            "job_name": "seismowatch",
            "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
        }]
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        prom = f"127.0.0.1:{free_port()}"
        procs.append(_spawn([
            prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prom-data'}", f"--web.listen-address={prom}",
            "--rules.alert.resend-delay=1s",
        ], tmp / "prometheus.log"))
        wait_until(lambda: _ready(f"http://{prom}/-/ready"), 30, "Prometheus")

        demo = cli_popen(
            "demo", "--days", "90", "--hold", "--metrics-port", str(metrics_port),
            "--dir", str(tmp / "demo"), env=DEMO_ENV,
        )
        procs.append(demo)
        output: list[str] = []

        def read() -> None:
            assert demo.stdout is not None
            output.extend(iter(demo.stdout.readline, ""))

        threading.Thread(target=read, daemon=True).start()
        wait_until(
            lambda: any("holding" in line for line in output) or demo.poll() is not None,
            300, "the demo to finish its replay",
        )
        assert demo.poll() is None, "".join(output)[-4000:]
        yield Stack(f"http://{prom}", f"http://{am}", hook, output)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    stop(proc)
        server.shutdown()


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) of every panel target, Grafana variables filled in."""
    out = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                out.append((path.stem, panel["title"], expr))
    return out


def test_every_dashboard_query_returns_data_from_prometheus(stack: Stack) -> None:
    queries = panel_queries()
    assert len(queries) >= 30
    assert not [q for q in queries if "$" in q[2]], "a Grafana variable the test does not fill"

    def failing() -> list[str]:
        bad = []
        for board, title, expr in queries:
            answer = query(stack.prometheus, expr)
            if answer.get("status") != "success":
                bad.append(f"{board} / {title}: {expr}: {answer.get('error')}")
            elif not answer["data"]["result"]:
                bad.append(f"{board} / {title}: {expr}: no data")
        return bad

    # rules need a few evaluations and rates two scrapes: poll, then report what is left
    try:
        wait_until(lambda: not failing(), 90, "every panel to have data", interval_s=2)
    except AssertionError:
        pytest.fail("\n".join(failing()))
    # the zone variable lists the zones the demo scored
    zones = _get(f"{stack.prometheus}/api/v1/label/zone/values")["data"]
    assert {"lava-1", "lava-2"} <= set(zones)


def test_hazard_state_d_reaches_the_control_room_webhook(stack: Stack) -> None:
    def danger_posts() -> list[dict[str, Any]]:
        return [
            alert
            for path, body in stack.webhook.posts
            for alert in body["alerts"]
            if path == "/control-room" and alert["labels"]["alertname"] == "SeismicHazardDanger"
        ]

    alerts = wait_until(danger_posts, 120, "a SeismicHazardDanger notification", interval_s=1)
    first = alerts[0]
    assert first["status"] == "firing"
    assert first["labels"]["severity"] == "critical" and first["labels"]["zone"]
    assert re.fullmatch(r"Zone \S+: hazard state d \(danger\)", first["annotations"]["summary"])
    assert first["annotations"]["runbook"]
    # routing by severity: nothing but critical alerts reaches the control room
    for path, body in stack.webhook.posts:
        severities = {a["labels"]["severity"] for a in body["alerts"]}
        assert severities == ({"critical"} if path == "/control-room" else {"warning"}), path
    # Prometheus' own view agrees: the alert is firing for the zone
    firing = query(stack.prometheus, 'ALERTS{alertname="SeismicHazardDanger"}')
    assert first["labels"]["zone"] in {r["metric"]["zone"] for r in firing["data"]["result"]}
