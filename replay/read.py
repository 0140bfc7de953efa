"""Turn a GITS export or a public catalog into validated, time-ordered events.

Every row becomes either an :class:`~stream_models.wire.Event` or a
:class:`~replay.rejects.Reject` naming its row and column: nothing is dropped.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from replay.cells import (
    CellError,
    from_parts,
    is_blank,
    parse_date,
    parse_datetime,
    parse_number,
    parse_time_of_day,
    to_utc,
)
from replay.columns import TIME_PARTS, VALUE_FIELDS, ColumnError, ColumnMap, Format, resolve
from replay.exceptions import UnreadableFileError
from replay.limits import Limits
from replay.tables import MAX_CELL_CHARS, BadRow, open_table
from stream_models.wire import SENSORS, Event, Reject

ZoneOf = Callable[[float, float, float], str]
_MAGNITUDE_RANGE = (-3.0, 10.0)  # outside it a "magnitude" column holds something else


def energy_from_magnitude(mw: float) -> float:
    """Seismic energy (J) from moment magnitude: log10 E = 1.5 Mw + 4.8.

    >>> round(energy_from_magnitude(0.0))
    63096
    """
    return 10 ** (1.5 * mw + 4.8)


@dataclass
class ReadResult:
    """Outcome of reading one file."""

    path: Path
    fmt: Format
    columns: ColumnMap
    events: list[Event] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    out_of_order: int = 0
    # rows read with non-empty cells beyond the header: the cells are ignored, said here
    extra_cells: list[Reject] = field(default_factory=list)


class _RowError(Exception):
    def __init__(self, column: str, value: object, reason: str) -> None:
        self.column, self.value, self.reason = column, value, reason


def read_events(
    path: Path | str,
    fmt: Format = "gits",
    mapping: Mapping[str, str] | None = None,
    *,
    sheet: str | int | None = None,
    timezone: str = "UTC",
    zone_of: ZoneOf | None = None,
    default_zone: str = "mine",
    limits: Limits | None = None,
) -> ReadResult:
    """Read, validate, de-duplicate and time-sort the events of ``path``."""
    path = Path(path)
    limits = limits or Limits()
    table = open_table(path, sheet)
    try:
        columns = resolve(table.headers, fmt, mapping or {})
    except ColumnError as exc:
        raise UnreadableFileError(path, str(exc)) from exc
    tz = ZoneInfo(timezone)
    result = ReadResult(path=path, fmt=fmt, columns=columns)
    seen_ids: dict[str, int] = {}
    seen_places: dict[tuple[float, ...], int] = {}
    now = datetime.now(UTC)
    last_time: datetime | None = None
    width = len(columns.headers)
    for row_number, cells in table.rows:
        result.rows_read += 1
        if isinstance(cells, BadRow):
            result.rejects.append(Reject(path.name, row_number, "", "", cells.reason, {}))
            continue
        raw = {str(h): _jsonable(c) for h, c in zip(columns.headers, cells, strict=False) if h}
        try:
            _check_cells(cells, columns.headers)
            event = _to_event(cells, columns, fmt, tz, zone_of, default_zone, now, limits)
        except _RowError as err:
            result.rejects.append(
                Reject(path.name, row_number, err.column, _text(err.value), err.reason, raw)
            )
            continue
        place = event.place
        earlier = seen_ids.get(event.event_id)
        if earlier is not None:
            column = columns.header_of("event_id") if "event_id" in columns.index else "event_id"
            result.rejects.append(
                Reject(
                    path.name,
                    row_number,
                    column,
                    event.event_id,
                    f"duplicate event_id of row {earlier}",
                    raw,
                )
            )
            continue
        earlier = seen_places.get(place)
        if earlier is not None:
            result.rejects.append(
                Reject(
                    path.name,
                    row_number,
                    _time_header(columns),
                    event.time.isoformat(),
                    f"duplicate of row {earlier} (same time and location)",
                    raw,
                )
            )
            continue
        extra = [c for c in cells[width:] if not is_blank(c)]
        if extra:
            result.extra_cells.append(Reject(
                path.name, row_number, f"beyond column {width}", _short(extra),
                f"{len(extra)} non-empty cell(s) beyond the header ignored; the row was read",
            ))
        seen_ids[event.event_id] = row_number
        seen_places[place] = row_number
        if last_time is not None and event.time < last_time:
            result.out_of_order += 1
        last_time = event.time if last_time is None else max(last_time, event.time)
        result.events.append(event)
    if result.rows_read == 0:
        raise UnreadableFileError(path, "no data rows below the header")
    result.events.sort(key=lambda e: e.time)  # stable: equal times keep file order
    return result


def _time_header(columns: ColumnMap) -> str:
    return "+".join(columns.header_of(n) for n in columns.time_columns if n in columns.index)


def _cell(cells: Sequence[object], columns: ColumnMap, name: str) -> object:
    i = columns.index.get(name)
    return cells[i] if i is not None and i < len(cells) else None


def _event_time(cells: Sequence[object], columns: ColumnMap) -> datetime:
    mode = columns.time_mode
    try:
        if mode == "datetime":
            cell = _cell(cells, columns, "datetime")
            if is_blank(cell):
                raise CellError("missing value")
            return parse_datetime(cell)
        if mode == "date+time":
            day, clock = _cell(cells, columns, "date"), _cell(cells, columns, "time")
            if is_blank(day):
                raise _RowError(columns.header_of("date"), day, "missing value")
            if is_blank(clock):
                raise _RowError(columns.header_of("time"), clock, "missing value")
            try:
                base = datetime.combine(parse_date(day), datetime.min.time())
            except CellError as exc:
                raise _RowError(columns.header_of("date"), day, str(exc)) from None
            try:
                return base + parse_time_of_day(clock)
            except CellError as exc:
                raise _RowError(columns.header_of("time"), clock, str(exc)) from None
        parts = [_cell(cells, columns, p) if p in columns.index else 0 for p in TIME_PARTS]
        for name, value in zip(TIME_PARTS[:3], parts, strict=False):
            if is_blank(value):
                raise _RowError(columns.header_of(name), value, "missing value")
        return from_parts(*parts)
    except CellError as exc:
        raise _RowError(
            _time_header(columns), _cell(cells, columns, columns.time_columns[0]), str(exc)
        ) from None


def _to_event(
    cells: Sequence[object],
    columns: ColumnMap,
    fmt: Format,
    tz: ZoneInfo,
    zone_of: ZoneOf | None,
    default_zone: str,
    now: datetime,
    limits: Limits,
) -> Event:
    when = to_utc(_event_time(cells, columns), tz)
    if when > now + limits.future_slack:
        raise _RowError(_time_header(columns), when.isoformat(), "event time is in the future")
    if when < limits.earliest:
        raise _RowError(_time_header(columns), when.isoformat(),
                        f"event time before {limits.earliest.date()} (setting input.earliest)")
    required = set(columns.index) & {"x", "y", "z", "energy_j", "magnitude"}
    if fmt == "gits":
        required.add("duration_s")
    values: dict[str, float | None] = {}
    for name in VALUE_FIELDS:
        if name not in columns.index:
            continue
        cell = _cell(cells, columns, name)
        header = columns.header_of(name)
        if is_blank(cell):
            if name in required:
                raise _RowError(header, cell, "missing value")
            values[name] = None
            continue
        try:
            values[name] = parse_number(cell)
        except CellError as exc:
            raise _RowError(header, cell, str(exc)) from None
    _check_ranges(values, columns)
    energy = values.get("energy_j")
    if energy is None:
        mw = values.get("magnitude")
        if mw is None:
            raise _RowError("magnitude", None, "missing value")
        energy = energy_from_magnitude(mw)
    if energy > limits.max_energy_j:
        name = "energy_j" if values.get("energy_j") is not None else "magnitude"
        raise _RowError(columns.header_of(name) if name in columns.index else name, energy,
                        f"energy {energy:.3g} J above {limits.max_energy_j:.3g} J "
                        "(setting input.max_energy_j)")
    x, y, z = values["x"], values["y"], values["z"]
    assert x is not None and y is not None and z is not None
    zone_cell = _cell(cells, columns, "zone")
    if not is_blank(zone_cell):
        zone = str(zone_cell).strip()
    else:
        zone = zone_of(x, y, z) if zone_of else default_zone
    id_cell = _cell(cells, columns, "event_id")
    event_id = _id_text(id_cell) if not is_blank(id_cell) else _derived_id(when, x, y, z, energy)
    optional = {
        k: values.get(k)
        for k in ("duration_s", "energy_corr_j", "duration_corr_s", "volume_m3", *SENSORS)
    }
    return Event(
        event_id=event_id, time=when, x=x, y=y, z=z, energy_j=energy, zone=zone, **optional
    )


_POSITIVE = ("energy_j",)
_NON_NEGATIVE = ("duration_s", "energy_corr_j", "duration_corr_s", "volume_m3")


def _check_ranges(values: Mapping[str, float | None], columns: ColumnMap) -> None:
    for name in _POSITIVE:
        v = values.get(name)
        if v is not None and v <= 0:
            raise _RowError(columns.header_of(name), v, f"{name} must be positive")
    for name in _NON_NEGATIVE:
        v = values.get(name)
        if v is not None and v < 0:
            raise _RowError(columns.header_of(name), v, f"{name} must not be negative")
    mw = values.get("magnitude")
    if mw is not None and not _MAGNITUDE_RANGE[0] <= mw <= _MAGNITUDE_RANGE[1]:
        raise _RowError(columns.header_of("magnitude"), mw, f"magnitude outside {_MAGNITUDE_RANGE}")


def _check_cells(cells: Sequence[object], headers: Sequence[object]) -> None:
    """No cell of a seismic row is long: a huge one is corrupt input, named but not echoed."""
    for i, cell in enumerate(cells):
        if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
            header = str(headers[i]) if i < len(headers) and headers[i] else f"column {i + 1}"
            raise _RowError(header, _short([cell]),
                            f"cell of {len(cell):,} characters (at most {MAX_CELL_CHARS:,})")


def _short(cells: Sequence[object], limit: int = 60) -> str:
    text = "; ".join(str(c) for c in cells)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _id_text(cell: object) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _derived_id(when: datetime, x: float, y: float, z: float, energy: float) -> str:
    """A stable id for sources without one: the same row always gets the same id."""
    key = f"{when.isoformat()}|{x:.3f}|{y:.3f}|{z:.3f}|{energy:.6g}"
    return "e" + hashlib.sha1(key.encode()).hexdigest()[:16]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _jsonable(cell: object) -> Any:
    if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
        return _short([cell])  # a report row, not a copy of the corrupt cell
    if cell is None or isinstance(cell, bool | int | str):
        return cell
    if isinstance(cell, float):
        return cell if math.isfinite(cell) else str(cell)
    return str(cell)
