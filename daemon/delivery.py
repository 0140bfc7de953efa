"""What the worker's handler meets at its edges: where records go, how skipped offsets are
read back, a partition's clock, the local alert log, and the errors that stop a partition."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stream_models.wire import dumps

_GAP_TRIES = (0.5, 1.0, 2.0)  # seconds between re-reads of offsets Kafka did not return

Ack = Callable[[], Awaitable[Any]]
TP = tuple[str, int]  # (topic, partition)
# (topic, partition, start, end) -> [(offset, value, sent_at)] for offsets in [start, end);
# end None: up to the partition's log end, whatever is there
FetchRange = Callable[[str, int, int, int | None],
                      Awaitable[list[tuple[int, bytes, float | None]]]]


@dataclass(frozen=True)
class Delivered:
    """One message as the consumer delivered it, and how to ack it once its effect is stored."""

    value: bytes
    topic: str
    partition: int
    offset: int
    sent_at: float | None  # when the producer handed it to Kafka (latency metric)
    ack: Ack


class Outputs(Protocol):
    """Where records go: the Faust producer in the worker, a list in unit tests."""

    async def send(self, topic: str, key: bytes, value: bytes,
                   headers: list[tuple[str, bytes]] | None = None) -> None: ...

    async def deliver(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        """Send and wait until the broker has it: its (partition, offset)."""
        ...

    async def flush(self) -> None: ...


class RestoreError(RuntimeError):
    """A zone's stored state or model file cannot be used: its partition stops."""


class GapError(RuntimeError):
    """Kafka returned fewer of the skipped offsets than asked, even after retries."""


class StreamClock:
    """A partition's event time; it runs on in real time once the stream has been quiet for
    ``idle_s`` (wall clock), so a silent mine's forecasts still expire.

    >>> c = StreamClock(idle_s=60)
    >>> c.observe(1000.0, wall=0.0); c.now(wall=30.0), c.now(wall=90.0)
    (1000.0, 1090.0)
    """

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self.t = float("-inf")
        self.wall = 0.0

    def observe(self, t: float, wall: float) -> None:
        self.t = max(self.t, t)
        self.wall = wall

    def now(self, wall: float) -> float:
        quiet = wall - self.wall
        return self.t + quiet if quiet >= self.idle_s else self.t


class AlertLog:
    """Append-only JSON-lines log of every alert sent, for operators without Kafka access."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(dumps(record).decode() + "\n")


async def read_range(fetch: FetchRange, tp: TP, start: int, end: int
                     ) -> list[tuple[int, bytes, float | None]]:
    """Offsets ``[start, end)`` of ``tp`` read from Kafka directly; a read that returns fewer
    than asked is retried, then raises :class:`GapError`: skipping them would lose events."""
    messages: list[tuple[int, bytes, float | None]] = []
    for pause in (*_GAP_TRIES, None):
        messages = await fetch(tp[0], tp[1], start, end)
        if len(messages) >= end - start:
            break
        if pause is None:
            raise GapError(
                f"{tp[0]}/{tp[1]}: offsets {start}..{end - 1} were not delivered and Kafka "
                f"returned {len(messages)} of {end - start} after {len(_GAP_TRIES) + 1} "
                "reads; the partition stops rather than skip events"
            )
        await asyncio.sleep(pause)
    return messages
