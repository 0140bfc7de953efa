"""The zone-state table's encoding: one small Kafka message per zone, whatever the burst."""

from __future__ import annotations

import numpy as np

from daemon.app import TableStore, decode_state, encode_state
from replay.columns import parse_mapping
from replay.read import read_events
from stream_models.online.scope import MonitorPolicy, ZoneMonitor
from stream_models.packing import pack, unpack
from tests.fixtures import EATON, EATON_MAP

STATE_CAP = 256 * 1024  # bytes a zone's packed state may take, whatever the burst
ALERT_BYTES = 500_000  # the SeismowatchZoneStateLarge rule's threshold


def test_the_store_round_trips_and_reports_the_stored_size() -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table)
    state = {"monitor": {"zone": "lava-1", "x": np.arange(5.0)}, "source": ["t", 2], "offset": 41}
    store["lava-1"] = state
    back = store["lava-1"]
    assert back["offset"] == 41 and back["monitor"]["x"].tolist() == [0, 1, 2, 3, 4]
    assert store.last_size == len(table[b"lava-1"])
    assert store.get("lava-2", "none") == "none" and list(store) == ["lava-1"]
    assert decode_state(None) is None


def test_the_busiest_zone_of_the_real_catalog_is_small_and_capped() -> None:
    """TOC2ME's densest hours leave hundreds of examples awaiting labels in one zone."""
    events = read_events(EATON, "catalog", parse_mapping(EATON_MAP)).events
    mon = ZoneMonitor("mine", MonitorPolicy())
    peak_pending, peak = 0, {}
    for event in events:
        mon.process(event)
        if len(mon.labeler) > peak_pending:  # the pending examples are the variable part
            peak_pending, peak = len(mon.labeler), mon.to_state()
    state = {"monitor": peak, "source": ["gits.events", 0], "offset": 0}
    encoded = encode_state(state)
    assert pack(decode_state(encoded)) == pack(unpack(pack(state)))
    assert peak_pending > 300
    assert len(pack(state)) <= STATE_CAP  # fixed arrays: the cap holds at any burst ...
    assert len(encoded) < ALERT_BYTES / 4  # ... and compressed it is a fraction of the alert
