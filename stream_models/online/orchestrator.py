"""All zones of a mine in one process: what a backtest and ``seismowatch train`` run.

The worker takes the same steps per event (advance the quiet zones, the
retraining schedule, the zone's monitor, the mine-wide monitor, history), only
spread over Kafka partitions and awaiting where it must.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stream_models.features.inputs import INPUT_NAMES
from stream_models.learners.sequence import SequenceModel
from stream_models.online.labels import example_key
from stream_models.online.policies import RetrainPolicy
from stream_models.online.scope import (
    PAYLOAD,
    Advance,
    DuplicateEventError,
    MonitorPolicy,
    Outcome,
    ZoneMonitor,
)
from stream_models.retraining.retrainer import Retrainer
from stream_models.seismology.etas import EtasParams
from stream_models.wire import Event


@dataclass
class Advanced:
    """A zone the stream's clock moved on without an event of its own."""

    zone: str
    clock: float
    learned: np.ndarray
    transitions: list

    @classmethod
    def of(cls, zone: str, clock: float, adv: Advance) -> Advanced:
        return cls(zone, clock, adv.learned, adv.transitions)


def mine_policy(policy: MonitorPolicy) -> MonitorPolicy:
    """The mine-wide scope counts every event a zone accepted, at the mine's clock, and
    has hazard states of its own."""
    return replace(policy, max_lateness_s=math.inf, hazard=policy.mine_hazard or policy.hazard)


def advance_zones(monitors: dict[str, ZoneMonitor], clock: float) -> list[Advanced]:
    """Let the stream's clock reach every zone: labels mature, forecasts expire, quiet
    episodes close. Each zone's result depends only on the clock, not on when this runs."""
    out = []
    for zone, mon in monitors.items():
        adv = mon.advance(clock)
        if len(adv.learned) or adv.transitions:
            out.append(Advanced.of(zone, clock, adv))
    return out


class MineRunner:
    """One :class:`ZoneMonitor` per zone, a mine-wide one, and optionally the LSTM retrainer.

    ``mine_scope`` names the monitor that sees every event (``None``: none, as when
    the mine has a single zone). The LSTM is trained on, and scores, the zones only.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> run = MineRunner(MonitorPolicy(horizon_s=3600), mine_scope="mine-wide")
    >>> t0 = datetime(2021, 1, 1, tzinfo=UTC)
    >>> events = [Event(str(i), t0 + timedelta(minutes=10 * i), 0, 0, -400, 100.0, 1.0,
    ...                 zone="ab"[i % 2]) for i in range(4)]
    >>> [o.event.zone for o in run.run(events) if isinstance(o, Outcome)]
    ['a', 'mine-wide', 'b', 'mine-wide', 'a', 'mine-wide', 'b', 'mine-wide']
    """

    def __init__(self, policy: MonitorPolicy, retrainer: Retrainer | None = None,
                 mine_scope: str | None = None) -> None:  # fmt: skip
        self.policy = policy
        self.retrainer = retrainer
        self.mine_scope = mine_scope
        self.monitors: dict[str, ZoneMonitor] = {}
        self.decisions: list[dict[str, object]] = []
        self.clock = -math.inf
        self.duplicates = 0  # events a zone had already applied: skipped

    @classmethod
    def build(cls, policy: MonitorPolicy, retrain: RetrainPolicy | None, state_dir: Path,
              registry_dir: Path | None = None, mine_scope: str | None = None) -> MineRunner:
        """A runner as the worker runs it: ETAS refitted and the LSTM retrained under
        ``retrain`` (None: neither, the ETAS prior scores), their history in ``state_dir``,
        their versions in ``registry_dir``."""
        retrainer = None
        if retrain is not None:
            retrainer = Retrainer(state_dir, registry_dir or state_dir / "registry",
                                  INPUT_NAMES, retrain)  # fmt: skip
        return cls(policy, retrainer, mine_scope)

    def monitor(self, zone: str) -> ZoneMonitor:
        mon = self.monitors.get(zone)
        if mon is None:
            policy = mine_policy(self.policy) if zone == self.mine_scope else self.policy
            mon = self.monitors[zone] = ZoneMonitor(zone, policy)
        return mon

    def process(self, event: Event) -> list[Outcome | Advanced]:
        """Everything one event causes, in order; raises LateEventError with nothing changed.

        An event its zone already applied is skipped (counted in :attr:`duplicates`).
        """
        mon = self.monitor(event.zone)
        t = mon.event_time(event)
        self.clock = max(self.clock, t)
        steps: list[Outcome | Advanced] = list(advance_zones(self.monitors, self.clock))
        for step in steps:  # in the history store before a retraining may read it
            self._record(step.zone, step.learned)
        lstm, etas = self.model_step(t)
        try:
            outcome = mon.process(event, lstm, etas)
        except DuplicateEventError:
            self.duplicates += 1  # applied before: the zones' clocks moved on all the same
            return steps
        self._record(event.zone, outcome.learned)
        if self.retrainer is not None:
            self.retrainer.record_event(event.zone, example_key(event.event_id), t,
                                        event.log_energy)  # fmt: skip
        steps.append(outcome)
        if self.mine_scope is not None:
            # the LSTM and the ETAS fit learn and score the zones; the mine-wide scope goes
            # without them (live, it lags the zones and would meet a promotion elsewhere)
            mine = self.monitor(self.mine_scope)
            steps.append(mine.process(replace(event, zone=self.mine_scope), None, None))
        return steps

    def model_step(self, t: float) -> tuple[SequenceModel | None, EtasParams | None]:
        """Start a due retraining, swap in a finished one; the LSTM and ETAS fit scoring now."""
        r = self.retrainer
        if r is None:
            return None, None
        self.decisions += r.step(t)
        return r.active, r.active_etas

    def _record(self, zone: str, learned: np.ndarray) -> None:
        if self.retrainer is not None and len(learned) and zone != self.mine_scope:
            self.retrainer.record(zone, learned, PAYLOAD, self.monitors[zone].learning_j)

    def run(self, events: Iterable[Event]) -> Iterator[Outcome | Advanced]:
        for event in events:
            yield from self.process(event)

    def close(self) -> None:
        if self.retrainer is not None:
            self.retrainer.close()
