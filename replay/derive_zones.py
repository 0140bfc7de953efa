"""Zones from the data: clusters of epicentres in a catalog's first weeks, when none are configured.

A multi-mine catalog read as one zone forecasts every mine with the others'
sequences; zones drawn around the mining fields fix that, but a user should not
have to draw them. :func:`derive_zones` runs DBSCAN (scikit-learn) on the
epicentres of the first ``window_days`` (at least ``min_events`` events): a
cluster is a place where events keep occurring, and DBSCAN needs no number of
clusters and leaves isolated events as noise. ``eps`` defaults to five times the
median distance between an epicentre and its nearest neighbour, so it scales
from a mine (tens of metres) to a district (kilometres) by itself. DBSCAN also
splits one field into its stages or faces; clusters closer than three times the
larger one's radius are merged, so a zone is a place apart from the others (a
mine of a district, a field of a mine), and one dense cloud stays one zone.

Zones are derived once and then kept: a later event belongs to the zone of the
nearest cluster centre (faces advance, so a mine's events leave its first weeks'
cluster behind, but stay nearer to it than to another mine's). Names follow size
(``zone-1`` the largest),
so the same first weeks always give the same zones, and months added later never
relabel them. A configured zone file always wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np

from config.settings import DataZone, Settings
from stream_models.wire import Event

DERIVED_FILE = "derived-zones.toml"

MIN_CLUSTER = 10  # epicentres a zone needs in the first window
SEPARATION = 3.0  # clusters nearer than this many radii apart are one place


def derive_zones(t: np.ndarray, x: np.ndarray, y: np.ndarray, *, window_days: float = 30.0,
                 min_events: int = 300, eps_m: float | None = None) -> list[DataZone]:
    """Clusters of the epicentres of the first ``window_days`` (or first ``min_events``,
    whichever holds more); none when fewer than two clusters stand out (one zone is
    what the default zone already is)."""
    from sklearn.cluster import DBSCAN
    from sklearn.neighbors import NearestNeighbors

    ok = np.isfinite(t) & np.isfinite(x) & np.isfinite(y)
    order = np.argsort(t[ok], kind="stable")
    tt, xy = t[ok][order], np.column_stack([x[ok], y[ok]])[order]
    if len(tt) < 2 * MIN_CLUSTER:
        return []
    n = max(int(np.searchsorted(tt, tt[0] + window_days * 86400.0, side="right")),
            min(min_events, len(tt)))
    first = xy[:n]
    if eps_m is None:
        dist, _ = NearestNeighbors(n_neighbors=2).fit(first).kneighbors(first)
        eps_m = max(5.0 * float(np.median(dist[:, 1])), 1e-6)
    labels = DBSCAN(eps=eps_m, min_samples=MIN_CLUSTER).fit(first).labels_
    groups = [first[labels == lab] for lab in sorted(set(labels.tolist()) - {-1})]
    groups = _merged(groups, eps_m)
    clusters = [(len(pts), float(pts[:, 0].mean()), float(pts[:, 1].mean())) for pts in groups]
    if len(clusters) < 2:
        return []
    clusters.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [DataZone(name=f"zone-{i + 1}", x=cx, y=cy, events=size)
            for i, (size, cx, cy) in enumerate(clusters)]


def _merged(groups: list[np.ndarray], eps_m: float) -> list[np.ndarray]:
    """Clusters closer than ``SEPARATION`` times the larger one's radius (90 % of its
    epicentres within it) are one place: a mining field, not its stages or faces."""
    def radius(pts: np.ndarray) -> float:
        d = np.hypot(pts[:, 0] - pts[:, 0].mean(), pts[:, 1] - pts[:, 1].mean())
        return max(float(np.quantile(d, 0.9)), eps_m)

    groups = list(groups)
    while len(groups) > 1:
        centres = np.array([g.mean(axis=0) for g in groups])
        radii = np.array([radius(g) for g in groups])
        d = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
        ratio = d / (SEPARATION * np.maximum(radii[:, None], radii[None, :]))
        np.fill_diagonal(ratio, np.inf)
        i, j = np.unravel_index(int(np.argmin(ratio)), ratio.shape)
        if ratio[i, j] >= 1.0:
            break
        groups[i] = np.concatenate([groups[i], groups[j]])
        del groups[j]
    return groups


def zones_toml(zones: list[DataZone]) -> str:
    """The zones as settings (``[[derived_zones]]``): a file workers and later runs read."""
    lines = ["# zones derived from the data (DBSCAN on the first weeks' epicentres)"]
    for z in zones:
        lines += ["[[derived_zones]]", f'name = "{z.name}"', f"x = {z.x!r}", f"y = {z.y!r}",
                  f"events = {z.events}", ""]
    return "\n".join(lines)


def with_derived_zones(settings: Settings, events: list[Event], persist: bool = True
                       ) -> tuple[Settings, list[Event], str]:
    """Settings with zones derived from ``events``, the events relabelled, and a line
    announcing them; unchanged when zones are configured, ``space.derive_zones`` is off,
    or none stand out. With ``persist`` (a live deployment's replay) the zones are written
    to the state directory and read back by later runs, so re-exports keep their zones; a
    backtest derives each file's own."""
    if settings.zones or not settings.space.derive_zones:
        return settings, events, ""
    path = settings.state_dir / DERIVED_FILE
    zones = list(settings.derived_zones)
    source = "settings"
    if not zones and persist and path.exists():
        zones = saved_zones(settings).derived_zones
        source = str(path)
    if not zones:
        zones = derive_zones(np.array([e.timestamp for e in events]),
                             np.array([e.x for e in events], float),
                             np.array([e.y for e in events], float))
        if not zones:
            return settings, events, ""
        source = "derived from the first weeks' epicentres"
        if persist:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(zones_toml(zones))
            source += f", written to {path}"
    out = settings.model_copy(update={"derived_zones": zones})
    relabelled = [replace(e, zone=out.zone_of(e.x, e.y, e.z)) for e in events]
    names = ", ".join(f"{z.name} (centre {z.x:.0f}, {z.y:.0f}; {z.events} events)"
                      for z in zones)
    return out, relabelled, f"no zones configured: {len(zones)} zones ({source}): {names}"


def saved_zones(settings: Settings) -> Settings:
    """Settings with the zones a replay derived into this state directory (a worker reads
    them at start); unchanged when zones are configured or none were derived."""
    path = settings.state_dir / DERIVED_FILE
    if (settings.zones or settings.derived_zones or not settings.space.derive_zones
            or not path.exists()):
        return settings
    zones = [DataZone(**z) for z in tomllib.loads(path.read_text())["derived_zones"]]
    return settings.model_copy(update={"derived_zones": zones})
