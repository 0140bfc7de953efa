"""Reading files: formats agree, bad rows are rejected with row and column, never dropped."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.exceptions import UnreadableFileError
from replay.gits_export import to_gits_layout
from replay.read import read_events
from tests.fixtures import EATON, EATON_MAP, cli, synth_file, synth_frame

TZ = "Asia/Novokuznetsk"


def test_xlsx_csv_parquet_give_identical_events(tmp_path: Path) -> None:
    frame = synth_frame(days=5)
    results = {}
    for ext in ("xlsx", "csv", "parquet"):
        from replay.gits_export import write_gits

        path = write_gits(frame, tmp_path / f"m.{ext}")
        results[ext] = read_events(path, "gits", timezone=TZ)
    assert len(results["xlsx"].events) == len(frame) > 20
    assert results["xlsx"].events == results["csv"].events == results["parquet"].events
    first = results["csv"].events[0]
    row = frame.iloc[0]
    assert (
        first.energy_j == row.energy_j and first.s4 == row.s4 and first.volume_m3 == row.volume_m3
    )
    # local mine time (UTC+7) on the wire as UTC
    assert first.time.utcoffset().total_seconds() == 0
    assert first.time.replace(tzinfo=None) == (row.time - pd.Timedelta(hours=7)).to_pydatetime()


def test_sheet_by_name_and_index_and_title_rows(tmp_path: Path) -> None:
    from openpyxl import Workbook

    gits = to_gits_layout(synth_frame(days=2))
    wb = Workbook()
    wb.active.title = "Сводка"
    wb.active.append(["not events"])
    ws = wb.create_sheet("События")
    ws.append(["Шахта им. Примерная, GITS, выгрузка"])  # title block above the header
    ws.append([])
    ws.append(list(gits.columns))
    for row in gits.itertuples(index=False, name=None):
        ws.append([v.item() if hasattr(v, "item") else v for v in row])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    by_name = read_events(path, sheet="События", timezone=TZ)
    by_index = read_events(path, sheet=1, timezone=TZ)
    assert by_name.events == by_index.events and len(by_name.events) == len(gits)
    with pytest.raises(UnreadableFileError, match="no recognisable header"):
        read_events(path, sheet=0)
    with pytest.raises(UnreadableFileError, match="add --sheet 'События'"):
        read_events(path)  # the first sheet has no header: the error names the one that has


def test_out_of_order_rows_are_sorted(tmp_path: Path) -> None:
    frame = synth_frame(days=3).sample(frac=1.0, random_state=1)
    from replay.gits_export import write_gits

    res = read_events(write_gits(frame, tmp_path / "shuffled.csv"), timezone=TZ)
    times = [e.time for e in res.events]
    assert times == sorted(times) and res.out_of_order > 0 and len(times) == len(frame)


def test_duplicates_by_id_and_by_time_and_place(tmp_path: Path) -> None:
    gits = to_gits_layout(synth_frame(days=3))
    dup_id = gits.iloc[[4]].copy()
    dup_id["X"] += 1.0  # different place, same №
    dup_place = gits.iloc[[6]].copy()
    dup_place["№"] = 99999  # new id, same time and place
    data = pd.concat([gits, dup_id, dup_place], ignore_index=True)
    path = tmp_path / "dups.csv"
    data.to_csv(path, index=False, sep=";")
    res = read_events(path, timezone=TZ)
    assert len(res.events) == len(gits)
    reasons = {r.row: r.reason for r in res.rejects}
    assert reasons == {
        len(gits) + 2: "duplicate event_id of row 6",
        len(gits) + 3: "duplicate of row 8 (same time and location)",
    }


def test_catalog_loads_eaton_with_documented_map() -> None:
    from replay.columns import parse_mapping

    res = read_events(EATON, "catalog", parse_mapping(EATON_MAP))
    assert res.rows_read == 4083 and len(res.events) + len(res.rejects) == 4083
    e = res.events[0]
    assert e.event_id == "1" and e.x == 484535 and e.z == 3613
    assert math.isclose(math.log10(e.energy_j), 1.5 * -0.21 + 4.8)
    assert e.duration_s is None and e.s1 is None


# ---- hypothesis: injected bad rows ------------------------------------------------------

CORRUPTIONS = {
    "text": ("E", "abc", "not a number"),
    "nan": ("t", "NaN", "not a finite number"),
    "inf": ("X", "inf", "not a finite number"),
    "negative_energy": ("E", "-5", "energy_j must be positive"),
    "zero_energy": ("E", "0", "energy_j must be positive"),
    "negative_duration": ("t", "-1,5", "duration_s must not be negative"),
    "bad_date": ("Дата", "31.02.2020", "impossible date"),
    "bad_month": ("Дата", "01.13.2020", "impossible date"),
    "bad_time": ("Время", "25:61:00", "impossible time"),
    "missing_energy": ("E", "", "missing value"),
    "missing_y": ("Y", "", "missing value"),
    "sensor_text": ("s7", "н/д", "not a number"),
}

BASE = to_gits_layout(synth_frame(days=4, seed=3))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.integers(0, len(BASE) - 1), st.sampled_from(sorted(CORRUPTIONS)), max_size=12
    ),
    st.booleans(),
)
def test_bad_rows_rejected_with_row_and_column(
    tmp_path_factory: pytest.TempPathFactory, bad: dict[int, str], truncate_last: bool
) -> None:
    data = BASE.copy().astype(object)
    data["Дата"] = pd.to_datetime(data["Дата"]).dt.strftime("%d.%m.%Y")
    data["Время"] = data["Время"].map(lambda t: t.isoformat(timespec="milliseconds"))
    for row, kind in bad.items():
        column, value, _ = CORRUPTIONS[kind]
        data.at[row, column] = value
    path = tmp_path_factory.mktemp("bad") / "bad.csv"
    text = data.to_csv(index=False, sep=";")
    lines = text.splitlines()
    truncated_row = None
    if truncate_last and len(BASE) - 1 not in bad:
        lines[-1] = ";".join(lines[-1].split(";")[:5])  # a row cut short: dropped columns
        truncated_row = len(lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    res = read_events(path, timezone=TZ)
    expected = {row + 2: CORRUPTIONS[kind] for row, kind in bad.items()}
    got = {r.row: r for r in res.rejects}
    if truncated_row is not None:
        assert got.pop(truncated_row).reason == "missing value"
    assert set(got) == set(expected)
    for row, (column, _, reason) in expected.items():
        assert got[row].column == column and reason in got[row].reason, got[row]
        assert got[row].file == "bad.csv"
    n_bad = len(bad) + (truncated_row is not None)
    assert len(res.events) == len(BASE) - n_bad  # every other row delivered
    assert len(res.events) + len(res.rejects) == res.rows_read


# ---- files that cannot be read at all: one clear error, exit code 2 ------------------------


def _encrypted(path: Path) -> None:
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty.csv", lambda p: p.write_text(""), "empty"),
        ("header_only.csv", lambda p: p.write_text("Дата;Время;X;Y;Z;E;t\n"), "no data rows"),
        ("year.docx", lambda p: p.write_text("x"), "unsupported file type"),
        ("locked.xlsx", _encrypted, "encrypted"),
        ("broken.xlsx", lambda p: p.write_bytes(b"PK\x03\x04garbage"), "not a valid .xlsx"),
        ("other.csv", lambda p: p.write_text("a;b;c\n1;2;3\n"), "no recognisable columns"),
        (
            "noenergy.csv",
            lambda p: p.write_text("Дата;Время;X;Y;Z;t\n01.01.2020;10:00;1;2;3;1\n"),
            "missing column",
        ),
    ],
)
def test_unreadable_files_exit_2(tmp_path: Path, name: str, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    make(path)
    res = cli("replay", str(path), "--max")
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and name in res.stderr
    assert "Traceback" not in res.stderr


def test_synth_file_reads_back_through_gits_reader(tmp_path: Path) -> None:
    path = synth_file(tmp_path / "m.xlsx", days=3)
    res = read_events(path, timezone=TZ)
    assert not res.rejects and res.events and res.columns.time_mode == "date+time"
