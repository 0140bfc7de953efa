"""ETAS (Ogata 1988): the short-term forecast seismologists use, in O(1) per event.

The conditional intensity of events at or above the completeness Mc is

    lambda(t) = mu(t) + sum_i K 10^(alpha (m_i - m_ref)) (t - t_i + c)^(-p)

with magnitudes from energy by log10 E = 1.5 M + 4.8 (Kanamori 1977), so
``10^(alpha (m_i - m_ref)) = 10^((alpha / 1.5)(log10 E_i - 4))`` (productivity counted
relative to a 10^4 J event) and ``mu(t)`` one of the background forms of
:mod:`stream_models.seismology.background`. The Omori-Utsu kernel is an integral of
exponentials, ``(tau + c)^-p = Gamma(p)^-1 int s^(p-1) exp(-s (tau + c)) ds``, taken on
a fixed log grid of decay rates :data:`RATES` (3 a decade from 3e-9 to 30 per
second). A scope keeps the sums ``S[k] = sum_i 10^(alpha (log10 E_i - 4) / 1.5)
exp(-s_k (t - t_i))`` for the generic law's alpha and for its fitted alpha: one event
multiplies them by ``exp(-s_k dt)`` and adds itself, whatever the history. A fit of
(K, c, p) only changes the weights ``w_k``; a new alpha rebuilds its row of sums from
the scope's event history once. The kernel so represented equals Omori-Utsu within
3 % up to 30 days after an event (p >= 0.7) and fades over years.

The forecast is the probability of at least one target (E >= E_T) within the
horizon H: the expected number of events above Mc in (t, t + H] (the background
plus the decay of every past event's aftershocks: first generation, as no unseen
event is assumed), thinned by the Gutenberg-Richter tail
(:func:`stream_models.seismology.gr.log_tail`), as a Poisson probability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import gammaln

from stream_models.seismology.background import Background
from stream_models.seismology.bvalue import MAG_PER_LOG_E

RATES = np.exp(np.arange(math.log(3e-9), math.log(30.0) + 1e-9, math.log(10) / 3))
_H = math.log(10) / 3  # spacing of the log grid: the quadrature weight
LOG_E_REF = 4.0  # productivity is counted relative to 10^4 J: keeps the sums in range
GENERIC_ALPHA = 1.0  # the generic law's productivity exponent, per magnitude unit
GENERIC = "generic"  # the version name of the law nothing was fitted for


@lru_cache(maxsize=256)
def omori_weights(c_s: float, p: float) -> np.ndarray:
    """Quadrature weights w_k with sum_k w_k exp(-s_k tau) ~ (tau + c)^-p (read-only:
    cached, as scoring asks for the same few laws on every event).

    >>> w = omori_weights(60.0, 1.1)
    >>> tau = np.array([0.0, 3600.0, 86400.0])
    >>> approx = (w * np.exp(-np.outer(tau, RATES))).sum(axis=1)
    >>> np.round(approx / (tau + 60.0) ** -1.1, 2).tolist()
    [1.0, 1.0, 1.0]
    """
    w = np.exp(math.log(_H) + p * np.log(RATES) - RATES * c_s - gammaln(p))
    w.flags.writeable = False
    return w


@lru_cache(maxsize=64)
def reach(horizon_s: float) -> np.ndarray:
    """int_0^H exp(-s_k tau) dtau for each rate: how much of each decay falls in the horizon."""
    r = (1 - np.exp(-RATES * horizon_s)) / RATES
    r.flags.writeable = False
    return r


def productivity(log_e: float | np.ndarray, alpha: float) -> np.ndarray:
    """10^(alpha (log10 E - 4) / 1.5): an event's productivity relative to 10^4 J."""
    return 10 ** ((np.asarray(log_e, float) - LOG_E_REF) * (alpha / MAG_PER_LOG_E))


@dataclass(frozen=True)
class EtasParams:
    """Fitted (or generic) ETAS parameters of one scope.

    ``k`` multiplies ``10^(alpha (log10 E - 4) / 1.5)``: productivity relative to a
    10^4 J event. ``mc_log_e`` is the completeness the fit used: rates are of events
    at or above it. ``se`` holds the standard errors of a fit (from the Hessian of
    its log-likelihood, for ``mu``, ``k``, ``alpha``, ``c_s``, ``p``) and ``cov`` the
    covariance of (log mu, log k, alpha, log c, p), which re-entry intervals use.
    """

    background: Background
    k: float
    alpha: float
    c_s: float
    p: float
    mc_log_e: float
    version: str = GENERIC
    b_value: float = 1.0  # the Gutenberg-Richter b (magnitude units) its tail uses
    se: Mapping[str, float] = field(default_factory=dict)
    cov: tuple[tuple[float, ...], ...] = ()
    # the spatial kernel (d_m, q, gamma) a space-time fit gave, for the scope's hazard
    # grid (:mod:`stream_models.seismology.spatial`); empty: the generic kernel
    spatial: tuple[float, ...] = ()

    @property
    def mu(self) -> float:
        """Mean background rate, events/s at or above Mc."""
        return self.background.mu

    @property
    def fitted(self) -> bool:
        return self.version != GENERIC

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["background"] = self.background.to_json()
        out["se"], out["cov"] = dict(self.se), [list(r) for r in self.cov]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EtasParams:
        return cls(**{**data, "background": Background.from_json(data["background"]),
                      "se": {str(k): float(v) for k, v in data.get("se", {}).items()},
                      "cov": tuple(tuple(map(float, r)) for r in data.get("cov", ())),
                      "spatial": tuple(map(float, data.get("spatial", ())))})

    def branching_ratio(self, span_log_e: float = 4.0) -> float:
        """Expected direct aftershocks per event above Mc (GR sizes over ``span_log_e``)."""
        b_e, a_e = self.b_value / MAG_PER_LOG_E, self.alpha / MAG_PER_LOG_E
        x = np.linspace(self.mc_log_e, self.mc_log_e + span_log_e, 400)
        dens = b_e * math.log(10) * 10 ** (-b_e * (x - self.mc_log_e))
        mean_prod = float(np.trapezoid(dens * 10 ** (a_e * (x - LOG_E_REF)), x))
        kernel_integral = float((omori_weights(self.c_s, self.p) / RATES).sum())
        return self.k * mean_prod * kernel_integral


def generic_law(mc_log_e: float, mu: float = 0.0, b_value: float = 1.0) -> EtasParams:
    """The generic law, never fitted: the Omori-weighted sum seismologists start from
    (alpha 1 per magnitude, c = 60 s, p = 1.1; Reasenberg & Jones 1989 use p ~ 1.1), with
    productivity for a branching ratio of 0.5 at b = 1 and a constant background ``mu``.

    >>> round(generic_law(1.0).branching_ratio(), 6)
    0.5
    """
    return EtasParams(Background("constant", mu), _generic_k(mc_log_e), GENERIC_ALPHA, 60.0,
                      1.1, mc_log_e, GENERIC, b_value)


@lru_cache(maxsize=1024)
def _generic_k(mc_log_e: float) -> float:
    """The generic law's productivity: a scope asks for it on every event, at a fixed Mc."""
    unit = EtasParams(Background("constant", 0.0), 1.0, GENERIC_ALPHA, 60.0, 1.1, mc_log_e)
    return 0.5 / unit.branching_ratio()


def decayed_sums(t: np.ndarray, log_e: np.ndarray, alpha: float, at: float) -> np.ndarray:
    """The sums a scope keeps for ``alpha``, rebuilt from an event history, taken at ``at``."""
    t, log_e = np.asarray(t, float), np.asarray(log_e, float)
    keep = t <= at
    prod = productivity(log_e[keep], alpha)
    return prod @ np.exp(-np.outer(at - t[keep], RATES))


class EtasState:
    """One scope's decaying sums: what its ETAS forecasts need from the past, in fixed size.

    Row 0 holds the sums for the generic law's alpha (and the Omori-weighted model
    inputs), row 1 those for the scope's fitted alpha (:meth:`set_fit_alpha`).

    Examples
    --------
    >>> st = EtasState()
    >>> for t in (0.0, 600.0, 1200.0):
    ...     st.add(t, 3.0)
    >>> params = EtasParams(Background("constant", 1e-5), 0.1, 1.0, 60.0, 1.1, 1.0)
    >>> round(st.expected(params, 1200.0, 8 * 3600) / (1e-5 * 8 * 3600), 2)  # vs background
    1.45
    """

    def __init__(self) -> None:
        self.sums = np.zeros((2, len(RATES)))
        self.fit_alpha = math.nan
        self.t = -math.inf  # time the sums are taken at
        self.n = 0  # events counted (all sizes)
        self._factor = np.array([GENERIC_ALPHA / MAG_PER_LOG_E, 0.0])

    def add(self, t: float, log_e: float) -> None:
        """Count an event at ``t`` (never before :attr:`t`)."""
        if self.n and t > self.t:
            self.sums *= np.exp(-RATES * (t - self.t))
        self.sums += (10 ** ((log_e - LOG_E_REF) * self._factor))[:, None]
        self.t = max(t, self.t)
        self.n += 1

    def set_fit_alpha(self, alpha: float, history_t: np.ndarray, history_log_e: np.ndarray
                      ) -> None:
        """Row 1 for a newly fitted alpha, rebuilt from the scope's event history."""
        if alpha == self.fit_alpha:
            return
        self.fit_alpha = alpha
        self._factor = np.array([GENERIC_ALPHA / MAG_PER_LOG_E, alpha / MAG_PER_LOG_E])
        at = self.t if self.n else 0.0
        self.sums[1] = decayed_sums(history_t, history_log_e, alpha, at) if self.n else 0.0

    def _row(self, params: EtasParams) -> int:
        if params.alpha == GENERIC_ALPHA:
            return 0
        if params.alpha != self.fit_alpha:
            raise ValueError(f"no sums for alpha {params.alpha} (kept: {self.fit_alpha})")
        return 1

    def _decayed(self, t: float, row: int) -> np.ndarray:
        s = self.sums[row]
        return s * np.exp(-RATES * (t - self.t)) if t > self.t else s

    def decayed(self, params: EtasParams, t: float) -> np.ndarray:
        """The sums for ``params``' alpha taken at ``t`` (not before :attr:`t`)."""
        return self._decayed(t, self._row(params)).copy()

    def intensity(self, params: EtasParams, t: float, driver: float = math.nan) -> float:
        """lambda(t): events/s at or above Mc expected at ``t``."""
        w = omori_weights(params.c_s, params.p)
        trig = params.k * float(w @ self._decayed(t, self._row(params)))
        return params.background.rate(t, driver) + trig

    def triggered(self, params: EtasParams, t: float, horizon_s: float) -> float:
        """Aftershocks above Mc expected in (t, t + horizon] from the events so far."""
        w = omori_weights(params.c_s, params.p)
        return params.k * float((w * reach(horizon_s)) @ self._decayed(t, self._row(params)))

    def expected(self, params: EtasParams, t: float, horizon_s: float,
                 driver: float = math.nan) -> float:
        """Events at or above Mc expected in (t, t + horizon]: background + aftershocks."""
        return (params.background.integral(t, horizon_s, driver)
                + self.triggered(params, t, horizon_s))

    def omori_sum(self, c_s: float, p: float, t: float) -> float:
        """sum_i 10^(log10 E_i - 4)/1.5 (t - t_i + c)^-p: an Omori-weighted sum of the past
        (alpha = 1 per magnitude unit), a clustering input for the learned models."""
        return float(omori_weights(c_s, p) @ self._decayed(t, 0))

    def to_state(self) -> dict[str, Any]:
        return {"sums": self.sums, "fit_alpha": self.fit_alpha, "t": self.t, "n": self.n}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> EtasState:
        st = cls()
        sums = np.asarray(state["sums"], float)
        if sums.shape != st.sums.shape:
            raise ValueError(f"ETAS sums have shape {sums.shape}, this version {st.sums.shape}")
        st.sums = sums.copy()
        st.fit_alpha, st.t, st.n = float(state["fit_alpha"]), float(state["t"]), int(state["n"])
        if math.isfinite(st.fit_alpha):
            st._factor = np.array([GENERIC_ALPHA / MAG_PER_LOG_E, st.fit_alpha / MAG_PER_LOG_E])
        return st
