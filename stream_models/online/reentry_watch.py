"""A zone's exclusion after a large event: the re-entry estimate, its updates, its end.

After every event at or above :attr:`ReentryPolicy.energy_j` the zone publishes
when its rate is expected back at ``factor`` times the rate just before it
(:class:`~stream_models.seismology.reentry.ReentryEstimate`), never sooner than
the mine's fixed-time rule (``min_exclusion_s``) nor later than
``max_exclusion_s``. Each aftershock updates the estimate; an update is published
when it moves the time by more than ``republish_s`` or a fifth of the time left.
``re-entry reached`` follows at the first time ``s`` at which the estimate given
the quiet up to ``s`` is ``s`` itself: a time fixed by the zone's own events,
whenever the clock notices it, so the record is the same after any restart. A
large event during an open exclusion starts a new estimate that keeps the open
one's level: the zone goes back to how it was before the first.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from stream_models.fusion.hazard import ReentryNotice, State, Transition, alert_id
from stream_models.online.policies import ReentryPolicy
from stream_models.seismology.etas import EtasParams
from stream_models.seismology.reentry import ReentryEstimate


class ReentryWatch:
    """One zone's open exclusion, if any.

    >>> from stream_models.seismology.etas import RATES, generic_law
    >>> watch = ReentryWatch("lava-1", ReentryPolicy(energy_j=1e4))
    >>> law, sums = generic_law(1.0, mu=1e-4), np.zeros(len(RATES))
    >>> [t.kind for t in watch.on_event(0.0, 1.4e4, "e1", True, law, sums, "c")]
    ['re-entry']
    >>> notice = watch.notice
    >>> notice.at - notice.source_t >= 4 * 3600      # the floor: never before 4 h
    True
    >>> [t.kind for t in watch.tick(notice.at + 1.0)]
    ['re-entry reached']
    >>> watch.open is None
    True
    """

    def __init__(self, zone: str, policy: ReentryPolicy) -> None:
        self.zone, self.policy = zone, policy
        self.open: ReentryEstimate | None = None
        self.energy_j = 0.0  # the open one's source energy
        self.published = math.nan  # the estimate last published
        self.updates = 0  # records published for the open one
        self.state: State = "a"  # the zone's hazard state when the last one was published
        self._reached: float | None = None  # cached: fixed until the next event

    @property
    def notice(self) -> ReentryNotice | None:
        """The open exclusion as published last."""
        return None if self.open is None else self._notice(None, self.published)

    def on_event(self, t: float, energy_j: float, event_id: str, above_mc: bool,
                 law: EtasParams, sums_before: np.ndarray, state: State,
                 rate_floor: float = 0.0) -> list[Transition]:
        """An event at ``t``; ``sums_before`` are the zone's ETAS sums for ``law``'s alpha
        just before it, ``rate_floor`` a background rate (events/s) to take where the
        law's is lower. Returns the re-entry records it causes."""
        out = self.tick(t)
        pol = self.policy
        if energy_j >= pol.energy_j:
            level = self.open.level if self.open is not None else None
            self.open = ReentryEstimate.start(event_id, t, math.log10(energy_j), law,
                                              sums_before, pol.factor, level, rate_floor)
            self.energy_j, self.updates, self._reached = energy_j, 0, None
            out.append(self._publish(self._notice(t), t, event_id, state))
        elif self.open is not None and above_mc:
            self.open.observe(t)
            self._reached = None
            notice = self._notice(t)
            if abs(notice.at - self.published) > max(pol.republish_s, (self.published - t) / 5):
                out.append(self._publish(notice, t, event_id, state))
        return out

    def tick(self, clock: float) -> list[Transition]:
        """``re-entry reached`` if the zone's clock passed it (its states: those of the last
        estimate published, so that the record does not depend on when it is noticed)."""
        if self.open is None:
            return []
        if self._reached is None and self._bounded(self.open.quantiles(clock, (0.5,))[0]) > clock:
            return []  # not yet: the estimate given the quiet so far still lies ahead
        at = self.reached_at()
        if at > clock:
            return []
        est = self.open
        notice = replace(self._notice(at, at), low=at, high=at)  # a fact now, not a forecast
        self.open, self._reached, self.published = None, None, math.nan
        state = self.state
        return [Transition(alert_id(self.zone, "re-entry reached", "", est.source_id),
                           "re-entry reached", self.zone, state, state, math.nan, at,
                           est.source_id, None, notice)]

    def reached_at(self) -> float:
        """The first ``s`` whose estimate, given the quiet up to ``s``, is ``s`` itself (the
        estimate falls as quiet time passes, so ``s`` minus it rises: one crossing)."""
        assert self.open is not None
        if self._reached is None:
            est = self.open
            hi = self._bounded(math.inf)
            lo = min(max(est.last_t, est.t0 + self.policy.min_exclusion_s), hi)
            if self._bounded(est.quantiles(lo, (0.5,))[0]) <= lo:
                self._reached = lo  # at the mine's minimum, or at the last event
            else:
                for _ in range(24):  # to a few seconds over the longest exclusion
                    mid = 0.5 * (lo + hi)
                    if self._bounded(est.quantiles(mid, (0.5,))[0]) <= mid:
                        hi = mid
                    else:
                        lo = mid
                self._reached = hi
        return self._reached

    def _bounded(self, t: float) -> float:
        assert self.open is not None
        t0, pol = self.open.t0, self.policy
        return min(max(t, t0 + pol.min_exclusion_s), t0 + pol.max_exclusion_s)

    def _publish(self, notice: ReentryNotice, t: float, event_id: str, state: State
                 ) -> Transition:
        assert self.open is not None
        self.published, self.state = notice.at, state
        self.updates += 1
        return Transition(
            alert_id(self.zone, "re-entry", str(self.updates), self.open.source_id),
            "re-entry", self.zone, state, state, math.nan, t, event_id, None, notice)

    def _notice(self, now: float | None, at: float | None = None) -> ReentryNotice:
        """The estimate given the events up to ``now``; ``at``: a re-entry time to state
        instead of its median (the one published, or reached)."""
        est = self.open
        assert est is not None
        median, low, high = est.quantiles(now)
        at = self._bounded(median) if at is None else at
        return ReentryNotice(est.source_id, est.t0, self.energy_j, at, self._bounded(low),
                             self._bounded(high), est.level * 3600.0, est.n,
                             self._bounded(median) > median)

    def to_state(self) -> dict[str, Any]:
        return {"open": None if self.open is None else self.open.to_state(),
                "energy_j": self.energy_j, "published": self.published, "updates": self.updates,
                "state": self.state}

    def restore(self, state: dict[str, Any]) -> None:
        self.open = None if state["open"] is None else ReentryEstimate.from_state(state["open"])
        self.energy_j, self.published = float(state["energy_j"]), float(state["published"])
        self.updates, self._reached = int(state["updates"]), None
        self.state = state["state"]
