"""ETAS (Ogata 1988): the short-term forecast seismologists use, in O(1) per event.

The conditional intensity of events at or above the completeness Mc is

    lambda(t) = mu + sum_i K 10^(alpha (m_i - m_c)) (t - t_i + c)^(-p)

with magnitudes from energy by log10 E = 1.5 M + 4.8 (Kanamori 1977), so
``10^(alpha (m_i - m_c)) = 10^((alpha / 1.5)(log10 E_i - log10 E_c))``. The
Omori-Utsu kernel is an integral of exponentials,
``(tau + c)^-p = Gamma(p)^-1 int s^(p-1) exp(-s (tau + c)) ds``, taken on a fixed
log grid of decay rates :data:`RATES` (3 a decade from 3e-9 to 30 per second).
Each zone keeps, for each productivity exponent on a grid :data:`ALPHAS`, the
sums ``S[a, k] = sum_i 10^(alpha_a (log10 E_i - 4) / 1.5) exp(-s_k (t - t_i))``:
one event multiplies them by ``exp(-s_k dt)`` and adds itself, whatever the
history. A fit of (mu, K, c, p) only changes the weights ``w_k``, so a newly
fitted version scores from the next event without replaying anything. The
kernel so represented equals Omori-Utsu within 3 % up to 30 days after an
event (p >= 0.7) and fades over years.

The forecast is the probability of at least one target (E >= E_T) within the
horizon H: the expected number of events above Mc in (t, t + H] (the
background plus the decay of every past event's aftershocks: first generation,
as no unseen event is assumed), thinned by the Gutenberg-Richter tail
(:func:`stream_models.seismology.gr.log_tail`), as a Poisson probability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import gammaln

from stream_models.seismology.bvalue import MAG_PER_LOG_E

RATES = np.exp(np.arange(math.log(3e-9), math.log(30.0) + 1e-9, math.log(10) / 3))
_H = math.log(10) / 3  # spacing of the log grid: the quadrature weight
ALPHAS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)  # productivity per magnitude unit
LOG_E_REF = 4.0  # productivity is counted relative to 10^4 J: keeps the sums in range
_ALPHAS_PER_LOG_E = np.asarray(ALPHAS) / 1.5


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
    log_w = math.log(_H) + p * np.log(RATES) - RATES * c_s - gammaln(p)
    w = np.exp(log_w)
    w.flags.writeable = False
    return w


@lru_cache(maxsize=64)
def _reach(horizon_s: float) -> np.ndarray:
    """int_0^H exp(-s_k tau) dtau for each rate: how much of each decay falls in the horizon."""
    r = (1 - np.exp(-RATES * horizon_s)) / RATES
    r.flags.writeable = False
    return r


def productivity(log_e: float | np.ndarray, alphas: Sequence[float] = ALPHAS) -> np.ndarray:
    """10^(alpha (log10 E - 4) / 1.5) for each alpha on the grid."""
    return 10 ** (np.outer(np.atleast_1d(log_e) - LOG_E_REF, np.asarray(alphas) / 1.5))


@dataclass(frozen=True)
class EtasParams:
    """Fitted (or prior) ETAS parameters; ``mu`` per zone, the rest shared.

    ``k`` multiplies ``10^(alpha (log10 E - 4) / 1.5)``: productivity relative to a
    10^4 J event. ``mc_log_e`` is the completeness the fit used: rates are of
    events at or above it.
    """

    mu: Mapping[str, float]  # background events/s at or above Mc, by zone
    k: float
    alpha: float  # per magnitude unit, one of ALPHAS
    c_s: float
    p: float
    mc_log_e: float
    version: str = "prior"
    b_value: float = 1.0  # the Gutenberg-Richter b (magnitude units) its tail uses

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "mu": dict(self.mu)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EtasParams:
        return cls(**{**data, "mu": {str(k): float(v) for k, v in data["mu"].items()}})

    @property
    def alpha_index(self) -> int:
        return ALPHAS.index(self.alpha)

    def branching_ratio(self, b_value: float = 1.0, span_log_e: float = 4.0) -> float:
        """Expected direct aftershocks per event above Mc (GR sizes over ``span_log_e``)."""
        b_e, a_e = b_value / MAG_PER_LOG_E, self.alpha / MAG_PER_LOG_E
        x = np.linspace(self.mc_log_e, self.mc_log_e + span_log_e, 400)
        dens = b_e * math.log(10) * 10 ** (-b_e * (x - self.mc_log_e))
        mean_prod = float(np.trapezoid(dens * 10 ** (a_e * (x - LOG_E_REF)), x))
        kernel_integral = float((omori_weights(self.c_s, self.p) / RATES).sum())
        return self.k * mean_prod * kernel_integral


def prior_params(mc_log_e: float, mu: Mapping[str, float] | None = None,
                 b_value: float = 1.0) -> EtasParams:  # fmt: skip
    """The generic law, never fitted: the Omori-weighted sum seismologists start from
    (alpha 1 per magnitude, c = 60 s, p = 1.1; Reasenberg & Jones 1989 use p ~ 1.1), with
    productivity for a branching ratio of 0.5 at b = 1."""
    return EtasParams(dict(mu or {}), _prior_k(mc_log_e), 1.0, 60.0, 1.1, mc_log_e, "prior",
                      b_value)


@lru_cache(maxsize=1024)
def _prior_k(mc_log_e: float) -> float:
    """The generic law's productivity: a zone asks for it on every event, at a fixed Mc."""
    return 0.5 / EtasParams({}, 1.0, 1.0, 60.0, 1.1, mc_log_e).branching_ratio()


class EtasState:
    """One zone's decaying sums: what its ETAS forecast needs from the past, in fixed size.

    Examples
    --------
    >>> st = EtasState()
    >>> for t in (0.0, 600.0, 1200.0):
    ...     st.add(t, 3.0)
    >>> params = EtasParams({"z": 1e-5}, 0.1, 1.0, 60.0, 1.1, 1.0)
    >>> round(st.expected(params, "z", 1200.0, 8 * 3600) / (1e-5 * 8 * 3600), 2)  # vs background
    1.45
    """

    def __init__(self) -> None:
        self.sums = np.zeros((len(ALPHAS), len(RATES)))
        self.t = -math.inf  # time the sums are taken at
        self.n = 0  # events counted (all sizes)
        self.n_above = 0  # ... at or above the prior completeness, for the prior background
        self.t0 = math.nan  # first event's time

    def add(self, t: float, log_e: float, mc_log_e: float = -math.inf) -> None:
        """Count an event at ``t`` (never before :attr:`t`)."""
        if self.n:
            self.sums *= np.exp(-RATES * (t - self.t))
        else:
            self.t0 = t
        self.sums += (10 ** ((log_e - LOG_E_REF) * _ALPHAS_PER_LOG_E))[:, None]  # productivity
        self.t = t
        self.n += 1
        self.n_above += int(log_e >= mc_log_e)

    def _decayed(self, t: float, alpha_index: int) -> np.ndarray:
        row = self.sums[alpha_index]
        return row * np.exp(-RATES * (t - self.t)) if t > self.t else row

    def intensity(self, params: EtasParams, zone: str, t: float) -> float:
        """lambda(t): events/s at or above Mc expected at ``t``."""
        trig = params.k * float(omori_weights(params.c_s, params.p) @ self._decayed(
            t, params.alpha_index))  # fmt: skip
        return self.background(params, zone, t) + trig

    def expected(self, params: EtasParams, zone: str, t: float, horizon_s: float,
                 weights: np.ndarray | None = None) -> float:  # fmt: skip
        """Events at or above Mc expected in (t, t + horizon]: background + aftershocks."""
        w = omori_weights(params.c_s, params.p) if weights is None else weights
        trig = params.k * float((w * _reach(horizon_s)) @ self._decayed(t, params.alpha_index))
        return self.background(params, zone, t) * horizon_s + trig

    def background(self, params: EtasParams, zone: str, t: float) -> float:
        """The fitted background of ``zone``; before a fit, half its observed rate so far."""
        mu = params.mu.get(zone)
        if mu is not None:
            return mu
        span = t - self.t0
        return 0.5 * self.n_above / span if self.n_above > 1 and span > 0 else 0.0

    def omori_sum(self, c_s: float, p: float, t: float) -> float:
        """sum_i 10^(log10 E_i - 4)/1.5 (t - t_i + c)^-p: an Omori-weighted sum of the past
        (alpha = 1 per magnitude unit), a clustering input for the learned models."""
        return float(omori_weights(c_s, p) @ self._decayed(t, ALPHAS.index(1.0)))

    def to_state(self) -> dict[str, Any]:
        return {"sums": self.sums, "t": self.t, "n": self.n, "n_above": self.n_above,
                "t0": self.t0}  # fmt: skip

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> EtasState:
        st = cls()
        sums = np.asarray(state["sums"], float)
        if sums.shape != st.sums.shape:
            raise ValueError(f"ETAS sums have shape {sums.shape}, this version {st.sums.shape}")
        st.sums = sums.copy()
        st.t, st.n, st.n_above, st.t0 = (float(state["t"]), int(state["n"]),
                                         int(state["n_above"]), float(state["t0"]))  # fmt: skip
        return st
