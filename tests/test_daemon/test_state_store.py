"""The zone-state table's encoding: a busy zone's state must fit one Kafka message."""

from __future__ import annotations

import json

from daemon.app import TableStore, decode_state, encode_state
from replay.columns import parse_mapping
from replay.read import read_events
from stream_models.monitor import MonitorPolicy, ZoneMonitor
from tests.fixtures import EATON, EATON_MAP

PRODUCER_LIMIT = 1_000_000  # Faust's default producer_max_request_size
ALERT_BYTES = 500_000  # the SeismowatchZoneStateLarge rule's threshold


def test_the_store_round_trips_and_reports_the_stored_size() -> None:
    table: dict[bytes, bytes] = {}
    sizes: list[tuple[str, int]] = []
    store = TableStore(table, lambda zone, n: sizes.append((zone, n)))
    state = {"monitor": {"zone": "lava-1", "x": [0.1, None, 3]}, "partition": 2, "offset": 41}
    store["lava-1"] = state
    assert store["lava-1"] == state and store.get("lava-1") == state
    assert sizes == [("lava-1", len(table[b"lava-1"]))]
    assert store.get("lava-2", "none") == "none" and list(store) == ["lava-1"]
    assert decode_state(None) is None


def test_the_busiest_zone_of_the_real_catalog_fits_one_message() -> None:
    """TOC2ME's densest 8 h leave hundreds of examples awaiting labels in one zone."""
    events = read_events(EATON, "catalog", parse_mapping(EATON_MAP)).events
    mon = ZoneMonitor("mine", MonitorPolicy())
    peak_pending, peak = 0, {}
    for event in events:
        mon.process(event)
        if len(mon.labeler) > peak_pending:  # the pending examples dominate the state
            peak_pending, peak = len(mon.labeler), mon.to_state()
    state = {"monitor": peak, "partition": 0, "offset": 0}
    encoded = encode_state(state)
    assert decode_state(encoded) == json.loads(json.dumps(state))
    assert peak_pending > 300
    assert len(json.dumps(state)) > PRODUCER_LIMIT * 0.9  # plain JSON is at Kafka's limit ...
    assert len(encoded) < ALERT_BYTES  # ... compressed, it is well inside it
