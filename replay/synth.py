"""A synthetic year of GITS events for a longwall coal mine, deterministic for a seed.

Physics, in the order the generator applies it (parameters in :class:`SynthParams`):

* **Production.** Each panel's face retreats along x at a daily rate drawn around
  ``advance_m_per_day`` (weekends and repair days lower, lognormal day-to-day
  scatter); the mined volume is advance x panel width x seam thickness. No coal
  is cut in the repair shift (00:00-06:00).
* **Background activity** follows production: the hourly rate of a panel is
  ``background_per_day / 24 x (idle + (1 - idle) x production / nominal)`` and is
  raised by **periodic main-roof weighting**: every ``weighting_interval_m`` of
  advance the hard roof loads and breaks, so the rate grows by up to
  ``weighting_rate_gain`` and the b-value drops by up to ``weighting_b_drop`` towards
  the break. That is the precursor a hazard model can learn.
* **Sizes** follow a truncated Gutenberg-Richter law in magnitude units
  (log10 E = 1.5 M + 4.8), i.e. log10 E is exponential with rate b/1.5 ln 10
  between ``log_e_min`` and ``log_e_max``.
* **Aftershocks** (ETAS): every event has Poisson(K 10^(alpha (log10 E - log_e_min)))
  children, delayed by the Omori-Utsu law (c, p) and scattered ``cluster_sigma_m``
  around the parent; K is set so the branching ratio is ``branching_ratio``.
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
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from stream_models.events import SENSORS

GITS_COLUMNS: tuple[str, ...] = (
    "№", "Дата", "Время", "X", "Y", "Z", "E", "t", "Eкорр", "tкорр", "V", *SENSORS,
)  # fmt: skip


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

    days: int = 365
    seed: int = 7
    start: datetime = datetime(2019, 9, 3)  # mine local time, as GITS writes it
    b_value: float = 1.0
    log_e_min: float = 2.0
    log_e_max: float = 5.0
    background_per_day: float = 8.0  # per panel at nominal production
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
    duration_a: float = -0.45
    duration_b: float = 0.27
    duration_sigma: float = 0.06
    sensor_gain: float = 50.0
    attenuation_m: float = 500.0
    trigger_level: float = 0.05
    panels: tuple[Panel, ...] = field(default_factory=lambda: (
        Panel("lava-1", 0.0, 250.0, 2900.0, 0),
        Panel("lava-2", 400.0, 250.0, 2900.0, 60),
    ))  # fmt: skip

    @property
    def b_energy(self) -> float:
        """b on the log10 E scale: magnitude b divided by 1.5."""
        return self.b_value / 1.5


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


def _truncated_gr(
    rng: np.random.Generator, n: int, b_e: np.ndarray | float, lo: float, hi: float
) -> np.ndarray:
    """log10 E from a Gutenberg-Richter law truncated to [lo, hi] (inverse CDF)."""
    beta = np.asarray(b_e, dtype=float) * math.log(10)
    u = rng.random(n)
    span = 1.0 - np.exp(-beta * (hi - lo))
    return lo - np.log1p(-u * span) / beta


def _productivity(params: SynthParams) -> float:
    """K such that the mean number of children per event equals the branching ratio."""
    beta = params.b_energy * math.log(10)
    a = params.alpha * math.log(10)
    d = params.log_e_max - params.log_e_min
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


def generate(params: SynthParams) -> pd.DataFrame:
    """The synthetic catalog as a DataFrame in canonical field names, local times."""
    rng = np.random.default_rng(params.seed)
    hours = params.days * 24
    advance_day = _daily_production(params, rng)
    hour_of_day = np.arange(hours) % 24
    cutting = (hour_of_day >= 6).astype(float)  # repair shift 00-06: no cutting
    per_hour = np.repeat(advance_day, 24, axis=1) * cutting / cutting.reshape(-1, 24).sum(1)[0]
    nominal = params.advance_m_per_day / 18.0

    rows: list[np.ndarray] = []
    for p, panel in enumerate(params.panels):
        active = np.arange(hours) >= panel.start_day * 24
        advanced = np.cumsum(per_hour[p])
        phase = (advanced % params.weighting_interval_m) / params.weighting_interval_m
        rate = (
            params.background_per_day
            / 24.0
            * (params.idle_fraction + (1 - params.idle_fraction) * per_hour[p] / nominal)
            * (1 + params.weighting_rate_gain * phase**2)
            * active
        )
        counts = rng.poisson(rate)
        hour_idx = np.repeat(np.arange(hours), counts)
        n = hour_idx.size
        t_h = hour_idx + rng.random(n)
        ph = phase[hour_idx]
        b_e = params.b_energy * (1 - params.weighting_b_drop * (ph - 0.5) * 2)
        log_e = _truncated_gr(rng, n, b_e, params.log_e_min, params.log_e_max)
        face_x = panel.x_start - advanced[hour_idx]  # retreat: coal at x < face, goaf behind
        kind = rng.random(n)
        dx = np.where(
            kind < 0.6,
            rng.normal(20, 15, n),
            np.where(kind < 0.85, -rng.gamma(2.0, 15.0, n), rng.normal(0, 60, n)),
        )
        edge = rng.random(n) < 0.3
        y = np.where(
            edge,
            panel.y_min + panel.width_m * (rng.random(n) < 0.5) + rng.normal(0, 10, n),
            panel.y_min + panel.width_m * rng.random(n),
        )
        roof = np.abs(rng.normal(0, 8, n)) + 12 * (log_e - params.log_e_min) * rng.uniform(
            0.5, 1.5, n
        )
        rows.append(
            np.column_stack([t_h, face_x - dx, y, params.seam_z_m + roof, log_e, np.full(n, p)])
        )
    catalog = np.concatenate(rows) if rows else np.empty((0, 6))
    catalog = _add_aftershocks(catalog, params, rng, hours)
    catalog = catalog[np.argsort(catalog[:, 0], kind="stable")]
    return _to_frame(catalog, params, rng, advance_day)


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
        child[:, 4] = _truncated_gr(rng, n, params.b_energy, params.log_e_min, params.log_e_max)
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
    })  # fmt: skip
    for i, name in enumerate(SENSORS):
        frame[name] = np.round(amp[:, i], 3)
    return frame


def to_gits_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename canonical columns to a GITS export's Russian headers, date and time split."""
    out = pd.DataFrame({
        "№": frame["event_id"],
        "Дата": frame["time"].dt.date,
        "Время": frame["time"].dt.time,
        "X": frame["x"], "Y": frame["y"], "Z": frame["z"],
        "E": frame["energy_j"], "t": frame["duration_s"],
        "Eкорр": frame["energy_corr_j"], "tкорр": frame["duration_corr_s"],
        "V": frame["volume_m3"],
    })  # fmt: skip
    for name in SENSORS:
        out[name] = frame[name]
    return out


def write_gits(frame: pd.DataFrame, path: Path, sheet: str = "События") -> Path:
    """Write in GITS column layout; the format follows the extension (.xlsx, .csv, .parquet)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gits = to_gits_layout(frame)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(sheet)
        ws.append(list(GITS_COLUMNS))
        for row in gits.itertuples(index=False, name=None):
            ws.append([v.item() if isinstance(v, np.generic) else v for v in row])
        wb.save(path)
    elif suffix == ".csv":
        gits.assign(
            Дата=pd.to_datetime(gits["Дата"]).dt.strftime("%d.%m.%Y"),
            Время=gits["Время"].map(lambda t: t.isoformat(timespec="milliseconds")),
        ).to_csv(path, index=False, sep=";", decimal=",", encoding="utf-8-sig")
    elif suffix == ".parquet":
        gits.assign(
            Дата=gits["Дата"].astype(str),
            Время=gits["Время"].map(lambda t: t.isoformat(timespec="milliseconds")),
        ).to_parquet(path, index=False)
    else:
        raise ValueError(f"unsupported output type {suffix!r}: use .xlsx, .csv or .parquet")
    return path


def describe(params: SynthParams) -> dict[str, object]:
    """Parameters as a flat dict, for the README and the CLI."""
    out = asdict(params)
    out["start"] = params.start.isoformat()
    out["panels"] = [asdict(p) for p in params.panels]
    return out
