"""Labelled examples as time-ordered sequences, and the time split every gate uses.

The newest ``validation_fraction`` of examples (by event time, never shuffled
across time) is held back. A training example at ``t`` is used only if its whole
label horizon ``(t, t + horizon]`` ends before the held-back slice begins, so no
training label knows anything of the validation period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class LabelledSequence:
    """One scope's labelled examples in time order, as scoring saw them."""

    t: np.ndarray  # (n,) event time, POSIX s
    z: np.ndarray  # (n, d) float32 scaled model inputs
    static: np.ndarray  # (n, s) float32 static context
    y: np.ndarray  # (n,) bool: a learning-target event followed within the horizon
    log_e: np.ndarray  # (n,) the example's own log10 E, over its learning target (0: at it)
    offset: np.ndarray  # (n,) the generic law's log-odds of the learning target (the anchor)

    @classmethod
    def of_rows(cls, rows: np.ndarray, learning_j: float) -> LabelledSequence:
        """From history rows (:mod:`stream_models.online.history`)."""
        return cls(np.asarray(rows["t"], float), np.asarray(rows["z"], np.float32),
                   np.asarray(rows["static"], np.float32), np.asarray(rows["y_learning"], bool),
                   np.asarray(rows["log_e"], float) - np.log10(learning_j),
                   np.asarray(rows["offset"], np.float32))


@dataclass(frozen=True)
class Split:
    train: list[np.ndarray]  # per sequence: indices of the training examples
    validation: list[np.ndarray]  # per sequence: indices of the held-back ones
    validation_start: float


class NotEnoughData(ValueError):
    """Too few examples, or too few targets, to train or to judge a model."""


def time_split(seqs: Sequence[LabelledSequence], validation_fraction: float, horizon_s: float
               ) -> Split:
    """Hold back the newest slice (of all sequences together); purge training examples
    whose horizon reaches into it.

    >>> t = np.arange(10) * 3600.0
    >>> seq = LabelledSequence(t, np.zeros((10, 1), np.float32), np.zeros((10, 3), np.float32),
    ...                        np.zeros(10, bool), np.zeros(10), np.zeros(10, np.float32))
    >>> s = time_split([seq], 0.2, horizon_s=2 * 3600)
    >>> s.train[0].tolist(), s.validation[0].tolist()
    ([0, 1, 2, 3, 4, 5], [8, 9])
    """
    all_t = np.concatenate([s.t for s in seqs]) if seqs else np.zeros(0)
    if all_t.size < 2:
        raise NotEnoughData("no labelled history to split")
    ordered = np.sort(all_t)
    start = float(ordered[min(int(len(ordered) * (1 - validation_fraction)), len(ordered) - 1)])
    train = [np.flatnonzero(s.t + horizon_s < start) for s in seqs]
    val = [np.flatnonzero(s.t >= start) for s in seqs]
    return Split(train, val, start)
