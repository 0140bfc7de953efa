"""Maximum-likelihood fit of ETAS on a zone history, and ETAS catalogs to check it on.

The fit uses the kernel the forecast uses (:mod:`stream_models.seismology.etas`): the
triggering sums before each event are built by the same recursion as scoring,
once per productivity exponent on the grid, and the log-likelihood

    sum_i log lambda(t_i) - integral of lambda over the window

is maximised over the background of each zone and the shared K, c, p (with
analytic gradients, L-BFGS-B) for each alpha; the best alpha wins. Only events
at or above the completeness Mc (maximum curvature + 0.2 of the window) are
counted; every event, smaller ones and those before the window included,
triggers with its productivity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma

from stream_models.seismology.bvalue import aki_utsu, completeness
from stream_models.seismology.etas import (
    ALPHAS,
    LOG_E_REF,
    RATES,
    EtasParams,
    omori_weights,
    productivity,
)
from stream_models.seismology.gr import shrunk_b

_MIN_EVENTS = 50  # events above Mc the fit needs before its parameters mean anything
_BOUNDS = {"log_c": (math.log(1.0), math.log(86400.0)), "p": (0.7, 2.5),
           "log_k": (math.log(1e-12), math.log(1e6)), "log_mu": (math.log(1e-12), 0.0)}  # fmt: skip


@dataclass
class _ZoneTerms:
    """What one zone contributes to the likelihood, for every alpha on the grid."""

    g: np.ndarray  # (n, alphas, rates): triggering sums just before each counted event
    h: np.ndarray  # (alphas, rates): their integral over the window
    span: float  # window length, s


@dataclass
class FitResult:
    params: EtasParams
    log_likelihood: float
    events: int  # counted (at or above Mc) in the window
    branching_ratio: float


class FitError(ValueError):
    """Too few events to fit, or the optimiser found no finite likelihood."""


def _terms(t: np.ndarray, log_e: np.ndarray, start: float, end: float, mc: float) -> _ZoneTerms:
    prod = productivity(log_e)  # (n, alphas)
    sums = np.zeros((len(ALPHAS), len(RATES)))
    counted = (t >= start) & (t <= end) & (log_e >= mc)
    g = np.empty((int(counted.sum()), len(ALPHAS), len(RATES)))
    last, j = -math.inf, 0
    for i in range(len(t)):
        if i:
            sums *= np.exp(-RATES * (t[i] - last))
        if counted[i]:
            g[j] = sums
            j += 1
        sums += prod[i][:, None]
        last = t[i]
    before = np.maximum(start - t, 0.0)
    inside = t <= end
    reach = (np.exp(-np.outer(before[inside], RATES)) -
             np.exp(-np.outer(end - t[inside], RATES))) / RATES  # fmt: skip
    return _ZoneTerms(g, prod[inside].T @ reach, end - start)


def fit_etas(
    histories: Mapping[str, tuple[np.ndarray, np.ndarray]], start: float, end: float,
    mc_log_e: float | None = None, version: str = "fitted",
) -> FitResult:  # fmt: skip
    """Fit ETAS to zone histories ``zone -> (times s, log10 E)`` over ``[start, end]``.

    Events before ``start`` only trigger (their aftershocks reach into the window).
    """
    if not histories:
        raise FitError("no zone has a history yet")
    all_log_e = np.concatenate([le[(t >= start) & (t <= end)] for t, le in histories.values()])
    if all_log_e.size < _MIN_EVENTS:
        raise FitError(f"{all_log_e.size} events in the window: need {_MIN_EVENTS}")
    mc = completeness(all_log_e) if mc_log_e is None else mc_log_e
    terms = {z: _terms(np.asarray(t, float), np.asarray(le, float), start, end, mc)
             for z, (t, le) in histories.items()}  # fmt: skip
    n_counted = sum(len(tm.g) for tm in terms.values())
    if n_counted < _MIN_EVENTS:
        raise FitError(f"{n_counted} events at or above Mc {mc:.2f}: need {_MIN_EVENTS}")
    zones = sorted(terms)
    above = all_log_e[all_log_e >= mc - 1e-9]
    b_value = shrunk_b(aki_utsu(above, mc=mc))
    best: FitResult | None = None
    for a, alpha in enumerate(ALPHAS):
        result = _fit_alpha(terms, zones, a, alpha, mc, version, b_value)
        if result is not None and (best is None or result.log_likelihood > best.log_likelihood):
            best = result
    if best is None:
        raise FitError("no finite likelihood for any alpha")
    return best


def _fit_alpha(terms: Mapping[str, _ZoneTerms], zones: list[str], a: int, alpha: float,
               mc: float, version: str, b_value: float) -> FitResult | None:  # fmt: skip
    log_s = np.log(RATES)
    counts = {z: len(terms[z].g) for z in zones}
    x0 = [math.log(max(0.5 * counts[z] / terms[z].span, 1e-11)) for z in zones]
    x0 += [math.log(0.01), math.log(60.0), 1.1]

    def negll(x: np.ndarray) -> tuple[float, np.ndarray]:
        log_k, log_c, p = x[-3:]
        k, c = math.exp(log_k), math.exp(log_c)
        w = omori_weights.__wrapped__(c, p)  # a new law each step: not for the cache
        dw_c, dw_p = w * (-RATES * c), w * (log_s - digamma(p))
        ll, grad = 0.0, np.zeros_like(x)
        for zi, z in enumerate(zones):
            tm, mu = terms[z], math.exp(x[zi])
            g, h = tm.g[:, a, :], tm.h[a]
            trig = g @ w
            lam = mu + k * trig
            if np.any(lam <= 0):
                return math.inf, grad
            inv = 1.0 / lam
            ll += float(np.log(lam).sum()) - mu * tm.span - k * float(h @ w)
            grad[zi] = mu * (float(inv.sum()) - tm.span)
            grad[-3] += k * (float(trig @ inv) - float(h @ w))
            grad[-2] += k * (float((g @ dw_c) @ inv) - float(h @ dw_c))
            grad[-1] += k * (float((g @ dw_p) @ inv) - float(h @ dw_p))
        return -ll, -grad

    bounds = [_BOUNDS["log_mu"]] * len(zones) + [_BOUNDS["log_k"], _BOUNDS["log_c"], _BOUNDS["p"]]
    res = minimize(negll, np.array(x0), jac=True, method="L-BFGS-B", bounds=bounds)
    if not np.isfinite(res.fun):
        return None
    log_k, log_c, p = res.x[-3:]
    params = EtasParams({z: math.exp(res.x[i]) for i, z in enumerate(zones)}, math.exp(log_k),
                        alpha, math.exp(log_c), float(p), mc, version, b_value)  # fmt: skip
    return FitResult(params, -float(res.fun), sum(len(terms[z].g) for z in zones),
                     params.branching_ratio())  # fmt: skip


def log_likelihood(params: EtasParams, histories: Mapping[str, tuple[np.ndarray, np.ndarray]],
                   start: float, end: float) -> float:  # fmt: skip
    """The log-likelihood of ``params`` on a window: the promotion gate's evidence."""
    w = omori_weights(params.c_s, params.p)
    a = params.alpha_index
    total = 0.0
    for z, (t, le) in histories.items():
        tm = _terms(np.asarray(t, float), np.asarray(le, float), start, end, params.mc_log_e)
        mu = params.mu.get(z, 0.0)
        lam = mu + params.k * (tm.g[:, a, :] @ w)
        if np.any(lam <= 0):
            return -math.inf
        total += float(np.log(lam).sum()) - mu * tm.span - params.k * float(tm.h[a] @ w)
    return total


def simulate_etas(mu: float, k: float, alpha: float, c_s: float, p: float, b_value: float,
                  mc_log_e: float, span_s: float, seed: int, max_log_e: float = 8.0,
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """An ETAS catalog with known parameters (exact Omori-Utsu delays), sorted by time.

    Background: Poisson(mu) over ``span_s``; sizes Gutenberg-Richter above Mc
    (b in magnitude units, truncated at ``max_log_e``); each event has
    Poisson(k 10^(alpha (log10 E - 4) / 1.5) int_0^span (tau + c)^-p) children.
    """
    rng = np.random.default_rng(seed)
    beta = b_value / 1.5 * math.log(10)

    def sizes(n: int) -> np.ndarray:
        u = rng.random(n) * (1 - math.exp(-beta * (max_log_e - mc_log_e)))
        return mc_log_e - np.log1p(-u) / beta

    n0 = rng.poisson(mu * span_s)
    t = [rng.uniform(0, span_s, n0)]
    m = [sizes(n0)]
    gen_t, gen_m = t[0], m[0]
    norm = ((span_s + c_s) ** (1 - p) - c_s ** (1 - p)) / (1 - p)  # int_0^span (tau+c)^-p
    while gen_t.size:
        n_child = rng.poisson(k * 10 ** (alpha / 1.5 * (gen_m - LOG_E_REF)) * norm)
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
