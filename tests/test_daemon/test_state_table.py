"""The scope-state table: one small Kafka message per scope, every key of a scope on its
events' partition, and the busiest zone of a real catalog within the cap."""

from __future__ import annotations

import numpy as np
import pytest

from daemon.state_table import (
    TableStore,
    decode,
    encode,
    manifest_key,
    partition_of,
    sent_key,
)
from replay.columns import parse_mapping
from replay.read import read_events
from stream_models.online.history import chunk_key
from stream_models.online.policies import MonitorPolicy, RetrainPolicy
from stream_models.online.scope import ScopeMonitor
from stream_models.packing import pack, unpack
from stream_models.retraining.registry import base_lstm
from tests.fixtures import EATON, EATON_MAP

STATE_CAP = 256 * 1024  # bytes a scope's packed state may take, whatever the burst
ALERT_BYTES = 500_000  # the SeismowatchZoneStateLarge rule's threshold


def test_the_store_round_trips_and_reports_the_stored_size() -> None:
    table: dict[bytes, bytes] = {}
    store = TableStore(table)
    state = {"scope": {"name": "lava-1", "x": np.arange(5.0)}, "source": ["t", 2], "offset": 41}
    store["lava-1"] = state
    back = store["lava-1"]
    assert back["offset"] == 41 and back["scope"]["x"].tolist() == [0, 1, 2, 3, 4]
    assert store.last_size == len(table[b"lava-1"])
    assert store.get("lava-2", "none") == "none" and list(store) == ["lava-1"]
    assert decode(None) is None


def test_every_key_of_a_scope_goes_to_its_events_partition() -> None:
    """The replay's producer (kafka-python's default partitioner: murmur2 of the zone name)
    places a zone's events; the scope's state, history chunks and sent ids follow them, and a
    manifest names its own partition."""
    from kafka.partitioner.default import murmur2

    for zone in ("lava-1", "lava-2", "mine", "mine-wide", "z3"):
        events_partition = (murmur2(zone.encode()) & 0x7FFFFFFF) % 3
        for key in (zone, chunk_key(zone, "events", 7), sent_key(zone)):
            assert partition_of(key, 3) == events_partition, (zone, key)
    assert partition_of(manifest_key("gits.events", 1), 3) == 1


@pytest.mark.slow
def test_the_busiest_zone_of_the_real_catalog_is_small_and_capped() -> None:
    """TOC2ME's densest hours leave hundreds of examples awaiting labels in one zone."""
    events = read_events(EATON, "catalog", parse_mapping(EATON_MAP)).events
    mon = ScopeMonitor("mine", "zone", MonitorPolicy(), RetrainPolicy(), base_lstm())
    peak_pending, peak = 0, {}
    for event in events:
        mon.process(event)
        if len(mon.labeler) > peak_pending:  # the pending examples are the variable part
            peak_pending, peak = len(mon.labeler), mon.to_state()
    state = {"scope": peak, "source": ["gits.events", 0], "offset": 0}
    encoded = encode(state)
    assert pack(decode(encoded)) == pack(unpack(pack(state)))
    assert peak_pending > 300
    assert len(pack(state)) <= STATE_CAP  # fixed arrays: the cap holds at any burst ...
    assert len(encoded) < ALERT_BYTES / 4  # ... and compressed it is a fraction of the alert
