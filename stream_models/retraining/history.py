"""The labelled history the LSTM is retrained on (a bounded SQLite file), and its split.

Every example enters once its label is final (released by the delayed labeler),
with the exact input vector and static context it was scored on, so training
sees what scoring saw. Rows are keyed by (zone, event id): an example released
again after a restart replaces itself. Rows older than the retention (in event
time) are deleted; WAL mode lets a training process read while the scorer writes.
Rows are keyed by (zone, example key), the 63-bit hash of the event id that the
labels carry (:func:`~stream_models.online.labels.example_key`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS examples (
    zone TEXT NOT NULL, key INTEGER NOT NULL, t REAL NOT NULL,
    x BLOB NOT NULL, static BLOB NOT NULL, y INTEGER NOT NULL,
    PRIMARY KEY (zone, key)
);
CREATE INDEX IF NOT EXISTS examples_t ON examples (t);
CREATE TABLE IF NOT EXISTS events (
    zone TEXT NOT NULL, key INTEGER NOT NULL, t REAL NOT NULL, log_e REAL NOT NULL,
    PRIMARY KEY (zone, key)
);
CREATE INDEX IF NOT EXISTS events_t ON events (t);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


Index = dict[str, np.ndarray]  # zone -> row indices into its ZoneHistory


@dataclass
class ZoneHistory:
    """One zone's labelled examples in time order."""

    zone: str
    t: np.ndarray  # (n,) event time, POSIX s
    x: np.ndarray  # (n, d) float32 model inputs
    static: np.ndarray  # (n, s) float32 static context
    y: np.ndarray  # (n,) bool: a target followed within the horizon


class HistoryStore:
    """Append labelled examples; read a time range back as per-zone arrays.

    Examples
    --------
    >>> import tempfile
    >>> store = HistoryStore(Path(tempfile.mkdtemp()) / "h.sqlite", ["a", "b"], 100.0)
    >>> for i in range(5):
    ...     store.add("z", float(i * 40), i, [i, -i], [0.0], i % 2 == 1)
    >>> store.add("z", 40.0, 1, [1, -1], [0.0], True)     # released again: no duplicate
    >>> store.prune(now=200.0)                              # keeps t > 100
    >>> h = store.load(0.0, 1e9)["z"]
    >>> h.t.tolist(), h.y.tolist(), h.x[:, 1].tolist()
    ([120.0, 160.0], [True, False], [-3.0, -4.0])
    """

    def __init__(self, path: Path, input_names: Sequence[str], retention_s: float) -> None:
        self.path = path
        self.input_names = list(input_names)
        self.retention_s = retention_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self._check_inputs()
        self._pending: list[tuple[str, int, float, bytes, bytes, int]] = []
        self._events: list[tuple[str, int, float, float]] = []
        self._learning: dict[str, float] = {}

    def _check_inputs(self) -> None:
        names = ",".join(self.input_names)
        row = self.db.execute("SELECT value FROM meta WHERE key='input_names'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('input_names', ?)", (names,))
            self.db.commit()
        elif row[0] != names:
            raise ValueError(
                f"{self.path} holds examples of other model inputs; move it away to start anew"
            )

    def add(
        self, zone: str, t: float, key: int, x: Sequence[float], static: Sequence[float],
        y: bool,
    ) -> None:  # fmt: skip
        """Buffer one labelled example; :meth:`commit` writes the buffer."""
        self._pending.append((zone, int(key), float(t),
                              np.asarray(x, np.float32).tobytes(),
                              np.asarray(static, np.float32).tobytes(), int(y)))  # fmt: skip
        if len(self._pending) >= 1000:
            self.commit()

    def set_learning_target(self, zone: str, energy_j: float) -> None:
        """The zone's learning-target energy (what its labels mean), kept beside them."""
        if self._learning.get(zone) != energy_j:
            self._learning[zone] = energy_j
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                            (f"learning:{zone}", repr(energy_j)))  # fmt: skip

    def learning_targets(self) -> dict[str, float]:
        rows = self.db.execute("SELECT key, value FROM meta WHERE key LIKE 'learning:%'")
        return {k.removeprefix("learning:"): float(v) for k, v in rows.fetchall()}

    def add_event(self, zone: str, key: int, t: float, log_e: float) -> None:
        """Buffer one scored event: the ETAS fit's data (times and sizes)."""
        self._events.append((zone, int(key), float(t), float(log_e)))
        if len(self._events) >= 1000:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            self.db.executemany(
                "INSERT OR REPLACE INTO examples VALUES (?, ?, ?, ?, ?, ?)", self._pending
            )
            self._pending = []
        if self._events:
            self.db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)", self._events)
            self._events = []
        self.db.commit()

    def load_events(self, start: float, end: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Events with ``start <= t <= end`` per zone, in time order: (times, log10 E)."""
        self.commit()
        rows = self.db.execute(
            "SELECT zone, t, log_e FROM events WHERE t >= ? AND t <= ? ORDER BY zone, t, key",
            (start, end),
        ).fetchall()
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for zone in dict.fromkeys(r[0] for r in rows):
            zr = [r for r in rows if r[0] == zone]
            out[zone] = (np.array([r[1] for r in zr]), np.array([r[2] for r in zr]))
        return out

    def prune(self, now: float) -> None:
        """Delete what lies beyond the retention, measured back from event time ``now``."""
        self.commit()
        self.db.execute("DELETE FROM examples WHERE t <= ?", (now - self.retention_s,))
        self.db.execute("DELETE FROM events WHERE t <= ?", (now - self.retention_s,))
        self.db.commit()

    def __len__(self) -> int:
        self.commit()
        return int(self.db.execute("SELECT COUNT(*) FROM examples").fetchone()[0])

    def load(self, start: float, end: float) -> dict[str, ZoneHistory]:
        """Examples with ``start <= t <= end``, per zone, in time order."""
        self.commit()
        rows = self.db.execute(
            "SELECT zone, t, x, static, y FROM examples WHERE t >= ? AND t <= ? "
            "ORDER BY zone, t, key", (start, end),
        ).fetchall()  # fmt: skip
        out: dict[str, ZoneHistory] = {}
        d = len(self.input_names)
        for zone in dict.fromkeys(r[0] for r in rows):
            zr = [r for r in rows if r[0] == zone]
            out[zone] = ZoneHistory(
                zone,
                np.array([r[1] for r in zr], float),
                np.frombuffer(b"".join(r[2] for r in zr), np.float32).reshape(len(zr), d),
                np.frombuffer(b"".join(r[3] for r in zr), np.float32).reshape(len(zr), -1),
                np.array([bool(r[4]) for r in zr]),
            )
        return out

    def close(self) -> None:
        self.commit()
        self.db.close()


@dataclass(frozen=True)
class Split:
    train: Index
    validation: Index
    validation_start: float  # first event time of the validation slice
    train_end: float  # latest t + horizon of any training example (< validation_start)


class NotEnoughData(ValueError):
    """Too few examples, or too few targets, to train or to judge a model."""


def time_split(histories: Mapping[str, ZoneHistory], validation_fraction: float,
               horizon_s: float) -> Split:  # fmt: skip
    """Hold back the newest slice; purge training examples whose horizon reaches into it.

    >>> t = np.arange(10) * 3600.0
    >>> h = {"z": ZoneHistory("z", t, np.zeros((10, 1), np.float32),
    ...                      np.zeros((10, 3), np.float32), np.zeros(10, bool))}
    >>> s = time_split(h, 0.2, horizon_s=2 * 3600)
    >>> s.train["z"].tolist(), s.validation["z"].tolist()
    ([0, 1, 2, 3, 4, 5], [8, 9])
    """
    all_t = np.concatenate([h.t for h in histories.values()]) if histories else np.array([])
    if all_t.size < 2:
        raise NotEnoughData("no labelled history to split")
    ordered = np.sort(all_t)
    start = float(ordered[min(int(len(ordered) * (1 - validation_fraction)), len(ordered) - 1)])
    train, val, train_end = {}, {}, -np.inf
    for zone, h in histories.items():
        train[zone] = np.flatnonzero(h.t + horizon_s < start)
        val[zone] = np.flatnonzero(h.t >= start)
        if train[zone].size:
            train_end = max(train_end, float(h.t[train[zone]].max() + horizon_s))
    return Split(train, val, start, train_end)
