"""When the rate after a large event is back to a level people may work at, and how sure.

Re-entry protocols in mines (Vallejos & McKinnon 2010, 163 sequences in Ontario
mines; mXrap's short-term response analysis) fit the modified Omori law to the
sequence that follows a large event and take the time its rate decays to a chosen
level. Here the sequence's rate above Mc is ``A (tau + c)^-p`` on top of what the
zone had before it: the background ``mu`` and the decay of earlier events
(``other``, from the scope's ETAS sums at the event). The re-entry level is
``factor`` times the zone's forecast rate just before the event.

The law in force (the scope's ETAS fit, or the generic law before one) gives the
prior: ``p`` around the law's, with the fit's standard error or, for the generic
law, the spread of mining sequences (Vallejos & McKinnon found p from 0.4 to 1.6);
the sequence's productivity, as aftershocks expected in its first day, gamma
distributed around the law's with a coefficient of variation of
:data:`SEQUENCE_CV` (single sequences scatter about any productivity law). The
posterior is kept on a grid of ``(p, log A)``: each event above Mc adds its log
intensity ``log(other(t) + A (t - t0 + c)^-p)`` at every grid point (the exact
point-process likelihood: background and earlier sequences explain their share),
and the exposure ``A int (u + c)^-p du`` is taken when the posterior is read.
Every grid point has a fixed re-entry time, the solution of ``other(t) + A (t -
t0 + c)^-p = level``; the median and 5-95 % interval are weighted quantiles of
those times. With the prior right, the interval holds the true decay time 90 %
of the time (the tests simulate it).

Aftershocks in the main event's coda, where small events hide
(:mod:`stream_models.seismology.coda`), are not counted and that stretch is not
exposure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_models.seismology.bvalue import MAG_PER_LOG_E
from stream_models.seismology.coda import MASK_FROM
from stream_models.seismology.etas import RATES, EtasParams, omori_weights, productivity

SEQUENCE_CV = 0.8  # scatter of one sequence's productivity around the law's
GENERIC_P_SD = 0.25  # p of mining sequences without a fit (0.4-1.6 over 163 sequences)
MIN_P_SD = 0.05  # a fit's standard error of p is never taken as smaller
INTERVAL = (0.05, 0.95)
_P_GRID = np.linspace(-2.5, 2.5, 21)  # p, in prior standard deviations
_A_GRID = np.linspace(-7.0, 5.0, 81)  # log A, about the prior mean (the data may move it far)
_DAY = 86400.0
_LONGEST_S = 10 * 365 * _DAY  # a sequence never decays slower
_TAU_GRID = np.geomspace(1.0, _LONGEST_S, 1200)  # s after the event: 150 a decade


def exposure(tau: float, c_s: float, p: np.ndarray, start: float = 0.0) -> np.ndarray:
    """int_start^tau (u + c)^-p du for each p (the expected count per unit of A).

    >>> round(float(exposure(3600.0, 60.0, np.array([1.0]))[0]), 3)   # ln(3660 / 60)
    4.111
    """
    p = np.asarray(p, float)
    if tau <= start:
        return np.zeros_like(p)
    a, b = math.log(start + c_s), math.log(tau + c_s)
    one = np.abs(p - 1.0) < 1e-9
    q = np.where(one, 2.0, 1.0 - p)  # any value on the p = 1 branch: replaced below
    out = (np.exp(q * b) - np.exp(q * a)) / q
    return np.where(one, b - a, out)


@dataclass
class ReentryEstimate:
    """One large event's sequence and what the events since say about its decay.

    Examples
    --------
    >>> from stream_models.seismology.etas import generic_law
    >>> law = generic_law(1.0, mu=1e-4)                 # 0.36 events/h above Mc
    >>> quiet = ReentryEstimate.start("e1", 0.0, 4.0, law, np.zeros(len(RATES)), 2.0)
    >>> med, lo, hi = quiet.quantiles(0.0)
    >>> bool(lo < med < hi)
    True
    >>> busy = ReentryEstimate.start("e1", 0.0, 4.0, law, np.zeros(len(RATES)), 2.0)
    >>> for t in np.linspace(120.0, 7200.0, 40):     # far more aftershocks than expected
    ...     busy.observe(float(t))
    >>> bool(busy.quantiles(7200.0)[0] > med)         # ... push re-entry later
    True
    """

    source_id: str
    t0: float
    log_e: float
    level: float  # events/s above Mc at which re-entry is reached
    mu: float  # background rate, events/s above Mc
    other: np.ndarray  # earlier events' decay: other(t) = mu + other @ exp(-RATES (t - t0))
    c_s: float
    p_law: float  # the prior's p, its spread, and the sequence's expected first-day count
    p_sd: float
    first_day: float
    mask_s: float  # the main event's coda: no aftershock counted before t0 + mask_s
    ll: np.ndarray  # (P, A) sum of the log intensities of the events counted
    n: int = 0  # events counted
    last_t: float = 0.0  # time of the last update
    # the grid, rebuilt from the fields above (kept out of the stored state)
    p: np.ndarray = field(init=False, repr=False)  # (P, 1) grid of p
    a: np.ndarray = field(init=False, repr=False)  # (P, A) grid of the amplitude A
    log_prior: np.ndarray = field(init=False, repr=False)  # (P, A) log prior weights
    _times: np.ndarray | None = field(default=None, init=False, repr=False)
    _order: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.p = np.clip(self.p_law + self.p_sd * _P_GRID, 0.3, 3.0)[:, None]
        mean = self.first_day / exposure(_DAY, self.c_s, self.p)  # (P, 1): same first day
        self.a = mean * np.exp(_A_GRID)[None, :]
        shape = 1.0 / SEQUENCE_CV**2
        log_prior = (-0.5 * ((self.p - self.p_law) / self.p_sd) ** 2  # gamma in log A
                     + shape * np.log(self.a / mean) - shape * self.a / mean)
        self.log_prior = log_prior - log_prior.max()

    @classmethod
    def start(cls, source_id: str, t0: float, log_e: float, law: EtasParams,
              other_sums: np.ndarray, factor: float, level: float | None = None,
              rate_floor: float = 0.0) -> ReentryEstimate:
        """The prior at the event: ``other_sums`` are the scope's ETAS sums for the law's
        alpha just before it; ``level`` overrides ``factor`` x the rate then (an
        exclusion still open keeps its own level); ``rate_floor`` is a background rate
        (events/s) to take where the law's is lower (a zone whose law has none yet)."""
        other = law.k * omori_weights(law.c_s, law.p) * np.asarray(other_sums, float)
        mu = max(law.mu, rate_floor)  # a law with no background yet: the observed rate
        if level is None:
            level = factor * (mu + float(other.sum()))
        sd = max(law.se.get("p", 0.0), MIN_P_SD) if law.fitted else GENERIC_P_SD
        a_law = law.k * float(productivity(log_e, law.alpha))
        first_day = max(a_law * float(exposure(_DAY, law.c_s, np.array([law.p]))[0]), 1e-12)
        dm = (log_e - law.mc_log_e) / MAG_PER_LOG_E
        mask = _DAY * 10 ** ((dm - 4.5) / 0.75) if dm >= MASK_FROM else 0.0
        return cls(source_id, t0, log_e, level, mu, other, law.c_s, law.p, sd, first_day,
                   mask, np.zeros((len(_P_GRID), len(_A_GRID))), last_t=t0)

    def other_rate(self, t: float | np.ndarray) -> np.ndarray:
        tau = np.maximum(np.asarray(t, float) - self.t0, 0.0)
        return self.mu + np.exp(-np.multiply.outer(tau, RATES)) @ self.other

    def observe(self, t: float) -> None:
        """Count an event above Mc at ``t`` (not before the last one) as evidence."""
        tau = t - self.t0
        self.last_t = max(self.last_t, t)
        if tau < self.mask_s:
            return
        self.ll += np.log(float(self.other_rate(t)) + self.a * (tau + self.c_s) ** -self.p)
        self.n += 1

    def weights(self, now: float | None = None) -> np.ndarray:
        """Posterior weight of each grid point given the events up to ``now``."""
        now = self.last_t if now is None else max(now, self.last_t)
        g = exposure(now - self.t0, self.c_s, self.p[:, 0], self.mask_s)[:, None]
        log_w = self.log_prior + self.ll - self.a * g
        w = np.exp(log_w - log_w.max())
        return w / w.sum()

    def times(self) -> np.ndarray:
        """Each grid point's re-entry time, s after the event (fixed: computed once).

        For each ``p`` the amplitude whose re-entry falls at ``tau``, ``(level -
        other(tau)) (tau + c)^p``, rises with ``tau``; the grid's amplitudes are read off
        it by interpolation in logs (exact where nothing earlier decays: closed form).
        """
        if self._times is not None:
            return self._times
        if not self.other.any():  # mu + A (tau + c)^-p = level
            room = max(self.level - self.mu, 1e-300)
            with np.errstate(over="ignore"):  # beyond the longest: clipped
                tau = (self.a / room) ** (1.0 / self.p) - self.c_s
            self._times = np.clip(tau, 1.0, _LONGEST_S)
            return self._times
        grid = _TAU_GRID
        room = np.maximum(self.level - self.other_rate(self.t0 + grid), 1e-300)
        log_a_at = np.log(room)[None, :] + self.p * np.log(grid + self.c_s)[None, :]
        log_a_at = np.maximum.accumulate(log_a_at, axis=1)  # room only grows: guard rounding
        out = np.empty(self.a.shape)
        for i in range(self.a.shape[0]):
            out[i] = np.interp(np.log(self.a[i]), log_a_at[i], np.log(grid))
        self._times = np.exp(out)
        return self._times

    def quantiles(self, now: float | None = None, qs: tuple[float, ...] = (0.5, *INTERVAL)
                  ) -> tuple[float, ...]:
        """Times (event time, s) by which re-entry is reached with each probability in ``qs``
        (default: median, 5 %, 95 %), given the events up to ``now``."""
        if self._order is None:
            self._order = np.argsort(self.times().ravel(), kind="stable")
        tau = self.times().ravel()[self._order]
        cdf = np.cumsum(self.weights(now).ravel()[self._order])
        return tuple(self.t0 + float(np.interp(q, cdf, tau)) for q in qs)

    # -- state ------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k, f in self.__dataclass_fields__.items() if f.init}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ReentryEstimate:
        arrays = {"other", "ll"}
        return cls(**{k: np.asarray(v, float).copy() if k in arrays else v
                      for k, v in state.items()})
