"""A catalog written in a GITS export's layout: Russian headers, date and time in two
columns, decimal commas and ";" in CSV, as Excel in a Kuzbass control room writes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stream_models.wire import SENSORS

GITS_COLUMNS: tuple[str, ...] = (
    "№", "Дата", "Время", "X", "Y", "Z", "E", "t", "Eкорр", "tкорр", "V", *SENSORS,
)


def to_gits_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename canonical columns to a GITS export's Russian headers, date and time split."""
    out = pd.DataFrame({
        "№": frame["event_id"],
        "Дата": frame["time"].dt.date,
        "Время": frame["time"].dt.time,
        "X": frame["x"], "Y": frame["y"], "Z": frame["z"],
        "E": frame["energy_j"], "t": frame["duration_s"],
        "Eкорр": frame["energy_corr_j"], "tкорр": frame["duration_corr_s"],
        "V": frame["volume_m3"],
    })
    for name in SENSORS:
        out[name] = frame[name]
    return out


def write_gits(frame: pd.DataFrame, path: Path, sheet: str = "События") -> Path:
    """Write in GITS column layout; the format follows the extension (.xlsx, .csv, .parquet)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gits = to_gits_layout(frame)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
        ws.append(list(GITS_COLUMNS))
        for row in gits.itertuples(index=False, name=None):
            ws.append([v.item() if isinstance(v, np.generic) else v for v in row])
        wb.save(path)
    elif suffix == ".csv":
        gits.assign(
            Дата=pd.to_datetime(gits["Дата"]).dt.strftime("%d.%m.%Y"),
            Время=gits["Время"].map(lambda t: t.isoformat(timespec="milliseconds")),
        ).to_csv(path, index=False, sep=";", decimal=",", encoding="utf-8-sig")
    elif suffix == ".parquet":
        gits.assign(
            Дата=gits["Дата"].astype(str),
            Время=gits["Время"].map(lambda t: t.isoformat(timespec="milliseconds")),
        ).to_parquet(path, index=False)
    else:
        raise ValueError(f"unsupported output type {suffix!r}: use .xlsx, .csv or .parquet")
    return path
