"""Raw access to tabular files: header row plus ``(row_number, cells)`` pairs.

Row numbers are the ones a person sees: the spreadsheet row in ``.xlsx``, the
line in ``.csv`` (header = 1), and the 1-based record + 1 in ``.parquet`` so a
report reads the same for every format.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from replay.columns import count_known
from replay.exceptions import UnreadableFileError

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and legacy .xls
_HEADER_SCAN_ROWS = 30  # exports often carry a title block above the header
_MIN_KNOWN_HEADERS = 3
_ENCODINGS = ("utf-8-sig", "cp1251")  # Russian Excel saves CSV as Windows-1251
_DELIMITERS = (";", ",", "\t")  # Russian Excel writes ";" (the decimal separator is ",")
MAX_CELL_CHARS = 4096  # no date, number or id comes near; a longer cell is corrupt input
csv.field_size_limit(2**31 - 1)  # long cells are refused per row (read.py), not per file


@dataclass(frozen=True)
class BadRow:
    """A data row the CSV parser could not split: rejected with ``reason``, reading goes on."""

    reason: str


@dataclass
class RawTable:
    """Headers and an iterator over data rows; ``rows`` is consumed once."""

    path: Path
    headers: list[object]
    rows: Iterator[tuple[int, Sequence[object] | BadRow]]


def open_table(path: Path, sheet: str | int | None = None) -> RawTable:
    """Open ``path`` by its extension; raise :class:`UnreadableFileError` if impossible."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise UnreadableFileError(path, "file is empty")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _open_xlsx(path, sheet)
    if suffix in (".csv", ".txt", ".tsv"):
        return _open_csv(path)
    if suffix == ".parquet":
        return _open_parquet(path)
    if suffix == ".xls":
        raise UnreadableFileError(path, "legacy .xls is not supported: save it as .xlsx or .csv")
    raise UnreadableFileError(
        path, f"unsupported file type {suffix or '(none)'!r}: expected .xlsx, .csv or .parquet"
    )


def _open_xlsx(path: Path, sheet: str | int | None) -> RawTable:
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic == _OLE_MAGIC:
        raise UnreadableFileError(
            path,
            "workbook is encrypted (password-protected) or a "
            "legacy .xls renamed; save it unprotected as .xlsx",
        )
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnreadableFileError(path, f"not a valid .xlsx workbook ({exc})") from exc
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit()):
            ws = wb.worksheets[int(sheet)]
        else:
            ws = wb[sheet]
    except (IndexError, KeyError) as exc:
        wb.close()
        raise UnreadableFileError(path, f"no sheet {sheet!r}; sheets are {wb.sheetnames}") from exc

    it = ws.iter_rows(values_only=True)
    scanned = _first_rows(it)
    best = _header_index(scanned)
    if best is None:
        others = [name for name in wb.sheetnames if name != ws.title
                  and _header_index(_first_rows(wb[name].iter_rows(values_only=True)))
                  is not None]
        wb.close()
        hint = (f"the header is on sheet {others[0]!r}: add --sheet {others[0]!r}" if others
                else f"sheets are {wb.sheetnames}; choose one with --sheet NAME")
        raise UnreadableFileError(path, f"no recognisable header row in sheet {ws.title!r}; "
                                        f"{hint}")
    headers = list(scanned[best])

    def rows() -> Iterator[tuple[int, Sequence[object]]]:
        try:
            for offset, row in enumerate(scanned[best + 1 :], start=best + 2):
                yield offset, row
            for offset, row in enumerate(it, start=len(scanned) + 1):
                yield offset, row
        finally:
            wb.close()

    return RawTable(path, headers, rows())


def _first_rows(it: Iterator[Sequence[object]]) -> list[Sequence[object]]:
    return [row for _, row in zip(range(_HEADER_SCAN_ROWS), it, strict=False)]


def _header_index(rows: list[Sequence[object]]) -> int | None:
    """The row with the most recognised column names, if it has enough of them."""
    best = max(range(len(rows)), key=lambda i: count_known(rows[i]), default=None)
    return best if best is not None and count_known(rows[best]) >= _MIN_KNOWN_HEADERS else None


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04" or data[:8] == _OLE_MAGIC:
        raise UnreadableFileError(path, "this is a spreadsheet, not CSV: name it .xlsx")
    for enc in _ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise UnreadableFileError(path, "cannot decode text as UTF-8 or Windows-1251")


def _lines(text: str) -> str:
    """One line ending, ``\\n``. A file with LF or CRLF endings keeps them and a stray CR
    inside a row becomes a space; a file that ends its lines with CR only is converted."""
    lf, lone_cr = text.count("\n"), text.count("\r") - text.count("\r\n")
    if lone_cr > lf:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\r\n", "\n").replace("\r", " ")


def _find_header(text: str) -> tuple[int, str, list[str]] | None:
    """(row index, delimiter, cells) of the row with the most recognised column names in the
    first rows under each delimiter: data rows (ragged ones too) never decide it."""
    best: tuple[int, int, str, list[str]] | None = None  # (names known, index, delimiter, row)
    for delimiter in _DELIMITERS:
        try:
            rows = _first_rows(csv.reader(io.StringIO(text), delimiter=delimiter))
        except csv.Error:
            continue
        i = _header_index(rows)
        if i is not None and (best is None or count_known(rows[i]) > best[0]):
            best = (count_known(rows[i]), i, delimiter, list(rows[i]))
    return best[1:] if best is not None else None


def _open_csv(path: Path) -> RawTable:
    text = _lines(_decode(path))
    if not text.strip():
        raise UnreadableFileError(path, "file is empty")
    found = _find_header(text)
    if found is None:
        first = next(csv.reader(io.StringIO(text), delimiter=";"), [])
        raise UnreadableFileError(
            path,
            f"no recognisable columns in the first {_HEADER_SCAN_ROWS} lines (first line "
            f"{[c[:40] for c in first[:8]]}); is this a GITS export or a catalog?",
        )
    index, delimiter, headers = found
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for _ in range(index + 1):  # the title block and the header
        next(reader)

    def rows() -> Iterator[tuple[int, Sequence[object] | BadRow]]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. an unterminated quote: this row, not the file
                yield reader.line_num, BadRow(f"unreadable CSV row ({exc})")
                continue
            if any(cell.strip() for cell in row):
                yield reader.line_num, row

    return RawTable(path, list(headers), rows())


def _open_parquet(path: Path) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableFileError(path, f"not a readable parquet file ({exc})") from exc
    headers: list[object] = list(table.column_names)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]

    def rows() -> Iterator[tuple[int, Sequence[object]]]:
        for i, row in enumerate(zip(*columns, strict=True)):
            yield i + 2, row

    return RawTable(path, headers, rows())
