"""What Excel and GITS really write is read: any line ending, a ragged row, a title block,
a huge cell; implausible values and impossible options are refused one row or one line
at a time, never with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.gits_export import write_gits
from replay.limits import Limits
from replay.read import read_events
from tests.fixtures import cli, synth_frame

TZ = "Asia/Novokuznetsk"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """A GITS CSV export as text (LF endings) and its number of events."""
    frame = synth_frame(days=3)
    path = write_gits(frame, tmp_path_factory.mktemp("x") / "m.csv")
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    return text, len(frame)


def _write(tmp_path: Path, text: str, name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _ids(path: Path, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.event_id for e in read_events(path, timezone=TZ, **kw).events]


def test_every_line_ending_and_a_stray_cr_inside_a_row_read_the_same_events(
    tmp_path: Path, export: tuple[str, int]
) -> None:
    text, n = export
    want = _ids(_write(tmp_path, text))
    assert len(want) == n
    for name, variant in {"crlf": text.replace("\n", "\r\n"), "cr": text.replace("\n", "\r"),
                          "stray": text.replace(";", ";\r", 3)}.items():
        assert _ids(_write(tmp_path, variant, f"{name}.csv")) == want, name


def test_a_ragged_row_does_not_decide_the_delimiter_and_extra_cells_are_reported(
    tmp_path: Path, export: tuple[str, int]
) -> None:
    text, n = export
    lines = text.splitlines()
    lines[1] += ";"  # Excel's trailing separator: an empty extra cell
    lines[2] += ";note by the shift engineer"  # a non-empty one
    lines[3] = ";".join(lines[3].split(";")[:-2])  # two trailing sensor cells missing
    res = read_events(_write(tmp_path, "\n".join(lines)), timezone=TZ)
    assert len(res.events) == n and not res.rejects
    [extra] = res.extra_cells
    assert extra.row == 3 and "note by the shift engineer" in extra.value


def test_a_title_block_above_the_header_is_skipped_and_rows_keep_their_line_numbers(
    tmp_path: Path, export: tuple[str, int]
) -> None:
    text, n = export
    lines = text.splitlines()
    lines[2] = lines[2].replace(";", ";abc", 1)  # the second data row: a bad № cell?
    title = "Шахта им. Примерная;;\nВыгрузка GITS за сентябрь\n\n"
    res = read_events(_write(tmp_path, title + "\n".join(lines)), timezone=TZ)
    assert len(res.events) + len(res.rejects) == n
    assert all(r.row == 6 for r in res.rejects)  # three title lines, header on line 4


def test_an_oversized_cell_rejects_its_row_without_echoing_it(
    tmp_path: Path, export: tuple[str, int]
) -> None:
    text, n = export
    lines = text.splitlines()
    cells = lines[5].split(";")
    cells[3] = "9" * 200_000  # the energy cell
    lines[5] = ";".join(cells)
    res = read_events(_write(tmp_path, "\n".join(lines)), timezone=TZ)
    [bad] = res.rejects
    assert bad.row == 6 and "200,000 characters" in bad.reason
    assert len(bad.value) <= 60 and all(len(str(v)) <= 60 for v in bad.raw.values())
    assert len(res.events) == n - 1


def test_implausible_energy_and_dates_are_rejected_per_row_and_the_limits_are_settings(
    tmp_path: Path, export: tuple[str, int]
) -> None:
    text, n = export
    lines = text.splitlines()
    header = lines[0].split(";")
    e_col, d_col = header.index("E"), header.index("Дата")
    row = lines[1].split(";")
    row[e_col] = "1e308"
    lines[1] = ";".join(row)
    row = lines[2].split(";")
    row[d_col] = "01.01.1900"
    lines[2] = ";".join(row)
    path = _write(tmp_path, "\n".join(lines))
    res = read_events(path, timezone=TZ)
    reasons = {r.row: r.reason for r in res.rejects}
    assert set(reasons) == {2, 3} and len(res.events) == n - 2
    assert "input.max_energy_j" in reasons[2] and "input.earliest" in reasons[3]
    looser = read_events(path, timezone=TZ, limits=Limits(max_energy_j=float("inf")))
    assert {r.row for r in looser.rejects} == {3}


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--tz", "Mars/Olympus"), "--tz"),
        (("--start", "yesterday"), "--start"),
        (("--speed", "inf"), "--speed"),
        (("--format", "excel"), "--format"),
    ],
)
def test_impossible_replay_options_are_one_line_errors_naming_the_option(
    tmp_path: Path, export: tuple[str, int], args: tuple[str, ...], option: str
) -> None:
    res = cli("replay", str(_write(tmp_path, export[0])), "--max", *args,
              env={"SEISMOWATCH_STATE_DIR": str(tmp_path / "s")})
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: {option}:") and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [(("--horizon", "inf"), "--horizon"), (("--horizon", "-2h"), "--horizon"),
     (("--target-energy", "inf"), "--target-energy"),
     (("--target-energy", "-5"), "--target-energy")],
)
def test_impossible_backtest_options_are_one_line_errors_naming_the_option(
    tmp_path: Path, export: tuple[str, int], args: tuple[str, ...], option: str
) -> None:
    res = cli("backtest", str(_write(tmp_path, export[0])), *args,
              env={"SEISMOWATCH_STATE_DIR": str(tmp_path / "s")})
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: {option}") and res.stderr.count("\n") == 1


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


_CELL = _TEXT | st.sampled_from(['"', "\r", ";", "1e308", "x" * 5000, ""])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    sep=st.sampled_from([";", ",", "\t"]),
    quote=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]),
    junk=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 25), _CELL), max_size=6),
    cut=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 25)), max_size=4),
)
def test_fuzzed_exports_are_read_row_by_row_or_refused_in_one_line(
    tmp_path: Path, export: tuple[str, int], ending: str, sep: str, quote: bool,
    encoding: str, junk: list[tuple[int, int, str]], cut: list[tuple[int, int]],
) -> None:
    """Random endings, separators, quoting, encodings, cell contents and ragged rows: every
    data row becomes an event or a reject, and nothing raises but a one-line file error."""
    from replay.exceptions import UnreadableFileError

    rows = [line.split(";") for line in export[0].splitlines()]
    for r, c, text in junk:
        if r < len(rows) and c < len(rows[r]):
            rows[r][c] = text
    for r, keep in cut:
        if r < len(rows):
            rows[r] = rows[r][:keep]
    q = '"' if quote else ""
    body = ending.join(sep.join(f"{q}{cell}{q}" for cell in row) for row in rows)
    path = tmp_path / "fuzz.csv"
    path.write_bytes(body.encode(encoding, errors="replace"))
    try:
        res = read_events(path, timezone=TZ)
    except UnreadableFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    data_rows = sum(1 for row in rows[1:] if any(cell.strip() for cell in row))
    # in a CR-only file a CR inside a cell is a line end: it can split a row in two
    splits = sum(text.count("\r") for _, _, text in junk) if ending == "\r" else 0
    assert res.rows_read == len(res.events) + len(res.rejects)  # each row: event or reject
    assert 0 < res.rows_read <= data_rows + splits
