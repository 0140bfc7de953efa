"""Simple baselines every model must beat, computed in the same stream as the models.

Each is a River-style classifier on a dict of the zone's features
(``predict_proba_one(x)``, ``learn_one(x, y)``), so River's own evaluation can
run it (through :class:`stream_models.evaluation.river_eval.AsClassifier`), and each works
for any threshold (the alert target for the reported baselines, the learning
target inside the fused risk):

* :class:`RateBaseline` (``baseline_rate``): a Poisson forecast from the zone's
  count of threshold events over the last week, ``1 - exp(-rate * horizon)``;
  it needs no learning.
* :class:`ShiftEnergyBaseline` (``baseline_last_shift_energy``): the energy
  released in the last shift (the 8 h window), turned into a probability by the
  observed frequency of targets after shifts of similar energy.
* :class:`AbcdBaseline` (``baseline_abcd``): the mine's rule of thumb, state
  d, c, b or a from the last shift's energy (against the alert target energy)
  and its event rate (against the 7-day average), whichever is higher, with
  the observed frequency of targets after each state.

Frequencies are learned from delayed labels only, like the models, so the
comparison is fair. Before a table has seen a bin (or anything), it forecasts
the rate baseline's probability, so every baseline forecasts from the first event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

BASELINES = ("baseline_rate", "baseline_last_shift_energy", "baseline_abcd")
SHIFT_WINDOW = "8h"
WEEK_S = 7 * 86400.0
ABCD_ENERGY = (0.1, 0.5, 1.0)  # shift energy / target energy for b, c, d
ABCD_ACTIVITY = (1.5, 2.0, 3.0)  # shift event rate / 7-day rate for b, c, d
_MIN_LEARNED = 50  # labels a frequency table needs before it forecasts (asleep before)


class FrequencyTable:
    """P(target | bin) from counts, shrunk towards the overall rate for sparse bins, and the
    overall rate towards a prior probability while it has few labels.

    >>> ft = FrequencyTable()
    >>> ft.predict(3, prior=0.01)                 # nothing learned: the prior
    0.01
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

    def predict(self, bin_: int, prior: float = 0.5) -> float:
        overall = (self.positives + self.prior_weight * prior) / (self.n + self.prior_weight)
        pos, n = self.counts.get(str(bin_), (0, 0))
        return (pos + self.prior_weight * overall) / (n + self.prior_weight)

    def to_state(self) -> dict[str, Any]:
        return {"prior_weight": self.prior_weight, "counts": self.counts,
                "positives": self.positives, "n": self.n}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> FrequencyTable:
        ft = cls(float(state["prior_weight"]))
        ft.counts = {k: [int(a), int(b)] for k, (a, b) in state["counts"].items()}
        ft.positives, ft.n = int(state["positives"]), int(state["n"])
        return ft


class RateBaseline:
    """Poisson forecast from ``x[count_key]``, the zone's threshold events over the last week.

    >>> RateBaseline(3600, "targets_7d").predict_proba_one({"targets_7d": 1.0}) > 0
    True
    """

    def __init__(self, horizon_s: float, count_key: str) -> None:
        self.horizon_s = horizon_s
        self.count_key = count_key

    fitted = True  # the count is the model

    def predict_proba_one(self, x: Mapping[str, float]) -> float:
        rate = (x.get(self.count_key, 0.0) + 0.5) / WEEK_S  # half an event: never certainty of 0
        return -math.expm1(-rate * self.horizon_s)

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        """Nothing to learn: the count is the model."""


class _TableBaseline:
    """A frequency table over one bin of the features; ``x["prior"]`` (the rate baseline's
    forecast, when given) is what it says before it has learned. It counts as having a
    fit of its own from ``min_learned`` labels on."""

    def __init__(self, min_learned: int = 0) -> None:
        self.table = FrequencyTable()
        self.min_learned = min_learned

    def bin(self, x: Mapping[str, float]) -> int:  # pragma: no cover - each baseline's own
        raise NotImplementedError

    @property
    def fitted(self) -> bool:
        return self.table.n >= self.min_learned

    def predict_proba_one(self, x: Mapping[str, float]) -> float:
        return self.table.predict(self.bin(x), x.get("prior", 0.5))

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        self.table.learn(self.bin(x), y)


class ShiftEnergyBaseline(_TableBaseline):
    """Frequency of targets after shifts of similar energy (quarter-decade bins).

    >>> b = ShiftEnergyBaseline()
    >>> b.bin({"energy_sum_j_8h": 1e4})
    16
    """

    def bin(self, x: Mapping[str, float]) -> int:
        energy = x.get(f"energy_sum_j_{SHIFT_WINDOW}", 0.0)
        return math.floor(4 * math.log10(1 + max(energy if energy == energy else 0.0, 0.0)))


class AbcdBaseline(_TableBaseline):
    """Frequency of targets after each state of the a/b/c/d rule of thumb.

    >>> b = AbcdBaseline(1e4)
    >>> b.bin({"energy_sum_j_8h": 6e3, "activity_ratio_8h": 1.0})
    2
    >>> b.bin({"energy_sum_j_8h": 10.0, "activity_ratio_8h": 3.5})
    3
    """

    def __init__(self, target_energy_j: float, min_learned: int = 0) -> None:
        super().__init__(min_learned)
        self.target_energy_j = target_energy_j

    def bin(self, x: Mapping[str, float]) -> int:
        energy = x.get(f"energy_sum_j_{SHIFT_WINDOW}", 0.0) / self.target_energy_j
        activity = x.get(f"activity_ratio_{SHIFT_WINDOW}", math.nan)
        level = sum(energy >= k for k in ABCD_ENERGY)
        if math.isfinite(activity):
            level = max(level, sum(activity >= k for k in ABCD_ACTIVITY))
        return level


class Baselines:
    """The three baselines of one zone for one threshold, with the reported names.

    >>> b = Baselines(horizon_s=3600, target_energy_j=1e4, count_key="targets_7d")
    >>> p = b.predict({"energy_sum_j_8h": 2e4, "activity_ratio_8h": 1.0, "targets_7d": 1})
    >>> sorted(p), round(p["baseline_rate"], 4)    # 1.5 targets per week over one hour
    (['baseline_abcd', 'baseline_last_shift_energy', 'baseline_rate'], 0.0089)
    """

    def __init__(self, horizon_s: float, target_energy_j: float, count_key: str,
                 min_learned: int = 0) -> None:
        self.models: dict[str, Any] = {
            "baseline_rate": RateBaseline(horizon_s, count_key),
            "baseline_last_shift_energy": ShiftEnergyBaseline(min_learned),
            "baseline_abcd": AbcdBaseline(target_energy_j, min_learned),
        }

    def predict(self, x: Mapping[str, float]) -> dict[str, float]:
        """Every baseline's probability; the tables start from the rate baseline's."""
        rate = self.models["baseline_rate"].predict_proba_one(x)
        with_prior = {**x, "prior": rate}
        return {"baseline_rate": rate, **{name: m.predict_proba_one(with_prior)
                                          for name, m in self.models.items()
                                          if name != "baseline_rate"}}

    def fitted(self) -> dict[str, bool]:
        """Which baselines forecast from labels of their own (the rate always does)."""
        return {name: bool(m.fitted) for name, m in self.models.items()}

    def learn(self, x: Mapping[str, float], y: bool) -> None:
        for m in self.models.values():
            m.learn_one(x, y)

    def to_state(self) -> dict[str, Any]:
        return {name: m.table.to_state() for name, m in self.models.items() if hasattr(m, "table")}

    def restore(self, state: Mapping[str, Any]) -> None:
        for name, table in state.items():
            self.models[name].table = FrequencyTable.from_state(table)


class WeekCounter:
    """Events at or above each threshold over the last week, in 7-hour buckets (bounded).

    >>> wc = WeekCounter((1e4, 1e2))
    >>> wc.add(0.0, 500.0), wc.add(3600.0, 2e4), wc.add(8 * 86400.0, 1.0)
    ([0, 1], [1, 2], [0, 0])
    """

    BUCKETS = 24  # the week in 7-hour buckets, like the feature windows

    def __init__(self, thresholds_j: tuple[float, ...]) -> None:
        self.thresholds_j = thresholds_j
        self.counts = [[0] * self.BUCKETS for _ in thresholds_j]
        self.head = -1

    def add(self, t: float, energy_j: float) -> list[int]:
        """Roll the ring to ``t``, count the event; each threshold's count over the week."""
        k = math.floor(t / (WEEK_S / self.BUCKETS))
        for bucket in range(max(self.head + 1, k - self.BUCKETS + 1), k + 1):
            for row in self.counts:
                row[bucket % self.BUCKETS] = 0
        self.head = max(self.head, k)
        out = []
        for row, thr in zip(self.counts, self.thresholds_j, strict=True):
            row[k % self.BUCKETS] += int(energy_j >= thr)
            out.append(sum(row))
        return out

    def to_state(self) -> dict[str, Any]:
        return {"counts": self.counts, "head": self.head}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.counts = [[int(v) for v in row] for row in state["counts"]]
        self.head = int(state["head"])
