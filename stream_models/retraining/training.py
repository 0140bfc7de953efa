"""Training the LSTM with torch: from scratch (the shipped base model) or fine-tuned per scope.

Training unrolls the LSTM over windows of ``window`` burn-in steps (no loss, the
state settles) and ``window`` scored steps, the way a scope's carried state is
built when scoring. The inputs are the z-scores scoring fed the model
(:class:`~stream_models.learners.sequence.InputScale`), so what is learned is
what is scored. Loss: binary cross-entropy with positives weighted by the class
ratio (taken off again when scoring); deterministic for a seed on CPU (one thread).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import torch
from torch import nn

from stream_models.features.inputs import STATIC_NAMES
from stream_models.learners.sequence import SequenceModel, Standardiser
from stream_models.online.policies import TrainConfig
from stream_models.retraining.sequences import LabelledSequence, NotEnoughData, Split


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
                                  nn.Linear(hidden, 1))

    def forward(self, seq: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """(B, T, d) inputs and (B, T, s) statics -> (B, T) corrections of the anchor's log-odds."""
        out, _ = self.lstm(seq)
        return self.head(torch.cat([out, static], dim=2)).squeeze(2)


def _as_model(net: LstmNet, input_names: Sequence[str], window: int, inputs: Standardiser,
              static: Standardiser, meta: dict[str, object] | None = None) -> SequenceModel:
    weights = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return SequenceModel(weights, input_names, window, inputs, static, meta)


def _net_of(model: SequenceModel) -> LstmNet:
    net = LstmNet(len(model.input_names), len(STATIC_NAMES), model.hidden)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.weights.items()})
    return net


def untrained_model(input_names: Sequence[str], window: int, hidden: int, seed: int
                    ) -> SequenceModel:
    """A randomly initialised model with identity scales (tests, examples)."""
    torch.manual_seed(seed)
    d, s = len(input_names), len(STATIC_NAMES)
    return _as_model(LstmNet(d, s, hidden), input_names, window,
                     Standardiser(np.zeros(d, np.float32), np.ones(d, np.float32)),
                     Standardiser(np.zeros(s, np.float32), np.ones(s, np.float32)))


def _windows(seq: LabelledSequence, train: np.ndarray, window: int, static: Standardiser
             ) -> tuple[np.ndarray, ...]:
    """Burn-in windows over one sequence: (inputs, statics, anchor log-odds, labels, loss
    mask), each (W, 2 window). Run k scores examples [k window, (k + 1) window) after a
    burn-in over the ``window`` inputs before them (zeros before the first); only training
    examples carry loss."""
    n, w = len(seq.t), window
    pad_x = np.zeros((w, seq.z.shape[1]), np.float32)
    pad_s = np.zeros((w, seq.static.shape[1]), np.float32)
    x = np.concatenate([pad_x, seq.z.astype(np.float32), pad_x])
    st = np.concatenate([pad_s, static(seq.static), pad_s])
    y = np.concatenate([np.zeros(w, np.float32), seq.y.astype(np.float32),
                        np.zeros(w, np.float32)])
    off = np.concatenate([np.zeros(w, np.float32), seq.offset.astype(np.float32),
                          np.zeros(w, np.float32)])
    mask = np.zeros(n + 2 * w, np.float32)
    mask[train + w] = 1.0
    runs = -(-n // w)
    idx = np.arange(2 * w)[None, :] + (np.arange(runs) * w)[:, None]
    loss = mask[idx]
    loss[:, :w] = 0.0  # burn-in steps settle the state; they are not scored
    keep = loss.any(axis=1)
    return x[idx[keep]], st[idx[keep]], off[idx[keep]], y[idx[keep]], loss[keep]


def train_sequence_model(
    seqs: Sequence[LabelledSequence], split: Split, input_names: Sequence[str],
    config: TrainConfig, *, init: SequenceModel | None = None,
    inputs: Standardiser | None = None,
) -> tuple[SequenceModel, dict[str, object]]:
    """Train on the split's training examples: from ``init`` (fine-tuning), else from a
    fresh network whose scope prior is ``inputs``. Returns the model and its report."""
    started = time.perf_counter()
    train = [(s, i) for s, i in zip(seqs, split.train, strict=True) if i.size]
    if not train:
        raise NotEnoughData("no training example ends its horizon before the validation slice")
    n_train = sum(i.size for _, i in train)
    n_pos = int(sum(s.y[i].sum() for s, i in train))
    if n_pos == 0 or n_pos == n_train:
        raise NotEnoughData(f"training window has {n_pos} learning targets in {n_train} "
                            "examples")
    torch.manual_seed(config.seed)
    if init is not None:
        net, static = _net_of(init), init.static
        inputs = init.inputs
        window = init.window
    else:
        static = Standardiser.fit(np.concatenate([s.static[i] for s, i in train]))
        d = len(input_names)
        inputs = inputs or Standardiser(np.zeros(d, np.float32), np.ones(d, np.float32))
        net, window = LstmNet(len(input_names), len(STATIC_NAMES), config.hidden), config.window
    parts = [_windows(s, i, window, static) for s, i in train]
    x, st, off, y, loss_mask = (np.concatenate(p) for p in zip(*parts, strict=True))
    device = pick_device(config.device)
    net = net.to(device).train()
    tx, tst = torch.from_numpy(x).to(device), torch.from_numpy(st).to(device)
    toff = torch.from_numpy(off).to(device)
    ty, tmask = torch.from_numpy(y).to(device), torch.from_numpy(loss_mask).to(device)
    # unweighted: on top of a calibrated anchor, plain log loss keeps the forecast calibrated
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: identical results run to run, and scoring keeps a core
    batch = max(config.batch_size // window, 1)  # windows per step: ~batch_size examples
    try:
        loss_sum = 0.0
        for _ in range(config.epochs):
            loss_sum = 0.0
            for b in torch.randperm(len(x), generator=gen).split(batch):
                b = b.to(device)
                opt.zero_grad()
                per_step = loss_fn(toff[b] + net(tx[b], tst[b]), ty[b]) * tmask[b]
                loss = per_step.sum() / tmask[b].sum().clamp(min=1.0)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                loss_sum += float(per_step.detach().sum())
    finally:
        torch.set_num_threads(threads)
    model = _as_model(net.eval().cpu(), input_names, window, inputs, static)
    report: dict[str, object] = {
        "train_examples": n_train, "train_positives": n_pos, "train_loss": loss_sum / n_train,
        "validation_start": split.validation_start,
        "train_seconds": time.perf_counter() - started, "config": asdict(config),
    }
    return model, report
