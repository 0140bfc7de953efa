"""Header aliases of GITS exports and catalogs, and resolution of a file's columns.

GITS exports come from Excel in Russian or English with small variations
(``E, Дж``, ``Е`` in Cyrillic, ``Eкорр``/``E_corr``, split ``Дата``/``Время``),
so headers are compared after normalisation, not verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from stream_models.wire import SENSORS

Format = Literal["gits", "catalog"]

# Cyrillic letters that GITS exports use interchangeably with their Latin twins
_HOMOGLYPHS = str.maketrans("аеёкмнорстухАЕЁКМНОРСТУХ", "aeekmhopctyxaeekmhopctyx")
_UNITS = re.compile(r"[,(\[].*$")
_NON_WORD = re.compile(r"[^\w]+")

TIME_PARTS: tuple[str, ...] = ("year", "month", "day", "hour", "minute", "second")

ALIASES: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id", "id", "eventid", "event", "№", "№ п/п", "no", "номер", "n"),
    "datetime": ("datetime", "date_time", "дата-время", "дата и время", "дата/время",
                 "timestamp", "origin_time"),
    "date": ("date", "дата"),
    "time": ("time", "время"),
    "year": ("year", "год"),
    "month": ("month", "месяц"),
    "day": ("day", "день"),
    "hour": ("hour", "час"),
    "minute": ("minute", "min", "минута", "мин"),
    "second": ("second", "sec", "секунда", "сек"),
    "x": ("x", "x_m"),
    "y": ("y", "y_m"),
    "z": ("z", "z_m"),
    "energy_j": ("e", "energy", "energy_j", "энергия", "e_j"),
    "duration_s": ("t", "duration", "duration_s", "длительность", "t_s"),
    "energy_corr_j": ("eкорр", "e_corr", "ecorr", "e корр", "energy_corr", "energy_corr_j", "eкор"),
    "duration_corr_s": ("tкорр", "t_corr", "tcorr", "t корр", "duration_corr", "duration_corr_s",
                        "tкор"),
    "volume_m3": ("v", "volume", "volume_m3", "объем", "объём", "объем добычи", "объём добычи"),
    "zone": ("zone", "зона", "участок"),
    "magnitude": ("magnitude", "mag", "mw", "m"),
    **{s: (s, f"s {s[1:]}", f"s_{s[1:]}", f"д{s[1:]}", f"датчик {s[1:]}", f"sensor{s[1:]}",
           f"sensor_{s[1:]}") for s in SENSORS},
}

# Fields an event must have in each format (besides a time, resolved separately)
REQUIRED: dict[Format, tuple[str, ...]] = {
    "gits": ("x", "y", "z", "energy_j", "duration_s"),
    "catalog": ("x", "y", "z"),
}
VALUE_FIELDS: tuple[str, ...] = (
    "x", "y", "z", "energy_j", "duration_s", "energy_corr_j", "duration_corr_s",
    "volume_m3", *SENSORS, "magnitude",
)


def normalise(header: object) -> str:
    """Reduce a header to the key aliases are compared on.

    >>> normalise("E, Дж"), normalise("Eкорр"), normalise("X (м)"), normalise(" S_1 ")
    ('e', 'ekopp', 'x', 's_1')
    """
    text = str(header).strip().replace("№", "no ")
    text = _UNITS.sub("", text).translate(_HOMOGLYPHS).lower()
    return _NON_WORD.sub("_", text).strip("_")


_LOOKUP: dict[str, str] = {}
for _field, _aliases in ALIASES.items():
    for _alias in _aliases:
        _LOOKUP.setdefault(normalise(_alias), _field)


@dataclass(frozen=True)
class ColumnMap:
    """Which column index holds each canonical field, and how time is assembled."""

    index: dict[str, int] = field(default_factory=dict)
    headers: tuple[str, ...] = ()
    time_mode: Literal["datetime", "date+time", "parts"] = "datetime"

    def header_of(self, name: str) -> str:
        return self.headers[self.index[name]]

    @property
    def time_columns(self) -> tuple[str, ...]:
        names = {"datetime": ("datetime",), "date+time": ("date", "time"), "parts": TIME_PARTS}
        return names[self.time_mode]


class ColumnError(ValueError):
    """The headers do not give the fields the format needs."""


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """Parse ``--map field=header`` options.

    >>> parse_mapping(["magnitude=MW", "z=TVD (m)"])
    {'magnitude': 'MW', 'z': 'TVD (m)'}
    """
    out: dict[str, str] = {}
    for item in items:
        name, sep, header = item.partition("=")
        name = name.strip()
        if not sep or not name or not header.strip():
            raise ColumnError(f"--map expects field=header, got {item!r}")
        if name not in ALIASES:
            raise ColumnError(f"--map: unknown field {name!r}; known: {', '.join(ALIASES)}")
        out[name] = header.strip()
    return out


def count_known(headers: Sequence[object]) -> int:
    """How many headers are recognised: used to find the header row of a sheet."""
    return sum(1 for h in headers if h is not None and normalise(h) in _LOOKUP)


def resolve(headers: Sequence[object], fmt: Format, mapping: Mapping[str, str]) -> ColumnMap:
    """Map canonical fields to column indices, explicit ``mapping`` first, then aliases."""
    texts = tuple("" if h is None else str(h).strip() for h in headers)
    index: dict[str, int] = {}
    for name, header in mapping.items():
        hits = [i for i, t in enumerate(texts) if t == header] or [
            i for i, t in enumerate(texts) if normalise(t) == normalise(header)
        ]
        if not hits:
            raise ColumnError(f"--map {name}={header!r}: no such column; columns are {list(texts)}")
        index[name] = hits[0]
    taken = set(index.values())
    for i, text in enumerate(texts):
        name = _LOOKUP.get(normalise(text)) if text else None
        if name is not None and name not in index and i not in taken:
            index[name] = i
            taken.add(i)
    if fmt == "gits":
        index.pop("magnitude", None)  # "M" in a GITS sheet is never a moment magnitude

    if "datetime" in index:
        mode: Literal["datetime", "date+time", "parts"] = "datetime"
    elif "date" in index and "time" in index:
        mode = "date+time"
    elif "time" in index or "date" in index:
        index["datetime"] = index.pop("time") if "time" in index else index.pop("date")
        mode = "datetime"
    elif all(p in index for p in TIME_PARTS[:3]):
        mode = "parts"
    else:
        raise ColumnError(f"no date/time column found; columns are {list(texts)}")

    missing = [f for f in REQUIRED[fmt] if f not in index]
    if fmt == "catalog" and "energy_j" not in index and "magnitude" not in index:
        missing.append("magnitude or energy_j")
    if missing:
        raise ColumnError(
            f"missing column(s) {missing} for format {fmt!r}; columns are {list(texts)}; "
            "name them with --map field=header"
        )
    return ColumnMap(index=index, headers=texts, time_mode=mode)
