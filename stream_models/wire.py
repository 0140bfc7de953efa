"""Everything that crosses Kafka or a file, in one place: events, rejects, headers, records.

Every producer (replay, tests) and consumer (daemon, backtest, the alert feed)
goes through this module, so a field means the same thing everywhere:

* :class:`Event`: one located seismic event, the body of ``gits.events``;
* :class:`Reject`: an input row or message that did not become an event, the
  body of ``gits.events.rejected`` and of the rejects report;
* :data:`SENT_AT_HEADER`: when the replay adapter handed an event to Kafka (the
  latency metric starts there), read back by :func:`sent_at`;
* :func:`dumps`: the one serialiser of every published record (risk, alerts,
  the local alert log, ``--json`` outputs): compact, keys sorted, and valid JSON
  everywhere, a missing number (NaN, infinity) written as ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

SENSORS: tuple[str, ...] = tuple(f"s{i}" for i in range(1, 13))
EVENT_SCHEMA = "seismowatch.event/1"
REJECT_SCHEMA = "seismowatch.reject/1"
SENT_AT_HEADER = "seismowatch-sent-at"  # POSIX seconds, as text, when the event entered Kafka
_DUMPS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY


class WireFormatError(ValueError):
    """A message on a topic is not a seismowatch event of a known schema version."""


def utc_text(when: datetime | float) -> str:
    """A time (datetime or POSIX seconds) as ISO 8601 in UTC with ``Z``: the wire's spelling."""
    if not isinstance(when, datetime):
        when = datetime.fromtimestamp(when, UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    """One located seismic event, times in UTC, coordinates in the mine grid (m).

    Optional fields are ``None`` when the source does not carry them (public
    catalogs have no sensors, mined volume or corrected values).

    >>> e = Event("42", datetime(2020, 8, 15, 8, 27, tzinfo=UTC), 10.0, 20.0, -450.0, 13950.0)
    >>> Event.from_wire(e.to_wire()) == e
    True
    >>> round(e.log_energy, 3)
    4.145
    """

    event_id: str
    time: datetime
    x: float
    y: float
    z: float
    energy_j: float
    duration_s: float | None = None
    energy_corr_j: float | None = None
    duration_corr_s: float | None = None
    volume_m3: float | None = None
    s1: float | None = None
    s2: float | None = None
    s3: float | None = None
    s4: float | None = None
    s5: float | None = None
    s6: float | None = None
    s7: float | None = None
    s8: float | None = None
    s9: float | None = None
    s10: float | None = None
    s11: float | None = None
    s12: float | None = None
    zone: str = "mine"

    FLOAT_FIELDS: ClassVar[tuple[str, ...]] = (
        "x", "y", "z", "energy_j", "duration_s", "energy_corr_j",
        "duration_corr_s", "volume_m3", *SENSORS,
    )

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("Event.time must be timezone-aware (UTC)")

    @property
    def log_energy(self) -> float:
        """log10 of the energy in joules: the magnitude scale mine seismology works in."""
        return math.log10(self.energy_j)

    @property
    def timestamp(self) -> float:
        """Event time as POSIX seconds."""
        return self.time.timestamp()

    @property
    def place(self) -> tuple[float, float, float, float]:
        """Time and location: two rows with the same place are the same event, whatever
        their ids (an export may renumber its rows)."""
        return (self.timestamp, self.x, self.y, self.z)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, the body of the wire message."""
        out = asdict(self)
        out["time"] = utc_text(self.time)
        return out

    def to_wire(self) -> bytes:
        """UTF-8 JSON with a ``schema`` tag, keys sorted so equal events give equal bytes."""
        body = {"schema": EVENT_SCHEMA, **self.to_dict()}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"schema"}
        if unknown:
            raise WireFormatError(f"unknown event fields: {sorted(unknown)}")
        kwargs = {k: v for k, v in data.items() if k in names}
        try:
            kwargs["time"] = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
            for name in cls.FLOAT_FIELDS:
                if kwargs.get(name) is not None:
                    kwargs[name] = float(kwargs[name])
            kwargs["event_id"] = str(kwargs["event_id"])
            return cls(**kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise WireFormatError(f"malformed event: {exc}") from exc

    @classmethod
    def from_wire(cls, payload: bytes | str) -> Event:
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise WireFormatError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("schema") != EVENT_SCHEMA:
            got = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise WireFormatError(f"expected schema {EVENT_SCHEMA!r}, got {got!r}")
        return cls.from_dict(data)


@dataclass(frozen=True)
class Reject:
    """One input row (or message) that did not become an event, and why.

    >>> r = Reject("year.xlsx", 12, "energy_j", "-5", "energy must be positive")
    >>> str(r)
    "year.xlsx: row 12, column 'energy_j': energy must be positive"
    >>> loads(r.to_wire())["schema"]
    'seismowatch.reject/1'
    """

    file: str
    row: int
    column: str
    value: str
    reason: str
    raw: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.file}: row {self.row}, column {self.column!r}: {self.reason}"

    def to_wire(self) -> bytes:
        raw = {str(k): v if isinstance(v, int | float | bool | None) else str(v)
               for k, v in self.raw.items()}
        return dumps({"schema": REJECT_SCHEMA, **asdict(self), "raw": raw})

    @property
    def key(self) -> bytes:
        """A stable key so a resent reject is recognisable as the same one."""
        return f"{self.file}:{self.row}".encode()


def dumps(record: Mapping[str, Any], indent: bool = False) -> bytes:
    """A record as JSON with sorted keys (compact, or indented for a file a person reads);
    NaN and infinities become ``null``.

    >>> dumps({"b": float("nan"), "a": 1})
    b'{"a":1,"b":null}'
    """
    return orjson.dumps(record, option=_DUMPS | (orjson.OPT_INDENT_2 if indent else 0))


def loads(data: bytes | str) -> Any:
    """Strict JSON: refuses ``NaN`` and ``Infinity``, which no record may carry."""
    return orjson.loads(data)


def sent_at(headers: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None) -> float | None:
    """The producer's send time from a message's headers, if the producer set one.

    >>> sent_at([(SENT_AT_HEADER, b"1600000000.5")]), sent_at(None)
    (1600000000.5, None)
    """
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    for key, value in items:
        if key in (SENT_AT_HEADER, SENT_AT_HEADER.encode()):
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None
