"""A process for background retraining: spawned, at a lower CPU priority, ending with its parent.

A replayed year hands out jobs every few seconds of wall time; scoring comes
first, so training runs at a niceness above the worker's, in a process spawned
(no fork of a running event loop) that exits within a second of its worker,
even after a SIGKILL.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_TRAINING_NICENESS = 10  # added to the worker's: training yields the CPU to scoring


def training_pool() -> ProcessPoolExecutor:
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_training_process,
                               initargs=(os.getpid(),))


def _training_process(parent_pid: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(_TRAINING_NICENESS)
    exit_with_parent(parent_pid)


def exit_with_parent(parent_pid: int, every_s: float = 1.0) -> None:
    """In a child: a daemon thread ends the process once ``parent_pid`` is no longer its
    parent (the parent died and the child was handed to init)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
