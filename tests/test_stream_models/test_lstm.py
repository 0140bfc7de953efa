"""The LSTM, its training split, its registry files and the promotion gate."""

from __future__ import annotations

import json
import math
import pickle
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_models.features.inputs import INPUT_NAMES
from stream_models.learners.sequence import META_FILE, WEIGHTS_FILE, ModelFileError, SequenceModel
from stream_models.online.policies import RetrainPolicy, TrainConfig
from stream_models.online.scope import MonitorPolicy, ZoneMonitor
from stream_models.retraining.history import HistoryStore, ZoneHistory, time_split
from stream_models.retraining.judge import score
from stream_models.retraining.registry import ModelRegistry
from stream_models.retraining.retrainer import Retrainer, retrain_job
from stream_models.retraining.training import LstmNet, train_lstm, untrained_model
from stream_models.wire import Event

HOUR = 3600.0
CONFIG = TrainConfig(window=8, hidden=8, epochs=6, seed=3, horizon_s=8 * HOUR)


def learnable_history(
    n: int = 1200, seed: int = 0, zones: int = 2, end: float | None = None
) -> dict[str, ZoneHistory]:
    """Learning-target events come in active spells that the first input shows: an LSTM
    can learn it. Each example's label is whether such an event followed within 8 h."""
    rng = np.random.default_rng(seed)
    col = INPUT_NAMES.index("event_log_energy")
    log_l = math.log10(RetrainPolicy().learning_energy_j)
    out = {}
    for z in range(zones):
        t = np.cumsum(rng.exponential(HOUR, n))
        if end is not None:
            t += end - t[-1]
        x = rng.normal(size=(n, len(INPUT_NAMES))).astype(np.float32)
        activity = np.zeros(n)  # a slow latent state, seen through the first input
        for i in range(1, n):
            activity[i] = 0.9 * activity[i - 1] + math.sqrt(1 - 0.81) * rng.normal()
        x[:, 0] = activity + rng.normal(scale=0.5, size=n)
        target = activity + rng.normal(scale=0.3, size=n) > 1.5
        x[:, col] = np.where(target, log_l + 1, log_l - 1)
        nxt = np.searchsorted(t, t, side="right")  # first later event
        last = np.searchsorted(t, t + CONFIG.horizon_s, side="right")
        csum = np.r_[0, np.cumsum(target)]
        y = csum[last] - csum[nxt] > 0
        static = rng.normal(size=(n, 3)).astype(np.float32)
        out[f"z{z}"] = ZoneHistory(f"z{z}", t, x, static, y)
    return out


def fill_store(path: Path, histories: dict[str, ZoneHistory]) -> HistoryStore:
    store = HistoryStore(path, INPUT_NAMES, retention_s=1e12)
    for zone, h in histories.items():
        for i in range(len(h.t)):
            store.add(zone, float(h.t[i]), i, h.x[i], h.static[i], bool(h.y[i]))
    store.commit()
    return store


# -- no look-ahead ---------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.floats(0, 1e7), min_size=2, max_size=200),
    fraction=st.floats(0.05, 0.5),
    horizon=st.floats(0, 1e6),
)
def test_training_labels_end_before_the_validation_slice(
    times: list[float], fraction: float, horizon: float
) -> None:
    t = np.sort(np.array(times))
    n = len(t)
    h = {"z": ZoneHistory("z", t, np.zeros((n, 1), np.float32), np.zeros((n, 3), np.float32),
                          np.zeros(n, bool))}  # fmt: skip
    split = time_split(h, fraction, horizon)
    train, val = split.train["z"], split.validation["z"]
    assert val.size >= 1
    assert (t[train] + horizon < split.validation_start).all()  # no label overlaps validation
    assert (t[val] >= split.validation_start).all()
    assert not set(train.tolist()) & set(val.tolist())


def test_trainer_reports_a_training_window_that_ends_before_validation() -> None:
    hist = learnable_history(600)
    _, report = train_lstm(hist, INPUT_NAMES, CONFIG)
    assert report["train_end"] < report["validation_start"]
    assert report["validation_examples"] > 0 and report["train_examples"] > 0


# -- saving and loading ------------------------------------------------------------------


def test_saved_model_reloads_to_identical_predictions(tmp_path: Path) -> None:
    hist = learnable_history(500)
    model, _ = train_lstm(hist, INPUT_NAMES, CONFIG)
    model.meta["version"] = "lstm-0001"
    model.save(tmp_path / "lstm-0001")
    loaded = SequenceModel.load(tmp_path / "lstm-0001")
    index = {z: np.arange(len(h.t)) for z, h in hist.items()}
    assert np.array_equal(score(model, hist, index)[2], score(loaded, hist, index)[2])
    assert loaded.version == "lstm-0001" and loaded.input_names == list(INPUT_NAMES)


def test_numpy_stepping_equals_the_torch_network_over_a_sequence() -> None:
    """Scoring steps the cell in numpy with carried state; training unrolls it in torch."""
    torch.manual_seed(0)
    net = LstmNet(len(INPUT_NAMES), 3, 8).eval()
    model = untrained_model(INPUT_NAMES, window=8, hidden=8, seed=0)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model.weights.items()})
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, len(INPUT_NAMES))).astype(np.float32)
    st = rng.normal(size=(300, 3)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)[None], torch.from_numpy(st)[None])[0].numpy()
    np.testing.assert_allclose(model.run(x, st), want, rtol=1e-4, atol=1e-5)


def test_a_swap_warms_up_on_the_last_window_of_inputs() -> None:
    model = untrained_model(INPUT_NAMES, window=8, hidden=8, seed=0)
    rows = np.random.default_rng(5).normal(size=(30, len(INPUT_NAMES)))
    state = model.zero_state()
    for x in rows[-8:]:
        state = model.step(state, x)
    assert np.array_equal(model.warm(rows), state)


def _saved(tmp_path: Path) -> Path:
    model = untrained_model(INPUT_NAMES, window=4, hidden=4, seed=0)
    model.save(tmp_path / "entry")
    return tmp_path / "entry"


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    entry = _saved(tmp_path)
    data = bytearray((entry / WEIGHTS_FILE).read_bytes())
    data[-40] ^= 0xFF
    (entry / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        SequenceModel.load(entry)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran while loading",))


def test_a_pickle_with_code_is_refused_even_with_a_matching_checksum(tmp_path: Path) -> None:
    entry = _saved(tmp_path)
    (entry / WEIGHTS_FILE).write_bytes(pickle.dumps({"lstm.weight": _Payload()}, protocol=2))
    _rewrite_checksum(entry)
    with pytest.raises(ModelFileError, match="not a plain weights file"):
        SequenceModel.load(entry)


def test_weights_of_another_network_are_refused(tmp_path: Path) -> None:
    entry = _saved(tmp_path)
    torch.save({"conv.weight": torch.zeros(3, 3)}, entry / WEIGHTS_FILE)
    _rewrite_checksum(entry)
    with pytest.raises(ModelFileError, match="do not fit"):
        SequenceModel.load(entry)


def test_a_foreign_metadata_file_is_refused(tmp_path: Path) -> None:
    entry = _saved(tmp_path)
    (entry / META_FILE).write_text(json.dumps({"format": "someone-else/1"}))
    with pytest.raises(ModelFileError, match="not a seismowatch LSTM"):
        SequenceModel.load(entry)


def _rewrite_checksum(entry: Path) -> None:
    import hashlib

    meta = json.loads((entry / META_FILE).read_text())
    meta["sha256"] = hashlib.sha256((entry / WEIGHTS_FILE).read_bytes()).hexdigest()
    (entry / META_FILE).write_text(json.dumps(meta))


# -- the promotion gate ------------------------------------------------------------------


def _policy(blocking: bool = False, **train: object) -> RetrainPolicy:
    return RetrainPolicy(
        every_s=24 * HOUR, train_window_s=1e9, min_examples=100, min_positives=10,
        blocking=blocking, train=replace(CONFIG, **train),  # type: ignore[arg-type]
    )  # fmt: skip


def _lstm(decisions: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    """The LSTM's decisions (a retraining also refits ETAS, with its own)."""
    return [d for d in decisions if d.get("model") == "lstm"]


def test_a_worse_candidate_is_not_promoted_and_a_better_one_is(tmp_path: Path) -> None:
    hist = learnable_history()
    fill_store(tmp_path / "state" / "history.sqlite", hist).close()
    now = max(float(h.t.max()) for h in hist.values())
    registry = ModelRegistry(tmp_path / "registry")
    retrainer = Retrainer(tmp_path / "state", registry.root, INPUT_NAMES,
                          _policy(blocking=True))  # fmt: skip
    retrainer.schedule_at(0.0)

    [good] = _lstm(retrainer.step(now))
    assert good["promoted"], good["reason"]
    assert registry.current() == good["version"] == retrainer.active.version

    # lr=0: the candidate keeps its random initial weights: deliberately worse
    retrainer.policy = _policy(blocking=True, lr=0.0)
    retrainer.schedule_at(0.0)
    [worse] = _lstm(retrainer.step(now))
    retrainer.close()
    assert not worse["promoted"]
    assert worse["validation_skill"] < worse["incumbent_validation_skill"]
    assert registry.current() == good["version"] == retrainer.active.version  # kept scoring
    assert good["version"] in worse["reason"]

    meta = json.loads((registry.root / worse["version"] / META_FILE).read_text())
    assert meta["promoted"] is False and meta["window_end_t"] == now  # saved with its metrics
    logged = _lstm(registry.decisions())
    assert [d["promoted"] for d in logged] == [True, False]
    assert all(d["reason"] for d in logged)


def test_too_little_history_is_skipped_with_a_reason(tmp_path: Path) -> None:
    hist = learnable_history(30, zones=1)
    fill_store(tmp_path / "h.sqlite", hist).close()
    [d] = _lstm(retrain_job(tmp_path / "h.sqlite", tmp_path / "reg", INPUT_NAMES, 1e9,
                            _policy()))  # fmt: skip
    assert not d["promoted"] and "not enough history" in d["reason"]
    assert ModelRegistry(tmp_path / "reg").versions() == []


T0 = datetime(2021, 1, 1, tzinfo=UTC)


def _events(n: int, zone: str = "z0") -> list[Event]:
    t0 = T0
    rng = np.random.default_rng(1)
    return [Event(f"e{i}", t0 + timedelta(minutes=20 * i), 0, 0, -400,
                  float(10 ** rng.uniform(2, 4.5)), 1.0, zone=zone) for i in range(n)]  # fmt: skip


def test_the_scorer_switches_to_a_promoted_version_while_events_keep_flowing(
    tmp_path: Path,
) -> None:
    """Background retraining: events are scored with the old version until the new one is
    promoted, then with the new one; nothing waits for the training process."""
    hist = learnable_history(end=T0.timestamp() - 1)
    fill_store(tmp_path / "state" / "history.sqlite", hist).close()
    registry = ModelRegistry(tmp_path / "registry")
    # the incumbent: an untrained network, promoted by hand
    version, path = registry.allocate()
    untrained_model(INPUT_NAMES, window=8, hidden=8, seed=0).save(path)
    registry.promote(version)
    retrainer = Retrainer(tmp_path / "state", registry.root, INPUT_NAMES, _policy())
    assert retrainer.active is not None and retrainer.active.version == "untrained"
    mon = ZoneMonitor("z0", MonitorPolicy(sequence_window=8))
    retrainer.schedule_at(0.0)  # due at the first event
    seen: list[str | None] = []
    deadline = time.monotonic() + 240
    try:
        for event in _events(200_000):
            retrainer.step(event.timestamp)
            seen.append(mon.process(event, retrainer.active).lstm_version)
            if _lstm(retrainer.decisions) or time.monotonic() > deadline:
                break
            time.sleep(0.002)
    finally:
        retrainer.close()
    [decision] = _lstm(retrainer.decisions)
    assert decision["promoted"], decision["reason"]
    assert seen.count("untrained") > 10  # scoring went on while the job trained
    assert retrainer.active.version == decision["version"] == registry.current()
    after = replace(event, event_id="next", time=event.time + timedelta(minutes=20))
    assert mon.process(after, retrainer.active).lstm_version == decision["version"]
