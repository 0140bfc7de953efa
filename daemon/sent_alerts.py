"""Which alerts a scope has sent: stored at once, read back from Kafka after a crash.

An alert is delivered, then its id is stored in the changelog-backed table. A worker
that dies between the two sent an alert the table does not know of: before the scope's
first alert after a restore, the alerts topic is read from just after the last stored
one, and any alert of the scope found there counts as sent. Ids are stable, so a
restart never sends one twice.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from daemon.delivery import FetchRange
from stream_models.wire import loads

log = logging.getLogger(__name__)
SENT_KEPT = 64  # alert ids remembered per scope: far more than one snapshot interval sends


@dataclass
class SentAlerts:
    """A scope's last :data:`SENT_KEPT` alert ids and where on the alerts topic the last lies.

    >>> sent = SentAlerts.restore({"ids": ["a1"], "at": [3, 17]})
    >>> "a1" in sent, sent.at
    (True, (3, 17))
    >>> sent.add("a2", (3, 18))
    {'ids': ['a1', 'a2'], 'at': [3, 18]}
    """

    ids: deque[str] = field(default_factory=lambda: deque(maxlen=SENT_KEPT))
    at: tuple[int, int] | None = None  # alerts partition and offset of the last one stored
    checked: bool = False  # the alerts sent since then read back from Kafka

    @classmethod
    def restore(cls, stored: dict[str, Any] | None) -> SentAlerts:
        sent = cls()
        if stored:
            sent.ids.extend(stored["ids"])
            sent.at = (int(stored["at"][0]), int(stored["at"][1]))
        return sent

    def __contains__(self, alert_id: str) -> bool:
        return alert_id in self.ids

    def add(self, alert_id: str, at: tuple[int, int]) -> dict[str, Any]:
        """Count ``alert_id`` as sent at ``at``; the value to store for the scope."""
        self.ids.append(alert_id)
        self.at = at
        return {"ids": list(self.ids), "at": list(at)}

    async def read_back(self, name: str, fetch_range: FetchRange, topic: str,
                        partition: int) -> None:
        """Count as sent the scope's alerts on Kafka after the last one stored
        (``partition`` is where its first alert goes when none is stored)."""
        partition, start = (self.at[0], self.at[1] + 1) if self.at else (partition, 0)
        try:
            found = await fetch_range(topic, partition, start, None)
        except Exception:  # a resend is better than a stalled partition
            log.exception("scope %s: alerts on %s/%d could not be read back; an alert sent "
                          "just before a crash may be sent again", name, topic, partition)
            found = []
        for _, value, _ in found:
            try:
                record = loads(value)
            except ValueError:
                continue
            if (isinstance(record, dict) and record.get("zone") == name
                    and record.get("alert_id") not in self.ids):
                self.ids.append(str(record["alert_id"]))
        self.checked = True
