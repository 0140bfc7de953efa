"""ScopeMonitor: every expert forecasts from the first event; a saved and restored scope
continues exactly like one that never stopped; refusals change nothing; the state is bounded."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from replay.read import read_events
from stream_models.online.experts import COMPONENTS, EXPERTS
from stream_models.online.outcome import DuplicateEventError, LateEventError
from stream_models.online.policies import MonitorPolicy, RetrainPolicy
from stream_models.online.records import risk_record
from stream_models.online.scope import ScopeMonitor
from stream_models.packing import nbytes, pack, unpack
from stream_models.retraining.registry import base_lstm
from tests.fixtures import EATON, EATON_MAP, synth_file


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list:  # type: ignore[type-arg]
    path = synth_file(tmp_path_factory.mktemp("m") / "m.parquet", days=20)
    return read_events(path, "gits", {}, timezone="UTC").events


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _scope(policy: MonitorPolicy, name: str = "mine") -> ScopeMonitor:
    return ScopeMonitor(name, "zone", policy, RetrainPolicy(), base_lstm())


def _restore(state: dict, policy: MonitorPolicy) -> ScopeMonitor:  # type: ignore[type-arg]
    return ScopeMonitor.from_state(unpack(pack(state)), policy, RetrainPolicy(), base_lstm())


def test_every_expert_forecasts_from_the_first_event(events: list) -> None:  # type: ignore[type-arg]
    """Before any fit of their own, the learned models and the fitted ETAS forecast with
    their priors: finite probabilities, flagged as not their own fit."""
    mon = _scope(MonitorPolicy())
    first = mon.process(events[0])
    assert all(0 < first.components[c] < 1 for c in COMPONENTS)
    assert all(0 < -math.expm1(-math.exp(first.learning[e])) < 1 for e in EXPERTS)
    assert first.own_fit == {**dict.fromkeys(EXPERTS, False), "omori": True,
                             "baseline_rate": True}
    assert first.versions["lstm"] == base_lstm().version  # the pretrained one scores at once
    assert first.components["etas"] == first.components["omori"]  # its prior: the generic law


def test_restored_monitor_gives_identical_outcomes(events: list) -> None:  # type: ignore[type-arg]
    policy = MonitorPolicy(min_examples=20, min_positives=1)
    straight = _scope(policy)
    expected = [straight.process(e) for e in events]

    cut = len(events) // 2
    first = _scope(policy)
    for e in events[:cut]:
        first.process(e)
    resumed = _restore(first.to_state(), policy)  # what the changelog table holds
    for e, want in zip(events[cut:], expected[cut:], strict=True):
        got = resumed.process(e)
        assert risk_record(got) == risk_record(want)
        assert all(_same(got.features[k], want.features[k]) for k in want.features)
        assert [t.alert_id for t in got.transitions] == [t.alert_id for t in want.transitions]
    for name, scores in straight.metrics().items():
        assert resumed.metrics()[name] == pytest.approx(scores, nan_ok=True), name


def test_a_restored_zone_follows_the_thresholds_now_configured(events: list) -> None:  # type: ignore[type-arg]
    policy = MonitorPolicy(min_examples=20, min_positives=1)
    first = _scope(policy)
    for e in events[: len(events) // 2]:
        first.process(e)
    stricter = replace(policy, hazard=replace(policy.hazard, thresholds=(0.97, 0.98, 0.99)))
    runs = {name: _restore(first.to_state(), pol)
            for name, pol in (("same", policy), ("stricter", stricter))}
    later = {name: [mon.process(e) for e in events[len(events) // 2 :]]
             for name, mon in runs.items()}
    assert any(o.state != "a" for o in later["same"])  # the stored thresholds raise states
    assert max(o.probability for o in later["stricter"]) < 0.97
    assert {o.state for o in later["stricter"]} == {"a"}


def test_a_state_scored_with_another_base_model_is_refused(events: list) -> None:  # type: ignore[type-arg]
    mon = _scope(MonitorPolicy())
    for e in events[:50]:
        mon.process(e)
    with pytest.raises(ValueError, match="base LSTM"):
        ScopeMonitor.from_state(mon.to_state(), MonitorPolicy(), RetrainPolicy(), None)


def test_warm_up_keeps_the_state_at_a(events: list) -> None:  # type: ignore[type-arg]
    mon = _scope(MonitorPolicy(min_examples=10**9))
    assert {mon.process(e).state for e in events} == {"a"}


def test_a_slightly_late_event_counts_at_the_zone_clock(events: list) -> None:  # type: ignore[type-arg]
    mon = _scope(MonitorPolicy(max_lateness_s=3600))
    for e in events[:200]:
        mon.process(e)
    clock = mon.features.clock
    assert clock == events[199].timestamp
    late = replace(events[150], event_id="late", time=events[199].time - timedelta(minutes=40))
    out = mon.process(late)
    assert out.features["count_1h"] >= 1 and mon.features.clock == clock
    assert mon.labeler.rows["t"][len(mon.labeler) - 1] == clock  # its example: at the clock
    nxt = mon.process(events[200])
    assert nxt.event.event_id == events[200].event_id and mon.features.clock >= clock


def test_a_too_late_event_is_refused_and_changes_nothing(events: list) -> None:  # type: ignore[type-arg]
    mon = _scope(MonitorPolicy(max_lateness_s=3600))
    for e in events[:200]:
        mon.process(e)
    before = pack(mon.to_state())
    learned = mon.river.n_learned
    late = replace(events[10], event_id="old")
    with pytest.raises(LateEventError, match=r"event old at .* h behind scope mine's clock"):
        mon.process(late)
    assert pack(mon.to_state()) == before and mon.river.n_learned == learned


def test_an_event_applied_twice_is_refused_and_changes_nothing(events: list) -> None:  # type: ignore[type-arg]
    mon = _scope(MonitorPolicy())
    for e in events[:100]:
        mon.process(e)
    before = pack(mon.to_state())
    older = next(e for e in events[:99] if e.timestamp > events[99].timestamp - 20 * 3600)
    for e in (events[99], older):  # a re-delivery, and a re-export's older row
        with pytest.raises(DuplicateEventError, match=f"event {e.event_id} was already applied"):
            mon.process(e)
    assert pack(mon.to_state()) == before


@pytest.mark.slow
def test_zone_state_stays_small_in_a_ten_fold_burst_of_the_densest_catalog_hours() -> None:
    """The densest 8 h of the real TOC2ME catalog, replayed ten times over in those 8 h."""
    catalog = read_events(EATON, "catalog", dict(m.split("=") for m in EATON_MAP)).events
    t = np.array([e.timestamp for e in catalog])
    start = t[np.argmax(np.searchsorted(t, t + 8 * 3600) - np.arange(len(t)))]
    dense = [e for e in catalog if start <= e.timestamp < start + 8 * 3600]
    burst = sorted((replace(e, event_id=f"{e.event_id}-{k}", zone="z",
                            time=e.time + timedelta(seconds=k * 0.37))
                    for e in dense for k in range(10)), key=lambda e: e.time)
    mon = _scope(MonitorPolicy(target_energy_j=2e6, horizon_s=24 * 3600), "z")
    calm = _scope(MonitorPolicy(target_energy_j=2e6, horizon_s=24 * 3600), "z")
    calm.process(replace(burst[0], event_id="one"))
    peak = 0
    for e in burst:
        mon.process(e)
        peak = max(peak, nbytes(mon.to_state()))
    assert len(burst) > 3000 and mon.labeler.thinned > 0  # a real burst: thinning kicked in
    assert peak <= 256 * 1024
    # fixed arrays: the burst adds ids and the open chunks of its history, no more
    assert peak <= nbytes(calm.to_state()) + 4096 + _open_chunks_bytes(mon)


def test_a_period_replayed_twice_keeps_the_state_bounded(events: list) -> None:  # type: ignore[type-arg]
    """The same days produced twice into the live topic: the repeat is refused, not piled up."""
    policy = MonitorPolicy(max_lateness_s=24 * 3600)
    mon = _scope(policy)
    peak = 0
    for e in events:
        mon.process(e)
        peak = max(peak, len(mon.labeler))
    end = events[-1].timestamp
    refused = 0
    for e in events:
        try:
            mon.process(replace(e, event_id=e.event_id + "-again"))
        except LateEventError:
            refused += 1
        except DuplicateEventError:  # pragma: no cover - the ids differ
            raise
        assert len(mon.labeler) <= peak + sum(ev.timestamp >= end - 86400 for ev in events)
    assert refused == sum(e.timestamp < end - 24 * 3600 for e in events)
    assert mon.features.clock == end


def _open_chunks_bytes(mon: ScopeMonitor) -> int:
    """The most the open chunks of a scope's history can hold."""
    from stream_models.online.history import CHUNK_ROWS

    return sum(CHUNK_ROWS[k] * mon.history.dtypes[k].itemsize for k in CHUNK_ROWS)


def test_the_mine_wide_scope_names_itself_in_its_records(events: list) -> None:  # type: ignore[type-arg]
    mine = ScopeMonitor("mine-wide", "mine", MonitorPolicy(max_lateness_s=60), RetrainPolicy(),
                        base_lstm())
    outs = [mine.process(e) for e in events[:30]]
    assert {o.event.zone for o in outs} == {"mine-wide"}
    assert mine.policy.max_lateness_s == math.inf  # it counts every event, late ones too
