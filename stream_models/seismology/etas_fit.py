"""Maximum-likelihood fit of ETAS on a scope's event history, and catalogs to check it on.

The fit uses the kernel the forecast uses (:mod:`stream_models.seismology.etas`):
the triggering sums before each event come from the same recursion as scoring
(:mod:`stream_models.seismology.kernels`), and the log-likelihood

    sum_i log lambda(t_i) - integral of lambda over the observed window

is maximised over the background, K, alpha, c and p: alpha by a bounded scalar
search on its profile likelihood, the rest by L-BFGS-B with analytic gradients.
Each background form of :mod:`stream_models.seismology.background` is fitted and
the lowest AIC wins, so the calendar or a driver must earn its parameters.

Only events at or above the completeness Mc (maximum curvature + 0.2 of the
window) are counted; every event, smaller ones and those before the window
included, triggers with its productivity. Just after a large event the catalog
is incomplete (:mod:`stream_models.seismology.coda`): those stretches count with
the share of events their raised completeness records.

Standard errors come from the Hessian of the log-likelihood at the optimum
(the observed information); ``cov`` keeps the covariance of (log mu, log K,
alpha, log c, p) for intervals that follow from the fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma

from stream_models.seismology.background import (
    N_BLOCKS,
    Background,
    BackgroundKind,
    DriverKind,
    cell_of,
    rate_driver,
    volume_driver,
)
from stream_models.seismology.bvalue import MAG_PER_LOG_E, aki_utsu, completeness
from stream_models.seismology.coda import Coda, incompleteness
from stream_models.seismology.etas import LOG_E_REF, RATES, EtasParams, omori_weights, productivity
from stream_models.seismology.gr import shrunk_b
from stream_models.seismology.kernels import sweep

MIN_EVENTS = 50  # events above Mc the fit needs before its parameters mean anything
_ALPHA = (0.1, 3.0)  # per magnitude unit
_BOUNDS = {"log_c": (math.log(1.0), math.log(86400.0)), "p": (0.5, 3.0),
           "log_k": (math.log(1e-12), math.log(1e6)), "log_mu": (math.log(1e-13), 0.0)}
FORMS: tuple[BackgroundKind, ...] = ("constant", "weekly", "driven")
_N_BG = {"constant": 1, "weekly": 1 + 6 + (N_BLOCKS - 1), "driven": 2}


def _weekly_design() -> np.ndarray:
    """d log rate / d (level, days 1..6, blocks 1..3) for each of the 28 weekly cells."""
    design = np.zeros((7 * N_BLOCKS, _N_BG["weekly"]))
    design[:, 0] = 1.0
    for d in range(1, 7):
        design[d * N_BLOCKS:(d + 1) * N_BLOCKS, d] = 1.0
    for b in range(1, N_BLOCKS):
        design[b::N_BLOCKS, 6 + b] = 1.0
    return design


_WEEKLY_DESIGN = _weekly_design()


class FitError(ValueError):
    """Too few events to fit, or the optimiser found no finite likelihood."""


@dataclass
class FitResult:
    params: EtasParams
    log_likelihood: float
    aic: float
    events: int  # counted: at or above Mc, in the window, outside the masked stretches
    branching_ratio: float
    aic_by_form: dict[str, float] = field(default_factory=dict)


@dataclass
class _Data:
    """Everything the likelihood needs that does not depend on the parameters."""

    t: np.ndarray  # every event up to the window's end (they all trigger)
    log_e: np.ndarray
    counted: np.ndarray  # which of them enter sum log lambda
    start: float
    end: float
    coda: Coda
    obs: float  # observed seconds: the window, the codas counted by their share recorded
    log_w: float  # sum of the log shares recorded at the counted events (a constant)
    cell_i: np.ndarray  # weekly cell of each counted event
    cell_time: np.ndarray  # observed seconds in each of the 28 weekly cells
    drive_i: np.ndarray  # normalised driver at each counted event
    drive_time: float  # integral of the normalised driver over the observed window
    driver: DriverKind
    driver_mean: float
    utc_offset_s: float

    def sums(self, alpha: float) -> tuple[np.ndarray, ...]:
        """For ``alpha``: the triggering sums before each counted event and their window
        integral, and both differentiated in alpha."""
        prod = productivity(self.log_e, alpha)
        slope = prod * (math.log(10) / MAG_PER_LOG_E) * (self.log_e - LOG_E_REF)
        c = self.coda
        g, h = sweep(self.t, np.column_stack([prod, slope]), self.counted, self.start,
                     self.end, c.a, c.b, RATES, c.w)
        return g[0], h[0], g[1], h[1]


def _prepare(t: np.ndarray, log_e: np.ndarray, volume: np.ndarray | None, start: float,
             end: float, mc: float, utc_offset_s: float, b_value: float) -> _Data:
    keep = t <= end
    t, log_e = t[keep], log_e[keep]
    vol = None if volume is None else np.asarray(volume, float)[keep]
    coda = incompleteness(t, log_e, mc, b_value)
    lift = coda.at(t)
    counted = (t >= start) & (log_e >= mc + lift)
    share = 10 ** (-(b_value / MAG_PER_LOG_E) * lift[counted])
    # an hourly grid of the window carries the background's integrals
    edges = np.r_[np.arange(start, end, 3600.0), end]
    lo, hi = edges[:-1], edges[1:]
    covered = np.zeros(lo.size)
    for a, b, w in zip(coda.a, coda.b, coda.w, strict=True):
        covered += (1 - w) * np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0.0, None)
    seen = hi - lo - covered
    cells = cell_of(lo + 1e-6, utc_offset_s)
    cell_time = np.bincount(cells, weights=seen, minlength=7 * N_BLOCKS)
    driver: DriverKind = "volume" if vol is not None and np.isfinite(vol).any() else "rate"
    if driver == "volume":
        assert vol is not None
        d_i, d_grid = volume_driver(t, vol, t[counted] - 1e-6), volume_driver(t, vol, lo)
    else:
        above = log_e >= mc
        d_i, d_grid = rate_driver(t, above, t[counted]), rate_driver(t, above, lo)
    known = np.isfinite(d_grid) & (seen > 0)
    d_mean = float(np.average(d_grid[known], weights=seen[known])) if known.any() else 0.0
    d_mean = d_mean if d_mean > 0 else 1.0
    d_i = np.where(np.isfinite(d_i), d_i / d_mean, 1.0)
    d_grid = np.where(np.isfinite(d_grid), d_grid / d_mean, 1.0)
    return _Data(t, log_e, counted, start, end, coda, float(seen.sum()),
                 float(np.log(share).sum()), cell_of(t[counted], utc_offset_s), cell_time, d_i,
                 float(d_grid @ seen), driver, d_mean, utc_offset_s)


def _background(form: BackgroundKind, x: np.ndarray, data: _Data
                ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(background at each counted event, its integral, d bg_i / dx, d integral / dx)."""
    n = int(data.counted.sum())
    if form == "constant":
        mu = math.exp(x[0])
        return np.full(n, mu), mu * data.obs, np.full((n, 1), mu), np.array([mu * data.obs])
    if form == "driven":
        m0, m1 = math.exp(x[0]), math.exp(x[1])
        bg = m0 + m1 * data.drive_i
        return (bg, m0 * data.obs + m1 * data.drive_time,
                np.column_stack([np.full(n, m0), m1 * data.drive_i]),
                np.array([m0 * data.obs, m1 * data.drive_time]))
    rate = np.exp(_WEEKLY_DESIGN @ x)  # each of the 28 cells
    bg = rate[data.cell_i]
    cell_mass = rate * data.cell_time
    return bg, float(cell_mass.sum()), bg[:, None] * _WEEKLY_DESIGN[data.cell_i], \
        cell_mass @ _WEEKLY_DESIGN


def _x0(form: BackgroundKind, data: _Data) -> list[float]:
    mu = math.log(max(0.5 * int(data.counted.sum()) / max(data.obs, 1.0), 1e-12))
    if form == "constant":
        return [mu]
    if form == "driven":
        return [mu + math.log(0.5), mu + math.log(0.5)]
    return [mu, *([0.0] * 6), *([0.0] * (N_BLOCKS - 1))]


def _negll(x: np.ndarray, form: BackgroundKind, data: _Data,
           sums: Callable[[float], tuple[np.ndarray, ...]]) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and its gradient in (background..., log K, alpha, log c, p)."""
    nb = _N_BG[form]
    log_k, alpha, log_c, p = x[nb:]
    k, c = math.exp(log_k), math.exp(log_c)
    g, h, dg, dh = sums(float(alpha))
    w = omori_weights.__wrapped__(c, p)  # a new law each step: not for the cache
    dw_c, dw_p = w * (-RATES * c), w * (np.log(RATES) - digamma(p))
    bg, bg_int, dbg, dbg_int = _background(form, x[:nb], data)
    trig = g @ w
    lam = bg + k * trig
    if np.any(lam <= 0) or not np.all(np.isfinite(lam)):
        return math.inf, np.zeros_like(x)
    inv = 1.0 / lam
    ll = data.log_w + float(np.log(lam).sum()) - bg_int - k * float(h @ w)
    grad = np.empty_like(x)
    grad[:nb] = dbg.T @ inv - dbg_int
    grad[nb] = k * (float(trig @ inv) - float(h @ w))
    grad[nb + 1] = k * (float((dg @ w) @ inv) - float(dh @ w))
    grad[nb + 2] = k * (float((g @ dw_c) @ inv) - float(h @ dw_c))
    grad[nb + 3] = k * (float((g @ dw_p) @ inv) - float(h @ dw_p))
    return -ll, -grad


def _cached_sums(data: _Data) -> Callable[[float], tuple[np.ndarray, ...]]:
    cache: dict[float, tuple[np.ndarray, ...]] = {}

    def sums(alpha: float) -> tuple[np.ndarray, ...]:
        if alpha not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[alpha] = data.sums(alpha)
        return cache[alpha]

    return sums


def _bounds(form: BackgroundKind) -> list[tuple[float, float]]:
    bg = ([_BOUNDS["log_mu"]] + [(-5.0, 5.0)] * (_N_BG[form] - 1) if form == "weekly"
          else [_BOUNDS["log_mu"]] * _N_BG[form])
    return [*bg, _BOUNDS["log_k"], _ALPHA, _BOUNDS["log_c"], _BOUNDS["p"]]


def _fit_form(form: BackgroundKind, data: _Data, start: np.ndarray | None = None
              ) -> tuple[float, np.ndarray]:
    """(negative log-likelihood, parameters) at the optimum of one form.

    Alpha's profile is tried on a coarse grid (the likelihood can have a second mode
    where productivity trades against the background), each point a cheap fit of the
    rest with the sums fixed; the best point then starts a joint fit of everything. A
    warm ``start`` replaces the grid with its own alpha.
    """
    sums = _cached_sums(data)
    nb = _N_BG[form]
    bounds = _bounds(form)
    if start is None:
        rest = np.array([*_x0(form, data), math.log(0.01), math.log(60.0), 1.1])
        grid = (0.4, 0.8, 1.2, 1.6, 2.0)
    else:
        rest, grid = np.r_[start[:nb + 1], start[nb + 2:]], (float(start[nb + 1]),)
    best = (math.inf, np.zeros(0))
    rest_bounds = [*bounds[:nb + 1], *bounds[nb + 2:]]
    for alpha in grid:

        def fixed(r: np.ndarray, alpha: float = alpha) -> tuple[float, np.ndarray]:
            f, gr = _negll(np.r_[r[:nb + 1], alpha, r[nb + 1:]], form, data, sums)
            return f, np.r_[gr[:nb + 1], gr[nb + 2:]]

        res = minimize(fixed, rest, jac=True, method="L-BFGS-B", bounds=rest_bounds)
        if res.fun < best[0]:
            best = (float(res.fun), np.r_[res.x[:nb + 1], alpha, res.x[nb + 1:]])
    res = minimize(_negll, best[1], args=(form, data, sums), jac=True, method="L-BFGS-B",
                   bounds=bounds, options={"ftol": 1e-10})
    return (float(res.fun), np.asarray(res.x)) if res.fun <= best[0] else best


def _hessian(form: BackgroundKind, data: _Data, x: np.ndarray) -> np.ndarray:
    """Observed information, by central differences of the analytic gradient."""
    sums = _cached_sums(data)
    hess = np.zeros((x.size, x.size))
    for j in range(x.size):
        step = 1e-4 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += step
        down[j] -= step
        hess[:, j] = (_negll(up, form, data, sums)[1] - _negll(down, form, data, sums)[1]) / (
            2 * step)
    return 0.5 * (hess + hess.T)


def fit_etas(
    t: np.ndarray, log_e: np.ndarray, start: float, end: float, *,
    mc_log_e: float | None = None, volume: np.ndarray | None = None,
    utc_offset_s: float = 0.0, version: str = "fitted",
    forms: tuple[BackgroundKind, ...] = FORMS, warm: EtasParams | None = None,
) -> FitResult:
    """Fit ETAS to one scope's events (times in s, sorted; log10 E) over ``[start, end]``.

    Events before ``start`` only trigger (their aftershocks reach into the window).
    ``warm`` (a fit of a nearby window) starts the search at its numbers, for its form only.
    """
    t, log_e = np.asarray(t, float), np.asarray(log_e, float)
    inside = (t >= start) & (t <= end)
    if int(inside.sum()) < MIN_EVENTS:
        raise FitError(f"{int(inside.sum())} events in the window: need {MIN_EVENTS}")
    mc = completeness(log_e[inside]) if mc_log_e is None else mc_log_e
    b_value = shrunk_b(aki_utsu(log_e[inside], mc=mc))
    data = _prepare(t, log_e, volume, start, end, mc, utc_offset_s, b_value)
    n = int(data.counted.sum())
    if n < MIN_EVENTS:
        raise FitError(f"{n} events at or above the completeness (Mc {mc:.2f}, raised in the "
                       f"codas of large events): need {MIN_EVENTS}")
    fits = {}
    for form in (warm.background.kind,) if warm is not None else forms:
        nll, x = _fit_form(form, data, _start_of(warm, data) if warm is not None else None)
        if math.isfinite(nll):
            fits[form] = (nll, x, 2 * (_N_BG[form] + 4) + 2 * nll)
    if not fits:
        raise FitError("no finite likelihood for any background form")
    form = min(fits, key=lambda f: fits[f][2])
    nll, x, aic = fits[form]
    nb = _N_BG[form]
    bg = _make_background(form, x[:nb], data)
    k, alpha, c, p = math.exp(x[nb]), float(x[nb + 1]), math.exp(x[nb + 2]), float(x[nb + 3])
    params = EtasParams(bg, k, alpha, c, p, mc, version, b_value)
    cov5, se = _uncertainty(form, data, x, params)
    params = EtasParams(bg, k, alpha, c, p, mc, version, b_value, se, cov5)
    return FitResult(params, -nll, aic, n, params.branching_ratio(),
                     {f: v[2] for f, v in fits.items()})


def _start_of(params: EtasParams, data: _Data) -> np.ndarray:
    """A warm start from a fit's numbers (its background's level, its law)."""
    form = params.background.kind
    x0 = _x0(form, data)
    x0[0] = math.log(max(params.mu, 1e-12)) + (math.log(0.5) if form == "driven" else 0.0)
    return np.array([*x0, math.log(params.k), params.alpha, math.log(params.c_s), params.p])


def _make_background(form: BackgroundKind, xb: np.ndarray, data: _Data) -> Background:
    if form == "constant":
        return Background("constant", math.exp(xb[0]))
    if form == "driven":
        m0, m1 = math.exp(xb[0]), math.exp(xb[1])
        return Background("driven", m0 + m1, mu1=m1, driver=data.driver,
                          driver_mean=data.driver_mean)
    shape = Background.weekly(1.0, xb[1:7], xb[7:], data.utc_offset_s)
    mean_level = math.exp(xb[0]) * float(np.mean(np.exp(_WEEKLY_DESIGN[:, 1:] @ xb[1:])))
    return Background("weekly", mean_level, shape.shape, utc_offset_s=data.utc_offset_s)


def _uncertainty(form: BackgroundKind, data: _Data, x: np.ndarray, params: EtasParams
                 ) -> tuple[tuple[tuple[float, ...], ...], dict[str, float]]:
    """Covariance of (log mu, log K, alpha, log c, p) and the standard errors, by the delta
    method from the inverse observed information (empty when it is not positive definite)."""
    nb = _N_BG[form]
    hess = _hessian(form, data, x)
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return (), {}
    cov = np.linalg.inv(hess)

    def log_mean_mu(xb: np.ndarray) -> float:
        return math.log(_make_background(form, xb, data).mu)

    jac = np.zeros((5, x.size))
    for j in range(nb):  # log mu through the background's parameters
        up, down = x[:nb].copy(), x[:nb].copy()
        up[j] += 1e-6
        down[j] -= 1e-6
        jac[0, j] = (log_mean_mu(up) - log_mean_mu(down)) / 2e-6
    for row, j in enumerate(range(nb, nb + 4), start=1):  # log K, alpha, log c, p
        jac[row, j] = 1.0
    cov5 = jac @ cov @ jac.T
    sd = np.sqrt(np.maximum(np.diag(cov5), 0.0))
    se = {"mu": params.mu * sd[0], "k": params.k * sd[1], "alpha": sd[2],
          "c_s": params.c_s * sd[3], "p": sd[4]}
    return tuple(tuple(map(float, r)) for r in cov5), se


def log_likelihood(params: EtasParams, t: np.ndarray, log_e: np.ndarray, start: float,
                   end: float, volume: np.ndarray | None = None) -> float:
    """The log-likelihood of ``params`` on a window, counted as a fit counts it: the
    promotion gate's evidence."""
    t, log_e = np.asarray(t, float), np.asarray(log_e, float)
    bgp = params.background
    data = _prepare(t, log_e, volume, start, end, params.mc_log_e, bgp.utc_offset_s,
                    params.b_value)
    g, h, *_ = data.sums(params.alpha)
    ti = data.t[data.counted]
    if bgp.kind == "driven":  # the window's driver, in units of the fit's mean driver
        scale = data.driver_mean / bgp.driver_mean
        bg = (bgp.mu - bgp.mu1) + bgp.mu1 * data.drive_i * scale
        bg_int = (bgp.mu - bgp.mu1) * data.obs + bgp.mu1 * data.drive_time * scale
    elif bgp.kind == "weekly":
        shape = np.asarray(bgp.shape)
        bg = bgp.mu * shape[cell_of(ti, bgp.utc_offset_s)]
        bg_int = bgp.mu * float(shape @ data.cell_time)
    else:
        bg, bg_int = np.full(ti.size, bgp.mu), bgp.mu * data.obs
    w = omori_weights(params.c_s, params.p)
    lam = bg + params.k * (g @ w)
    if np.any(lam <= 0):
        return -math.inf
    return data.log_w + float(np.log(lam).sum()) - bg_int - params.k * float(h @ w)
