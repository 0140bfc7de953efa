"""The few large tremors of a synthetic year, and the precursory sequences before some of them.

A Kuzbass longwall year has only a handful of events near 10⁴ J (the GITS
paper's year: five between 8,650 and about 10⁴·⁵ J). They are generated apart
from the ordinary catalog, whose sizes stop below :data:`LARGE_LOG_E`, so the
calendar can follow the paper (``"paper"``: its dates, the largest on
15 Aug 2020 at 15:27) or a seed (``"random"``: as many as the Gutenberg-Richter
tail of the ordinary rate predicts, at times unrelated to the shift pattern).

Precursors follow what mine seismology reports before strong tremors: in
the hours before, more events near the coming hypocentre, with a lower b-value.
The rate rises as an inverse Omori law, ``A / (t_L - t + c)``, the foreshock
acceleration of Papazachos (1975) and Jones & Molnar (1979). Defaults and their
sources are in :class:`PrecursorParams`. ``linked=False`` keeps every sequence
but moves it to a random time that no large event follows: the same events,
sizes and clustering, without the link a forecast could learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

LARGE_LOG_E = math.log10(8e3)  # "large": the paper's smallest notable event was 8,650 J
PAPER_START = datetime(2019, 9, 3)  # first day of the paper's year, mine local time


@dataclass(frozen=True)
class PaperEvent:
    """One large event the GITS paper reports: local date (and time where it gives one)."""

    when: datetime
    energy_j: float
    panel: int  # index into SynthParams.panels: the generator's choice, the paper has no zones
    time_given: bool = False  # only the 15 Aug event has a time of day in the paper


PAPER_EVENTS: tuple[PaperEvent, ...] = (
    PaperEvent(datetime(2019, 10, 1), 13_950.0, 0),
    PaperEvent(datetime(2020, 4, 14), 9_213.0, 1),
    PaperEvent(datetime(2020, 8, 3), 13_660.0, 0),
    PaperEvent(datetime(2020, 8, 6), 8_650.0, 1),
    # the largest of the year; the paper gives no energy: assumed 3·10⁴ J
    PaperEvent(datetime(2020, 8, 15, 15, 27), 3.0e4, 0, time_given=True),
)


@dataclass(frozen=True)
class PrecursorParams:
    """How often and how strongly large events are announced.

    ``fraction``: de Beer (2000, SIMRAC GAP409) predicted 53 % and 65 % of the
    large events at two deep mines from accelerating seismic release: often,
    not always. ``b_drop``: before seven of eight strong tremors at a Gansu
    coal mine the b-value fell from 0.7-0.87 to 0.6 or below (Appl. Sci. 2025,
    15, 10073), a drop of about a quarter. ``strength``: the precursory events
    of the final 8-hour shift number ``strength`` times the panel's ordinary
    count there (a rate of 1 + strength times the usual). No study gives one
    factor; 3 keeps the rise to a few events per shift, the "small increase"
    Spottiswoode (2010, J. S. Afr. Inst. Min. Metall. 110) finds.
    """

    strength: float = 3.0  # 0: no precursory events at all
    linked: bool = True  # False: each sequence moved to a time no large event follows
    fraction: float = 0.6
    b_drop: float = 0.25
    window_h: float = 12.0  # how long before the large event the sequence starts
    c_h: float = 0.5  # inverse-Omori offset: the rate stays finite at the event
    sigma_m: float = 20.0  # scatter around the coming hypocentre


def paper_schedule(
    rng: np.random.Generator, start: datetime, hours: int
) -> list[tuple[float, float, int]]:
    """(hour since ``start``, log10 E, panel) of the paper's events inside the year."""
    out = []
    for ev in PAPER_EVENTS:
        when = (ev.when - start).total_seconds() / 3600
        if not ev.time_given:
            when += rng.uniform(0, 24)  # the paper gives the date only
        if 0 <= when < hours:
            out.append((when, math.log10(ev.energy_j), ev.panel))
    return out


def random_schedule(
    rng: np.random.Generator, expected: float, active: np.ndarray, b_e: float, log_e_max: float
) -> list[tuple[float, float, int]]:
    """Poisson(``expected``) large events, uniform over active panel-hours, GR-tail sizes.

    ``active`` is a (panels, hours) boolean array. Times are independent of the
    production cycle, so without precursors nothing observable announces them.
    """
    n = int(rng.poisson(expected))
    cells = np.argwhere(active)
    if n == 0 or cells.size == 0:
        return []
    picks = cells[rng.integers(0, len(cells), n)]
    log_e = truncated_gr(rng, n, b_e, LARGE_LOG_E, log_e_max)
    return [(float(h) + float(rng.random()), float(m), int(p))
            for (p, h), m in zip(picks, log_e, strict=True)]


def truncated_gr(
    rng: np.random.Generator, n: int, b_e: np.ndarray | float, lo: float, hi: float
) -> np.ndarray:
    """log10 E from a Gutenberg-Richter law truncated to [lo, hi] (inverse CDF)."""
    beta = np.asarray(b_e, dtype=float) * math.log(10)
    u = rng.random(n)
    span = 1.0 - np.exp(-beta * (hi - lo))
    return lo - np.log1p(-u * span) / beta


def precursor_times(
    rng: np.random.Generator, p: PrecursorParams, shift_count: float, strength: float
) -> np.ndarray:
    """Hours before the large event of one sequence's events (inverse Omori, p = 1).

    ``shift_count`` is the panel's expected ordinary count in the final 8 h;
    the sequence puts ``strength`` times that many events there on average.
    """
    c, w = p.c_h, p.window_h
    amplitude = strength * shift_count / math.log((8.0 + c) / c)
    n = int(rng.poisson(amplitude * math.log((w + c) / c)))
    u = rng.random(n)
    return c * ((w + c) / c) ** u - c


def decoy_hour(
    rng: np.random.Generator, active_hours: np.ndarray, large_hours: np.ndarray, window_h: float
) -> float:
    """A random active hour whose following precursory window holds no large event."""
    for _ in range(1000):
        h = float(rng.choice(active_hours)) + float(rng.random())
        gaps = large_hours - h
        if not np.any((gaps >= -window_h) & (gaps <= 2 * window_h + 48)):
            return h
    return float(rng.choice(active_hours))  # a year too crowded to keep them apart
