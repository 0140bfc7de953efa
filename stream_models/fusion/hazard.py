"""Hazard states a/b/c/d with hysteresis, and the alerts their changes raise.

Mine operators already grade seismic hazard in four states: a (none), b (low),
c (high), d (danger). :class:`HazardTracker` maps a zone's risk probability to a
state, rises at once, and falls only when the probability drops a hysteresis
margin below the state's threshold, so a score hovering at a threshold does not
flap. Alerts come in episodes (see :class:`HazardTracker`): a raise, raises on
escalation, and one all-clear after a cooldown below the alerting state. A
forecast covers one horizon after the event it was made at: a zone with no
event for that long has no standing forecast and falls to state a. Expiry and
all-clear happen at times fixed by the zone's own events, whether the next
event or a timer on the stream's clock notices them first. Alert ids are a hash
of zone, kind, state and trigger, so re-processing after a restart gives the
same id and downstream de-duplication holds.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

STATES = ("a", "b", "c", "d")
State = Literal["a", "b", "c", "d"]
AlertKind = Literal["raise", "all-clear", "re-entry", "re-entry reached"]


def alert_id(zone: str, kind: str, state: str, event_id: str) -> str:
    """Stable id: the same zone, kind, state and trigger always give the same id.

    >>> alert_id("lava-1", "raise", "d", "42") == alert_id("lava-1", "raise", "d", "42")
    True
    >>> alert_id("lava-1", "raise", "d", "42") == alert_id("lava-1", "raise", "d", "43")
    False
    """
    return hashlib.sha256(f"{zone}|{kind}|{state}|{event_id}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Episode:
    """An alert episode: when it opened, the highest state it alerted, its peak forecast,
    and (once an all-clear closed it) when it ended."""

    start: float
    state: State
    peak_probability: float
    peak_t: float
    end: float | None = None

    @property
    def duration_s(self) -> float:
        return (self.peak_t if self.end is None else self.end) - self.start


@dataclass(frozen=True)
class ReentryNotice:
    """What a ``re-entry`` or ``re-entry reached`` record says (times in event time, s)."""

    source_id: str
    source_t: float
    source_energy_j: float
    at: float  # the estimate, floor and cap applied
    low: float  # 5-95 % interval, floor and cap applied
    high: float
    level_per_h: float  # events per hour above Mc that mark re-entry
    aftershocks: int  # events counted since the source
    floor_applied: bool

    @property
    def exclusion_s(self) -> float:
        return self.at - self.source_t


@dataclass(frozen=True)
class Transition:
    """A state change that operators must hear about.

    A raise's ``probability`` is the forecast that raised it; an all-clear's is the
    forecast standing when the episode closed (NaN when none stands: the last one
    expired) and its ``previous_state`` the highest state the episode alerted. A
    ``re-entry`` or ``re-entry reached`` record (a zone's exclusion after a large
    event) carries ``reentry`` instead, and the zone's state as both states.
    """

    alert_id: str
    kind: AlertKind
    zone: str
    state: State
    previous_state: State
    probability: float
    t: float
    event_id: str
    episode: Episode | None = None
    reentry: ReentryNotice | None = None  # a zone's exclusion after a large event


# what `backtest --alerts-per-week 1` recommends for the mine-wide scope on that year: its
# risk covers every face, so the same budget needs higher thresholds than a zone's
MINE_THRESHOLDS = (0.0029, 0.0069, 0.027)


@dataclass(frozen=True)
class HazardPolicy:
    """Thresholds of states b, c, d on the risk probability, and the alerting rules."""

    # what `backtest --alerts-per-week 1` recommends for the zones on the synthetic mine's year
    thresholds: tuple[float, float, float] = (0.00022, 0.0034, 0.0083)
    # a state falls once the risk is this fraction below its threshold: relative, since
    # calibrated risks of rare targets span decades
    hysteresis: float = 0.2
    alert_state: State = "c"
    cooldown_s: float = 1800.0  # event time below alert_state before the all-clear
    horizon_s: float = 8 * 3600.0  # a forecast stands this long after its event

    def __post_init__(self) -> None:
        b, c, d = self.thresholds
        if not 0 < b < c < d <= 1:
            raise ValueError(f"thresholds must satisfy 0 < b < c < d <= 1, got {self.thresholds}")
        if not 0 <= self.hysteresis < 1:
            raise ValueError("hysteresis is a fraction of each threshold: 0 <= hysteresis < 1")

    def level_of(self, p: float) -> int:
        return sum(p >= thr for thr in self.thresholds)


class HazardTracker:
    """The hazard state of one zone and its alert episodes.

    An episode opens with a raise when the state reaches ``alert_state``, sends a
    further raise on each escalation, and closes with one all-clear once the state
    has stayed below ``alert_state`` for ``cooldown_s`` of event time; falling and
    rising again within the cooldown continues the same episode without a new alert.

    Examples
    --------
    >>> h = HazardTracker("lava-1", HazardPolicy((0.3, 0.55, 0.75), cooldown_s=600))
    >>> [(tr.kind, tr.state) for tr in h.update(0.6, 0, "e1")]
    [('raise', 'c')]
    >>> [(tr.kind, tr.state) for tr in h.update(0.8, 5, "e2")]      # escalation
    [('raise', 'd')]
    >>> h.update(0.70, 10, "e3"), h.state     # inside the hysteresis band: stays d
    ([], 'd')
    >>> h.update(0.1, 20, "e4"), h.state      # below c, but the cooldown has not passed
    ([], 'a')
    >>> h.update(0.8, 30, "e5"), h.state      # back to d in the same episode: no new alert
    ([], 'd')
    >>> h.update(0.1, 40, "e6"), [(t.kind, t.t) for t in h.tick(700)]   # at 40 + 600
    ([], [('all-clear', 640)])
    >>> ep = h.update(0.9, 650, "e7")[0].episode   # a new episode: it opens at its raise
    >>> ep.start, ep.peak_probability, ep.state
    (650, 0.9, 'd')
    >>> h.update(0.1, 660, "e8"); clear = h.tick(2000)[0]   # all-clear: what it closes
    []
    >>> clear.previous_state, clear.state, clear.probability, clear.episode.duration_s
    ('d', 'a', 0.1, 610)
    >>> h.update(0.9, 3000, "e9")[0].kind, h.tick(3000 + 8 * 3600), h.state   # expired
    ('raise', [], 'a')
    """

    def __init__(self, zone: str, policy: HazardPolicy | None = None) -> None:
        self.zone = zone
        self.policy = policy or HazardPolicy()
        self.level = 0
        self.episode_level = 0  # highest level alerted in the open episode; 0: no episode
        self.below_since: float | None = None  # when the open episode fell below alert_state
        self.t_last: float | None = None  # time of the last forecast
        self.p_last = math.nan  # ... its probability
        self.last_event = ""  # the event it was made at
        self.episode: Episode | None = None  # the open episode

    @property
    def state(self) -> State:
        return STATES[self.level]  # type: ignore[return-value]

    def update(self, p: float, t: float, event_id: str) -> list[Transition]:
        """Feed the probability published for the event at ``t``; return alerts to send."""
        out = self.tick(t)
        pol = self.policy
        previous = self.level
        self.t_last, self.p_last, self.last_event = t, p, event_id
        self.level = max(self.level, pol.level_of(p))
        while self.level > 0 and p < pol.thresholds[self.level - 1] * (1 - pol.hysteresis):
            self.level -= 1
        ep = self.episode
        if ep is not None and p > ep.peak_probability:
            self.episode = ep = replace(ep, peak_probability=p, peak_t=t)
        if self.level >= STATES.index(pol.alert_state):
            self.below_since = None
            if self.level > self.episode_level:
                self.episode_level = self.level
                self.episode = replace(ep, state=self.state) if ep else Episode(
                    t, self.state, p, t)
                out.append(self._transition("raise", previous, p, t, event_id))
        elif self.episode_level and self.below_since is None:
            self.below_since = t
        return out + self.tick(t)

    def tick(self, clock: float) -> list[Transition]:
        """Let event time pass up to ``clock``: expire the forecast, close a cooled episode.

        Both happen at times fixed by the zone's own forecasts (the last one's time +
        the horizon; falling below the alert state + the cooldown), and an all-clear
        names the state standing at its own time, so calling this early, late or not at
        all before the next update gives the same alerts.
        """
        pol = self.policy
        out: list[Transition] = []
        expires = (self.t_last + pol.horizon_s if self.t_last is not None and self.level
                   else math.inf)
        out += self._close(clock, before=expires)  # a state still standing when it closes
        if expires <= clock:
            self.level = 0  # the forecast expired: nothing recent stands behind the state
            if self.episode_level and self.below_since is None:
                self.below_since = expires
            out += self._close(clock)
        return out

    def _close(self, clock: float, before: float = math.inf) -> list[Transition]:
        """The all-clear of a cooled episode, if due by ``clock`` and before ``before``."""
        pol = self.policy
        if not self.episode_level or self.below_since is None:
            return []
        at = self.below_since + pol.cooldown_s
        if at > clock or at >= before:
            return []
        standing = (self.p_last if self.t_last is not None
                    and at < self.t_last + pol.horizon_s else math.nan)
        closes = self.episode_level
        if self.episode is not None:
            self.episode = replace(self.episode, end=at)
        tr = self._transition("all-clear", closes, standing, at, f"{self.last_event}+{at:.0f}")
        self.episode_level, self.below_since, self.episode = 0, None, None
        return [tr]

    def _transition(
        self, kind: AlertKind, previous: int, p: float, t: float, trigger: str
    ) -> Transition:
        return Transition(
            alert_id(self.zone, kind, self.state, trigger), kind, self.zone, self.state,
            STATES[previous], p, t, trigger, self.episode,  # type: ignore[arg-type]
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "policy": {**asdict(self.policy), "thresholds": list(self.policy.thresholds)},
            "level": self.level,
            "episode_level": self.episode_level,
            "below_since": self.below_since,
            "t_last": self.t_last,
            "p_last": self.p_last,
            "last_event": self.last_event,
            "episode": None if self.episode is None else asdict(self.episode),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> HazardTracker:
        pol = dict(state["policy"])
        pol["thresholds"] = tuple(pol["thresholds"])
        h = cls(state["zone"], HazardPolicy(**pol))
        h.level, h.episode_level = int(state["level"]), int(state["episode_level"])
        h.below_since = state["below_since"]
        h.t_last, h.last_event = state["t_last"], str(state["last_event"])
        h.p_last = float(state["p_last"])
        h.episode = None if state["episode"] is None else Episode(**state["episode"])
        return h
