"""A synthetic year of GITS events for a two-longwall coal mine, deterministic for a seed.

The default year is the GITS paper's (3 Sep 2019 - 28 Aug 2020): sizes follow
Gutenberg-Richter with b = 1 down to a completeness of about 3 J, and only a
handful of events reach 8·10³ J, on the paper's dates, the largest on
15 Aug 2020 at 15:27. Physics, in the order the generator applies it
(parameters in :class:`SynthParams`):

* **Production.** Each panel's face retreats along x at a daily rate drawn around
  ``advance_m_per_day`` (Sundays and repair days lower, lognormal day-to-day
  scatter); the mined volume is advance x panel width x seam thickness. No coal
  is cut in the repair shift (00:00-06:00).
* **Ordinary activity** follows production: the hourly rate of a panel is
  ``background_per_day / 24 x (idle + (1 - idle) x production / nominal)``,
  raised by **periodic main-roof weighting**: every ``weighting_interval_m`` of
  advance the hard roof loads and breaks, so the rate grows by up to
  ``weighting_rate_gain`` and the b-value drops by up to ``weighting_b_drop``.
* **Sizes**: magnitude M with log10 E = 1.5 M + 4.8 (Kanamori 1977), so b in
  magnitude units is 1.5 x the slope on the log10 E scale. Ordinary events are
  Gutenberg-Richter below 8·10³ J; the large ones come from
  :mod:`replay.large_events`, with their precursors.
* **Aftershocks** (ETAS): every event has Poisson(K 10^(alpha (log10 E - log_e_min)))
  children, delayed by the Omori-Utsu law (c, p) and scattered ``cluster_sigma_m``
  around the parent; K is set so the branching ratio is ``branching_ratio``.
* **Detection**: an event is located with probability Phi((log10 E - Mc) / sigma)
  (Ogata & Katsura 1993), so the catalog is complete above Mc and thins below.
* **Location.** Events sit in the front abutment ahead of the face, in the goaf
  behind it, or along the gate roads; stronger events break higher in the roof.
* **Duration**: log10 t = ``duration_a`` + ``duration_b`` log10 E + N(0, ``duration_sigma``).
* **Sensors**: 12 fixed geophones at seam level; amplitude
  ``A sqrt(E) / r exp(-r / attenuation_m)`` with lognormal site noise, 0 below
  the trigger level.
* **Corrected values**: E_corr and t_corr are the GITS-corrected copies,
  a small lognormal correction of E and t.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import ndtr

from replay.large_events import (
    LARGE_LOG_E,
    PAPER_START,
    PrecursorParams,
    decoy_hour,
    paper_schedule,
    precursor_times,
    random_schedule,
    truncated_gr,
)
from stream_models.wire import SENSORS

PAPER_SEED = 7  # the seed whose year follows the paper's calendar of large events
Calendar = Literal["paper", "random"]


@dataclass(frozen=True)
class Panel:
    """A longwall panel: its zone name, y-extent and when its face starts."""

    zone: str
    y_min: float
    width_m: float
    x_start: float
    start_day: int


@dataclass(frozen=True)
class SynthParams:
    """Every knob of the synthetic mine, with the values the README documents."""

    days: int = 361  # 3 Sep 2019 .. 28 Aug 2020, the paper's year
    seed: int = PAPER_SEED
    start: datetime = PAPER_START  # mine local time, as GITS writes it
    b_value: float = 1.0  # magnitude units
    completeness_log_e: float = 0.5  # Mc: complete above about 3 J
    detection_sigma: float = 0.15  # width of the detection roll-off below Mc, log10 E
    log_e_min: float = -0.1  # smallest event generated (almost never located)
    log_e_max: float = 4.7  # largest a random calendar can draw (5·10⁴ J)
    large_per_year: float = 5.0  # events >= 8·10³ J a year: sets the ordinary rate
    background_per_day: float | None = None  # per panel at nominal production; None: calibrated
    large_events: Calendar | None = None  # None: "paper" for PAPER_SEED on the paper's dates
    precursors: PrecursorParams = field(default_factory=PrecursorParams)
    idle_fraction: float = 0.35  # share of the rate left when no coal is cut
    branching_ratio: float = 0.35
    alpha: float = 0.5  # aftershock productivity per unit of log10 E
    omori_c_h: float = 0.05
    omori_p: float = 1.2
    omori_max_h: float = 240.0
    cluster_sigma_m: float = 25.0
    advance_m_per_day: float = 4.5
    seam_thickness_m: float = 3.0
    seam_z_m: float = -450.0
    weighting_interval_m: float = 24.0
    weighting_rate_gain: float = 2.0
    weighting_b_drop: float = 0.25
    duration_a: float = -0.35  # 1.5 s at 10² J, 5 s at 8·10³ J (the paper's large ones: > 4 s)
    duration_b: float = 0.27
    duration_sigma: float = 0.05
    sensor_gain: float = 50.0
    attenuation_m: float = 500.0
    trigger_level: float = 0.05
    panels: tuple[Panel, ...] = field(default_factory=lambda: (
        Panel("lava-1", 0.0, 250.0, 2900.0, 0),
        Panel("lava-2", 400.0, 250.0, 2900.0, 60),
    ))

    @property
    def b_energy(self) -> float:
        """b on the log10 E scale: magnitude b divided by 1.5."""
        return self.b_value / 1.5

    @property
    def calendar(self) -> Calendar:
        """Where the large events fall: the paper's dates, or drawn from the seed."""
        if self.large_events is not None:
            return self.large_events
        return "paper" if self.seed == PAPER_SEED and self.start == PAPER_START else "random"

    @property
    def rate_per_day(self) -> float:
        """Ordinary events per panel and day at nominal production (given or calibrated)."""
        if self.background_per_day is not None:
            return self.background_per_day
        return calibrated_background_per_day(self)


def _mean_rate_factor(params: SynthParams) -> float:
    """Mean of the hourly rate's production and roof-weighting factors over a panel-year."""
    day = (6 / 7 + 0.2 / 7) * math.exp(0.25**2 / 2) * 0.96  # Sundays, scatter, stops
    production = 0.75 * day  # 18 cutting hours of 24
    weighting = 1 + params.weighting_rate_gain / 3  # mean of 1 + gain * phase**2
    return (params.idle_fraction + (1 - params.idle_fraction) * production) * weighting


def _tail_fraction(params: SynthParams) -> float:
    """Share of generated sizes at or above 8·10³ J under the untruncated GR law."""
    return 10 ** (-params.b_energy * (LARGE_LOG_E - params.log_e_min))


def calibrated_background_per_day(params: SynthParams) -> float:
    """The ordinary rate whose Gutenberg-Richter tail gives ``large_per_year`` large events.

    Counted over a standard year of the configured panels, aftershocks included,
    so the rate does not change with ``days`` or the seed.
    """
    panel_days = sum(365.25 - min(p.start_day, 365) for p in params.panels)
    per_unit = _mean_rate_factor(params) * panel_days / (1 - params.branching_ratio)
    return params.large_per_year / (per_unit * _tail_fraction(params))


def sensor_positions(params: SynthParams) -> np.ndarray:
    """12 geophones on a 3 x 4 grid of roadways at seam level, shape (12, 3)."""
    ys = (-30.0, 325.0, 680.0)
    xs = (400.0, 1100.0, 1800.0, 2500.0)
    return np.array([(x, y, params.seam_z_m) for y in ys for x in xs])


def zones_toml(params: SynthParams) -> str:
    """The ``[[zones]]`` settings that match the synthetic panels."""
    lines = []
    bounds = [p.y_min - 75 for p in params.panels] + [math.inf]
    for panel, lo, hi in zip(params.panels, bounds, bounds[1:], strict=False):
        lines += ["[[zones]]", f'name = "{panel.zone}"', f"y_min = {lo}"]
        if math.isfinite(hi):
            lines.append(f"y_max = {hi}")
        lines.append("")
    return "\n".join(lines)


def _productivity(params: SynthParams) -> float:
    """K such that the mean number of children per event equals the branching ratio."""
    beta = params.b_energy * math.log(10)
    a = params.alpha * math.log(10)
    d = LARGE_LOG_E - params.log_e_min
    mean = beta / (beta - a) * (1 - math.exp(-(beta - a) * d)) / (1 - math.exp(-beta * d))
    return params.branching_ratio / mean


def _daily_production(params: SynthParams, rng: np.random.Generator) -> np.ndarray:
    """Face advance (m) per panel and day, shape (panels, days)."""
    days = np.arange(params.days)
    weekday = np.array([(params.start + timedelta(days=int(d))).weekday() for d in days])
    factor = np.where(weekday == 6, 0.2, 1.0)  # Sunday: maintenance only
    out = []
    for panel in params.panels:
        scatter = rng.lognormal(0.0, 0.25, params.days)
        stopped = rng.random(params.days) < 0.04  # breakdowns and planned repairs
        advance = params.advance_m_per_day * factor * scatter * ~stopped
        advance[days < panel.start_day] = 0.0
        out.append(advance)
    return np.array(out)


@dataclass
class _Mine:
    """Hourly state of the panels that later stages need: rate, phase, face position."""

    rate: np.ndarray  # (panels, hours) ordinary events per hour
    phase: np.ndarray  # (panels, hours) roof-weighting phase in [0, 1)
    face_x: np.ndarray  # (panels, hours) face position
    active: np.ndarray  # (panels, hours) the face has started
    advance_day: np.ndarray  # (panels, days)


def _mine(params: SynthParams, rng: np.random.Generator) -> _Mine:
    hours = params.days * 24
    advance_day = _daily_production(params, rng)
    cutting = (np.arange(hours) % 24 >= 6).astype(float)  # repair shift 00-06: no cutting
    per_hour = np.repeat(advance_day, 24, axis=1) * cutting / cutting[:24].sum()
    nominal = params.advance_m_per_day / 18.0
    advanced = np.cumsum(per_hour, axis=1)
    phase = (advanced % params.weighting_interval_m) / params.weighting_interval_m
    active = np.array([np.arange(hours) >= p.start_day * 24 for p in params.panels])
    rate = (
        params.rate_per_day / 24.0
        * (params.idle_fraction + (1 - params.idle_fraction) * per_hour / nominal)
        * (1 + params.weighting_rate_gain * phase**2)
        * active
    )
    x_start = np.array([p.x_start for p in params.panels])[:, None]
    return _Mine(rate, phase, x_start - advanced, active, advance_day)


def _place(params: SynthParams, rng: np.random.Generator, mine: _Mine, t_h: np.ndarray,
           panel: np.ndarray, log_e: np.ndarray) -> np.ndarray:
    """Rows (t_h, x, y, z, log_e, panel) for events at these times, panels and sizes."""
    n = t_h.size
    hour = np.minimum(t_h.astype(int), mine.face_x.shape[1] - 1)
    face_x = mine.face_x[panel, hour]  # retreat: coal at x < face, goaf behind
    kind = rng.random(n)
    dx = np.where(
        kind < 0.6,
        rng.normal(20, 15, n),
        np.where(kind < 0.85, -rng.gamma(2.0, 15.0, n), rng.normal(0, 60, n)),
    )
    y_min = np.array([p.y_min for p in params.panels])[panel]
    width = np.array([p.width_m for p in params.panels])[panel]
    edge = rng.random(n) < 0.3
    y = np.where(edge, y_min + width * (rng.random(n) < 0.5) + rng.normal(0, 10, n),
                 y_min + width * rng.random(n))
    roof = np.abs(rng.normal(0, 8, n)) + 12 * (log_e - params.log_e_min) * rng.uniform(
        0.5, 1.5, n
    )
    return np.column_stack([t_h, face_x - dx, y, params.seam_z_m + roof, log_e, panel])


def _b_factor(params: SynthParams, phase: np.ndarray) -> np.ndarray:
    """b falls towards a roof break; scaled so the rate-weighted year keeps ``b_value``.

    With the rate growing as 1 + gain * phase**2, the rate-weighted mean phase
    is (1/2 + gain/4) / (1 + gain/3).
    """
    g, drop = params.weighting_rate_gain, params.weighting_b_drop
    mean_phase = (0.5 + g / 4) / (1 + g / 3)
    return (1 - drop * (2 * phase - 1)) / (1 - drop * (2 * mean_phase - 1))


def _ordinary(params: SynthParams, rng: np.random.Generator, mine: _Mine) -> np.ndarray:
    """Background events of every panel: Poisson per hour, GR sizes below 8·10³ J."""
    rows = []
    for p in range(len(params.panels)):
        counts = rng.poisson(mine.rate[p])
        hour_idx = np.repeat(np.arange(counts.size), counts)
        t_h = hour_idx + rng.random(hour_idx.size)
        b_e = params.b_energy * _b_factor(params, mine.phase[p, hour_idx])
        log_e = truncated_gr(rng, hour_idx.size, b_e, params.log_e_min, LARGE_LOG_E)
        rows.append(_place(params, rng, mine, t_h, np.full(hour_idx.size, p), log_e))
    return np.concatenate(rows) if rows else np.empty((0, 6))


def _large(params: SynthParams, rng: np.random.Generator, mine: _Mine) -> np.ndarray:
    """The year's large events (the paper's calendar or the seed's), placed near the face."""
    hours = params.days * 24
    if params.calendar == "paper":
        schedule = paper_schedule(rng, params.start, hours)
    else:
        expected = (mine.active.sum() / 24 * params.rate_per_day * _mean_rate_factor(params)
                    / (1 - params.branching_ratio) * _tail_fraction(params))
        schedule = random_schedule(rng, expected, mine.active, params.b_energy, params.log_e_max)
    if not schedule:
        return np.empty((0, 6))
    t_h, log_e, panel = (np.array(v) for v in zip(*schedule, strict=True))
    panel = panel.astype(int)
    rows = _place(params, rng, mine, t_h, panel, log_e)
    rows[:, 1] = mine.face_x[panel, t_h.astype(int)] - rng.normal(20, 10, panel.size)  # abutment
    return rows


def _precursors(params: SynthParams, rng: np.random.Generator, mine: _Mine,
                large: np.ndarray) -> np.ndarray:
    """Precursory sequences before a share of the large events (or, unlinked, elsewhere)."""
    pre = params.precursors
    n = large.shape[0]
    chosen = rng.permutation(n)[: round(pre.fraction * n)]
    rows = []
    for i in sorted(chosen):
        t_l, x_l, y_l, z_l, _, p = large[i]
        p = int(p)
        h = int(t_l)
        shift_count = mine.rate[p, max(h - 8, 0) : h].sum() / (1 - params.branching_ratio)
        tau = precursor_times(rng, pre, shift_count, pre.strength)
        k = tau.size
        log_e = truncated_gr(rng, k, params.b_energy * (1 - pre.b_drop), params.log_e_min,
                             LARGE_LOG_E)
        offsets = rng.normal(0, pre.sigma_m, (k, 3)) * [1.0, 1.0, 0.4]
        active_hours = np.flatnonzero(mine.active[p, : mine.active.shape[1] - 1])
        decoy = decoy_hour(rng, active_hours, large[:, 0], pre.window_h)
        t_anchor, x_anchor = t_l, x_l
        if not pre.linked:  # the same sequence, moved where no large event follows it
            t_anchor = decoy
            x_anchor = mine.face_x[p, int(decoy)] - (mine.face_x[p, h] - x_l)
        t_h = np.clip(t_anchor - tau, 0.0, None)
        rows.append(np.column_stack([
            t_h, x_anchor + offsets[:, 0], y_l + offsets[:, 1], z_l + offsets[:, 2], log_e,
            np.full(k, p),
        ]))
    return np.concatenate(rows) if rows else np.empty((0, 6))


def _detected(params: SynthParams, rng: np.random.Generator, cat: np.ndarray) -> np.ndarray:
    """Keep what the network locates: Phi((log10 E - Mc) / sigma), large events always."""
    z = (cat[:, 4] - params.completeness_log_e) / params.detection_sigma
    keep = (rng.random(cat.shape[0]) < ndtr(z)) | (cat[:, 4] >= LARGE_LOG_E)
    return cat[keep]


def generate(params: SynthParams) -> pd.DataFrame:
    """The synthetic catalog as a DataFrame in canonical field names, local times."""
    rng = np.random.default_rng(params.seed)
    mine = _mine(params, rng)
    ordinary = _ordinary(params, rng, mine)
    large = _large(params, rng, mine)
    precursors = _precursors(params, rng, mine, large)
    parents = np.concatenate([ordinary, large, precursors])
    catalog = _add_aftershocks(parents, params, rng, params.days * 24)
    catalog = _detected(params, rng, catalog)
    catalog = catalog[np.argsort(catalog[:, 0], kind="stable")]
    return _to_frame(catalog, params, rng, mine.advance_day)


def with_precursors(params: SynthParams, strength: float | None) -> SynthParams:
    """``params`` with precursors of ``strength``, or (None) moved away from the large events."""
    pre = params.precursors
    if strength is None:
        return replace(params, precursors=replace(pre, linked=False))
    return replace(params, precursors=replace(pre, strength=strength, linked=True))


def _add_aftershocks(
    parents: np.ndarray, params: SynthParams, rng: np.random.Generator, hours: int
) -> np.ndarray:
    k = _productivity(params)
    generations = [parents]
    current = parents
    while current.size:
        mean = k * 10 ** (params.alpha * (current[:, 4] - params.log_e_min))
        n_children = rng.poisson(mean)
        src = np.repeat(current, n_children, axis=0)
        n = src.shape[0]
        if n == 0:
            break
        c, p = params.omori_c_h, params.omori_p
        tmax_cdf = 1 - (1 + params.omori_max_h / c) ** (1 - p)
        u = rng.random(n) * tmax_cdf
        delay = c * ((1 - u) ** (1 / (1 - p)) - 1)
        child = src.copy()
        child[:, 0] = src[:, 0] + delay
        child[:, 1:3] += rng.normal(0, params.cluster_sigma_m, (n, 2))
        child[:, 3] += rng.normal(0, params.cluster_sigma_m / 2.5, n)
        child[:, 4] = truncated_gr(rng, n, params.b_energy, params.log_e_min, LARGE_LOG_E)
        child = child[child[:, 0] < hours]
        generations.append(child)
        current = child
    return np.concatenate(generations)


def _to_frame(
    cat: np.ndarray, params: SynthParams, rng: np.random.Generator, advance_day: np.ndarray
) -> pd.DataFrame:
    n = cat.shape[0]
    t_h, x, y, z, log_e, panel = cat.T
    energy = 10**log_e
    duration = 10 ** (
        params.duration_a + params.duration_b * log_e + rng.normal(0, params.duration_sigma, n)
    )
    day = np.minimum((t_h // 24).astype(int), params.days - 1)
    width = np.array([p.width_m for p in params.panels])
    volume = (
        advance_day[panel.astype(int), day] * width[panel.astype(int)] * params.seam_thickness_m
    )
    sensors = sensor_positions(params)
    r = np.sqrt(((np.column_stack([x, y, z])[:, None, :] - sensors[None]) ** 2).sum(-1))
    r = np.maximum(r, 10.0)
    amp = (
        params.sensor_gain
        * np.sqrt(energy)[:, None]
        / r
        * np.exp(-r / params.attenuation_m)
        * rng.lognormal(0, 0.2, r.shape)
    )
    amp = np.where(amp < params.trigger_level, 0.0, amp)
    times = pd.Timestamp(params.start) + pd.to_timedelta(np.round(t_h * 3600, 3), unit="s")
    frame = pd.DataFrame({
        "event_id": np.arange(1, n + 1),
        "time": times,
        "x": np.round(x, 1), "y": np.round(y, 1), "z": np.round(z, 1),
        "energy_j": np.round(energy, 1),
        "duration_s": np.round(duration, 2),
        "energy_corr_j": np.round(energy * 10 ** rng.normal(-0.02, 0.04, n), 1),
        "duration_corr_s": np.round(duration * (1 + rng.normal(0, 0.02, n)), 2),
        "volume_m3": np.round(volume, 1),
        "zone": np.array([params.panels[int(i)].zone for i in panel]),
    })
    for i, name in enumerate(SENSORS):
        frame[name] = np.round(amp[:, i], 3)
    return frame


def describe(params: SynthParams) -> dict[str, object]:
    """Parameters as a flat dict, for the README and the CLI."""
    out = asdict(params)
    out["start"] = params.start.isoformat()
    out["panels"] = [asdict(p) for p in params.panels]
    return out


PRETRAINING_SEEDS = range(1001, 1025)  # never the documented evaluation years (7, 101-120)
_PRETRAINING_RATES = (2.0, 5.0, 10.0, 20.0)  # ordinary events per panel and day, by seed
_PRETRAINING_B = (0.8, 1.0, 1.2)


def pretraining_params(seeds: range = PRETRAINING_SEEDS) -> list[SynthParams]:
    """The years the shipped base LSTM learns from: a random calendar of large events under
    each seed, its rate and b-value spread."""
    return [replace(SynthParams(days=365, seed=seed), large_events="random",
                    background_per_day=_PRETRAINING_RATES[i % len(_PRETRAINING_RATES)],
                    b_value=_PRETRAINING_B[i % len(_PRETRAINING_B)])
            for i, seed in enumerate(seeds)]
