"""Replay checkpoints: which items the broker has acknowledged, saved atomically.

A checkpoint belongs to one (file content, options, topics, cluster) identity,
so resuming never skips events that a different or restarted broker never saw.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def replay_key(*parts: object) -> str:
    """A stable identity from the replay's inputs."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


@dataclass
class Checkpoint:
    """Items ``< next_index`` are acknowledged, and so are those in ``acked_after``.

    >>> cp = Checkpoint(Path("/nonexistent/cp.json"), "k")
    >>> for i in (0, 2, 1): cp.mark(i)
    >>> cp.next_index, cp.acked_after
    (3, set())
    """

    path: Path
    key: str
    next_index: int = 0
    acked_after: set[int] = field(default_factory=set)
    total: int = 0
    done: bool = False

    def mark(self, index: int) -> None:
        if index < self.next_index:
            return
        self.acked_after.add(index)
        while self.next_index in self.acked_after:
            self.acked_after.remove(self.next_index)
            self.next_index += 1

    def is_acked(self, index: int) -> bool:
        return index < self.next_index or index in self.acked_after

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = {
            "key": self.key,
            "next_index": self.next_index,
            "total": self.total,
            "acked_after": sorted(self.acked_after),
            "done": self.done,
        }
        tmp.write_text(json.dumps(body))
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, path: Path, key: str) -> Checkpoint:
        """The saved checkpoint for ``key``, or a fresh one."""
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls(path, key)
        if body.get("key") != key:
            return cls(path, key)
        return cls(
            path,
            key,
            int(body["next_index"]),
            set(body.get("acked_after", [])),
            int(body.get("total", 0)),
            bool(body.get("done", False)),
        )


class SentLedger:
    """Identities of the messages a cluster's topics have acknowledged, across files.

    GITS exports are re-exported whole as the year goes on: the checkpoint belongs
    to one file's content, so a grown export would be sent again in full. The ledger
    belongs to the destination (topics and cluster) and is keyed by event id, so a
    grown or overlapping export sends only its new rows.

    >>> import tempfile
    >>> ledger = SentLedger(Path(tempfile.mkdtemp()) / "sent.sqlite")
    >>> ledger.add(["e:1", "e:2"]); ledger.known(["e:2", "e:3"])
    {'e:2'}
    """

    def __init__(self, path: Path) -> None:
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS sent (id TEXT PRIMARY KEY)")

    def known(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` already acknowledged (asked in chunks: SQLite bounds parameters)."""
        ids, out = list(ids), set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT id FROM sent WHERE id IN ({marks})", chunk)
            out.update(r[0] for r in rows)
        return out

    def add(self, ids: Iterable[str]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO sent VALUES (?)", ((i,) for i in ids))
        self._db.commit()

    def close(self) -> None:
        self._db.close()
