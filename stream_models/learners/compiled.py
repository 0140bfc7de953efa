"""Compiled per-event kernels: small-vector arithmetic that numpy pays a call for per operation.

A scope scales its ~20 model inputs and steps its LSTM (16 units) on every
event; as numpy expressions that is a dozen or more array operations of about a
microsecond each, almost all of it call overhead. The loops below do the same
arithmetic in one call each. Input scaling keeps numpy's order of operations
(identical results); the LSTM's matrix products sum in loop order rather than
BLAS's (the same to a few ulps). Compiled by numba at first use and cached on
disk, never on import.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np


@cache
def _compiled() -> Any:
    import numba

    @numba.njit(cache=True)
    def scale_step(x: np.ndarray, prior_mean: np.ndarray, prior_var: np.ndarray, n0: float,
                   n: int, mean: np.ndarray, m2: np.ndarray) -> np.ndarray:
        total = n0 + n
        k = x.size
        z = np.zeros(k, np.float32)
        c = n0 * n / total if total > 0 else 0.0
        for i in range(k):
            if total > 0:
                m = (n0 * prior_mean[i] + n * mean[i]) / total
                d = mean[i] - prior_mean[i]
                var = (n0 * prior_var[i] + m2[i] + c * (d * d)) / total
                if var < 1e-12:
                    var = 1e-12
                v = (x[i] - m) / np.sqrt(var)
                if v < -10.0:
                    v = -10.0
                elif v > 10.0:
                    v = 10.0
                z[i] = v
        n1 = n + 1
        for i in range(k):
            delta = x[i] - mean[i]
            mean[i] = mean[i] + delta / n1
            m2[i] = m2[i] + delta * (x[i] - mean[i])
        return z

    @numba.njit(cache=True)
    def lstm_step(w: np.ndarray, b: np.ndarray, z: np.ndarray, state: np.ndarray
                  ) -> np.ndarray:
        h = state.shape[1]
        nz = z.size
        a = np.empty(4 * h)
        for r in range(4 * h):
            acc = 0.0
            for k in range(nz):
                acc += w[r, k] * z[k]
            for k in range(h):
                acc += w[r, nz + k] * state[0, k]
            a[r] = np.tanh(acc + b[r])
        out = np.empty((2, h))
        for k in range(h):
            c = (0.5 + 0.5 * a[h + k]) * state[1, k] + (0.5 + 0.5 * a[k]) * a[2 * h + k]
            out[1, k] = c
            out[0, k] = (0.5 + 0.5 * a[3 * h + k]) * np.tanh(c)
        return out

    @numba.njit(cache=True)
    def lstm_logit(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: float,
                   hidden: np.ndarray, static: np.ndarray) -> float:
        nh = hidden.size
        out = b2
        for r in range(w1.shape[0]):
            acc = b1[r]
            for k in range(nh):
                acc += w1[r, k] * hidden[k]
            for k in range(static.size):
                acc += w1[r, nh + k] * static[k]
            if acc > 0.0:
                out += w2[r] * acc
        return out

    return scale_step, lstm_step, lstm_logit


def scale_step(x: np.ndarray, prior_mean: np.ndarray, prior_var: np.ndarray, n0: float,
               n: int, mean: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """The z-scores of ``x`` (float32, clipped to +-10) against the prior's and the running
    mean and variance of ``n`` earlier inputs; then ``x`` is counted into ``mean`` and
    ``m2`` in place (Welford)."""
    return _compiled()[0](x, prior_mean, prior_var, float(n0), int(n), mean, m2)


def lstm_step(w: np.ndarray, b: np.ndarray, z: np.ndarray, state: np.ndarray) -> np.ndarray:
    """The LSTM's (hidden, cell) state after input ``z``: gates ``0.5 + 0.5 tanh`` of
    pre-halved weights (a sigmoid), ``tanh`` for the candidate, as torch's LSTM cell."""
    return _compiled()[1](w, b, z, state)


def lstm_logit(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: float, hidden: np.ndarray,
               static: np.ndarray) -> float:
    """The head: ``w2 . relu(w1 [hidden, static] + b1) + b2``."""
    return float(_compiled()[2](w1, b1, w2, float(b2), hidden, static))
