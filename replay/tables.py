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


@dataclass
class RawTable:
    """Headers and an iterator over data rows; ``rows`` is consumed once."""

    path: Path
    headers: list[object]
    rows: Iterator[tuple[int, Sequence[object]]]


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
    scanned: list[tuple[object, ...]] = []
    for _ in range(_HEADER_SCAN_ROWS):
        try:
            scanned.append(next(it))
        except StopIteration:
            break
    best = max(range(len(scanned)), key=lambda i: count_known(scanned[i]), default=None)
    if best is None or count_known(scanned[best]) < _MIN_KNOWN_HEADERS:
        wb.close()
        raise UnreadableFileError(path, f"no recognisable header row in sheet {ws.title!r}")
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


def _open_csv(path: Path) -> RawTable:
    text = _decode(path)
    if not text.strip():
        raise UnreadableFileError(path, "file is empty")
    sample = text[:65536]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=";,\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        headers: list[object] = list(next(reader))
    except StopIteration as exc:
        raise UnreadableFileError(path, "file is empty") from exc
    if count_known(headers) < _MIN_KNOWN_HEADERS and len(headers) > 0:
        raise UnreadableFileError(
            path,
            f"no recognisable columns in the first line {headers[:8]}; "
            "is this a GITS export or a catalog?",
        )

    def rows() -> Iterator[tuple[int, Sequence[object]]]:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, row

    return RawTable(path, headers, rows())


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
