"""Header resolution across the Russian/English variants of GITS exports."""

from __future__ import annotations

import pytest

from replay.columns import ColumnError, parse_mapping, resolve
from stream_models.wire import SENSORS

RU = ["№", "Дата", "Время", "X", "Y", "Z", "Е", "t", "Eкорр", "tкорр", "V", *SENSORS]
EN = [
    "ID",
    "DateTime",
    "x, m",
    "y, m",
    "z, m",
    "E, J",
    "duration",
    "E_corr",
    "t_corr",
    "Volume",
    *[s.upper() for s in SENSORS],
]


def test_russian_layout_with_split_date() -> None:
    cm = resolve(RU, "gits", {})
    assert cm.time_mode == "date+time"
    assert cm.header_of("energy_j") == "Е"  # Cyrillic capital Ie
    assert cm.header_of("energy_corr_j") == "Eкорр" and cm.header_of("duration_corr_s") == "tкорр"
    assert cm.header_of("s12") == "s12" and cm.header_of("event_id") == "№"


def test_english_layout_with_one_datetime_column() -> None:
    cm = resolve(EN, "gits", {})
    assert cm.time_mode == "datetime"
    assert [cm.header_of(f) for f in ("x", "energy_j", "volume_m3", "s3")] == [
        "x, m",
        "E, J",
        "Volume",
        "S3",
    ]


def test_explicit_map_wins_over_aliases() -> None:
    cm = resolve(
        ["time", "X", "Y", "Depth", "Ml", "MW"],
        "catalog",
        parse_mapping(["z=Depth", "magnitude=Ml"]),
    )
    assert cm.header_of("magnitude") == "Ml" and cm.header_of("z") == "Depth"


def test_missing_required_column_names_what_is_missing() -> None:
    with pytest.raises(ColumnError, match=r"energy_j"):
        resolve(["Дата", "Время", "X", "Y", "Z", "t"], "gits", {})
    with pytest.raises(ColumnError, match="date/time"):
        resolve(["X", "Y", "Z", "E", "t"], "gits", {})
    with pytest.raises(ColumnError, match="no such column"):
        resolve(RU, "gits", {"x": "Easting"})


def test_bad_map_option() -> None:
    with pytest.raises(ColumnError, match="unknown field"):
        parse_mapping(["depth=Z"])
    with pytest.raises(ColumnError, match="field=header"):
        parse_mapping(["magnitude"])
