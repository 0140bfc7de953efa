"""ETAS catalogs with known parameters: what the fit's recovery, the gates and the
re-entry estimate are checked on."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from stream_models.seismology.bvalue import MAG_PER_LOG_E
from stream_models.seismology.etas import LOG_E_REF
from stream_models.seismology.spatial import SpatialKernel


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
        return _gr_sizes(rng, n, beta, mc_log_e, max_log_e)

    n0 = rng.poisson(mu * span_s)
    t0 = rng.uniform(0, span_s, n0)
    if background is not None:
        t0 = t0[rng.random(n0) < background(t0)]
    m0 = sizes(t0.size)
    if mainshock_log_e is not None:
        t0, m0 = np.r_[0.0, t0], np.r_[mainshock_log_e, m0]
    t, m = [t0], [m0]
    gen_t, gen_m = t[0], m[0]
    while gen_t.size:
        n_child = rng.poisson(k * _offspring(gen_m, alpha, c_s, p, span_s))
        child_t = np.repeat(gen_t, n_child) + _omori_delays(rng, int(n_child.sum()), c_s, p,
                                                           span_s)
        keep = child_t < span_s
        gen_t, gen_m = child_t[keep], sizes(int(keep.sum()))
        t.append(gen_t)
        m.append(gen_m)
    times, mags = np.concatenate(t), np.concatenate(m)
    order = np.argsort(times, kind="stable")
    return times[order], mags[order]


def simulate_spacetime(
    mu: float, k: float, alpha: float, c_s: float, p: float, kernel: SpatialKernel,
    b_value: float, mc_log_e: float, span_s: float, side_m: float, seed: int,
    max_log_e: float = 8.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A space-time ETAS catalog (t, x, y, log10 E), sorted by time: background uniform
    over a square of ``side_m``, each aftershock offset from its parent by ``kernel``."""
    rng = np.random.default_rng(seed)
    beta = b_value / MAG_PER_LOG_E * math.log(10)
    n0 = rng.poisson(mu * span_s)
    gen = np.column_stack([rng.uniform(0, span_s, n0), rng.uniform(0, side_m, (n0, 2)),
                           _gr_sizes(rng, n0, beta, mc_log_e, max_log_e)])
    out = [gen]
    while len(gen):
        n_child = rng.poisson(k * _offspring(gen[:, 3], alpha, c_s, p, span_s))
        parents = np.repeat(gen, n_child, axis=0)
        dx, dy = kernel.sample(rng, parents[:, 3])
        child = np.column_stack([
            parents[:, 0] + _omori_delays(rng, len(parents), c_s, p, span_s),
            parents[:, 1] + dx, parents[:, 2] + dy,
            _gr_sizes(rng, len(parents), beta, mc_log_e, max_log_e)])
        gen = child[child[:, 0] < span_s]
        out.append(gen)
    cat = np.concatenate(out)
    cat = cat[np.argsort(cat[:, 0], kind="stable")]
    return cat[:, 0], cat[:, 1], cat[:, 2], cat[:, 3]


def _gr_sizes(rng: np.random.Generator, n: int, beta: float, mc_log_e: float,
              max_log_e: float) -> np.ndarray:
    """Gutenberg-Richter log10 E above Mc, truncated at ``max_log_e``."""
    u = rng.random(n) * (1 - math.exp(-beta * (max_log_e - mc_log_e)))
    return mc_log_e - np.log1p(-u) / beta


def _offspring(log_e: np.ndarray, alpha: float, c_s: float, p: float, span_s: float
               ) -> np.ndarray:
    """Expected children per unit K: productivity x int_0^span (tau + c)^-p."""
    norm = ((span_s + c_s) ** (1 - p) - c_s ** (1 - p)) / (1 - p)
    return 10 ** (alpha / MAG_PER_LOG_E * (log_e - LOG_E_REF)) * norm


def _omori_delays(rng: np.random.Generator, n: int, c_s: float, p: float, span_s: float
                  ) -> np.ndarray:
    """Exact Omori-Utsu delays, truncated at ``span_s``."""
    u = rng.random(n)
    lo, hi = c_s ** (1 - p), (span_s + c_s) ** (1 - p)
    return (lo + u * (hi - lo)) ** (1 / (1 - p)) - c_s
