"""Simple baselines every model must beat, computed in the same stream as the models.

* ``baseline_rate``: a Poisson forecast from the zone's recent rate of target
  events, ``1 - exp(-rate * horizon)``; it needs no learning.
* ``baseline_last_shift_energy``: the energy released in the last shift (the 8 h
  window), turned into a probability by the observed frequency of targets after
  shifts of similar energy (quarter-decade bins).
* ``baseline_abcd``: the mine's rule of thumb: state d, c, b or a from the last
  shift's energy (against the target energy) and its event count (against the 7-day
  average), whichever is higher; its probability is the observed frequency of
  targets after each state.

Frequencies are learned from delayed labels only, like the models, so the
comparison is fair. The state is bounded: targets are counted in a ring of
7-hour buckets over the last week (the bucketed span of the feature windows).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

BASELINES = ("baseline_rate", "baseline_last_shift_energy", "baseline_abcd")
SHIFT_WINDOW = "8h"
RATE_WINDOW_S = 7 * 86400.0
_RATE_BUCKETS = 24  # the week in 7-hour buckets, like the feature windows
ABCD_ENERGY = (0.1, 0.5, 1.0)  # shift energy / target energy for b, c, d
ABCD_ACTIVITY = (1.5, 2.0, 3.0)  # shift event rate / 7-day rate for b, c, d


class FrequencyTable:
    """P(target | bin) from counts, shrunk towards the overall rate for sparse bins.

    >>> ft = FrequencyTable()
    >>> for y in (1, 1, 0, 0, 0, 0):
    ...     ft.learn(2, bool(y))
    >>> ft.learn(0, False)
    >>> ft.predict(2) > ft.predict(0)
    True
    """

    def __init__(self, prior_weight: float = 2.0) -> None:
        self.prior_weight = prior_weight
        self.counts: dict[str, list[int]] = {}  # bin -> [positives, n]
        self.positives = 0
        self.n = 0

    def learn(self, bin_: int, y: bool) -> None:
        c = self.counts.setdefault(str(bin_), [0, 0])
        c[0] += int(y)
        c[1] += 1
        self.positives += int(y)
        self.n += 1

    def predict(self, bin_: int) -> float:
        prior = (self.positives + 1) / (self.n + 2)
        pos, n = self.counts.get(str(bin_), (0, 0))
        return (pos + self.prior_weight * prior) / (n + self.prior_weight)

    def to_state(self) -> dict[str, Any]:
        return {"prior_weight": self.prior_weight, "counts": self.counts,
                "positives": self.positives, "n": self.n}  # fmt: skip

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FrequencyTable:
        ft = cls(float(state["prior_weight"]))
        ft.counts = {k: [int(a), int(b)] for k, (a, b) in state["counts"].items()}
        ft.positives, ft.n = int(state["positives"]), int(state["n"])
        return ft


def abcd_level(features: Mapping[str, float], target_energy_j: float) -> int:
    """0..3 for states a..d: the higher of the energy level and the activity level.

    >>> abcd_level({"energy_sum_j_8h": 6e3, "activity_ratio_8h": 1.0}, 1e4)
    2
    >>> abcd_level({"energy_sum_j_8h": 10.0, "activity_ratio_8h": 3.5}, 1e4)
    3
    """
    energy = features.get(f"energy_sum_j_{SHIFT_WINDOW}", 0.0) / target_energy_j
    activity = features.get(f"activity_ratio_{SHIFT_WINDOW}", math.nan)
    level = sum(energy >= k for k in ABCD_ENERGY)
    if math.isfinite(activity):
        level = max(level, sum(activity >= k for k in ABCD_ACTIVITY))
    return level


class Baselines:
    """The three baselines of one zone; :meth:`score` before labels, :meth:`learn` after.

    >>> b = Baselines(horizon_s=3600, target_energy_j=1e4)
    >>> p, bins = b.score({"energy_sum_j_8h": 2e4, "activity_ratio_8h": 1.0}, 0.0, 2e4)
    >>> sorted(p), bins
    (['baseline_abcd', 'baseline_last_shift_energy', 'baseline_rate'], {'shift': 17, 'abcd': 3})
    >>> round(p["baseline_rate"], 4)    # 1.5 targets per week over one hour
    0.0089
    """

    def __init__(self, horizon_s: float, target_energy_j: float) -> None:
        self.horizon_s = horizon_s
        self.target_energy_j = target_energy_j
        self.targets = [0] * _RATE_BUCKETS  # target events per 7-hour bucket
        self.head = -1  # bucket number of the newest bucket
        self.shift = FrequencyTable()
        self.abcd = FrequencyTable()

    def _count_target(self, t: float, target: bool) -> int:
        """Roll the weekly ring to ``t``, count a target there; targets in the week."""
        k = math.floor(t / (RATE_WINDOW_S / _RATE_BUCKETS))
        for bucket in range(max(self.head + 1, k - _RATE_BUCKETS + 1), k + 1):
            self.targets[bucket % _RATE_BUCKETS] = 0
        self.head = max(self.head, k)
        self.targets[k % _RATE_BUCKETS] += int(target)
        return sum(self.targets)

    def score(
        self, features: Mapping[str, float], t: float, energy_j: float
    ) -> tuple[dict[str, float], dict[str, int]]:
        """Probabilities as of the event at ``t`` (included), and the bins to learn later."""
        n_targets = self._count_target(t, energy_j >= self.target_energy_j)
        rate = (n_targets + 0.5) / RATE_WINDOW_S
        shift_energy = max(features.get(f"energy_sum_j_{SHIFT_WINDOW}", 0.0), 0.0)
        bins = {
            "shift": math.floor(4 * math.log10(1 + shift_energy)),
            "abcd": abcd_level(features, self.target_energy_j),
        }
        return {
            "baseline_rate": 1 - math.exp(-rate * self.horizon_s),
            "baseline_last_shift_energy": self.shift.predict(bins["shift"]),
            "baseline_abcd": self.abcd.predict(bins["abcd"]),
        }, bins

    def learn(self, bins: Mapping[str, int], y: bool) -> None:
        self.shift.learn(int(bins["shift"]), y)
        self.abcd.learn(int(bins["abcd"]), y)

    def to_state(self) -> dict[str, Any]:
        return {
            "horizon_s": self.horizon_s, "target_energy_j": self.target_energy_j,
            "targets": self.targets, "head": self.head,
            "shift": self.shift.to_state(), "abcd": self.abcd.to_state(),
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Baselines:
        b = cls(float(state["horizon_s"]), float(state["target_energy_j"]))
        b.targets, b.head = [int(v) for v in state["targets"]], int(state["head"])
        b.shift = FrequencyTable.from_state(state["shift"])
        b.abcd = FrequencyTable.from_state(state["abcd"])
        return b
