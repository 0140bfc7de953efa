"""The shipped Grafana dashboards: what the live test cannot see (layout, wiring)."""

from __future__ import annotations

import json

from tests.test_ops.conftest import CONFIG, load_yaml

GRAFANA = CONFIG / "grafana"


def _boards() -> dict[str, dict]:  # type: ignore[type-arg]
    return {p.stem: json.loads(p.read_text()) for p in (GRAFANA / "dashboards").glob("*.json")}


def test_operator_engineer_and_system_views_use_the_provisioned_datasource() -> None:
    boards = _boards()
    assert set(boards) == {"operator", "engineer", "system"}
    sources = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    prometheus_uid = next(d["uid"] for d in sources["datasources"] if d["type"] == "prometheus")
    assert len({b["uid"] for b in boards.values()}) == 3
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == prometheus_uid, (name, panel["title"])
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])


def test_panels_do_not_overlap_and_fit_the_grid() -> None:
    for name, board in _boards().items():
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            g = panel["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, (name, panel["title"])
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, (name, panel["title"])
            cells |= mine


def test_operator_view_shows_the_hazard_state_as_a_traffic_light() -> None:
    panel = _boards()["operator"]["panels"][0]
    assert panel["type"] == "stat" and "hazard_state" in panel["targets"][0]["expr"]
    colours = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert [colours[str(i)]["color"] for i in range(4)] == ["green", "yellow", "orange", "red"]
