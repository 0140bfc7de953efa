"""What an input row may hold before it is rejected as implausible."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Limits:
    """Energy ceiling and time range of plausible events (the ``[input]`` settings)."""

    max_energy_j: float = 1e12
    earliest: datetime = datetime(1990, 1, 1, tzinfo=UTC)
    future_slack: timedelta = timedelta(days=1)  # clock skew between the mine and this host
