"""Compiled sweeps of the hazard grid: decaying each cell's sums of exponentials.

Every cell keeps one sum per decay rate as of when it was last touched; reading the
grid decays each to now and weighs it. In numpy that is an outer product of
exponentials and two temporaries per read; this loop does it in place, in one
pass. Compiled by numba at first use and cached on disk, never on import.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np


@cache
def _compiled() -> tuple[Any, Any]:
    import numba

    @numba.njit(cache=True)
    def decay_rows(mass: np.ndarray, touched: np.ndarray, rows: np.ndarray, t: float,
                   rates: np.ndarray) -> None:
        for r in rows:
            dt = t - touched[r]
            if dt > 0:
                for k in range(rates.size):
                    x = rates[k] * dt
                    mass[r, k] = mass[r, k] * np.exp(-x) if x <= 700.0 else 0.0
            touched[r] = t

    @numba.njit(cache=True)
    def decayed_dot(mass: np.ndarray, touched: np.ndarray, n: int, t: float,
                    rates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        out = np.zeros(n)
        for c in range(n):
            dt = max(t - touched[c], 0.0)
            acc = 0.0
            for k in range(rates.size):  # rates ascend: past exp(-40) the rest are zeros
                x = rates[k] * dt
                if x > 40.0:
                    break
                acc += mass[c, k] * np.exp(-x) * weights[k]
            out[c] = acc
        return out

    return decay_rows, decayed_dot


def decay_rows(mass: np.ndarray, touched: np.ndarray, rows: np.ndarray, t: float,
               rates: np.ndarray) -> None:
    """Decay ``rows`` of ``mass`` to time ``t`` in place; they are touched at ``t`` now."""
    _compiled()[0](mass, touched, rows, float(t), rates)


def decayed_dot(mass: np.ndarray, touched: np.ndarray, n: int, t: float, rates: np.ndarray,
                weights: np.ndarray) -> np.ndarray:
    """Each of the first ``n`` cells' sums decayed to ``t``, weighed by ``weights``."""
    return _compiled()[1](mass, touched, int(n), float(t), rates, weights)
