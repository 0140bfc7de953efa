"""The model registry: one directory per LSTM version, a pointer to the promoted one, a log.

Layout of ``root``::

    lstm-0001/weights.pt, meta.json   every trained version, with its metrics and data window
    current.json                      {"version": "lstm-0003"}: what scorers load
    decisions.jsonl                   one line per retraining: promoted or not, and why
    schedule.json                     {"next_t": ...}: event time of the next retraining

Version directories are created with an atomic ``mkdir``, so two workers sharing
a registry never write the same version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stream_models.sequence import META_FILE, SequenceModel

PREFIX = "lstm-"
KEEP = 10  # newest versions kept besides the promoted one


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def allocate(self) -> tuple[str, Path]:
        """A new, unused version name and its (created) directory."""
        n = max((self._number(p) for p in self.root.glob(f"{PREFIX}*")), default=0)
        while True:
            n += 1
            version = f"{PREFIX}{n:04d}"
            try:
                (self.root / version).mkdir()
                return version, self.root / version
            except FileExistsError:
                continue

    @staticmethod
    def _number(path: Path) -> int:
        tail = path.name.removeprefix(PREFIX)
        return int(tail) if tail.isdigit() else 0

    def versions(self) -> list[str]:
        entries = [p for p in self.root.glob(f"{PREFIX}*") if (p / META_FILE).exists()]
        return [p.name for p in sorted(entries, key=self._number)]

    def _read(self, name: str) -> dict[str, Any]:
        try:
            return dict(json.loads((self.root / name).read_text()))
        except (OSError, ValueError):
            return {}

    def _write(self, name: str, value: dict[str, Any]) -> None:
        tmp = self.root / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True))
        tmp.replace(self.root / name)

    def current(self) -> str | None:
        version = self._read("current.json").get("version")
        return str(version) if version else None

    def promote(self, version: str) -> None:
        if not (self.root / version / META_FILE).exists():
            raise FileNotFoundError(f"no registry entry {self.root / version}")
        self._write("current.json", {"version": version})

    def load(self, version: str) -> SequenceModel:
        return SequenceModel.load(self.root / version)

    def log(self, decision: dict[str, Any]) -> None:
        with (self.root / "decisions.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(decision, sort_keys=True) + "\n")

    def decisions(self) -> list[dict[str, Any]]:
        path = self.root / "decisions.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def next_t(self) -> float | None:
        value = self._read("schedule.json").get("next_t")
        return float(value) if value is not None else None

    def set_next_t(self, t: float) -> None:
        self._write("schedule.json", {"next_t": t})

    def prune(self) -> None:
        """Delete old versions, keeping the promoted one and the newest :data:`KEEP`."""
        keep = set(self.versions()[-KEEP:]) | {self.current()}
        for name in self.versions():
            if name not in keep:
                for f in (self.root / name).iterdir():
                    f.unlink()
                (self.root / name).rmdir()
