"""The sequence model: an LSTM over a zone's last N model-input vectors, plus static context.

It predicts the same target as the River model (an event >= the target energy
in the zone within the horizon) from the order of recent events, which a
per-event linear model cannot see. Inputs are the very vectors the River model
scores (:func:`~stream_models.risk.model_inputs`), standardised with statistics
fitted on the training window and saved with the weights; the static context is
the time since the zone's last target event and the hour of the shift.

Weights are saved as a plain state dict and loaded with ``weights_only=True``
after checking their SHA-256 against the entry's metadata, so a tampered or
foreign file is refused before torch reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

STATIC_NAMES = ("log_hours_since_target", "shift_sin", "shift_cos")
FORMAT = "seismowatch.lstm/1"
WEIGHTS_FILE, META_FILE = "weights.pt", "meta.json"


class ModelFileError(ValueError):
    """A registry entry that cannot be trusted: missing, tampered, or not ours."""


def static_context(t: float, last_target_t: float | None, shift_s: float) -> list[float]:
    """Log10 hours since the last target event (10 years when none) and the shift phase.

    >>> [round(v, 3) for v in static_context(7200.0, 3600.0, 8 * 3600)]  # 2 h into a shift
    [0.301, 1.0, 0.0]
    """
    hours = (t - last_target_t) / 3600 if last_target_t is not None else 87600.0
    phase = 2 * math.pi * ((t % shift_s) / shift_s)
    return [math.log10(1 + max(hours, 0.0)), math.sin(phase), math.cos(phase)]


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class LstmNet(nn.Module):
    """LSTM over the sequence; its last hidden state and the static context feed one logit."""

    def __init__(self, n_inputs: int, n_static: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden + n_static, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 1))  # fmt: skip

    def forward(self, seq: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(seq)
        return self.head(torch.cat([h[-1], static], dim=1)).squeeze(1)


@dataclass
class Standardiser:
    """Mean and scale fitted on the training window (NaN-free, scale >= 1e-6)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardiser:
        mean = values.mean(axis=0)
        return cls(mean.astype(np.float32), np.maximum(values.std(axis=0), 1e-6).astype(np.float32))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.scale).astype(np.float32)


class SequenceModel:
    """A trained LSTM with its standardisation, input names and registry metadata.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = SequenceModel.untrained(["a", "b"], window=4, hidden=4, seed=1)
    >>> p = m.predict_proba(rng.normal(size=(3, 2)), [0.0, 0.0, 1.0])
    >>> 0.0 < p < 1.0
    True
    """

    def __init__(
        self, net: LstmNet, input_names: Sequence[str], window: int,
        inputs: Standardiser, static: Standardiser, meta: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.net = net.eval()
        self.input_names = list(input_names)
        self.window = window
        self.inputs = inputs
        self.static = static
        self.meta = dict(meta or {})

    @classmethod
    def untrained(
        cls, input_names: Sequence[str], window: int, hidden: int, seed: int
    ) -> SequenceModel:
        torch.manual_seed(seed)
        d, s = len(input_names), len(STATIC_NAMES)
        ident = Standardiser(np.zeros(d, np.float32), np.ones(d, np.float32))
        return cls(LstmNet(d, s, hidden), input_names, window, ident,
                   Standardiser(np.zeros(s, np.float32), np.ones(s, np.float32)))  # fmt: skip

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "untrained"))

    @property
    def hidden(self) -> int:
        return int(self.net.lstm.hidden_size)

    def windows(self, rows: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Standardised, left-zero-padded windows of ``rows`` ending at each index of ``ends``."""
        z = self.inputs(rows)
        padded = np.concatenate([np.zeros((self.window - 1, z.shape[1]), np.float32), z])
        view = np.lib.stride_tricks.sliding_window_view(padded, self.window, axis=0)
        return np.ascontiguousarray(view[ends].transpose(0, 2, 1))

    @torch.no_grad()
    def predict_logits(self, windows: np.ndarray, static: np.ndarray) -> np.ndarray:
        """Batch inference on already standardised windows ``(B, N, d)`` and raw statics."""
        device = next(self.net.parameters()).device
        seq = torch.from_numpy(windows).to(device)
        st = torch.from_numpy(self.static(np.asarray(static, np.float32))).to(device)
        return self.net(seq, st).cpu().numpy()

    def predict_proba(self, rows: np.ndarray, static: Sequence[float]) -> float:
        """Probability for one zone's latest ``rows`` (oldest first, any length >= 1)."""
        rows = np.asarray(rows, np.float32)[-self.window :]
        w = self.windows(rows, np.array([len(rows) - 1]))
        z = float(self.predict_logits(w, np.asarray([static], np.float32))[0])
        return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))

    # -- persistence -------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Weights as a state dict, metadata (with the weights' SHA-256) as JSON."""
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        for name, std in (("inputs", self.inputs), ("static", self.static)):
            state[f"{name}.mean"] = torch.from_numpy(std.mean)
            state[f"{name}.scale"] = torch.from_numpy(std.scale)
        torch.save(state, directory / WEIGHTS_FILE)
        meta = {
            **self.meta, "format": FORMAT, "input_names": self.input_names,
            "static_names": list(STATIC_NAMES), "window": self.window, "hidden": self.hidden,
            "sha256": _sha256(directory / WEIGHTS_FILE),
        }  # fmt: skip
        tmp = directory / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
        tmp.replace(directory / META_FILE)

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> SequenceModel:
        """Load a registry entry; refuse it unless its metadata and checksum match."""
        meta_path, weights = directory / META_FILE, directory / WEIGHTS_FILE
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{meta_path}: unreadable model metadata ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelFileError(f"{meta_path}: not a seismowatch LSTM entry ({FORMAT})")
        if not weights.is_file():
            raise ModelFileError(f"{weights}: weights file missing")
        if _sha256(weights) != meta.get("sha256"):
            raise ModelFileError(f"{weights}: checksum does not match {meta_path} (tampered?)")
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for foreign files
            raise ModelFileError(f"{weights}: not a plain weights file ({exc})") from exc
        names = list(meta["input_names"])
        net = LstmNet(len(names), len(STATIC_NAMES), int(meta["hidden"]))
        try:
            stds = {
                n: Standardiser(state.pop(f"{n}.mean").numpy(), state.pop(f"{n}.scale").numpy())
                for n in ("inputs", "static")
            }
            net.load_state_dict(state)
        except (KeyError, RuntimeError) as exc:
            raise ModelFileError(f"{weights}: weights do not fit the LSTM ({exc})") from exc
        net.to(pick_device(device))
        return cls(net, names, int(meta["window"]), stds["inputs"], stds["static"], meta)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
