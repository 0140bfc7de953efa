"""A compiled sweep over an event history: the ETAS kernel sums a fit and a rebuild need.

The Omori-Utsu kernel is represented as a sum of exponentials with decay rates
``rates`` (:mod:`stream_models.seismology.etas`), so the triggering sum before each
event is a recursion over events: decay every rate by the gap, read, add the
event's productivity. The integral of the triggered intensity over a window
follows from the same decaying sums: with ``S(x) = sum_{t_j < x} prod_j
exp(-s (x - t_j))``, ``s int = sum_{t_j >= start} prod_j + S(start) - S(end)``, and
a stretch ``[a, b)`` observed with weight ``w`` (the share of events recorded there)
takes off ``(1 - w) S(a)(1 - exp(-s (b - a))) / s`` and, for the events inside it,
``(1 - w) prod_j (1 - exp(-s (b - t_j))) / s``. One sweep gives all of it,
for several weightings of the events at once (the productivity and its slope in
alpha). It runs once per likelihood evaluation of a fit, over up to tens of
thousands of events, so it is compiled with numba (cached on disk, compiled at
the first fit, never on import).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np


@cache
def _compiled() -> Any:
    import numba

    @numba.njit(cache=True)
    def sweep(t: np.ndarray, prod: np.ndarray, counted: np.ndarray, start: float, end: float,
              mask_a: np.ndarray, mask_b: np.ndarray, mask_w: np.ndarray,
              rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, m, r = t.size, prod.shape[1], rates.size
        n_counted = 0
        for i in range(n):
            n_counted += counted[i]
        g = np.empty((m, n_counted, r))
        h = np.zeros((m, r))
        s = np.zeros((m, r))
        decay = np.empty(r)
        last = t[0] if n else start
        j = 0
        mi = 0  # next mask to open
        in_mask = -1  # the mask the sweep is inside (-1: none)

        def advance(s: np.ndarray, last: float, to: float) -> None:
            if to > last:
                for k in range(r):
                    decay[k] = np.exp(-rates[k] * (to - last))
                for q in range(m):
                    for k in range(r):
                        s[q, k] *= decay[k]

        started = start <= last
        for i in range(n + 1):
            ti = t[i] if i < n else end
            # mask starts and the window's start reached before this event
            while True:
                a = max(mask_a[mi], start) if mi < mask_a.size else np.inf
                nxt = a if started else min(a, start)
                if nxt > ti or nxt == np.inf:
                    break
                advance(s, last, nxt)
                last = max(last, nxt)
                if not started and nxt == start:
                    started = True
                    for q in range(m):
                        for k in range(r):
                            h[q, k] += s[q, k]
                    continue
                a0, b0 = a, min(mask_b[mi], end)
                if b0 > a0:
                    for q in range(m):
                        for k in range(r):
                            h[q, k] -= (1.0 - mask_w[mi]) * s[q, k] * (
                                1.0 - np.exp(-rates[k] * (b0 - a0)))
                    in_mask = mi
                mi += 1
            if i == n:
                advance(s, last, end)
                for q in range(m):
                    for k in range(r):
                        h[q, k] -= s[q, k]
                break
            advance(s, last, ti)
            last = max(last, ti)
            if counted[i]:
                g[:, j, :] = s
                j += 1
            if ti >= start:
                for q in range(m):
                    for k in range(r):
                        h[q, k] += prod[i, q]
            if in_mask >= 0 and ti < mask_b[in_mask] and ti >= max(mask_a[in_mask], start):
                b0 = min(mask_b[in_mask], end)
                for q in range(m):
                    for k in range(r):
                        h[q, k] -= (1.0 - mask_w[in_mask]) * prod[i, q] * (
                            1.0 - np.exp(-rates[k] * (b0 - ti)))
            for q in range(m):
                for k in range(r):
                    s[q, k] += prod[i, q]
        for q in range(m):
            for k in range(r):
                h[q, k] /= rates[k]
        return g, h

    return sweep


def sweep(t: np.ndarray, prod: np.ndarray, counted: np.ndarray, start: float, end: float,
          mask_a: np.ndarray, mask_b: np.ndarray, rates: np.ndarray,
          mask_w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each weighting ``prod[:, q]`` of the events (time-sorted, none after ``end``):

    * ``g[q, i]``: for each counted event i, ``sum_{t_j < t_i} prod_j exp(-rate (t_i - t_j))``;
    * ``h[q]``: ``sum_j prod_j int w(u) exp(-rate (u - t_j)) du`` over ``u`` in
      ``[start, end]`` after ``t_j``, where ``w`` is ``mask_w`` on the stretches
      ``[mask_a, mask_b)`` (sorted, disjoint; 0 by default: masked) and 1 elsewhere.

    >>> t, rates = np.array([0.0, 10.0, 20.0]), np.array([0.1])
    >>> g, h = sweep(t, np.ones((3, 1)), np.array([False, True, True]), 0.0, 30.0,
    ...              np.zeros(0), np.zeros(0), rates)
    >>> g.round(4).ravel().tolist(), h.round(4).ravel().tolist()
    ([0.3679, 0.5032], [24.47])
    >>> _, h = sweep(np.array([0.0]), np.ones((1, 1)), np.array([True]), 0.0, 100.0,
    ...              np.array([0.0]), np.array([2.0]), np.array([0.5]))
    >>> h.round(4).ravel().tolist()                   # the first 2 s masked: 2 e^-1
    [0.7358]
    """
    weights = np.zeros(len(mask_a)) if mask_w is None else mask_w
    return _compiled()(np.ascontiguousarray(t, float), np.ascontiguousarray(prod, float),
                       np.ascontiguousarray(counted, np.bool_), float(start), float(end),
                       np.ascontiguousarray(mask_a, float), np.ascontiguousarray(mask_b, float),
                       np.ascontiguousarray(weights, float), np.ascontiguousarray(rates, float))
