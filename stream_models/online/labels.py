"""Delayed labels: an example is learned only once its horizon has passed in event time.

The targets of a scored event are "an event with E >= threshold in the same
zone within the next ``horizon``", one bit per threshold (the alert target and
the lower learning target). They are unknown when the event is scored, so the
example waits in :class:`DelayedLabeler` until the zone's clock has moved past
its horizon; only then is it released with its final labels. Nothing about the
future reaches a model early, in live runs and backtests alike.

Waiting examples live in one fixed-capacity array (time, key, the largest
energy that has followed so far, and a float32 payload of the inputs and
scores they were published with), so a zone's state stays bounded whatever
the burst. Labels are read off that largest energy when an example is
released, against the thresholds in force then: a threshold fixed after the
example was scored (a zone's learning target) still labels it. When a burst fills it, every
other waiting example is dropped and only every ``stride``-th new one is
admitted (``stride`` doubles): what waits stays spread evenly over the horizon.
The dropped ones were scored and published; they are only not learned from,
and :attr:`DelayedLabeler.thinned` counts them.

Each released example also says how long its forecast stood (``held_s``: until
the next waiting example was scored, at most the horizon). Skill is judged over
time, and a forecast replaced a second later by the next event of a burst
stands for far less of it than one that stood through a quiet shift; a learner
may weight its examples so (thinned examples' time goes to the one kept before them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

CAPACITY = 384  # waiting examples per zone: ~100 KB of state at 60 payload values


def example_key(event_id: str) -> int:
    """A stable 63-bit key of an event id: what the history store and labels are keyed by.

    >>> example_key("42") == example_key("42") != example_key("43")
    True
    """
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


def _dtype(width: int) -> np.dtype:
    return np.dtype([("t", "<f8"), ("key", "<i8"), ("max_e", "<f8"), ("x", "<f4", (width,))])


class DelayedLabeler:
    """Holds scored examples and releases them labelled once ``t + horizon`` has passed.

    Parameters
    ----------
    horizon_s
        Look-ahead of the targets in seconds.
    thresholds_j
        Label i is set when an event with E >= ``thresholds_j[i]`` follows.
    width
        Payload values kept per example.

    Examples
    --------
    >>> lab = DelayedLabeler(horizon_s=10, thresholds_j=(1e4, 1e3), width=1)
    >>> len(lab.advance(0, 100.0))
    0
    >>> _ = lab.add(0, example_key("a"), [0.1])
    >>> len(lab.advance(5, 2e3))            # a learning target at t=5: "a" gets bit 1
    0
    >>> _ = lab.add(5, example_key("b"), [0.2])
    >>> out = lab.advance(12, 10.0)          # t=12 > 0 + 10: "a" is released
    >>> out["labels"].tolist(), [round(float(v), 2) for v in out["x"][:, 0]], out["held_s"]
    ([[False, True]], [0.1], array([5.]))
    """

    def __init__(self, horizon_s: float, thresholds_j: Sequence[float], width: int,
                 capacity: int = CAPACITY) -> None:
        if len(thresholds_j) > 8:
            raise ValueError("at most 8 label thresholds")
        self.horizon_s = float(horizon_s)
        self.thresholds_j = tuple(float(v) for v in thresholds_j)
        self.width = width
        self.rows = np.zeros(capacity, _dtype(width))
        self.n = 0  # waiting examples, oldest first in rows[:n]
        self.stride = 1  # admit every stride-th example while a burst fills the array
        self.seen = 0  # examples offered since the stride last changed
        self.thinned = 0  # examples not admitted, or dropped to make room

    def __len__(self) -> int:
        return self.n

    def advance(self, t: float, energy_j: float) -> np.ndarray:
        """Move the clock to an event at ``t`` (energy ``energy_j``, NaN for none); return
        the examples whose horizon has passed, with ``labels`` as a bool array per example.

        Examples released have ``t_i + horizon < t``: the new event lies outside their
        horizon and cannot change their labels. Then every example still waiting from
        before ``t`` takes the new event's energy into its largest one.
        """
        rows, n, h = self.rows, self.n, self.horizon_s
        times = rows["t"]
        if not n or not times[0] + h < t:  # the oldest still waits: nothing to release
            done = 0
        else:
            done = int(np.searchsorted(times[:n], t - h, side="left"))
            while done and not times[done - 1] + h < t:  # the rule is t_i + h < t, to the bit
                done -= 1
            while done < n and times[done] + h < t:
                done += 1
        if done:
            out = rows[:done].copy()
            # the last one released stood until the oldest still waiting, or (none waits:
            # no example came within its horizon) for the whole horizon
            next_t = float(times[done]) if done < n else math.inf
            rows[: n - done] = rows[done:n]
            self.n = n = n - done
            # relax the stride as far as the occupancy it would lead to stays within half
            grown = max(n, 1)
            while self.stride > 1 and 2 * grown <= len(rows) // 2:
                self.stride //= 2
                grown *= 2
                self.seen = 0
        if n and energy_j == energy_j:
            before = (n if times[n - 1] < t  # waiting since before t: usually all of them
                      else int(np.searchsorted(times[:n], t, side="left")))
            np.maximum(rows["max_e"][:before], energy_j, out=rows["max_e"][:before])
        if not done:  # the common case: nothing released, no array to build
            return _none_released(self.width, len(self.thresholds_j))
        return _labelled(out, self.thresholds_j, next_t, h)

    def add(self, t: float, key: int, payload: Sequence[float] | np.ndarray) -> bool:
        """Wait for the labels of an example scored at ``t``; False if thinned out."""
        self.seen += 1
        if (self.seen - 1) % self.stride:
            self.thinned += 1
            return False
        if self.n == len(self.rows):  # a burst: keep every other one, admit half as many
            kept = self.rows[: self.n : 2].copy()
            self.thinned += self.n - len(kept)
            self.n = len(kept)
            self.rows[: self.n] = kept
            self.stride *= 2
            self.seen = 1
        row = self.rows[self.n]
        row["t"], row["key"], row["max_e"] = t, key, 0.0
        row["x"] = payload
        self.n += 1
        return True

    def to_state(self) -> dict[str, Any]:
        return {
            "horizon_s": self.horizon_s, "thresholds_j": list(self.thresholds_j),
            "width": self.width, "rows": self.rows, "n": self.n, "stride": self.stride,
            "seen": self.seen, "thinned": self.thinned,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DelayedLabeler:
        rows = np.asarray(state["rows"])
        lab = cls(state["horizon_s"], state["thresholds_j"], int(state["width"]), len(rows))
        if rows.dtype != lab.rows.dtype:
            raise ValueError("waiting examples have another layout than this version's")
        lab.rows = rows.copy()
        lab.n, lab.stride = int(state["n"]), int(state["stride"])
        lab.seen, lab.thinned = int(state["seen"]), int(state["thinned"])
        return lab


def _released_dtype(width: int, n_labels: int) -> np.dtype:
    return np.dtype([("t", "<f8"), ("key", "<i8"), ("labels", "?", (n_labels,)),
                     ("held_s", "<f8"), ("x", "<f4", (width,))])


@lru_cache(maxsize=16)
def _none_released(width: int, n_labels: int) -> np.ndarray:
    """The empty release, shared (read-only): most events release nothing."""
    out = np.zeros(0, _released_dtype(width, n_labels))
    out.flags.writeable = False
    return out


def _labelled(rows: np.ndarray, thresholds_j: Sequence[float], next_t: float,
              horizon_s: float) -> np.ndarray:
    """Released rows with ``labels``, a bool per threshold read off the largest energy,
    and ``held_s``, the time to the next example's (``next_t`` after the last), capped."""
    out = np.zeros(len(rows), _released_dtype(rows.dtype["x"].shape[0], len(thresholds_j)))
    out["t"], out["key"], out["x"] = rows["t"], rows["key"], rows["x"]
    out["held_s"] = np.minimum(np.diff(rows["t"], append=next_t), horizon_s)
    out["labels"] = rows["max_e"][:, None] >= np.asarray(thresholds_j, float)[None, :]
    return out


class RecentKeys:
    """Keys of the events a zone applied within ``span_s``: re-deliveries are recognised.

    Bounded by ``capacity`` (the oldest go first in a burst) and by time, so a
    zone's state stays fixed in size; a copy older than both is a late event anyway.

    >>> seen = RecentKeys(span_s=100.0, capacity=3)
    >>> seen.add(example_key("a"), 0.0), seen.add(example_key("a"), 50.0)
    (True, False)
    >>> seen.add(example_key("a"), 200.0)      # past the span: forgotten, applied again
    True
    """

    def __init__(self, span_s: float, capacity: int = 1024) -> None:
        self.span_s = float(span_s)
        self.keys = np.zeros(capacity, np.int64)
        self.times = np.full(capacity, -np.inf)
        self.head = 0  # next slot to write
        self._index: dict[int, int] = {}  # key -> slot

    def add(self, key: int, t: float) -> bool:
        """Remember ``key`` applied at ``t``; False if it was already applied recently."""
        slot = self._index.get(key)
        if slot is not None and self.times[slot] > t - self.span_s:
            return False
        old = int(self.keys[self.head])
        if self._index.get(old) == self.head:
            del self._index[old]
        self.keys[self.head], self.times[self.head] = key, t
        self._index[key] = self.head
        self.head = (self.head + 1) % len(self.keys)
        return True

    def to_state(self) -> dict[str, Any]:
        return {"span_s": self.span_s, "keys": self.keys, "times": self.times, "head": self.head}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RecentKeys:
        keys = np.asarray(state["keys"], np.int64)
        out = cls(float(state["span_s"]), len(keys))
        out.keys, out.times = keys.copy(), np.asarray(state["times"], float).copy()
        out.head = int(state["head"])
        for slot in [*range(out.head, len(keys)), *range(out.head)]:  # oldest first
            if np.isfinite(out.times[slot]):
                out._index[int(keys[slot])] = slot
        return out
