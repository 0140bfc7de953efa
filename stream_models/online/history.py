"""A scope's history for retraining: its events and its labelled examples, in chunks.

Retraining needs more than a scope's state can carry (ETAS is refitted on the
events of months, the LSTM fine-tuned on thousands of examples), and a scope
must resume on any host from the changelog alone. So the history is cut into
immutable chunks: the open one lives in the scope's state, and each one that
fills is written once under its own key (``<scope>\\x00<kind>\\x00<seq>``) to the
same store as the scope (the changelog-backed table live, a dict in a
backtest). Rows enter in the order the scope produced them, so the same stream
gives the same chunks on every run. Chunks older than the retention, or beyond
the row cap, are deleted.

* ``events``: every scored event (time, log10 E, mined volume, location): ETAS fits.
* ``examples``: every example whose label matured (time, the z-scored inputs,
  static context and the generic law's log-odds it was scored with, both labels):
  LSTM fine-tuning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import numpy as np

Kind = Literal["events", "examples"]
CHUNK_ROWS: dict[Kind, int] = {"events": 256, "examples": 128}  # ~7 and ~15 KB a chunk


def event_dtype() -> np.dtype:
    return np.dtype([("t", "<f8"), ("log_e", "<f4"), ("volume", "<f4"), ("x", "<f4"),
                     ("y", "<f4"), ("z", "<f4")])


def example_dtype(n_inputs: int, n_static: int) -> np.dtype:
    return np.dtype([("t", "<f8"), ("log_e", "<f4"), ("offset", "<f4"),
                     ("z", "<f4", (n_inputs,)), ("static", "<f4", (n_static,)),
                     ("y_learning", "?"), ("y_target", "?")])


def chunk_key(scope: str, kind: Kind, seq: int) -> str:
    return f"{scope}\x00{kind}\x00{seq:010d}"


def is_chunk_key(key: str) -> bool:
    return key.count("\x00") == 2


class ScopeHistory:
    """The open chunks and the index of the written ones, for one scope.

    Examples
    --------
    >>> store = {}
    >>> h = ScopeHistory("z", n_inputs=2, n_static=1, retention_s=1e9, max_rows=10_000)
    >>> for i in range(300):
    ...     h.add_event(float(i), 2.0, math.nan, 0.0, 0.0, 0.0)
    >>> h.flush(store); sorted(k.split("\\x00")[1:] for k in store)
    [['events', '0000000000']]
    >>> ev = h.events(store); len(ev), float(ev["t"][-1])
    (300, 299.0)
    """

    def __init__(self, scope: str, n_inputs: int, n_static: int, retention_s: float,
                 max_rows: int) -> None:
        self.scope = scope
        self.retention_s, self.max_rows = retention_s, max_rows
        self.dtypes: dict[Kind, np.dtype] = {"events": event_dtype(),
                                             "examples": example_dtype(n_inputs, n_static)}
        # the open chunk: a buffer of a chunk's rows, filled in place (no copy per event)
        self._buf: dict[Kind, np.ndarray] = {k: np.zeros(CHUNK_ROWS[k], d)
                                             for k, d in self.dtypes.items()}
        self._fill: dict[Kind, int] = {"events": 0, "examples": 0}
        self.index: dict[Kind, list[list[float]]] = {"events": [], "examples": []}  # seq, t1, n
        self._kept: dict[Kind, int] = {"events": 0, "examples": 0}  # rows of written chunks
        self.next_seq: dict[Kind, int] = {"events": 0, "examples": 0}
        self.appended: dict[Kind, int] = {"events": 0, "examples": 0}  # rows ever added
        self._writes: list[tuple[str, Any]] = []  # (key, chunk or None to delete)

    @property
    def open(self) -> dict[Kind, np.ndarray]:
        """The rows of each open chunk (views: valid until the next row is added)."""
        return {k: self._buf[k][: self._fill[k]] for k in self._buf}

    def add_event(self, t: float, log_e: float, volume: float, x: float, y: float, z: float
                  ) -> None:
        kind: Kind = "events"
        self._buf[kind][self._fill[kind]] = (t, log_e, volume, x, y, z)
        self._fill[kind] += 1
        self.appended[kind] += 1
        if self._fill[kind] == CHUNK_ROWS[kind]:
            self._close(kind)
        self._prune(kind, t)

    def add_examples(self, t: np.ndarray, log_e: np.ndarray, offset: np.ndarray, z: np.ndarray,
                     static: np.ndarray, y_learning: np.ndarray, y_target: np.ndarray) -> None:
        if not len(t):
            return
        rows = np.zeros(len(t), self.dtypes["examples"])
        rows["t"], rows["log_e"], rows["offset"] = t, log_e, offset
        rows["z"], rows["static"] = z, static
        rows["y_learning"], rows["y_target"] = y_learning, y_target
        self._append("examples", rows)

    def _append(self, kind: Kind, rows: np.ndarray) -> None:
        self.appended[kind] += len(rows)
        now = float(rows["t"][-1])
        buf, size = self._buf[kind], CHUNK_ROWS[kind]
        while len(rows):
            k = min(size - self._fill[kind], len(rows))
            buf[self._fill[kind]: self._fill[kind] + k] = rows[:k]
            self._fill[kind] += k
            rows = rows[k:]
            if self._fill[kind] == size:
                self._close(kind)
        self._prune(kind, now)

    def _close(self, kind: Kind) -> None:
        """The open chunk is full: it is written once, under its own key."""
        seq, size = self.next_seq[kind], CHUNK_ROWS[kind]
        chunk = self._buf[kind].copy()
        self._writes.append((chunk_key(self.scope, kind, seq), {"rows": chunk}))
        self.index[kind].append([float(seq), float(chunk["t"][-1]), float(size)])
        self._kept[kind] += size
        self.next_seq[kind] = seq + 1
        self._fill[kind] = 0

    def _prune(self, kind: Kind, now: float) -> None:
        idx = self.index[kind]
        while idx and (idx[0][1] < now - self.retention_s or self._kept[kind] > self.max_rows):
            seq, _, n = idx.pop(0)
            self._kept[kind] -= int(n)
            self._writes.append((chunk_key(self.scope, kind, int(seq)), None))

    def flush(self, store: MutableMapping[str, Any]) -> None:
        """Write the chunks that filled, delete the expired ones."""
        for key, chunk in self._writes:
            if chunk is None:
                store.pop(key, None)
            else:
                store[key] = chunk
        self._writes = []

    def rows(self, kind: Kind, store: Mapping[str, Any], since: float = -math.inf,
             upto: int | None = None) -> np.ndarray:
        """Rows with ``t >= since``, oldest first: the written chunks, then the open one;
        with ``upto``, only the rows among the first ``upto`` ever added (a job handed out
        then sees the same rows when it runs again after a restart)."""
        parts = []
        first = self.appended[kind] - self.count(kind)  # position of the oldest row kept
        for seq, t_last, n in self.index[kind]:
            if t_last < since:
                first += int(n)
                continue
            chunk = store.get(chunk_key(self.scope, kind, int(seq)))
            if chunk is None:
                raise KeyError(f"scope {self.scope}: {kind} chunk {int(seq)} is missing from "
                               "the store its state refers to")
            parts.append(np.asarray(chunk["rows"], self.dtypes[kind]))
        parts.append(self.open[kind])
        out = np.concatenate(parts)  # a copy: the open rows stay valid
        if upto is not None:
            out = out[: max(upto - first, 0)]
        return out[out["t"] >= since] if math.isfinite(since) else out

    def events(self, store: Mapping[str, Any], since: float = -math.inf) -> np.ndarray:
        return self.rows("events", store, since)

    def examples(self, store: Mapping[str, Any], since: float = -math.inf) -> np.ndarray:
        return self.rows("examples", store, since)

    def count(self, kind: Kind) -> int:
        return self._kept[kind] + self._fill[kind]

    def to_state(self) -> dict[str, Any]:
        return {"open_events": self.open["events"].copy(),
                "open_examples": self.open["examples"].copy(),
                "index_events": np.array(self.index["events"], float).reshape(-1, 3),
                "index_examples": np.array(self.index["examples"], float).reshape(-1, 3),
                "next_events": self.next_seq["events"],
                "next_examples": self.next_seq["examples"],
                "appended": dict(self.appended)}

    def restore(self, state: Mapping[str, Any]) -> None:
        for kind in ("events", "examples"):
            rows = np.asarray(state[f"open_{kind}"])
            if rows.dtype != self.dtypes[kind]:
                raise ValueError(f"{kind} history has another layout than this version's")
            if len(rows) >= CHUNK_ROWS[kind]:
                raise ValueError(f"{kind} history's open chunk is over a chunk's rows")
            self._buf[kind][: len(rows)] = rows
            self._fill[kind] = len(rows)
            self.index[kind] = np.asarray(state[f"index_{kind}"], float).tolist()
            self._kept[kind] = int(sum(n for *_, n in self.index[kind]))
            self.next_seq[kind] = int(state[f"next_{kind}"])
        self.appended = {k: int(v) for k, v in state["appended"].items()}  # type: ignore[misc]
