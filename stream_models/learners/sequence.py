"""The sequence model: an LSTM stepped once per event with each scope's carried state.

It predicts from the order of recent events, which a per-event linear model
cannot see. Its inputs are the model inputs (:mod:`stream_models.features.inputs`:
counts, energies, the Omori-weighted sums and the ETAS expectation, so it sees
the clustering the other models see) as z-scores against the scope's own history
(:class:`InputScale`); a small head reads the hidden state with the static
context (the time since the scope's last target event and the phase of the shift)
and gives a correction to the log-odds of the generic ETAS law's forecast (the
offset): an untrained head forecasts the law itself, and what the network learns
is what the law misses.
Because its inputs are scaled per scope, one network serves catalogs whose
energies differ by decades: a pretrained one ships with the package and scores
every scope from its first event, and a scope's fine-tuned copy takes over once
it beats the one scoring now on held-back time.

Scoring is numpy, one LSTM step per event: the scope keeps its hidden and cell
state, so an event costs the same however long the history. Training
(:mod:`stream_models.retraining.training`) unrolls the same cell over windows that
start with a burn-in of ``window`` steps from a zero state, and a newly promoted
version warms a scope's state up over its last ``window`` inputs: both see what
scoring sees. A model is plain arrays (:meth:`SequenceModel.to_arrays`): it
travels in a scope's state and in ``.npz`` files, never as a pickle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_models.features.inputs import STATIC_NAMES
from stream_models.learners.compiled import lstm_logit, lstm_step, scale_step
from stream_models.mathutil import sigmoid

FORMAT = "seismowatch.lstm/3"  # /3: inputs scaled per scope, arrays only
WEIGHT_NAMES = (
    "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
    "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias",
)
PRIOR_EVENTS = 200.0  # the training set's scale counts as this many of a scope's own events


class ModelFileError(ValueError):
    """A model file or entry that cannot be trusted: missing, tampered, or not ours."""


@dataclass
class Standardiser:
    """Mean and scale (NaN-free, scale >= 1e-6) of a fixed set of values."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardiser:
        mean = values.mean(axis=0)
        return cls(mean.astype(np.float32), np.maximum(values.std(axis=0), 1e-6).astype(np.float32))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean) / self.scale).astype(np.float32)


class InputScale:
    """A scope's running mean and variance of the model inputs, starting from a prior.

    The prior (the training set's mean and scale) counts as :data:`PRIOR_EVENTS`
    events, so the first z-scores are the training set's and the scope's own
    history takes over as it grows. :meth:`scale` scores an input with what was
    known before it, then learns it.

    >>> s = InputScale(np.zeros(1), np.ones(1), prior_events=1.0)
    >>> [round(float(s.scale(np.array([v]))[0]), 3) for v in (2.0, 2.0, 2.0)]
    [2.0, 0.816, 0.603]
    >>> InputScale.from_state(s.to_state()).n
    3
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray,
                 prior_events: float = PRIOR_EVENTS) -> None:
        self.prior_mean = np.asarray(mean, float).copy()
        self.prior_var = np.asarray(scale, float) ** 2
        self.prior_n = float(prior_events)
        self.n = 0
        self.mean = np.zeros_like(self.prior_mean)
        self.m2 = np.zeros_like(self.prior_mean)

    def scale(self, x: np.ndarray) -> np.ndarray:
        """z-score of ``x`` against the prior and the inputs so far; then ``x`` is counted."""
        z = scale_step(np.asarray(x, float), self.prior_mean, self.prior_var, self.prior_n,
                       self.n, self.mean, self.m2)
        self.n += 1
        return z

    def to_state(self) -> dict[str, Any]:
        return {"prior_mean": self.prior_mean, "prior_var": self.prior_var,
                "prior_n": self.prior_n, "n": self.n, "mean": self.mean.copy(),
                "m2": self.m2.copy()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> InputScale:
        s = cls(np.asarray(state["prior_mean"], float), np.sqrt(state["prior_var"]),
                float(state["prior_n"]))
        s.n = int(state["n"])
        s.mean, s.m2 = np.asarray(state["mean"], float).copy(), np.asarray(state["m2"]).copy()
        return s


def causal_scale(x: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                 prior_events: float = PRIOR_EVENTS) -> np.ndarray:
    """What :class:`InputScale` gives for each row of one scope's inputs, in order."""
    s = InputScale(mean, scale, prior_events)
    return np.array([s.scale(row) for row in np.asarray(x, float)], np.float32).reshape(x.shape)


class SequenceModel:
    """An LSTM's weights, its training inputs' scale and its static context's, scored in numpy.

    Examples
    --------
    >>> from stream_models.retraining.training import untrained_model
    >>> m = untrained_model(["a", "b"], window=4, hidden=4, seed=1)
    >>> state = m.warm(np.ones((3, 2)))
    >>> 0.0 < m.proba(m.step(state, [0.5, -0.5]), [0.0, 0.0, 1.0], offset=-2.0) < 1.0
    True
    >>> SequenceModel.from_arrays(m.to_arrays()).logit(state, [0.0, 0.0, 1.0]) == m.logit(
    ...     state, [0.0, 0.0, 1.0])
    True
    """

    def __init__(
        self, weights: Mapping[str, np.ndarray], input_names: Sequence[str], window: int,
        inputs: Standardiser, static: Standardiser, meta: dict[str, Any] | None = None,
    ) -> None:
        self.weights = {k: np.asarray(weights[k], np.float32) for k in WEIGHT_NAMES}
        self.input_names = list(input_names)
        self.window = window
        self.inputs = inputs  # the training set's scale: a scope's prior (InputScale)
        self.static = static
        self.meta = dict(meta or {})
        w = self.weights
        h = self.hidden
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: the input, forget and output gate rows are halved
        # so one tanh serves all four gates
        half = np.ones(4 * h)
        half[: 2 * h] = half[3 * h :] = 0.5
        self._w = np.concatenate([w["lstm.weight_ih_l0"], w["lstm.weight_hh_l0"]], axis=1).astype(
            float) * half[:, None]
        self._b = (w["lstm.bias_ih_l0"] + w["lstm.bias_hh_l0"]).astype(float) * half
        self._w1, self._b1 = w["head.0.weight"].astype(float), w["head.0.bias"].astype(float)
        self._w2, self._b2 = w["head.2.weight"][0].astype(float), float(w["head.2.bias"][0])
        self._st_mean = static.mean.astype(float)
        self._st_scale = static.scale.astype(float)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "untrained"))

    @property
    def hidden(self) -> int:
        return int(self.weights["lstm.weight_hh_l0"].shape[1])

    def input_scale(self) -> InputScale:
        """A new scope's running scale, starting from this model's training inputs."""
        return InputScale(self.inputs.mean, self.inputs.scale)

    def zero_state(self) -> np.ndarray:
        """(2, hidden): the hidden and cell state before any input."""
        return np.zeros((2, self.hidden))

    def step(self, state: np.ndarray, z: Sequence[float] | np.ndarray) -> np.ndarray:
        """The state after one more input vector (z-scores, :class:`InputScale`)."""
        return lstm_step(self._w, self._b, np.asarray(z, float), np.asarray(state, float))

    def logit(self, state: np.ndarray, static: Sequence[float]) -> float:
        s = (np.asarray(static, float) - self._st_mean) / self._st_scale
        return lstm_logit(self._w1, self._b1, self._w2, self._b2, state[0], s)

    def proba(self, state: np.ndarray, static: Sequence[float], offset: float = 0.0) -> float:
        """P(learning target within the horizon): the anchor's log-odds ``offset`` corrected."""
        return sigmoid(offset + self.logit(state, static))

    def warm(self, rows: np.ndarray) -> np.ndarray:
        """The state after the last ``window`` of ``rows`` from a zero state (a swap's warm-up)."""
        state = self.zero_state()
        for z in np.asarray(rows)[-self.window :]:
            state = self.step(state, z)
        return state

    def run(self, z: np.ndarray, static: np.ndarray) -> np.ndarray:
        """Logits of a whole sequence stepped from a zero state: how scoring sees it."""
        state, out = self.zero_state(), np.empty(len(z))
        for i in range(len(z)):
            state = self.step(state, z[i])
            out[i] = self.logit(state, static[i])
        return out

    def proba_run(self, z: np.ndarray, static: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """:meth:`proba` of a whole sequence stepped from a zero state, as scoring gives it."""
        from scipy.special import expit  # no overflow warning for confident logits

        return expit(np.asarray(offset, float) + self.run(z, static))

    def to_arrays(self) -> dict[str, Any]:
        """Plain arrays and numbers: a scope's state, or an ``.npz`` file, holds them."""
        meta = {k: v for k, v in self.meta.items() if isinstance(v, int | float | str | bool)}
        return {
            "format": FORMAT, "weights": dict(self.weights), "input_names": self.input_names,
            "static_names": list(STATIC_NAMES), "window": self.window,
            "inputs_mean": self.inputs.mean, "inputs_scale": self.inputs.scale,
            "static_mean": self.static.mean, "static_scale": self.static.scale, "meta": meta,
        }

    @classmethod
    def from_arrays(cls, data: Mapping[str, Any]) -> SequenceModel:
        """Inverse of :meth:`to_arrays`; :class:`ModelFileError` if they are not a model."""
        try:
            if str(data["format"]) != FORMAT:
                raise ValueError(f"format {data['format']!r}, not {FORMAT!r}")
            names = [str(n) for n in data["input_names"]]
            weights = {k: np.asarray(data["weights"][k], np.float32) for k in WEIGHT_NAMES}
            hidden = weights["lstm.weight_hh_l0"].shape[1]
            shapes = {"lstm.weight_ih_l0": (4 * hidden, len(names)),
                      "lstm.weight_hh_l0": (4 * hidden, hidden),
                      "head.0.weight": (hidden, hidden + len(STATIC_NAMES)),
                      "head.2.weight": (1, hidden)}
            for key, shape in shapes.items():
                if weights[key].shape != shape:
                    raise ValueError(f"{key} has shape {weights[key].shape}, not {shape}")
            return cls(weights, names, int(data["window"]),
                       Standardiser(np.asarray(data["inputs_mean"], np.float32),
                                    np.asarray(data["inputs_scale"], np.float32)),
                       Standardiser(np.asarray(data["static_mean"], np.float32),
                                    np.asarray(data["static_scale"], np.float32)),
                       dict(data.get("meta", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"not a seismowatch sequence model ({exc})") from exc
