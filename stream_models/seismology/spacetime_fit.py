"""Maximum-likelihood fit of space-time ETAS: the temporal law and the spatial kernel together.

The conditional intensity at (t, x, y) of events at or above Mc is

    lambda = mu u(x, y) + sum_j K 10^(alpha (m_j - m_ref)) (t - t_j + c)^(-p) f(r_j | m_j)

with ``f`` the kernel of :mod:`stream_models.seismology.spatial` and ``u`` the
background's spatial density. The log-likelihood is

    sum_i log lambda(t_i, x_i, y_i) - integral of lambda over the window and the region,

where the kernel integrates to one over the region (it is taken large against the
aftershock clouds: the mine or district the catalog covers), so the integral is the
temporal one. All eight parameters are maximised together by L-BFGS-B on
log-transformed values. ``u`` follows Zhuang et al. (2002): a Gaussian kernel
estimate over the epicentres weighted by each event's probability of being
background, leave-one-out, re-estimated after each fit (two passes).

Triggering pairs are cut at ``max_lag_s`` (the triggering integral is cut alike),
which bounds the work to the events within that lag of each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from stream_models.seismology.bvalue import MAG_PER_LOG_E
from stream_models.seismology.etas import LOG_E_REF
from stream_models.seismology.spatial import GENERIC_D_M, SpatialKernel

MIN_EVENTS = 100  # events above Mc before the spatial parameters mean anything


@dataclass(frozen=True)
class SpaceTimeFit:
    """Fitted space-time ETAS: ``mu`` events/s above Mc over the whole region."""

    mu: float
    k: float
    alpha: float
    c_s: float
    p: float
    kernel: SpatialKernel
    log_likelihood: float
    n_events: int


@dataclass
class _Pairs:
    """Every (target i, parent j) within the lag, and what the likelihood needs of them."""

    i: np.ndarray
    tau: np.ndarray
    r2: np.ndarray
    log_e: np.ndarray  # the parent's


def _pairs(t: np.ndarray, x: np.ndarray, y: np.ndarray, log_e: np.ndarray, targets: np.ndarray,
           max_lag_s: float, max_parents: int | None = None) -> _Pairs:
    first = np.searchsorted(t, t - max_lag_s, side="left")
    if max_parents is not None:
        first = np.maximum(first, np.arange(len(t)) - max_parents)
    idx_i, idx_j = [], []
    for i in np.flatnonzero(targets):
        j = np.arange(first[i], i)
        j = j[t[j] < t[i]]
        idx_i.append(np.full(j.size, i))
        idx_j.append(j)
    ii = np.concatenate(idx_i) if idx_i else np.zeros(0, int)
    jj = np.concatenate(idx_j) if idx_j else np.zeros(0, int)
    return _Pairs(ii, t[ii] - t[jj], (x[ii] - x[jj]) ** 2 + (y[ii] - y[jj]) ** 2, log_e[jj])


def background_density(x: np.ndarray, y: np.ndarray, weight: np.ndarray, bandwidth_m: float
                       ) -> np.ndarray:
    """Leave-one-out Gaussian kernel estimate of the background's density at each epicentre
    (per m^2), the events weighted by their probability of being background."""
    d2 = (x[:, None] - x[None, :]) ** 2 + (y[:, None] - y[None, :]) ** 2
    k = np.exp(-d2 / (2 * bandwidth_m**2)) / (2 * math.pi * bandwidth_m**2)
    np.fill_diagonal(k, 0.0)
    total = np.maximum(float(weight.sum()) - weight, 1e-12)
    return np.maximum((k @ weight) / total, 1e-30)


def fit_spacetime(
    t: np.ndarray, x: np.ndarray, y: np.ndarray, log_e: np.ndarray, mc_log_e: float,
    start_s: float, end_s: float, *, max_lag_s: float = 30 * 86400.0,
    bandwidth_m: float | None = None, passes: int = 2,
    warm: tuple[float, float, float, float, float, SpatialKernel] | None = None,
    max_parents: int | None = None, maxiter: int = 15000,
) -> SpaceTimeFit:
    """Fit on the events at or above ``mc_log_e`` (times sorted, s); those in
    ``[start_s, end_s)`` are the likelihood's, earlier ones trigger only. ``warm``: a
    start (mu, K, alpha, c, p, kernel), e.g. a temporal fit and the kernel in force;
    ``max_parents`` bounds the parents of each event (the nearest in time), ``maxiter``
    the optimiser's iterations per pass (an online refit's cost)."""
    keep = log_e >= mc_log_e
    t, x, y, log_e = (np.asarray(a, float)[keep] for a in (t, x, y, log_e))
    targets = (t >= start_s) & (t < end_s)
    n = int(targets.sum())
    if n < MIN_EVENTS:
        raise ValueError(f"{n} events above Mc in the window: space-time ETAS needs "
                         f"{MIN_EVENTS}")
    pairs = _pairs(t, x, y, log_e, targets, max_lag_s, max_parents)
    parents = t < end_s
    lag_end = np.minimum(end_s - t[parents], max_lag_s)
    lag_start = np.clip(start_s - t[parents], 0.0, max_lag_s)
    m_rel = (log_e - LOG_E_REF) / MAG_PER_LOG_E
    span = end_s - start_s
    if bandwidth_m is None:  # a few nearest-neighbour spacings of the whole catalog
        d2 = (x[:, None] - x[None, :]) ** 2 + (y[:, None] - y[None, :]) ** 2
        np.fill_diagonal(d2, np.inf)
        bandwidth_m = max(float(np.median(np.sqrt(d2.min(axis=1)))) * 3, 1.0)
    tx, ty = x[targets], y[targets]
    pos = np.flatnonzero(targets)
    where = np.full(len(t), -1)
    where[pos] = np.arange(n)
    at = where[pairs.i]  # each pair's row among the targets

    def unpack(v: np.ndarray) -> tuple[float, ...]:
        lmu, lk, alpha, lc, p, ld, lq, gamma = v
        return (math.exp(lmu), math.exp(lk), alpha, math.exp(lc), p, math.exp(ld),
                1 + math.exp(lq), gamma)

    def parts(v: np.ndarray, u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        mu, k, alpha, c, p, d, q, gamma = unpack(v)
        prod = k * 10 ** (alpha * m_rel)
        s2 = d * d * 10 ** (gamma * (pairs.log_e - LOG_E_REF) / MAG_PER_LOG_E)
        f = (q - 1) / (math.pi * s2) * (1 + pairs.r2 / s2) ** (-q)
        g = (pairs.tau + c) ** (-p)
        pj = k * 10 ** (alpha * (pairs.log_e - LOG_E_REF) / MAG_PER_LOG_E)
        trig = np.bincount(at, weights=pj * g * f, minlength=n)
        lam = mu * u + trig

        def big_g(lag: np.ndarray) -> np.ndarray:
            if abs(p - 1) < 1e-9:
                return np.log1p(lag / c)
            return ((lag + c) ** (1 - p) - c ** (1 - p)) / (1 - p)

        integral = mu * span + float((prod[parents] * (big_g(lag_end) - big_g(lag_start))).sum())
        return float(np.log(lam).sum()) - integral, lam, trig

    # start: half the events background, a branching ratio of 0.3 with the generic law
    k0 = 0.3 / (float(np.mean(10 ** m_rel)) * 60.0 ** -0.1 / 0.1)
    v = np.array([math.log(n / span * 0.5), math.log(k0), 1.0, math.log(60.0), 1.1,
                  math.log(GENERIC_D_M), math.log(0.5), 1.0])
    if warm is not None:
        mu0, kw, a0, c0, p0, kern = warm
        v = np.array([math.log(max(mu0, 1e-12)), math.log(max(kw, 1e-12)), a0,
                      math.log(c0), p0, math.log(kern.d_m), math.log(kern.q - 1), kern.gamma])
    bounds = [(None, None), (None, None), (0.0, 3.0), (math.log(1.0), math.log(86400.0)),
              (0.5, 2.5), (math.log(0.1), math.log(1e6)), (math.log(0.05), math.log(5.0)),
              (0.0, 3.0)]
    weight = np.full(n, 0.5)
    best_ll = -math.inf
    for _ in range(max(passes, 1)):
        u = background_density(tx, ty, weight, bandwidth_m)
        res = minimize(lambda w, u=u: -parts(w, u)[0], v, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter})
        v = res.x
        best_ll, lam, trig = parts(v, u)
        weight = 1 - trig / lam  # each event's probability of being background
    mu, k, alpha, c, p, d, q, gamma = unpack(v)
    return SpaceTimeFit(mu, k, alpha, c, p, SpatialKernel(d, q, gamma, fitted=True), best_ll, n)
