"""Retraining in the worker: in a thread before the scope's next event, or in the background
while events flow, its model taking over at the scope's first event after it finished."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from tests.fixtures import etas_events
from tests.test_daemon.harness import EVENTS, Tables, _noack, _service


def test_a_blocking_retraining_runs_off_the_event_loop_and_scores_the_next_event(
    tmp_path: Path,
) -> None:
    """A due ETAS refit runs in a thread (the loop keeps heartbeating the group) and its fit
    scores the scope's very next event."""
    from stream_models.retraining import jobs

    wire = [e.to_wire() for e in etas_events()[:600]]
    ran_on: list[str] = []
    real = jobs.run_job

    def spy(job: Any) -> Any:
        ran_on.append(threading.current_thread().name)
        return real(job)

    async def run() -> list[dict[str, Any]]:
        import daemon.service as service

        service.run_job = spy  # type: ignore[attr-defined]
        try:
            svc, out, _ = _service(tmp_path, Tables(), wire, **{"etas.enabled": True,
                                                                "lstm.blocking": True})
            for off, value in enumerate(wire):
                await svc.handle(value, EVENTS, 0, off, None, _noack)
        finally:
            service.run_job = real  # type: ignore[attr-defined]
        return [json.loads(v) for t, _, v in out.sent if t == "gits.risk"]

    risk = [r for r in asyncio.run(run()) if r["zone"] == "lava-1"]
    assert ran_on and threading.main_thread().name not in ran_on
    versions = [r["etas_version"] for r in risk]
    promoted = next(i for i, v in enumerate(versions) if v != "generic")
    assert versions[promoted].startswith("etas-") and promoted > 50
    assert risk[promoted]["own_fit"]["etas"] and not risk[promoted - 1]["own_fit"]["etas"]


def test_a_background_retraining_lets_events_flow_then_takes_over(tmp_path: Path) -> None:
    """Background retraining: the job waits in an executor while events are scored by the
    law scoring now; its fit takes over at the scope's first event after it finished."""
    from concurrent.futures import Future

    wire = [e.to_wire() for e in etas_events()[:600]]

    class Held:
        """An executor whose job runs only when released."""

        def __init__(self) -> None:
            self.jobs: list[tuple[Future[Any], Any, Any]] = []

        def submit(self, fn: Any, job: Any) -> Future[Any]:
            fut: Future[Any] = Future()
            self.jobs.append((fut, fn, job))
            return fut

        def release(self) -> None:
            for fut, fn, job in self.jobs:
                fut.set_result(fn(job))

        def shutdown(self, **kwargs: Any) -> None:
            pass

    held = Held()

    async def run() -> list[dict[str, Any]]:
        svc, out, _ = _service(tmp_path, Tables(), wire, executor=held,
                               **{"etas.enabled": True})
        for off, value in enumerate(wire[:400]):
            await svc.handle(value, EVENTS, 0, off, None, _noack)
            if held.jobs:
                break
        assert held.jobs  # handed out, still running
        for off2 in range(off + 1, off + 200):
            await svc.handle(wire[off2], EVENTS, 0, off2, None, _noack)
        held.release()
        for off3 in range(off2 + 1, len(wire)):
            await svc.handle(wire[off3], EVENTS, 0, off3, None, _noack)
        risk = [json.loads(v) for t, _, v in out.sent if t == "gits.risk"]
        return risk, off2 + 1, svc.orch.decisions

    risk, released_at, decisions = asyncio.run(run())
    assert decisions[0].promoted, decisions[0].reason  # the sequence is unlike the generic law
    assert {r["etas_version"] for r in risk[:released_at]} == {"generic"}  # scoring went on
    assert risk[released_at]["etas_version"] == decisions[0].version  # next event after it
