"""The model registry: one directory per fitted version, the promoted one of each kind, a log.

Layout of ``root``::

    lstm-0001/weights.pt, meta.json   every trained LSTM, with its metrics and data window
    etas-0001/params.json             every ETAS fit, with its likelihoods and data window
    current.json                      {"lstm": "lstm-0003", "etas": "etas-0002"}: what scorers load
    decisions.jsonl                   one line per retraining and kind: promoted or not, and why
    schedule.json                     {"next_t": ...}: event time of the next retraining

Version directories are created with an atomic ``mkdir``, so two workers sharing
a registry never write the same version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from stream_models.learners.sequence import META_FILE, ModelFileError, SequenceModel
from stream_models.seismology.etas import EtasParams

Kind = Literal["lstm", "etas"]
KINDS: tuple[Kind, ...] = ("lstm", "etas")
ETAS_FILE = "params.json"
ETAS_FORMAT = "seismowatch.etas/1"
KEEP = 10  # newest versions of each kind kept besides the promoted one
_ENTRY_FILE = {"lstm": META_FILE, "etas": ETAS_FILE}


def kind_of(version: str) -> Kind:
    kind = version.partition("-")[0]
    if kind not in KINDS:
        raise ValueError(f"not a registry version: {version!r}")
    return kind  # type: ignore[return-value]


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def allocate(self, kind: Kind = "lstm") -> tuple[str, Path]:
        """A new, unused version name of ``kind`` and its (created) directory."""
        n = max((self._number(p) for p in self.root.glob(f"{kind}-*")), default=0)
        while True:
            n += 1
            version = f"{kind}-{n:04d}"
            try:
                (self.root / version).mkdir()
                return version, self.root / version
            except FileExistsError:
                continue

    @staticmethod
    def _number(path: Path) -> int:
        tail = path.name.partition("-")[2]
        return int(tail) if tail.isdigit() else 0

    def versions(self, kind: Kind = "lstm") -> list[str]:
        entries = [p for p in self.root.glob(f"{kind}-*") if (p / _ENTRY_FILE[kind]).exists()]
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

    def current(self, kind: Kind = "lstm") -> str | None:
        version = self._read("current.json").get(kind)
        return str(version) if version else None

    def promote(self, version: str) -> None:
        kind = kind_of(version)
        if not (self.root / version / _ENTRY_FILE[kind]).exists():
            raise FileNotFoundError(f"no registry entry {self.root / version}")
        self._write("current.json", {**self._read("current.json"), kind: version})

    def load(self, version: str) -> SequenceModel:
        return SequenceModel.load(self.root / version)

    def save_etas(self, version: str, params: EtasParams, meta: dict[str, Any]) -> None:
        body = {"format": ETAS_FORMAT, "params": params.to_json(), "meta": meta}
        tmp = self.root / version / (ETAS_FILE + ".tmp")
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True))
        tmp.replace(self.root / version / ETAS_FILE)

    def load_etas(self, version: str) -> EtasParams:
        """An ETAS entry: plain JSON numbers, checked, never code."""
        path = self.root / version / ETAS_FILE
        try:
            body = json.loads(path.read_text())
            if body.get("format") != ETAS_FORMAT:
                raise ValueError(f"not a seismowatch ETAS entry ({ETAS_FORMAT})")
            return EtasParams.from_json(body["params"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{path}: unusable ETAS entry ({exc})") from exc

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

    def prune(self, kind: Kind = "lstm") -> None:
        """Delete old versions, keeping the promoted one and the newest :data:`KEEP`."""
        keep = set(self.versions(kind)[-KEEP:]) | {self.current(kind)}
        for name in self.versions(kind):
            if name not in keep:
                for f in (self.root / name).iterdir():
                    f.unlink()
                (self.root / name).rmdir()
