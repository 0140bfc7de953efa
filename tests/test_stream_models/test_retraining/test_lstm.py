"""The LSTM: its time split, numpy scoring against torch, its model files, and the
fine-tuning gate of a scope's job."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_models.features.inputs import INPUT_NAMES, STATIC_NAMES
from stream_models.learners.sequence import ModelFileError
from stream_models.online.history import example_dtype
from stream_models.online.policies import RetrainPolicy, TrainConfig
from stream_models.online.schedule import Job
from stream_models.retraining.jobs import run_job
from stream_models.retraining.registry import load_model, save_model
from stream_models.retraining.sequences import LabelledSequence, time_split
from stream_models.retraining.training import LstmNet, untrained_model

HOUR = 3600.0
CONFIG = TrainConfig(window=8, hidden=8, epochs=6, seed=3, lr=3e-3, horizon_s=8 * HOUR)


def learnable_rows(n: int = 1500, seed: int = 0) -> np.ndarray:
    """A scope's history in which learning-target events come in active spells that the
    first input shows: an LSTM can learn what the anchor (a constant rate) misses."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(HOUR, n))
    activity = np.zeros(n)  # a slow latent state, seen through the first input
    for i in range(1, n):
        activity[i] = 0.9 * activity[i - 1] + math.sqrt(1 - 0.81) * rng.normal()
    target = activity + rng.normal(scale=0.3, size=n) > 1.2
    nxt = np.searchsorted(t, t, side="right")
    last = np.searchsorted(t, t + CONFIG.horizon_s, side="right")
    csum = np.r_[0, np.cumsum(target)]
    rows = np.zeros(n, example_dtype(len(INPUT_NAMES), len(STATIC_NAMES)))
    rows["t"] = t
    rows["z"] = rng.normal(size=(n, len(INPUT_NAMES)))
    rows["z"][:, 0] = activity + rng.normal(scale=0.5, size=n)
    rows["static"] = rng.normal(size=(n, len(STATIC_NAMES)))
    rows["log_e"] = np.where(target, 2.5, 1.5)  # over a learning target of 10^2 J
    rows["y_learning"] = csum[last] - csum[nxt] > 0
    rate = rows["y_learning"].mean()
    rows["offset"] = math.log(rate / (1 - rate))  # the anchor: the base rate, flat
    return rows


def _job(rows: np.ndarray, incumbent: object, **finetune: object) -> Job:
    policy = RetrainPolicy(min_examples=100, min_positives=10,
                           finetune=replace(CONFIG, **finetune))  # type: ignore[arg-type]
    return Job("z", "lstm", float(rows["t"][-1]), 1, rows, incumbent, policy,
               {"learning_j": 100.0})


@settings(max_examples=60, deadline=None)
@given(times=st.lists(st.floats(0, 1e7), min_size=2, max_size=200),
       fraction=st.floats(0.05, 0.5), horizon=st.floats(0, 1e6))
def test_training_labels_end_before_the_validation_slice(
    times: list[float], fraction: float, horizon: float
) -> None:
    t = np.sort(np.array(times))
    n = len(t)
    seq = LabelledSequence(t, np.zeros((n, 1), np.float32), np.zeros((n, 3), np.float32),
                           np.zeros(n, bool), np.zeros(n), np.zeros(n, np.float32))
    split = time_split([seq], fraction, horizon)
    train, val = split.train[0], split.validation[0]
    assert val.size >= 1
    assert (t[train] + horizon < split.validation_start).all()  # no label overlaps validation
    assert (t[val] >= split.validation_start).all()
    assert not set(train.tolist()) & set(val.tolist())


def test_numpy_stepping_equals_the_torch_network_over_a_sequence() -> None:
    """Scoring steps the cell in numpy with carried state; training unrolls it in torch."""
    net = LstmNet(len(INPUT_NAMES), 3, 8).eval()
    model = untrained_model(INPUT_NAMES, window=8, hidden=8, seed=0)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model.weights.items()})
    rng = np.random.default_rng(4)
    z = rng.normal(size=(300, len(INPUT_NAMES))).astype(np.float32)
    st_ = rng.normal(size=(300, 3)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(z)[None], torch.from_numpy(st_)[None])[0].numpy()
    np.testing.assert_allclose(model.run(z, st_), want, rtol=1e-4, atol=1e-5)
    offset = rng.normal(-2.0, 1.0, 300)
    np.testing.assert_allclose(model.proba_run(z, st_, offset), 1 / (1 + np.exp(-(offset + want))),
                               rtol=1e-4)


def test_a_swap_warms_up_on_the_last_window_of_inputs() -> None:
    model = untrained_model(INPUT_NAMES, window=8, hidden=8, seed=0)
    rows = np.random.default_rng(5).normal(size=(30, len(INPUT_NAMES)))
    state = model.zero_state()
    for z in rows[-8:]:
        state = model.step(state, z)
    assert np.array_equal(model.warm(rows), state)


def test_a_saved_model_reloads_to_identical_predictions(tmp_path: Path) -> None:
    model = untrained_model(INPUT_NAMES, window=8, hidden=8, seed=2)
    model.meta["version"] = "lstm-0001"
    loaded = load_model(save_model(model, tmp_path / "m.npz"))
    z = np.random.default_rng(1).normal(size=(50, len(INPUT_NAMES)))
    st_ = np.zeros((50, 3))
    assert np.array_equal(model.run(z, st_), loaded.run(z, st_))
    assert loaded.version == "lstm-0001" and loaded.input_names == list(INPUT_NAMES)


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran while loading",))


def test_a_file_that_is_not_a_model_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "pickled.npz"
    bad.write_bytes(pickle.dumps({"w": _Payload()}))
    with pytest.raises(ModelFileError, match=r"pickled\.npz"):
        load_model(bad)
    arrays = tmp_path / "objects.npz"
    np.savez(arrays, header=np.array([_Payload()], dtype=object))  # needs pickle to read
    with pytest.raises(ModelFileError, match=r"objects\.npz"):
        load_model(arrays)


def test_weights_of_another_network_are_refused(tmp_path: Path) -> None:
    path = save_model(untrained_model(INPUT_NAMES, window=4, hidden=4, seed=0), tmp_path / "m.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["w:lstm.weight_hh_l0"] = np.zeros((3, 3), np.float32)
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="shape"):
        load_model(path)
    header = json.loads(str(arrays["header"]))
    arrays["header"] = np.array(json.dumps({**header, "format": "someone-else/1"}))
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="format"):
        load_model(path)


@pytest.mark.slow
def test_a_better_fine_tuning_is_promoted_and_a_worse_one_is_not() -> None:
    rows = learnable_rows()
    start = untrained_model(INPUT_NAMES, window=8, hidden=8, seed=0)
    good = run_job(_job(rows, start))
    assert good.decision.promoted, good.decision.reason
    assert good.model.version == "lstm-0001"
    assert good.decision.metrics["validation_skill"] > 0.6
    # lr=0: the fine-tuning learns nothing: a tie with what scores now is not a win
    same = run_job(_job(rows, good.model, lr=0.0))
    assert same.decision.metrics["validation_skill"] == pytest.approx(
        same.decision.metrics["incumbent_validation_skill"])
    assert not same.decision.promoted and same.model is None
    assert "lstm-0001" in same.decision.reason
    # a random network judged against the trained one on the same slice loses
    from stream_models.retraining.judge import Judge

    seq = LabelledSequence.of_rows(rows, 100.0)
    judge = Judge(seq, time_split([seq], 0.2, CONFIG.horizon_s).validation[0], CONFIG.horizon_s)
    assert judge.skill(start) < judge.skill(good.model)


def test_too_little_history_is_skipped_with_a_reason() -> None:
    rows = learnable_rows(40)
    result = run_job(_job(rows, None))
    assert result.decision.result == "skipped" and result.model is None
    assert "cannot judge" in result.decision.reason or "learning targets" in \
        result.decision.reason
