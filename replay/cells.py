"""Parse single cells of an export: numbers with decimal commas, dates in Excel or text form."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, tzinfo

_EXCEL_EPOCH = datetime(1899, 12, 30)  # serial day 0 of Excel's 1900 date system
_DATE_FORMATS = ("%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d")
_TIME_FORMATS = ("%H:%M:%S.%f", "%H:%M:%S", "%H:%M")
_MIN_YEAR, _MAX_YEAR = 1900, 2100  # outside this a GITS date is a typo, not a record


class CellError(ValueError):
    """A cell's content is not what its column needs; the message is the reason."""


def is_blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def parse_number(cell: object) -> float:
    """A finite float from a number or text, accepting decimal commas and digit groups.

    >>> parse_number("1 234,5"), parse_number(7), parse_number("2.5e3")
    (1234.5, 7.0, 2500.0)
    """
    if isinstance(cell, bool):
        raise CellError(f"not a number: {cell!r}")
    if isinstance(cell, int | float):
        value = float(cell)
    elif isinstance(cell, str):
        text = cell.strip().replace("\u00a0", "").replace(" ", "").replace("\u2212", "-")
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            raise CellError(f"not a number: {cell!r}") from None
    else:
        raise CellError(f"not a number: {cell!r}")
    if not math.isfinite(value):
        raise CellError(f"not a finite number: {cell!r}")
    return value


def _check_year(dt: datetime, cell: object) -> datetime:
    if not _MIN_YEAR <= dt.year <= _MAX_YEAR:
        raise CellError(f"impossible date: {cell!r}")
    return dt


def parse_date(cell: object) -> date:
    """A calendar date from an Excel date, serial number or text (dd.mm.yyyy or ISO)."""
    if isinstance(cell, datetime):
        return _check_year(cell, cell).date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return _from_serial(cell).date()
    if isinstance(cell, str):
        text = cell.strip()
        for fmt in _DATE_FORMATS:
            try:
                return _check_year(datetime.strptime(text, fmt), cell).date()
            except ValueError:
                continue
    raise CellError(f"impossible date: {cell!r}")


def parse_time_of_day(cell: object) -> timedelta:
    """Time since midnight from an Excel time, day fraction or ``HH:MM[:SS[.fff]]``."""
    if isinstance(cell, time):
        return timedelta(
            hours=cell.hour, minutes=cell.minute, seconds=cell.second, microseconds=cell.microsecond
        )
    if isinstance(cell, datetime):
        return cell - datetime.combine(cell.date(), time())
    if isinstance(cell, timedelta) and timedelta(0) <= cell < timedelta(days=1):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool) and 0 <= cell < 1:
        return timedelta(days=float(cell))
    if isinstance(cell, str):
        text = cell.strip().replace(",", ".")
        for fmt in _TIME_FORMATS:
            try:
                t = datetime.strptime(text, fmt)
                return t - datetime(t.year, t.month, t.day)
            except ValueError:
                continue
    raise CellError(f"impossible time of day: {cell!r}")


def parse_datetime(cell: object) -> datetime:
    """A naive or aware datetime from one cell (Excel datetime, serial, ISO or dd.mm.yyyy HH:MM)."""
    if isinstance(cell, datetime):
        return _check_year(cell, cell)
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return _from_serial(cell)
    if isinstance(cell, str):
        text = cell.strip()
        try:
            return _check_year(datetime.fromisoformat(text.replace("Z", "+00:00")), cell)
        except ValueError:
            pass
        day, _, clock = text.partition(" ")
        if clock:
            return datetime.combine(parse_date(day), time()) + parse_time_of_day(clock)
        return datetime.combine(parse_date(text), time())
    raise CellError(f"impossible date: {cell!r}")


def from_parts(
    year: object,
    month: object,
    day: object,
    hour: object = 0,
    minute: object = 0,
    second: object = 0,
) -> datetime:
    """A datetime from split columns (catalogs such as Eaton et al. 2018)."""
    try:
        base = datetime(int(parse_number(year)), int(parse_number(month)), int(parse_number(day)))
    except ValueError as exc:
        raise CellError(f"impossible date: {year}-{month}-{day}") from exc
    h, m, s = (parse_number(v) if not is_blank(v) else 0.0 for v in (hour, minute, second))
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        raise CellError(f"impossible time: {hour}:{minute}:{second}")
    return _check_year(base + timedelta(hours=h, minutes=m, seconds=s), year)


def _from_serial(value: float) -> datetime:
    if not math.isfinite(value) or not 1 <= value < 73051:  # 1900-01-01 .. 2100-01-01
        raise CellError(f"impossible date: {value!r}")
    return _EXCEL_EPOCH + timedelta(days=float(value))


def to_utc(dt: datetime, tz: tzinfo) -> datetime:
    """Attach the source time zone to a naive time, then convert to UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)
