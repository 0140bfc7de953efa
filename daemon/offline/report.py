"""One self-contained HTML report: the GITS paper's exploratory figures and the backtest's.

plotly.js is embedded, so the file opens offline. Above ``MAX_POINTS`` events the
scatter figures use WebGL traces and the time series are decimated (the
largest events are always kept), so a year of a busy mine stays responsive.
Each figure is a ``<div class="figure" id=...>``; a small script records
rendering errors and the number of drawn figures in ``#report-status`` so a
headless browser can check the file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.io import to_html
from plotly.subplots import make_subplots

from daemon.offline.hazard_map import hazard_map
from stream_models.online.experts import COMPONENTS
from stream_models.wire import SENSORS, Event

MAX_POINTS = 20_000
LABELLED_LARGEST = 10
EXPLORATION = ("correlation", "map3d", "dynamics", "projection")
BACKTEST = ("risk", "molchan", "roc", "tradeoff", "hazard_map")
_STATE_LEVEL = {"a": 0, "b": 1, "c": 2, "d": 3}


def events_frame(events: Sequence[Event]) -> pd.DataFrame:
    rows = [
        {
            "time": e.time,
            "zone": e.zone,
            "event_id": e.event_id,
            **{f: getattr(e, f) for f in Event.FLOAT_FIELDS},
        }
        for e in events
    ]
    df = pd.DataFrame(rows)
    df["log_energy"] = np.log10(df["energy_j"])
    return df


def _thin(df: pd.DataFrame, keep: pd.Index | None = None) -> pd.DataFrame:
    """At most ``MAX_POINTS`` rows, evenly spaced, plus the rows in ``keep``."""
    if len(df) <= MAX_POINTS:
        return df
    step = math.ceil(len(df) / MAX_POINTS)
    idx = df.index[::step]
    if keep is not None:
        idx = idx.union(keep)
    return df.loc[idx]


def _scatter(n: int) -> Any:
    return go.Scattergl if n > MAX_POINTS else go.Scatter


def correlation(df: pd.DataFrame) -> go.Figure:
    cols = [
        c
        for c in (
            "log_energy",
            "duration_s",
            "energy_corr_j",
            "duration_corr_s",
            "volume_m3",
            "x",
            "y",
            "z",
            *SENSORS,
        )
        if df[c].notna().sum() > 2
    ]
    data = df[cols].astype(float)
    corr = data.corr().round(2)
    fig = go.Figure(
        go.Heatmap(
            z=corr.values,
            x=cols,
            y=cols,
            zmin=-1,
            zmax=1,
            colorscale="RdBu_r",
            text=corr.values,
            texttemplate="%{text}",
        )
    )
    fig.update_layout(title="Correlation of event parameters (Pearson)", height=650)
    return fig


def map3d(df: pd.DataFrame) -> go.Figure:
    largest = df["energy_j"].idxmax()
    d = _thin(df, pd.Index([largest]))
    days = (d["time"] - df["time"].min()).dt.total_seconds() / 86400
    fig = go.Figure()
    common = {"x": d["x"], "y": d["y"], "z": d["z"], "mode": "markers", "text": d["event_id"]}
    fig.add_trace(
        go.Scatter3d(
            **common,
            name="coloured by log10 E",
            marker={
                "size": 2 + d["log_energy"],
                "color": d["log_energy"],
                "colorscale": "Inferno",
                "colorbar": {"title": "log10 E", "x": 1.0},
            },
        )
    )
    fig.add_trace(
        go.Scatter3d(
            **common,
            name="coloured by time",
            visible=False,
            marker={
                "size": 2 + d["log_energy"],
                "color": days,
                "colorscale": "Viridis",
                "colorbar": {"title": "day", "x": 1.0},
            },
        )
    )
    big = df.loc[[largest]]
    fig.add_trace(
        go.Scatter3d(
            x=big["x"],
            y=big["y"],
            z=big["z"],
            mode="markers+text",
            name="largest event",
            text=[f"{big['energy_j'].iloc[0]:.3g} J"],
            marker={"size": 12, "color": "red", "symbol": "diamond"},
        )
    )
    fig.update_layout(
        title="Events in the mine grid (m); the largest highlighted",
        height=700,
        scene={"xaxis_title": "X", "yaxis_title": "Y", "zaxis_title": "Z"},
        updatemenus=[
            {
                "buttons": [
                    {
                        "label": "colour: energy",
                        "method": "update",
                        "args": [{"visible": [True, False, True]}],
                    },
                    {
                        "label": "colour: time",
                        "method": "update",
                        "args": [{"visible": [False, True, True]}],
                    },
                ],
                "x": 0,
                "y": 1.08,
                "direction": "right",
            }
        ],
    )
    return fig


def dynamics(df: pd.DataFrame) -> go.Figure:
    top = df.nlargest(LABELLED_LARGEST, "energy_j")
    d = _thin(df, top.index)
    sc = _scatter(len(df))
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, subplot_titles=("energy E (J)", "duration t (s)")
    )
    fig.add_trace(
        sc(x=d["time"], y=d["energy_j"], mode="markers", name="E", marker={"size": 3}), row=1, col=1
    )
    fig.add_trace(
        go.Scatter(
            x=top["time"],
            y=top["energy_j"],
            mode="markers+text",
            text=[f"{v:.2g}" for v in top["energy_j"]],
            textposition="top center",
            name=f"{LABELLED_LARGEST} largest",
            marker={"color": "red"},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        sc(x=d["time"], y=d["duration_s"], mode="markers", name="t", marker={"size": 3}),
        row=2,
        col=1,
    )
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(
        title="Energy and duration over time; the largest events labelled", height=650
    )
    return fig


def projection(df: pd.DataFrame, seed: int = 0) -> go.Figure:
    """PCA and t-SNE of the standardised event parameters (t-SNE on at most 3,000 events)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    cols = [
        c
        for c in ("log_energy", "duration_s", "volume_m3", "x", "y", "z", *SENSORS)
        if df[c].notna().sum() > 2 and df[c].std() > 0
    ]
    data = df[cols].astype(float).fillna(df[cols].median())
    z = StandardScaler().fit_transform(data)
    pca = PCA(n_components=2, random_state=seed).fit(z)
    p = pca.transform(z)
    rng = np.random.default_rng(seed)
    sub = np.sort(rng.choice(len(z), size=min(len(z), 3000), replace=False))
    t = TSNE(
        n_components=2, random_state=seed, init="pca", perplexity=min(30, max(len(sub) // 4, 2))
    ).fit_transform(z[sub])
    sc = _scatter(len(z))
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"PCA ({pca.explained_variance_ratio_.sum():.0%} of variance)",
            f"t-SNE ({len(sub)} events)",
        ),
    )
    fig.add_trace(
        sc(
            x=p[:, 0],
            y=p[:, 1],
            mode="markers",
            name="PCA",
            marker={
                "size": 3,
                "color": df["log_energy"],
                "colorscale": "Inferno",
                "colorbar": {"title": "log10 E"},
            },
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=t[:, 0],
            y=t[:, 1],
            mode="markers",
            name="t-SNE",
            marker={"size": 3, "color": df["log_energy"].to_numpy()[sub], "colorscale": "Inferno"},
        ),
        row=1,
        col=2,
    )
    fig.update_layout(
        title="Projections of standardised event parameters", height=550, showlegend=False
    )
    return fig


def risk_over_time(collected: Any, target_energy_j: float) -> go.Figure:
    f = collected.frame()
    f["time"] = pd.to_datetime(f["t"], unit="s", utc=True)
    targets = f[f["energy_j"] >= target_energy_j]
    d = _thin(f, targets.index)
    sc = _scatter(len(f))
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3],
        subplot_titles=("fused risk", "hazard state (0 = a … 3 = d)"),
    )
    for zone, g in d.groupby("zone"):
        fig.add_trace(
            sc(x=g["time"], y=g["fused"], mode="lines", name=f"risk {zone}"), row=1, col=1
        )
        fig.add_trace(
            sc(
                x=g["time"],
                y=g["hazard_state"].map(_STATE_LEVEL),
                mode="lines",
                line={"shape": "hv"},
                name=f"state {zone}",
            ),
            row=2,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=targets["time"],
            y=[1.0] * len(targets),
            mode="markers",
            name=f"target events (>= {target_energy_j:g} J)",
            marker={"symbol": "triangle-down", "color": "red", "size": 8},
        ),
        row=1,
        col=1,
    )
    fig.update_layout(title="Risk and hazard state over time, target events marked", height=600)
    return fig


def molchan_figure(collected: Any, horizon_s: float, target_energy_j: float) -> go.Figure:
    from stream_models.skill.molchan import area_skill, molchan

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[1, 0], mode="lines", name="random", line={"dash": "dash", "color": "grey"}
        )
    )
    line = collected.timeline()
    for name in COMPONENTS:
        tau, nu = molchan(line, collected.scores[name], horizon_s, target_energy_j)
        fig.add_trace(
            go.Scatter(
                x=tau,
                y=nu,
                mode="lines",
                line={"shape": "hv"},
                name=f"{name} (skill {area_skill(tau, nu):.3f})",
            )
        )
    fig.update_layout(
        title="Molchan diagram",
        xaxis_title="fraction of time in alarm",
        yaxis_title="miss rate",
        height=550,
    )
    return fig


def roc_figure(collected: Any) -> go.Figure:
    from sklearn.metrics import roc_curve

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="random", line={"dash": "dash", "color": "grey"}
        )
    )
    known = collected.label >= 0
    for name in COMPONENTS:
        p = collected.scores[name]
        ok = known & np.isfinite(p)
        y = collected.label[ok]
        if len(set(y)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, p[ok])
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=name))
    fig.update_layout(
        title="ROC curves (labelled events)",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        height=550,
    )
    return fig


def tradeoff(report: dict[str, Any]) -> go.Figure:
    rows = report["thresholds"]
    fig = go.Figure(
        go.Scatter(
            x=[r["raises_per_zone_week"] for r in rows],
            y=[r["hit_rate"] for r in rows],
            mode="lines+markers+text",
            text=[f"{r['threshold']:g}" for r in rows],
            textposition="top center",
            name="fused risk thresholds",
        )
    )
    fig.update_layout(
        title="Threshold trade-off: hit rate against raises to state c per zone-week",
        xaxis_title="raises to c per zone per week",
        yaxis_title="hit rate",
        height=500,
    )
    return fig


_STATUS_SCRIPT = """
<script>
window.reportErrors = [];
window.addEventListener('error', function (e) { window.reportErrors.push(String(e.message)); });
window.addEventListener('load', function () {
  var s = document.getElementById('report-status');
  s.setAttribute('data-figures', document.querySelectorAll('.figure .js-plotly-plot').length);
  s.setAttribute('data-errors', window.reportErrors.length);
  s.textContent = window.reportErrors.join('\\n');
});
</script>
"""


def write_report(
    path: Path, title: str, events: Sequence[Event], backtest: tuple[dict[str, Any], Any] | None
) -> list[str]:
    """Write the HTML file; returns the ids of the figures it holds."""
    df = events_frame(events)
    figures: list[tuple[str, go.Figure]] = [
        ("correlation", correlation(df)),
        ("map3d", map3d(df)),
        ("dynamics", dynamics(df)),
        ("projection", projection(df)),
    ]
    if backtest is not None:
        report, collected = backtest
        h, e = report["horizon_h"] * 3600, report["target_energy_j"]
        figures += [
            ("risk", risk_over_time(collected, e)),
            ("molchan", molchan_figure(collected, h, e)),
            ("roc", roc_figure(collected)),
            ("tradeoff", tradeoff(report)),
        ]
        if collected.grid_map is not None:
            figures.append(("hazard_map", hazard_map(collected.grid_map, events, e)))
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title>{_STATUS_SCRIPT}</head><body style='font-family:sans-serif'>"
        f"<h1>{html.escape(title)}</h1><div id='report-status'></div>"
    ]
    for i, (fid, fig) in enumerate(figures):
        body = to_html(fig, full_html=False, include_plotlyjs=(i == 0), div_id=f"plot-{fid}")
        parts.append(f"<div class='figure' id='{fid}'>{body}</div>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return [fid for fid, _ in figures]
