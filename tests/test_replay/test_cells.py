"""Cell parsing: decimal commas, Excel dates, impossible values."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from replay.cells import (
    CellError,
    from_parts,
    parse_date,
    parse_datetime,
    parse_number,
    parse_time_of_day,
)


@pytest.mark.parametrize(
    ("cell", "value"),
    [("3,5", 3.5), (" 12 345,25 ", 12345.25), ("1e4", 1e4), (42, 42.0), ("−7", -7.0)],
)
def test_numbers(cell: object, value: float) -> None:
    assert parse_number(cell) == value


@pytest.mark.parametrize("cell", ["abc", "NaN", "inf", "-Infinity", float("nan"), True, "1,2,3"])
def test_not_numbers(cell: object) -> None:
    with pytest.raises(CellError):
        parse_number(cell)


def test_dates_and_times() -> None:
    assert parse_date("15.08.2020") == date(2020, 8, 15)
    assert parse_date(43831.0) == date(2020, 1, 1)  # Excel serial of 2020-01-01
    assert parse_time_of_day("15:27:03,5") == timedelta(hours=15, minutes=27, seconds=3.5)
    assert parse_time_of_day(time(1, 2, 3)) == timedelta(hours=1, minutes=2, seconds=3)
    assert parse_datetime("2020-08-15T15:27:00") == datetime(2020, 8, 15, 15, 27)
    assert parse_datetime("15.08.2020 15:27") == datetime(2020, 8, 15, 15, 27)
    assert from_parts(2016, 10, 26, 3, 15, "35.882") == datetime(2016, 10, 26, 3, 15, 35, 882000)


@pytest.mark.parametrize("cell", ["31.02.2020", "2020-13-01", "yesterday", "01.01.1700", 9e9])
def test_impossible_dates(cell: object) -> None:
    with pytest.raises(CellError, match="impossible"):
        parse_date(cell) if not isinstance(cell, str) or "." in cell else parse_datetime(cell)


def test_impossible_parts() -> None:
    with pytest.raises(CellError):
        from_parts(2016, 2, 30)
    with pytest.raises(CellError):
        from_parts(2016, 2, 3, 25, 0, 0)
