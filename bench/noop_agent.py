"""A Faust app whose agent does nothing: the framework's own ceiling on this machine.

Run by ``bench/run.py`` as ``python bench/noop_agent.py BOOTSTRAP TOPIC N OUT``; it writes
the seconds from its first to its N-th event to OUT and exits.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import faust

bootstrap, topic, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
app = faust.App(
    f"bench-noop-{int(time.time())}", broker=f"kafka://{bootstrap}", store="memory://",
    web_enabled=False, autodiscover=False, datadir=tempfile.mkdtemp(),
    broker_session_timeout=6, broker_heartbeat_interval=1, consumer_auto_offset_reset="earliest",
)
source = app.topic(topic, key_serializer="raw", value_serializer="raw")
seen = {"n": 0, "t0": 0.0}


@app.agent(source)
async def noop(stream):  # type: ignore[no-untyped-def]
    async for _ in stream:
        seen["n"] += 1
        if seen["n"] == 1:
            seen["t0"] = time.perf_counter()
        if seen["n"] == n:
            out.write_text(str(time.perf_counter() - seen["t0"]))
            os._exit(0)  # the measurement is written; no graceful shutdown needed


if __name__ == "__main__":
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
