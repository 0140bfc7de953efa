"""The promotion gates' evidence: models scored on held-back time as scoring would score them.

A candidate LSTM and the one scoring now are stepped over the same held-back
examples (from the start of the sequence, so each carries its state in), and
each gets the Molchan area skill of its forecasts for learning-target events
there (time-based, like the backtest's headline figure).
"""

from __future__ import annotations

import math

import numpy as np

from stream_models.learners.sequence import SequenceModel
from stream_models.retraining.sequences import LabelledSequence
from stream_models.skill.molchan import Timeline, area_skill, molchan


def score(model: SequenceModel, seq: LabelledSequence, idx: np.ndarray) -> np.ndarray:
    """The model's probabilities at examples ``idx``, stepped through the sequence up to them."""
    if not idx.size:
        return np.zeros(0)
    end = int(idx.max()) + 1
    return model.proba_run(seq.z[:end], seq.static[:end], seq.offset[:end])[idx]


class Judge:
    """Molchan area skill on a sequence's held-back examples, for learning-target events.

    >>> t = np.arange(6) * 3600.0
    >>> seq = LabelledSequence(t, np.zeros((6, 2), np.float32), np.zeros((6, 3), np.float32),
    ...                        np.zeros(6, bool), np.array([0, 1, 0, 1, 0, 1.0]) - 0.5,
    ...                        np.zeros(6, np.float32))
    >>> Judge(seq, np.arange(6), horizon_s=7200.0).targets
    3
    """

    def __init__(self, seq: LabelledSequence, idx: np.ndarray, horizon_s: float) -> None:
        self.seq, self.idx, self.horizon = seq, idx, horizon_s
        energy = 10.0 ** seq.log_e[idx]  # in units of the learning target
        self.line = Timeline(seq.t[idx], np.full(idx.size, "scope", object), energy)
        self.targets = int((energy >= 1.0).sum())

    def skill(self, model: SequenceModel | None) -> float:
        """The model's area skill; 0.5 (chance) without a model."""
        if model is None:
            return 0.5
        p = score(model, self.seq, self.idx)
        if not p.size or not self.targets:
            return math.nan
        return area_skill(*molchan(self.line, p, self.horizon, 1.0))
