"""Progressive-validation metrics that stay exact enough for rare positives in fixed memory.

River's ``ROCAUC`` places its thresholds evenly on [0, 1]; the scores of rare
events crowd near 0, where those thresholds cannot rank them. :class:`BinnedROCAUC`
bins scores on the logit scale instead (constant memory, O(1) update), so the
area keeps its resolution whatever the base rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_LOGIT_SPAN = 12.0  # |logit| beyond this (p < 6e-6 or > 1 - 6e-6) shares the end bins
_EPS = 1e-15  # clip for log loss


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


class BinnedROCAUC:
    """ROC-AUC over scores binned on the logit scale; ties within a bin count one half.

    Parameters
    ----------
    n_bins
        Number of logit bins over [-12, 12]; 2,400 bins resolve 0.01 in logit.

    Examples
    --------
    >>> auc = BinnedROCAUC()
    >>> for y, p in [(0, 0.001), (0, 0.002), (1, 0.003), (0, 0.0005), (1, 0.0015)]:
    ...     auc.update(y, p)
    >>> round(auc.get(), 3)
    0.833
    """

    def __init__(self, n_bins: int = 2400) -> None:
        self.n_bins = n_bins
        self.pos = np.zeros(n_bins, dtype=np.int64)
        self.neg = np.zeros(n_bins, dtype=np.int64)

    def _bin(self, p: float) -> int:
        z = (_logit(p) + _LOGIT_SPAN) / (2 * _LOGIT_SPAN)
        return min(max(int(z * self.n_bins), 0), self.n_bins - 1)

    def update(self, y_true: bool | int, p: float) -> None:
        (self.pos if y_true else self.neg)[self._bin(p)] += 1

    def get(self) -> float:
        """Area under the ROC curve; NaN until both classes have been seen."""
        n_pos, n_neg = int(self.pos.sum()), int(self.neg.sum())
        if n_pos == 0 or n_neg == 0:
            return math.nan
        neg_below = np.cumsum(self.neg) - self.neg
        wins = float((self.pos * neg_below).sum() + 0.5 * (self.pos * self.neg).sum())
        return wins / (n_pos * n_neg)

    def to_state(self) -> dict[str, Any]:
        """Sparse JSON state (only the bins that hold scores)."""
        return {
            "n_bins": self.n_bins,
            "pos": {int(i): int(self.pos[i]) for i in np.flatnonzero(self.pos)},
            "neg": {int(i): int(self.neg[i]) for i in np.flatnonzero(self.neg)},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> BinnedROCAUC:
        auc = cls(int(state["n_bins"]))
        for name in ("pos", "neg"):
            arr = getattr(auc, name)
            for i, n in state[name].items():
                arr[int(i)] = n
        return auc


class ProgressiveScore:
    """ROC-AUC, log loss and Brier score of predictions made before their labels were known.

    Examples
    --------
    >>> s = ProgressiveScore()
    >>> for y, p in [(0, 0.1), (1, 0.7), (0, 0.2), (1, 0.4)]:
    ...     s.update(y, p)
    >>> {k: round(v, 3) for k, v in s.get().items()}
    {'roc_auc': 1.0, 'log_loss': 0.4, 'brier': 0.125, 'n': 4, 'positives': 2}
    """

    def __init__(self) -> None:
        self.auc = BinnedROCAUC()
        self.n = 0
        self.positives = 0
        self._log_loss_sum = 0.0
        self._brier_sum = 0.0

    def update(self, y_true: bool | int, p: float) -> None:
        y = 1 if y_true else 0
        self.auc.update(y, p)
        self.n += 1
        self.positives += y
        q = min(max(p, _EPS), 1 - _EPS)
        self._log_loss_sum -= math.log(q) if y else math.log(1 - q)
        self._brier_sum += (p - y) ** 2

    def get(self) -> dict[str, float]:
        n = max(self.n, 1)
        return {
            "roc_auc": self.auc.get(),
            "log_loss": self._log_loss_sum / n if self.n else math.nan,
            "brier": self._brier_sum / n if self.n else math.nan,
            "n": self.n,
            "positives": self.positives,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "auc": self.auc.to_state(),
            "n": self.n,
            "positives": self.positives,
            "log_loss_sum": self._log_loss_sum,
            "brier_sum": self._brier_sum,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ProgressiveScore:
        s = cls()
        s.auc = BinnedROCAUC.from_state(state["auc"])
        s.n, s.positives = int(state["n"]), int(state["positives"])
        s._log_loss_sum, s._brier_sum = float(state["log_loss_sum"]), float(state["brier_sum"])
        return s


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC-AUC by ranks (ties count one half); NaN unless both classes occur.

    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y = np.asarray(y_true, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = pd.Series(np.asarray(scores, dtype=float)).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
