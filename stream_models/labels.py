"""Delayed labels: an example is learned only once its horizon has passed in event time.

The target of a scored event is "an event with E >= target in the same zone
within the next ``horizon``". That is unknown when the event is scored, so the
example waits in :class:`DelayedLabeler` until the zone's clock has moved past
its horizon; only then is it released with its final label. Nothing about the
future reaches the model early, in live runs and backtests alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Pending:
    """A scored example waiting for its label."""

    t: float  # event time (POSIX s) of the scored event
    event_id: str
    x: dict[str, float]  # the model inputs it was scored on
    p: float  # the probability published for it (for progressive validation)
    anomaly: float
    positive: bool = False  # a target event has occurred in (t, t + horizon]
    extra: dict[str, float] = field(default_factory=dict)  # other scores to validate later


class DelayedLabeler:
    """Holds scored examples and releases them labelled once ``t + horizon`` has passed.

    Parameters
    ----------
    horizon_s
        Look-ahead of the target in seconds.
    target_energy_j
        An event at or above this energy is a target.

    Examples
    --------
    >>> lab = DelayedLabeler(horizon_s=10, target_energy_j=1e4)
    >>> lab.advance(0, 100.0)
    []
    >>> lab.add(Pending(0, "a", {}, 0.1, 0.0))
    >>> lab.advance(5, 2e4)                 # target at t=5: "a" is positive, not released
    []
    >>> lab.add(Pending(5, "b", {}, 0.2, 0.0))
    >>> [(p.event_id, p.positive) for p in lab.advance(12, 10.0)]   # t=12 > 0 + 10
    [('a', True)]
    >>> [(p.event_id, p.positive) for p in lab.advance(16, 10.0)]   # nothing after 5 in (5, 15]
    [('b', False)]
    """

    def __init__(self, horizon_s: float, target_energy_j: float) -> None:
        self.horizon_s = horizon_s
        self.target_energy_j = target_energy_j
        self._pending: deque[Pending] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def advance(self, t: float, energy_j: float) -> list[Pending]:
        """Move the clock to a new event at ``t``; return examples whose horizon has passed.

        Examples released here have ``t_pending + horizon < t``: the new event
        lies outside their horizon and cannot change their label. Then, if the
        new event is a target, every example still waiting (its horizon covers
        ``t``) becomes positive.
        """
        released = []
        while self._pending and self._pending[0].t + self.horizon_s < t:
            released.append(self._pending.popleft())
        if energy_j >= self.target_energy_j:
            for p in self._pending:
                if p.t < t:
                    p.positive = True
        return released

    def add(self, example: Pending) -> None:
        self._pending.append(example)

    def to_state(self) -> dict[str, Any]:
        return {
            "horizon_s": self.horizon_s,
            "target_energy_j": self.target_energy_j,
            "pending": [asdict(p) for p in self._pending],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> DelayedLabeler:
        lab = cls(float(state["horizon_s"]), float(state["target_energy_j"]))
        lab._pending = deque(Pending(**p) for p in state["pending"])
        return lab
