"""All zones of a mine in one process: what a backtest and ``seismowatch train`` run.

The worker takes the same steps per event (retraining schedule, zone monitor,
history), only spread over Kafka partitions and awaiting where it must.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from stream_models.events import Event
from stream_models.monitor import MonitorPolicy, Outcome, ZoneMonitor
from stream_models.retrain import Retrainer


class MineRunner:
    """One :class:`ZoneMonitor` per zone and, optionally, the shared LSTM retrainer.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> run = MineRunner(MonitorPolicy(horizon_s=3600))
    >>> t0 = datetime(2021, 1, 1, tzinfo=UTC)
    >>> events = [Event(str(i), t0 + timedelta(minutes=10 * i), 0, 0, -400, 100.0, 1.0,
    ...                 zone="ab"[i % 2]) for i in range(4)]
    >>> [o.event.zone for o in run.run(events)], sorted(run.monitors)
    (['a', 'b', 'a', 'b'], ['a', 'b'])
    """

    def __init__(self, policy: MonitorPolicy, retrainer: Retrainer | None = None) -> None:
        self.policy = policy
        self.retrainer = retrainer
        self.monitors: dict[str, ZoneMonitor] = {}
        self.decisions: list[dict[str, object]] = []

    def process(self, event: Event) -> Outcome:
        mon = self.monitors.get(event.zone)
        if mon is None:
            mon = self.monitors[event.zone] = ZoneMonitor(event.zone, self.policy)
        r = self.retrainer
        if r is not None:
            self.decisions += r.step(mon.event_time(event))  # LateEventError: nothing changed
        outcome = mon.process(event, r.active if r is not None else None)
        if r is not None:
            r.record(event.zone, outcome.learned)
        return outcome

    def run(self, events: Iterable[Event]) -> Iterator[Outcome]:
        for event in events:
            yield self.process(event)

    def close(self) -> None:
        if self.retrainer is not None:
            self.retrainer.close()
