"""Compiled per-event kernels: small-vector arithmetic that numpy pays a call for per operation.

A scope scales its ~20 model inputs on every event; as numpy expressions that is
fifteen array operations of about a microsecond each, almost all of it call
overhead. The loop below does the same arithmetic, in the same order (IEEE
results are identical), in one call. Compiled by numba at first use and cached
on disk, never on import.
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

    return scale_step


def scale_step(x: np.ndarray, prior_mean: np.ndarray, prior_var: np.ndarray, n0: float,
               n: int, mean: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """The z-scores of ``x`` (float32, clipped to +-10) against the prior's and the running
    mean and variance of ``n`` earlier inputs; then ``x`` is counted into ``mean`` and
    ``m2`` in place (Welford)."""
    return _compiled()(x, prior_mean, prior_var, float(n0), int(n), mean, m2)
