"""The worker's one store of state: a changelog-backed Faust table, laid out by scope.

Everything a worker knows lives in one table, ``scope-state``, so any worker on
any host resumes a partition from the changelog alone:

=================================== ==================================================
key                                 value
=================================== ==================================================
``<scope>``                         the scope's state and the offset it covers
``<scope>\\x00<kind>\\x00<seq>``      an immutable chunk of the scope's history
``<scope>\\x00sent``                 ids of the alerts the scope sent (written at once)
``\\x00partition\\x00<topic>\\x00<n>``  the partition's manifest: the offset every scope
                                    of the partition covers, and their names
=================================== ==================================================

:class:`ScopeTable` puts every key of a scope on the changelog partition of the
scope's events (Kafka's default partitioner on the scope's name, the part before
the first NUL), and a manifest on its partition's own, so a scope's records move
with its events on a rebalance, in the order they were written.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import faust
from aiokafka.partitioner import murmur2

from stream_models.packing import pack, unpack

MANIFEST = "\x00partition\x00"
SENT = "\x00sent"


def manifest_key(topic: str, partition: int) -> str:
    return f"{MANIFEST}{topic}\x00{partition}"


def sent_key(scope: str) -> str:
    return f"{scope}{SENT}"


def is_scope_key(key: str) -> bool:
    """A scope's own state (not a chunk, a sent list or a manifest)."""
    return "\x00" not in key


def partition_of(key: str, partitions: int) -> int:
    """The changelog partition of ``key``: its manifest's, or its scope's events'.

    >>> partition_of(manifest_key("gits.events", 2), 3)
    2
    >>> partition_of("lava-1\\x00events\\x000000000007", 3) == partition_of("lava-1", 3)
    True
    """
    if key.startswith(MANIFEST):
        return int(key.rsplit("\x00", 1)[1])
    scope = key.split("\x00", 1)[0]
    return (murmur2(scope.encode()) & 0x7FFFFFFF) % partitions


class ScopeTable(faust.Table):
    """A Faust table whose keys go to the changelog partition :func:`partition_of` names."""

    def partition_for_key(self, key: Any) -> int | None:
        text = key.decode() if isinstance(key, bytes) else str(key)
        return partition_of(text, int(self.partitions or self.app.conf.topic_partitions))


def encode(value: Any) -> bytes:
    """One changelog message: zlib-compressed packed arrays (:mod:`stream_models.packing`)."""
    return zlib.compress(pack({"v": value}), 6)


def decode(data: bytes | None) -> Any:
    return None if data is None else unpack(zlib.decompress(data))["v"]


class TableStore(MutableMapping[str, Any]):
    """The table as a mapping of str keys to values; :attr:`last_size` is the size of the
    last value stored (a scope's state: the ``seismowatch_zone_state_bytes`` gauge)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.last_size: int | None = None

    def __getitem__(self, key: str) -> Any:
        return decode(self.table[key.encode()])

    def __setitem__(self, key: str, value: Any) -> None:
        data = encode(value)
        self.last_size = len(data)
        self.table[key.encode()] = data

    def __delitem__(self, key: str) -> None:
        del self.table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (k.decode() if isinstance(k, bytes) else str(k) for k in self.table)

    def __len__(self) -> int:
        return len(self.table)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        value = self.table.get(key.encode())
        return default if value is None else decode(value)


def declare(app: faust.App, name: str, partitions: int) -> ScopeTable:
    """The app's state table, registered like ``app.Table`` would."""
    table = ScopeTable(app, name=name, default=None, partitions=partitions, key_type=bytes,
                       value_type=bytes, beacon=app.tables.beacon, use_partitioner=True)
    return app.tables.add(table)

