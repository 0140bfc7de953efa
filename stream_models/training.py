"""Training the LSTM on a labelled history, with a time-ordered, purged validation slice.

The newest ``validation_fraction`` of examples (by event time, never shuffled
across time) is held back. A training example at ``t`` is used only if its whole
label horizon ``(t, t + horizon]`` ends before the validation slice begins, so no
training label knows anything of the validation period. The candidate and the
current model are scored on that same slice: that is the promotion gate's evidence.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from stream_models.history import ZoneHistory
from stream_models.metrics import roc_auc
from stream_models.sequence import LstmNet, SequenceModel, Standardiser, pick_device

Index = dict[str, np.ndarray]  # zone -> row indices into its ZoneHistory


@dataclass(frozen=True)
class TrainConfig:
    window: int = 64
    hidden: int = 16
    epochs: int = 4
    seed: int = 7
    lr: float = 1e-3
    batch_size: int = 256
    horizon_s: float = 8 * 3600.0
    validation_fraction: float = 0.2
    device: str = "auto"


@dataclass(frozen=True)
class Split:
    train: Index
    validation: Index
    validation_start: float  # first event time of the validation slice
    train_end: float  # latest t + horizon of any training example (< validation_start)


class NotEnoughData(ValueError):
    """Too few examples, or too few targets, to train or to judge a model."""


def time_split(histories: Mapping[str, ZoneHistory], validation_fraction: float,
               horizon_s: float) -> Split:  # fmt: skip
    """Hold back the newest slice; purge training examples whose horizon reaches into it.

    >>> t = np.arange(10) * 3600.0
    >>> h = {"z": ZoneHistory("z", t, np.zeros((10, 1), np.float32),
    ...                      np.zeros((10, 3), np.float32), np.zeros(10, bool))}
    >>> s = time_split(h, 0.2, horizon_s=2 * 3600)
    >>> s.train["z"].tolist(), s.validation["z"].tolist()
    ([0, 1, 2, 3, 4, 5], [8, 9])
    """
    all_t = np.concatenate([h.t for h in histories.values()]) if histories else np.array([])
    if all_t.size < 2:
        raise NotEnoughData("no labelled history to split")
    ordered = np.sort(all_t)
    start = float(ordered[min(int(len(ordered) * (1 - validation_fraction)), len(ordered) - 1)])
    train, val, train_end = {}, {}, -np.inf
    for zone, h in histories.items():
        train[zone] = np.flatnonzero(h.t + horizon_s < start)
        val[zone] = np.flatnonzero(h.t >= start)
        if train[zone].size:
            train_end = max(train_end, float(h.t[train[zone]].max() + horizon_s))
    return Split(train, val, start, train_end)


def _gather(model: SequenceModel, histories: Mapping[str, ZoneHistory], index: Index
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Windows, static context and labels of the indexed examples (all zones)."""
    ws, ss, ys = [], [], []
    for zone, idx in index.items():
        if idx.size:
            h = histories[zone]
            ws.append(model.windows(h.x, idx))
            ss.append(h.static[idx])
            ys.append(h.y[idx])
    if not ws:
        d = len(model.input_names)
        return np.zeros((0, model.window, d), np.float32), np.zeros((0, 3), np.float32), \
            np.zeros(0, bool)  # fmt: skip
    return np.concatenate(ws), np.concatenate(ss), np.concatenate(ys)


def score(model: SequenceModel, histories: Mapping[str, ZoneHistory], index: Index
          ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(labels, probabilities) of ``model`` on the indexed examples, in batches."""
    w, s, y = _gather(model, histories, index)
    logits = np.concatenate(
        [model.predict_logits(w[i : i + 2048], s[i : i + 2048]) for i in range(0, len(y), 2048)]
        or [np.zeros(0, np.float32)]
    )
    return y, 1 / (1 + np.exp(-logits.astype(float)))


def train_lstm(
    histories: Mapping[str, ZoneHistory], input_names: Sequence[str], config: TrainConfig,
    split: Split | None = None,
) -> tuple[SequenceModel, dict[str, float]]:  # fmt: skip
    """Fit a new LSTM on the split's training examples; deterministic for a seed on CPU.

    Returns the model and its report (sizes, loss, validation ROC-AUC, seconds).
    """
    started = time.perf_counter()
    split = split or time_split(histories, config.validation_fraction, config.horizon_s)
    rows = [histories[z].x[i] for z, i in split.train.items() if i.size]
    statics = [histories[z].static[i] for z, i in split.train.items() if i.size]
    if not rows:
        raise NotEnoughData("no training example ends its horizon before the validation slice")
    torch.manual_seed(config.seed)
    n_static = statics[0].shape[1]
    model = SequenceModel(
        LstmNet(len(input_names), n_static, config.hidden), input_names, config.window,
        Standardiser.fit(np.concatenate(rows)), Standardiser.fit(np.concatenate(statics)),
    )  # fmt: skip
    w, s, y = _gather(model, histories, split.train)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise NotEnoughData(f"training window has {n_pos} targets in {len(y)} examples")
    device = pick_device(config.device)
    net = model.net.to(device).train()
    seq = torch.from_numpy(w).to(device)
    st = torch.from_numpy(model.static(s)).to(device)
    target = torch.from_numpy(y.astype(np.float32)).to(device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(y) - n_pos) / n_pos, device=device))
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: identical results run to run, and scoring keeps a core
    try:
        loss_sum = 0.0
        for _ in range(config.epochs):
            loss_sum = 0.0
            for batch in torch.randperm(len(y), generator=gen).split(config.batch_size):
                b = batch.to(device)
                opt.zero_grad()
                loss = loss_fn(net(seq[b], st[b]), target[b])
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                loss_sum += loss.item() * len(b)
    finally:
        torch.set_num_threads(threads)
    net.eval()
    vy, vp = score(model, histories, split.validation)
    report = {
        "train_examples": len(y), "train_positives": n_pos,
        "validation_examples": int(vy.size), "validation_positives": int(vy.sum()),
        "train_loss": loss_sum / len(y), "validation_roc_auc": roc_auc(vy, vp),
        "validation_start": split.validation_start, "train_end": split.train_end,
        "train_seconds": time.perf_counter() - started, "config": asdict(config),
    }  # fmt: skip
    return model, report
