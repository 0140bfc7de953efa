"""Training the LSTM on a labelled history, with a time-ordered, purged validation slice.

The newest ``validation_fraction`` of examples (by event time, never shuffled
across time) is held back. A training example at ``t`` is used only if its whole
label horizon ``(t, t + horizon]`` ends before the validation slice begins, so no
training label knows anything of the validation period. Training unrolls the
LSTM over windows of ``window`` burn-in steps (no loss, the state settles) and
``window`` scored steps, the way a zone's carried state is built when scoring.
The candidate and the current model are scored on the same slice by the
numpy scorer itself: that is the promotion gate's evidence.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import numpy as np
import torch
from torch import nn

from stream_models.features.inputs import STATIC_NAMES
from stream_models.learners.sequence import SequenceModel, Standardiser
from stream_models.online.policies import TrainConfig
from stream_models.retraining.history import NotEnoughData, Split, ZoneHistory, time_split
from stream_models.retraining.judge import score
from stream_models.skill.progressive import roc_auc


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class LstmNet(nn.Module):
    """LSTM over the sequence; at each step the hidden state and static context give a logit."""

    def __init__(self, n_inputs: int, n_static: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden + n_static, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))  # fmt: skip

    def forward(self, seq: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B, T, d) inputs and (B, T, s) statics -> (B, T) logits."""
        out, _ = self.lstm(seq)
        return self.head(torch.cat([out, static], dim=2)).squeeze(2)


def _as_model(net: LstmNet, input_names: Sequence[str], window: int, inputs: Standardiser,
              static: Standardiser) -> SequenceModel:  # fmt: skip
    weights = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return SequenceModel(weights, input_names, window, inputs, static)


def untrained_model(input_names: Sequence[str], window: int, hidden: int, seed: int
                    ) -> SequenceModel:  # fmt: skip
    """A randomly initialised model with identity standardisation (tests, examples)."""
    torch.manual_seed(seed)
    d, s = len(input_names), len(STATIC_NAMES)
    return _as_model(LstmNet(d, s, hidden), input_names, window,
                     Standardiser(np.zeros(d, np.float32), np.ones(d, np.float32)),
                     Standardiser(np.zeros(s, np.float32), np.ones(s, np.float32)))  # fmt: skip


def _windows(h: ZoneHistory, train: np.ndarray, window: int, model_in: Standardiser,
             model_st: Standardiser) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Burn-in windows over one zone: (inputs, statics, labels, loss mask), each (W, 2 window).

    Run k scores examples [k window, (k + 1) window) after a burn-in over the
    ``window`` inputs before them (mean inputs before the zone's first); only
    training examples carry loss.
    """
    n, w = len(h.t), window
    pad_x, pad_s = np.zeros((w, h.x.shape[1]), np.float32), np.zeros((w, h.static.shape[1]),
                                                                      np.float32)  # fmt: skip
    x = np.concatenate([pad_x, model_in(h.x), pad_x])
    st = np.concatenate([pad_s, model_st(h.static), pad_s])
    y = np.concatenate([np.zeros(w, np.float32), h.y.astype(np.float32), np.zeros(w, np.float32)])
    mask = np.zeros(n + 2 * w, np.float32)
    mask[train + w] = 1.0
    runs = -(-n // w)
    idx = np.arange(2 * w)[None, :] + (np.arange(runs) * w)[:, None]
    loss = mask[idx]
    loss[:, :w] = 0.0  # burn-in steps settle the state; they are not scored
    keep = loss.any(axis=1)
    return x[idx[keep]], st[idx[keep]], y[idx[keep]], loss[keep]


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
    n_pos = int(sum(histories[z].y[i].sum() for z, i in split.train.items()))
    n_train = sum(len(r) for r in rows)
    if n_pos == 0 or n_pos == n_train:
        raise NotEnoughData(f"training window has {n_pos} targets in {n_train} examples")
    torch.manual_seed(config.seed)
    std_in = Standardiser.fit(np.concatenate(rows))
    std_st = Standardiser.fit(np.concatenate(statics))
    parts = [_windows(histories[z], i, config.window, std_in, std_st)
             for z, i in split.train.items() if i.size]  # fmt: skip
    x, st, y, loss_mask = (np.concatenate(p) for p in zip(*parts, strict=True))
    device = pick_device(config.device)
    net = LstmNet(len(input_names), st.shape[2], config.hidden).to(device).train()
    tx, tst = torch.from_numpy(x).to(device), torch.from_numpy(st).to(device)
    ty, tmask = torch.from_numpy(y).to(device), torch.from_numpy(loss_mask).to(device)
    pos_weight = torch.tensor((n_train - n_pos) / n_pos, device=device)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: identical results run to run, and scoring keeps a core
    batch = max(config.batch_size // config.window, 1)  # windows per step: ~batch_size examples
    try:
        loss_sum = 0.0
        for _ in range(config.epochs):
            loss_sum = 0.0
            for b in torch.randperm(len(x), generator=gen).split(batch):
                b = b.to(device)
                opt.zero_grad()
                per_step = loss_fn(net(tx[b], tst[b]), ty[b]) * tmask[b]
                loss = per_step.sum() / tmask[b].sum().clamp(min=1.0)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                loss_sum += float(per_step.detach().sum())
    finally:
        torch.set_num_threads(threads)
    model = _as_model(net.eval(), input_names, config.window, std_in, std_st)
    _, vy, vp = score(model, histories, split.validation)
    report = {
        "train_examples": n_train, "train_positives": n_pos,
        "validation_examples": int(vy.size), "validation_positives": int(vy.sum()),
        "train_loss": loss_sum / n_train, "validation_roc_auc": roc_auc(vy, vp),
        "validation_start": split.validation_start, "train_end": split.train_end,
        "train_seconds": time.perf_counter() - started, "config": asdict(config),
        "pos_weight": float(pos_weight),
    }  # fmt: skip
    return model, report
