"""Rejected rows: what was wrong, where, and where the report of them goes."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream_models.wire import REJECT_SCHEMA


@dataclass(frozen=True)
class Reject:
    """One input row that did not become an event."""

    file: str
    row: int
    column: str
    value: str
    reason: str
    raw: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.file}: row {self.row}, column {self.column!r}: {self.reason}"

    def to_wire(self) -> bytes:
        body = {"schema": REJECT_SCHEMA, **asdict(self)}
        return json.dumps(body, sort_keys=True, default=str, ensure_ascii=False).encode()

    @property
    def key(self) -> bytes:
        """A stable key so a resent reject is recognisable as the same one."""
        return f"{self.file}:{self.row}".encode()


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
