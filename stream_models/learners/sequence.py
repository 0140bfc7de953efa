"""The sequence model: an LSTM stepped once per event with each zone's carried state.

It predicts from the order of recent events, which a per-event linear model
cannot see. Its inputs are the very vectors the River model scores
(:func:`~stream_models.learners.river_model.model_inputs`), standardised with statistics fitted
on the training window and saved with the weights; a small head reads the
hidden state with the static context (the time since the zone's last target
event and the phase of the shift).

Scoring is numpy, one LSTM step per event: the zone keeps its hidden and cell
state, so an event costs the same however long the history. Training
(:mod:`stream_models.retraining.training`) unrolls the same cell over windows that start
with a burn-in of ``window`` steps from a zero state, and a newly promoted
version warms a zone's state up over the zone's last ``window`` inputs: both
see what scoring sees.

Weights are saved as a plain state dict and loaded with ``weights_only=True``
after checking their SHA-256 against the entry's metadata, so a tampered or
foreign file is refused before torch reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stream_models.features.inputs import STATIC_NAMES
from stream_models.mathutil import sigmoid

FORMAT = "seismowatch.lstm/2"  # /2: stepped with carried state, trained with a burn-in
WEIGHTS_FILE, META_FILE = "weights.pt", "meta.json"
WEIGHT_NAMES = (
    "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
    "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias",
)  # fmt: skip


class ModelFileError(ValueError):
    """A registry entry that cannot be trusted: missing, tampered, or not ours."""


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
    """A trained LSTM's weights and standardisation, scored in numpy.

    Examples
    --------
    >>> from stream_models.retraining.training import untrained_model
    >>> m = untrained_model(["a", "b"], window=4, hidden=4, seed=1)
    >>> state = m.warm(np.ones((3, 2)))
    >>> 0.0 < m.proba(m.step(state, [0.5, -0.5]), [0.0, 0.0, 1.0]) < 1.0
    True
    """

    def __init__(
        self, weights: Mapping[str, np.ndarray], input_names: Sequence[str], window: int,
        inputs: Standardiser, static: Standardiser, meta: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.weights = {k: np.asarray(weights[k], np.float32) for k in WEIGHT_NAMES}
        self.input_names = list(input_names)
        self.window = window
        self.inputs = inputs
        self.static = static
        self.meta = dict(meta or {})
        w = self.weights
        h = self.hidden
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: the input, forget and output gate rows are halved
        # so one tanh serves all four gates
        half = np.ones(4 * h)
        half[: 2 * h] = half[3 * h :] = 0.5
        self._w = np.concatenate([w["lstm.weight_ih_l0"], w["lstm.weight_hh_l0"]], axis=1).astype(
            float) * half[:, None]  # fmt: skip
        self._b = (w["lstm.bias_ih_l0"] + w["lstm.bias_hh_l0"]).astype(float) * half
        self._in_mean, self._in_scale = inputs.mean.astype(float), inputs.scale.astype(float)
        self._w1, self._b1 = w["head.0.weight"].astype(float), w["head.0.bias"].astype(float)
        self._w2, self._b2 = w["head.2.weight"][0].astype(float), float(w["head.2.bias"][0])

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "untrained"))

    @property
    def hidden(self) -> int:
        return int(self.weights["lstm.weight_hh_l0"].shape[1])

    def zero_state(self) -> np.ndarray:
        """(2, hidden): the hidden and cell state before any input."""
        return np.zeros((2, self.hidden))

    def step(self, state: np.ndarray, x: Sequence[float] | np.ndarray) -> np.ndarray:
        """The state after one more input vector (raw model inputs, standardised here)."""
        h = self.hidden
        z = np.concatenate(((np.asarray(x, float) - self._in_mean) / self._in_scale, state[0]))
        a = np.tanh(self._w @ z + self._b)
        c = (0.5 + 0.5 * a[h : 2 * h]) * state[1] + (0.5 + 0.5 * a[:h]) * a[2 * h : 3 * h]
        return np.stack(((0.5 + 0.5 * a[3 * h :]) * np.tanh(c), c))

    def logit(self, state: np.ndarray, static: Sequence[float]) -> float:
        s = (np.asarray(static, float) - self.static.mean) / self.static.scale
        hidden = np.maximum(self._w1 @ np.concatenate((state[0], s)) + self._b1, 0.0)
        return float(self._w2 @ hidden + self._b2)

    def proba(self, state: np.ndarray, static: Sequence[float]) -> float:
        return sigmoid(self.logit(state, static))

    def calibrated(self, state: np.ndarray, static: Sequence[float]) -> float:
        """The probability with training's positive weighting taken off its log-odds."""
        weight = float(self.meta.get("pos_weight", 1.0))
        return sigmoid(self.logit(state, static) - math.log(max(weight, 1.0)))

    def warm(self, rows: np.ndarray) -> np.ndarray:
        """The state after the last ``window`` of ``rows`` from a zero state (a swap's warm-up)."""
        state = self.zero_state()
        for x in np.asarray(rows)[-self.window :]:
            state = self.step(state, x)
        return state

    def run(self, x: np.ndarray, static: np.ndarray) -> np.ndarray:
        """Logits of a whole sequence stepped from a zero state: how scoring sees it."""
        state, out = self.zero_state(), np.empty(len(x))
        for i in range(len(x)):
            state = self.step(state, x[i])
            out[i] = self.logit(state, static[i])
        return out

    # -- persistence -------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Weights as a state dict, metadata (with the weights' SHA-256) as JSON."""
        import torch

        directory.mkdir(parents=True, exist_ok=True)
        state = {k: torch.from_numpy(v.copy()) for k, v in self.weights.items()}
        for name, std in (("inputs", self.inputs), ("static", self.static)):
            state[f"{name}.mean"] = torch.from_numpy(std.mean.copy())
            state[f"{name}.scale"] = torch.from_numpy(std.scale.copy())
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
    def load(cls, directory: Path) -> SequenceModel:
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
        import torch

        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for foreign files
            raise ModelFileError(f"{weights}: not a plain weights file ({exc})") from exc
        try:
            arrays = {k: v.numpy() for k, v in state.items()}
            names, hidden = list(meta["input_names"]), int(meta["hidden"])
            shapes = {"lstm.weight_ih_l0": (4 * hidden, len(names)),
                      "lstm.weight_hh_l0": (4 * hidden, hidden),
                      "head.0.weight": (hidden, hidden + len(STATIC_NAMES)),
                      "head.2.weight": (1, hidden)}  # fmt: skip
            for key, shape in shapes.items():
                if arrays[key].shape != shape:
                    raise KeyError(f"{key} has shape {arrays[key].shape}, not {shape}")
            stds = {n: Standardiser(arrays[f"{n}.mean"], arrays[f"{n}.scale"])
                    for n in ("inputs", "static")}  # fmt: skip
            return cls(arrays, names, int(meta["window"]), stds["inputs"], stds["static"], meta)
        except (KeyError, AttributeError, ValueError) as exc:
            raise ModelFileError(f"{weights}: weights do not fit the LSTM ({exc})") from exc


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
