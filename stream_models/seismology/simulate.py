"""ETAS catalogs with known parameters: what the fit's recovery, the gates and the
re-entry estimate are checked on."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from stream_models.seismology.bvalue import MAG_PER_LOG_E
from stream_models.seismology.etas import LOG_E_REF


def simulate_etas(
    mu: float, k: float, alpha: float, c_s: float, p: float, b_value: float, mc_log_e: float,
    span_s: float, seed: int, max_log_e: float = 8.0,
    background: Callable[[np.ndarray], np.ndarray] | None = None,
    mainshock_log_e: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """An ETAS catalog with known parameters (exact Omori-Utsu delays), sorted by time.

    Background: Poisson with rate ``mu`` (times ``background(t)``, a shape at most 1,
    by thinning) over ``span_s``, and a mainshock of ``mainshock_log_e`` at 0 if given
    (an aftershock sequence); sizes Gutenberg-Richter above Mc (b in magnitude units,
    truncated at ``max_log_e``); each event has Poisson(k 10^(alpha (log10 E - 4) / 1.5)
    int_0^span (tau + c)^-p) children.
    """
    rng = np.random.default_rng(seed)
    beta = b_value / MAG_PER_LOG_E * math.log(10)

    def sizes(n: int) -> np.ndarray:
        u = rng.random(n) * (1 - math.exp(-beta * (max_log_e - mc_log_e)))
        return mc_log_e - np.log1p(-u) / beta

    n0 = rng.poisson(mu * span_s)
    t0 = rng.uniform(0, span_s, n0)
    if background is not None:
        t0 = t0[rng.random(n0) < background(t0)]
    m0 = sizes(t0.size)
    if mainshock_log_e is not None:
        t0, m0 = np.r_[0.0, t0], np.r_[mainshock_log_e, m0]
    t, m = [t0], [m0]
    gen_t, gen_m = t[0], m[0]
    norm = ((span_s + c_s) ** (1 - p) - c_s ** (1 - p)) / (1 - p)  # int_0^span (tau+c)^-p
    while gen_t.size:
        n_child = rng.poisson(k * 10 ** (alpha / MAG_PER_LOG_E * (gen_m - LOG_E_REF)) * norm)
        parents = np.repeat(gen_t, n_child)
        u = rng.random(parents.size)
        lo, hi = c_s ** (1 - p), (span_s + c_s) ** (1 - p)
        delay = (lo + u * (hi - lo)) ** (1 / (1 - p)) - c_s
        child_t = parents + delay
        keep = child_t < span_s
        gen_t, gen_m = child_t[keep], sizes(int(keep.sum()))
        t.append(gen_t)
        m.append(gen_m)
    times, mags = np.concatenate(t), np.concatenate(m)
    order = np.argsort(times, kind="stable")
    return times[order], mags[order]

