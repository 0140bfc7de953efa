"""The promotion gate's evidence: a sequence model scored on held-back examples as scoring
steps it, and its Molchan area skill there for learning-target events."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from stream_models.learners.sequence import SequenceModel
from stream_models.retraining.history import Index, ZoneHistory
from stream_models.skill.molchan import Timeline, area_skill, molchan

if TYPE_CHECKING:
    from stream_models.online.policies import RetrainPolicy


def score(model: SequenceModel, histories: Mapping[str, ZoneHistory], index: Index
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(times, labels, probabilities) of the indexed examples, stepped as scoring steps them."""
    from scipy.special import expit  # the training process's import, not the worker's

    ts, ys, ps = [], [], []
    for zone, idx in index.items():
        if not idx.size:
            continue
        h = histories[zone]
        logits = model.run(h.x[: idx.max() + 1], h.static[: idx.max() + 1])[idx]
        ts.append(h.t[idx])
        ys.append(h.y[idx])
        ps.append(expit(logits))  # no overflow warning for confident logits
    if not ts:
        return np.zeros(0), np.zeros(0, bool), np.zeros(0)
    return np.concatenate(ts), np.concatenate(ys), np.concatenate(ps)


class Judge:
    """Molchan area skill of a model on the validation slice, for learning-target events."""

    def __init__(self, histories: dict[str, ZoneHistory], index: dict[str, np.ndarray],
                 input_names: Sequence[str], policy: RetrainPolicy,
                 learning: dict[str, float]) -> None:  # fmt: skip
        self.histories, self.index = histories, index
        self.horizon = policy.train.horizon_s
        col = list(input_names).index("event_log_energy")
        # each zone's events scaled by its own learning target: one threshold (1) for all
        parts = [(h.t[i], np.full(len(i), z, object),
                  10 ** h.x[i, col].astype(float) / learning.get(z, policy.learning_energy_j))
                 for z, h in histories.items() if (i := index.get(z, np.zeros(0, int))).size]
        if parts:
            t, zone, energy = (np.concatenate(p) for p in zip(*parts, strict=True))
        else:
            t, zone, energy = np.zeros(0), np.zeros(0, object), np.zeros(0)
        self.line = Timeline(t, zone, energy)
        self.targets = int((energy >= 1.0).sum())

    def skill(self, model: SequenceModel) -> float:
        _, _, p = score(model, self.histories, self.index)
        if not len(p) or not self.targets:
            return math.nan
        return area_skill(*molchan(self.line, p, self.horizon, 1.0))
