"""Sliding event-time windows in fixed rings of time buckets: O(1) work per event, fixed size.

Each window of length W is a ring of :data:`N_BUCKETS` buckets of W / N_BUCKETS
seconds. A bucket keeps sums (count, energy, log E, sqrt E, durations, volumes,
coordinates, inter-event gaps, the log t ~ log E regression terms), its first
time, its largest energy, and counts of log10 E (0.1 wide bins) and log10 t. A
window is the current bucket and the N_BUCKETS - 1 before it, so it spans
between W - W/N_BUCKETS and W: the documented approximation of a sliding
window. For that span everything is exact to rounding except two histogram
estimates, each tested against a brute-force recomputation:

* the b-value and its error use log10 E binned at 0.1 (Utsu's binned Aki
  estimator), so each value is read at its bin centre (within ±0.05);
* the duration p90 (the inverted-CDF quantile: the shortest duration with at
  least 90 % of the window's durations at or below it) is read within its
  log10 t bin, 1/16 wide (a factor 1.155).

Window sums are running totals: an event adds to them, a bucket leaving the
window subtracts its sums, and an empty window is reset to exact zeros. The
same operations in the same order give the same bits, so a live worker and a
backtest agree exactly, and the state (:meth:`BucketWindows.to_state`) is a
few fixed-shape arrays whatever the burst.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import mul
from typing import Any

import numpy as np

from stream_models.seismology.bvalue import MAG_PER_LOG_E

N_BUCKETS = 24
LOG_E_LO, LOG_E_BIN, LOG_E_BINS = -3.0, 0.1, 128  # 1 mJ .. 6·10⁹ J; beyond: the end bins
LOG_T_LO, LOG_T_BIN, LOG_T_BINS = -2.0, 1 / 16, 64  # 0.01 s .. 100 s
MIN_EVENTS = 20  # below this the b-value's standard error exceeds the signal
_MAXC_CORRECTION_BINS = 2  # maximum curvature underestimates Mc by ~0.2 (Woessner & Wiemer 2005)
_LOG10_E = math.log10(math.e)

# a bucket: these additive sums, then its first time, largest energy and first gap
(N, ENERGY, LOG_E, SQRT_E, N_DUR, DUR, N_VOL, VOL, X, Y, Z, R2, GAP2,
 N_REG, REG_X, REG_Y, REG_XX, REG_XY) = range(18)
N_FIELDS = 18
T_FIRST, E_MAX, FIRST_GAP2 = N_FIELDS, N_FIELDS + 1, N_FIELDS + 2
_BUCKET = N_FIELDS + 3
_E_EDGES = LOG_E_LO + np.arange(LOG_E_BINS) * LOG_E_BIN
_K1 = list(range(LOG_E_BINS))
_K2 = [k * k for k in _K1]


def log_e_bin(log_e: float) -> int:
    """Histogram bin of a log10 E value (the end bins take everything beyond)."""
    return min(max(math.floor((log_e - LOG_E_LO) / LOG_E_BIN + 1e-9), 0), LOG_E_BINS - 1)


def _log_t_bin(duration_s: float) -> int:
    b = math.floor((math.log10(duration_s) - LOG_T_LO) / LOG_T_BIN)
    return min(max(b, 0), LOG_T_BINS - 1)


class _Ring:
    """One window's ring: bucket lists, running totals, and incremental histogram summaries.

    Mc (the lowest most-populated log10 E bin, + 0.2), the integer moments of the
    bins at or above it, and the p90 bin of log10 t are kept up to date as counts
    change; each is a function of the counts alone, so a restore re-derives them.
    """

    def __init__(self, span_s: float) -> None:
        self.span = span_s
        self.width = span_s / N_BUCKETS
        self.head = -1  # bucket number of the newest bucket (-1: nothing yet)
        self.buckets: list[list[float] | None] = [None] * N_BUCKETS
        self.hist_e: list[dict[int, int]] = [{} for _ in range(N_BUCKETS)]
        self.hist_t: list[dict[int, int]] = [{} for _ in range(N_BUCKETS)]
        self.filled: set[int] = set()  # slots holding a bucket
        self.reset()

    def reset(self) -> None:
        self.tot = [0.0] * N_FIELDS
        self.ce = [0] * LOG_E_BINS  # the window's log10 E counts
        self.ct = [0] * LOG_T_BINS  # ... and log10 t counts
        self.t_first, self.e_max = math.nan, 0.0
        self.first_gaps = 0.0  # first gaps of the non-empty buckets but the oldest
        self.n_e = self.mode = self.mode_count = self.n_above = self.k1 = self.k2 = 0
        self.mc = _MAXC_CORRECTION_BINS
        self.stale = False  # the moments above Mc need a recount
        self.n_t = self.j = self.below = 0

    # -- counts --------------------------------------------------------------------

    def add_e(self, b: int) -> None:
        ce = self.ce
        ce[b] += 1
        self.n_e += 1
        if b >= self.mc and not self.stale:
            self.n_above += 1
            self.k1 += b
            self.k2 += b * b
        c = ce[b]
        if c > self.mode_count or (c == self.mode_count and b < self.mode):
            self.mode, self.mode_count = b, c
            self._moments()

    def _mode(self) -> None:
        ce = self.ce
        self.mode_count = max(ce)
        self.mode = ce.index(self.mode_count)
        self._moments()

    def _moments(self) -> None:
        """Mc moved: the moments above it are recomputed when next asked for."""
        mc = min(self.mode + _MAXC_CORRECTION_BINS, LOG_E_BINS - 1)
        if mc != self.mc:
            self.mc = mc
            self.stale = True

    def _recount(self) -> None:
        above = self.ce[self.mc :]
        self.n_above = sum(above)
        self.k1 = sum(map(mul, above, _K1[self.mc :]))
        self.k2 = sum(map(mul, above, _K2[self.mc :]))
        self.stale = False

    def add_t(self, b: int) -> None:
        self.ct[b] += 1
        self.n_t += 1
        if b < self.j:
            self.below += 1
        self._walk()

    def _walk(self) -> None:
        """Move the p90 bin j so that cum(j - 1) < 0.9 n <= cum(j)."""
        ct, rank = self.ct, 0.9 * self.n_t
        while self.j > 0 and self.below >= rank:
            self.j -= 1
            self.below -= ct[self.j]
        while self.j < LOG_T_BINS - 1 and self.below + ct[self.j] < rank:
            self.below += ct[self.j]
            self.j += 1

    def remove(self, hist_e: dict[int, int], hist_t: dict[int, int]) -> None:
        ce, ct = self.ce, self.ct
        for b, c in hist_e.items():
            ce[b] -= c
            self.n_e -= c
            if b >= self.mc and not self.stale:
                self.n_above -= c
                self.k1 -= c * b
                self.k2 -= c * b * b
        if self.mode in hist_e:
            self._mode()
        for b, c in hist_t.items():
            ct[b] -= c
            self.n_t -= c
            if b < self.j:
                self.below -= c
        self._walk()

    # -- time ----------------------------------------------------------------------

    def rotate(self, k: int) -> None:
        """Make bucket number ``k`` the newest, clearing every bucket it moves past."""
        if k - self.head >= N_BUCKETS:  # a quiet spell longer than the window: all out
            if self.filled:
                for slot in self.filled:
                    self.buckets[slot] = None
                    self.hist_e[slot], self.hist_t[slot] = {}, {}
                self.filled.clear()
                self.reset()
            self.head = k
            return
        cleared = None
        for bucket in range(self.head + 1, k + 1):
            old = self._clear(bucket % N_BUCKETS)
            if old is not None:
                cleared = old if cleared is None or old[E_MAX] > cleared[E_MAX] else cleared
        self.head = k
        if cleared is not None and self.filled:
            self._oldest_changed(cleared[E_MAX] >= self.e_max)

    def _clear(self, slot: int) -> list[float] | None:
        """Empty a bucket leaving the window (always the oldest); return what it held."""
        old = self.buckets[slot]
        if old is None:
            return None
        self.buckets[slot] = None
        self.filled.discard(slot)
        if not self.filled:
            self.reset()  # exact zeros, not rounding residue
        else:
            self.tot = [a - b for a, b in zip(self.tot, old, strict=False)]
            self.remove(self.hist_e[slot], self.hist_t[slot])
        self.hist_e[slot], self.hist_t[slot] = {}, {}
        return old

    def _oldest_changed(self, max_left: bool) -> None:
        """Old buckets left: the oldest one left starts the window (its first gap now
        reaches outside it), and the largest energy may have gone with them."""
        # in ring order, oldest first: a sum's rounding must not depend on the set's history
        left = [bk for a in range(N_BUCKETS - 1, -1, -1)
                if (bk := self.buckets[(self.head - a) % N_BUCKETS]) is not None]
        self.t_first = left[0][T_FIRST]
        self.first_gaps = sum(bk[FIRST_GAP2] for bk in left[1:])
        if max_left:
            self.e_max = max(bk[E_MAX] for bk in left)

    # -- summaries -----------------------------------------------------------------

    def b_value(self) -> tuple[float, float, float]:
        """(b, standard error, Mc as log10 E) by Utsu's binned Aki estimator (NaN: too few)."""
        nan = math.nan
        if self.n_e < MIN_EVENTS:
            return nan, nan, nan
        if self.stale:
            self._recount()
        mc = self.mc
        mc_log_e = float(_E_EDGES[mc])
        n = self.n_above
        if n < MIN_EVENTS:
            return nan, nan, mc_log_e
        mean_excess = (self.k1 / n - mc + 0.5) * LOG_E_BIN  # mean bin centre - Mc bin's edge
        b_e = _LOG10_E / mean_excess
        var_sum = max(self.k2 - self.k1 * self.k1 / n, 0.0) * LOG_E_BIN * LOG_E_BIN
        se_e = 2.3 * b_e * b_e * math.sqrt(var_sum / (n * (n - 1)))
        return b_e * MAG_PER_LOG_E, se_e * MAG_PER_LOG_E, mc_log_e

    def p90(self) -> float:
        if not self.n_t:
            return math.nan
        frac = min(max((0.9 * self.n_t - self.below) / self.ct[self.j], 0.0), 1.0)
        return 10 ** (LOG_T_LO + (self.j + frac) * LOG_T_BIN)


class BucketWindows:
    """The bucket rings of several windows over one stream of events (one zone).

    Examples
    --------
    >>> bw = BucketWindows({"1h": 3600.0})
    >>> for i, e in enumerate([100.0, 1000.0, 10000.0]):
    ...     bw.add(1200.0 * i, math.log10(e), 1.0, 0.0, 0.0, -450.0, math.nan)
    >>> s = bw.summary()["1h"]
    >>> s["count"], s["energy_sum_j"], s["iet_mean_s"]
    (3, 11100.0, 1200.0)
    """

    def __init__(self, windows_s: Mapping[str, float]) -> None:
        self.names = list(windows_s)
        self.rings = [_Ring(float(windows_s[n])) for n in self.names]
        self.prev_t = math.nan  # time of the previous event: the gaps start there
        # coordinates are summed relative to the zone's first event: mine grids can be
        # national ones (Y ~ 6e6 m), where sums of squares would swamp a spread of metres
        self.origin: list[float] | None = None

    def add(self, t: float, log_e: float, duration_s: float, x: float, y: float, z: float,
            volume_m3: float) -> None:
        """Count one event at time ``t`` (never earlier than the previous one)."""
        if self.origin is None:
            self.origin = [x, y, z]
        x, y, z = x - self.origin[0], y - self.origin[1], z - self.origin[2]
        energy = 10.0**log_e
        gap2 = (t - self.prev_t) ** 2 if self.prev_t == self.prev_t else 0.0
        has_dur = duration_s == duration_s
        reg = has_dur and duration_s > 0
        ly = math.log10(duration_s) if reg else 0.0
        has_vol = volume_m3 == volume_m3
        vec = [
            1.0, energy, log_e, math.sqrt(energy), float(has_dur), duration_s if has_dur else 0.0,
            float(has_vol), volume_m3 if has_vol else 0.0, x, y, z, x * x + y * y + z * z,
            gap2, float(reg), log_e if reg else 0.0, ly, log_e * log_e if reg else 0.0,
            log_e * ly,
        ]
        first = vec.copy()
        first[GAP2] = 0.0
        eb = log_e_bin(log_e)
        tb = _log_t_bin(duration_s) if reg else -1
        for ring in self.rings:
            k = math.floor(t / ring.width)
            if k > ring.head:
                ring.rotate(k)
            slot = k % N_BUCKETS
            bucket = ring.buckets[slot]
            if bucket is None:  # its first event: the gap before it is kept apart
                if ring.n_e:
                    ring.first_gaps += gap2  # a gap inside the window now
                else:
                    ring.t_first = t
                ring.buckets[slot] = [*first, t, energy, gap2]
                ring.filled.add(slot)
                ring.tot = [a + b for a, b in zip(ring.tot, first, strict=True)]
            else:
                bucket[:N_FIELDS] = [a + b for a, b in zip(bucket, vec, strict=False)]
                if energy > bucket[E_MAX]:
                    bucket[E_MAX] = energy
                ring.tot = [a + b for a, b in zip(ring.tot, vec, strict=True)]
            if energy > ring.e_max:
                ring.e_max = energy
            hist = ring.hist_e[slot]
            hist[eb] = hist.get(eb, 0) + 1
            ring.add_e(eb)
            if tb >= 0:
                hist = ring.hist_t[slot]
                hist[tb] = hist.get(tb, 0) + 1
                ring.add_t(tb)
        self.prev_t = t

    def values(self) -> list[list[float]]:
        """Each window's statistics as of the last event, in :data:`WINDOW_KEYS` order,
        followed by the five log t ~ log E regression sums (see the module docstring)."""
        origin = self.origin or [0.0, 0.0, 0.0]
        return [_window(r.tot, origin, r.span, r.t_first, self.prev_t, r.e_max, r.first_gaps,
                        *r.b_value(), r.p90()) for r in self.rings]

    def summary(self) -> dict[str, dict[str, float]]:
        """:meth:`values` by window and statistic name (the regression sums left out)."""
        return {name: dict(zip(WINDOW_KEYS, v, strict=False))
                for name, v in zip(self.names, self.values(), strict=True)}

    # -- state ------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Fixed-shape arrays (the histograms dense), whatever the events were."""
        w = len(self.rings)
        buckets = np.full((w, N_BUCKETS, _BUCKET), np.nan)
        hist_e = np.zeros((w, N_BUCKETS, LOG_E_BINS), np.int32)
        hist_t = np.zeros((w, N_BUCKETS, LOG_T_BINS), np.int32)
        scalars = np.zeros((w, 3))
        for i, ring in enumerate(self.rings):
            scalars[i] = (ring.t_first, ring.e_max, ring.first_gaps)
            for slot, bucket in enumerate(ring.buckets):
                if bucket is not None:
                    buckets[i, slot] = bucket
                for b, c in ring.hist_e[slot].items():
                    hist_e[i, slot, b] = c
                for b, c in ring.hist_t[slot].items():
                    hist_t[i, slot, b] = c
        return {
            "names": self.names, "spans": np.array([r.span for r in self.rings]),
            "heads": np.array([r.head for r in self.rings], np.int64), "buckets": buckets,
            "totals": np.array([r.tot for r in self.rings]), "scalars": scalars,
            "hist_e": hist_e, "hist_t": hist_t, "prev_t": self.prev_t, "origin": self.origin,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> BucketWindows:
        spans = np.asarray(state["spans"], float).tolist()
        bw = cls(dict(zip(state["names"], spans, strict=True)))
        w = len(spans)
        buckets, totals = np.asarray(state["buckets"]), np.asarray(state["totals"])
        hist_e, hist_t = np.asarray(state["hist_e"]), np.asarray(state["hist_t"])
        scalars = np.asarray(state["scalars"])
        if (buckets.shape != (w, N_BUCKETS, _BUCKET) or totals.shape != (w, N_FIELDS)
                or hist_e.shape != (w, N_BUCKETS, LOG_E_BINS) or scalars.shape != (w, 3)
                or hist_t.shape != (w, N_BUCKETS, LOG_T_BINS)):
            raise ValueError("window state does not have this version's shapes")
        for i, ring in enumerate(bw.rings):
            ring.head = int(state["heads"][i])
            for slot in range(N_BUCKETS):
                if not np.isnan(buckets[i, slot, N]):
                    ring.buckets[slot] = buckets[i, slot].tolist()
                    ring.filled.add(slot)
                ring.hist_e[slot] = {int(b): int(hist_e[i, slot, b])
                                     for b in np.flatnonzero(hist_e[i, slot])}
                ring.hist_t[slot] = {int(b): int(hist_t[i, slot, b])
                                     for b in np.flatnonzero(hist_t[i, slot])}
            ring.ce = hist_e[i].sum(axis=0, dtype=np.int64).tolist()
            ring.ct = hist_t[i].sum(axis=0, dtype=np.int64).tolist()
            ring.n_e, ring.n_t = sum(ring.ce), sum(ring.ct)
            if ring.n_e:
                ring._mode()
            ring.j = ring.below = 0
            ring._walk()
            ring.tot = totals[i].tolist()
            ring.t_first, ring.e_max, ring.first_gaps = scalars[i].tolist()
        bw.prev_t = float(state["prev_t"])
        origin = state["origin"]
        bw.origin = None if origin is None else [float(v) for v in origin]
        return bw


WINDOW_KEYS: tuple[str, ...] = (
    "count", "rate_per_h", "energy_sum_j", "energy_max_j", "log_energy_mean",
    "duration_mean_s", "duration_p90_s", "benioff_strain", "b_value", "b_value_se",
    "mc_log_energy", "iet_mean_s", "iet_cv", "centroid_x", "centroid_y", "centroid_z",
    "spread_m", "energy_per_volume_j_m3",
)


def _window(s: list[float], origin: list[float], span: float, t_first: float, t_last: float,
            e_max: float, first_gaps2: float, b: float, se: float, mc: float,
            p90: float) -> list[float]:
    nan = math.nan
    n = s[N]
    if n > 1:
        iet_mean = (t_last - t_first) / (n - 1)
        iet_var = (s[GAP2] + first_gaps2) / (n - 1) - iet_mean * iet_mean
        iet_cv = math.sqrt(max(iet_var, 0.0)) / iet_mean if iet_mean > 0 else nan
    else:
        iet_mean = iet_cv = nan
    if n:  # coordinates are relative to the origin until the centroid is complete
        cx, cy, cz = s[X] / n, s[Y] / n, s[Z] / n
        spread = math.sqrt(max(s[R2] / n - (cx * cx + cy * cy + cz * cz), 0.0))
        cx, cy, cz = cx + origin[0], cy + origin[1], cz + origin[2]
        log_e_mean = s[LOG_E] / n
    else:
        cx = cy = cz = spread = log_e_mean = nan
    mean_volume = s[VOL] / s[N_VOL] if s[N_VOL] else nan
    return [
        round(n), n / (span / 3600), s[ENERGY], e_max, log_e_mean,
        s[DUR] / s[N_DUR] if s[N_DUR] else nan, p90, s[SQRT_E], b, se, mc, iet_mean, iet_cv,
        cx, cy, cz, spread, s[ENERGY] / mean_volume if mean_volume > 0 else nan,
        *s[N_REG:N_FIELDS],
    ]


def binned_b_values(counts: np.ndarray) -> tuple[float, float, float]:
    """(b, standard error, Mc as log10 E) of one log10 E histogram, as a window computes it.

    Mc by maximum curvature (the most populated bin, lowest of ties) + 0.2; b by
    Utsu's binned Aki estimator log10(e) / (mean bin centre - lower edge of the
    Mc bin), in magnitude units; the error by Shi & Bolt (1982). NaN below
    :data:`MIN_EVENTS` events.

    >>> rng = np.random.default_rng(0)
    >>> sample = 1 + rng.exponential(1.5 / np.log(10), 20000)     # b = 1 above 1
    >>> h = np.bincount([log_e_bin(v) for v in sample], minlength=LOG_E_BINS)
    >>> b, se, mc = binned_b_values(h)
    >>> round(b, 2), round(mc, 1)
    (1.01, 1.2)
    """
    ring = _Ring(1.0)
    ring.ce = [int(c) for c in counts]
    ring.n_e = sum(ring.ce)
    if ring.n_e:
        ring._mode()
    return ring.b_value()
