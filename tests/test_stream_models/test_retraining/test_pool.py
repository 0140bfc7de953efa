"""The training process ends with the worker, even when the worker is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures import REPO

pytestmark = pytest.mark.slow  # spawns training processes

_PARENT = """
import sys, time
sys.path.insert(0, {repo!r})
from stream_models.retraining.pool import training_pool
pool = training_pool()
print(pool.submit(__import__("os").getpid).result(), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purpose
        return f.read().split(")")[-1].split()[0] != "Z"


def test_the_training_process_exits_when_its_worker_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT.format(repo=str(REPO))],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the training process outlived its killed worker"


def test_training_yields_the_cpu_to_scoring() -> None:
    from stream_models.retraining.pool import training_pool

    pool = training_pool()
    try:
        assert pool.submit(os.nice, 0).result(timeout=60) > os.nice(0)
    finally:
        pool.shutdown()
