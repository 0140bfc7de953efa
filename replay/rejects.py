"""The rejects report: every refused row with what was wrong and where (the record itself,
:class:`~stream_models.wire.Reject`, is part of the wire format)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from stream_models.wire import Reject

REPORT_COLUMNS = ("file", "row", "column", "value", "reason")


def write_report(rejects: Iterable[Reject], path: Path) -> Path:
    """Write the rejects as CSV (UTF-8 with BOM so Excel shows Cyrillic correctly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(REPORT_COLUMNS)
        for r in rejects:
            writer.writerow([r.file, r.row, r.column, r.value, r.reason])
    return path
