"""What the replay produces: rejects first, then each event to its zone's partition and, where
zones are configured, to the mine-wide scope's single partition, in one fixed order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.settings import load_settings
from replay.stream import build_items
from stream_models.wire import Event, Reject
from tests.test_daemon.conftest import MINE_TOML


def _events() -> list[Event]:
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    return [Event(str(i), t0 + timedelta(hours=i), 0.0, y, -450.0, 100.0, zone=zone)
            for i, (y, zone) in enumerate([(0.0, "lava-1"), (400.0, "lava-2"), (10.0, "lava-1")])]


def test_with_zones_every_event_also_goes_to_the_mine_wide_topic_in_the_same_order() -> None:
    s = load_settings(MINE_TOML)
    rejects = [Reject("f.csv", 3, "E", "x", "not a number")]
    items = build_items(_events(), rejects, s)
    assert [it.topic for it in items] == [s.topics.rejected] + [s.topics.events] * 3
    assert items[0].also == ()
    for it, e in zip(items[1:], _events(), strict=True):
        assert it.key == e.zone.encode() and it.value == e.to_wire()
        assert it.also == ((s.topics.mine, b"mine-wide"),)  # one key: one partition, one order
    assert [it.index for it in items] == [0, 1, 2, 3]


def test_without_zones_there_is_no_mine_wide_copy() -> None:
    items = build_items(_events(), [], load_settings())
    assert all(it.also == () for it in items)
