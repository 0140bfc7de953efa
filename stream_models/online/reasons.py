"""Why a scope's risk rose, and how an episode went, in the words a control room uses.

A raise names what moved the fused forecast, read from its own inputs:

* the expert that carries most of it (its share of the mixture's probability),
  and how far it stands above the generic aftershock law;
* the recent large event whose aftershocks carry at least a quarter of the
  events expected in the horizon, under the ETAS law the scope scores with
  (:class:`LargeEvents` keeps the few candidates, in the scope's state);
* energy release or event rate over the last 8 h at least twice the 7-day level;
* a 24-hour b-value two standard errors (and at least 0.2) below the 7-day one:
  relatively more large events, the classic precursor sign.

An all-clear names the state it clears, how long the episode lasted, its peak
and the forecast standing when it closed. Clock times are the mine's local time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from stream_models.fusion.hazard import Episode, Transition
from stream_models.seismology.etas import RATES, EtasParams, omori_weights, productivity, reach

AFTERSHOCK_SHARE = 0.25  # of the expected events, before a raise names their source
RATIO = 2.0  # 8-hour level against the 7-day level before a raise names it
B_DROP = 0.2  # ... and a b-value drop of at least this and two standard errors
WORDS = {
    "omori": "generic aftershock law", "etas": "fitted ETAS", "river": "online model (River)",
    "lstm": "sequence model (LSTM)", "baseline_rate": "7-day rate",
    "baseline_last_shift_energy": "last-shift energy table",
    "baseline_abcd": "a/b/c/d rule table",
}


@dataclass(frozen=True)
class Reason:
    """One plain-words reason, with the figure it rests on (``code`` for machines)."""

    code: str
    text: str
    value: float
    event_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "text": self.text, "value": self.value}
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


class LargeEvents:
    """The few recent events a raise may name as the source of the aftershocks it expects.

    Fixed size: a new event takes the slot of the one whose aftershocks matter
    least now (an empty slot first).

    >>> from stream_models.seismology.etas import generic_law
    >>> law, big = generic_law(1.0), LargeEvents(size=2)
    >>> for i, (t, log_e) in enumerate([(0.0, 3.0), (60.0, 4.2), (120.0, 3.1)]):
    ...     big.add(t, log_e, f"e{i}", law, 8 * 3600)
    >>> sorted(big.ids)                  # the weakest, oldest source gave way
    ['e1', 'e2']
    >>> total = float(big.expected(law, 180.0, 8 * 3600).sum())
    >>> eid, t, log_e, share = big.dominant(law, 180.0, 8 * 3600, total)
    >>> eid, round(share, 2)          # 5.4 times as productive, a minute older
    ('e1', 0.83)
    """

    def __init__(self, size: int = 8) -> None:
        self.t = np.full(size, -np.inf)
        self.log_e = np.full(size, -np.inf)
        self.ids = [""] * size

    def expected(self, law: EtasParams, t: float, horizon_s: float) -> np.ndarray:
        """Aftershocks above Mc each event is expected to trigger in ``(t, t + horizon]``."""
        w = omori_weights(law.c_s, law.p) * reach(horizon_s)
        with np.errstate(over="ignore"):
            decay = np.exp(-np.outer(np.maximum(t - self.t, 0.0), RATES))
        return law.k * productivity(self.log_e, law.alpha) * (decay @ w)

    def add(self, t: float, log_e: float, event_id: str, law: EtasParams,
            horizon_s: float) -> None:
        i = int(np.argmin(self.expected(law, t, horizon_s)))
        self.t[i], self.log_e[i], self.ids[i] = t, log_e, event_id

    def dominant(self, law: EtasParams, t: float, horizon_s: float, total: float
                 ) -> tuple[str, float, float, float]:
        """(event id, time, log10 E, share of ``total``) of the largest source now."""
        x = self.expected(law, t, horizon_s)
        i = int(np.argmax(x))
        return self.ids[i], float(self.t[i]), float(self.log_e[i]), float(x[i] / total)

    def to_state(self) -> dict[str, Any]:
        return {"t": self.t, "log_e": self.log_e, "ids": list(self.ids)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LargeEvents:
        big = cls(len(state["ids"]))
        big.t = np.asarray(state["t"], float).copy()
        big.log_e = np.asarray(state["log_e"], float).copy()
        big.ids = [str(v) for v in state["ids"]]
        return big


def clock(t: float, utc_offset_s: float, now: float | None = None) -> str:
    """HH:MM in the mine's local time; with the day when not that of ``now``.

    >>> clock(7 * 3600.0, 7 * 3600.0), clock(7 * 3600.0, 0.0, now=90000.0)
    ('14:00', '01 Jan 07:00')
    """
    local = datetime.fromtimestamp(t, UTC) + timedelta(seconds=utc_offset_s)
    if now is not None:
        today = datetime.fromtimestamp(now, UTC) + timedelta(seconds=utc_offset_s)
        if today.date() != local.date():
            return local.strftime("%d %b %H:%M")
    return local.strftime("%H:%M")


def why_risk_rose(components: Mapping[str, float], weights: Mapping[str, float],
                  features: Mapping[str, float], source: tuple[str, float, float, float],
                  t: float, utc_offset_s: float) -> list[Reason]:
    """The reasons of a raise: the leading expert, then each sign that stands out.

    >>> rs = why_risk_rose({"omori": 0.01, "etas": 0.03}, {"omori": 0.4, "etas": 0.6},
    ...                    {"energy_ratio_8h": 3.2, "activity_ratio_8h": 1.1,
    ...                     "b_value_24h": 0.8, "b_value_se_24h": 0.05, "b_value_7d": 1.1},
    ...                    ("e7", 0.0, math.log10(13950), 0.6), 600.0, 0.0)
    >>> [r.text for r in rs]  # doctest: +NORMALIZE_WHITESPACE
    ['fitted ETAS carries 82% of the risk (3.0× the generic aftershock law)',
     'aftershocks of 13,950 J at 00:00 (60% of the expected events)',
     'energy release 3.2× the 7-day level', 'b-value down to 0.80 (7-day 1.10)']
    """
    out: list[Reason] = []
    mixed = {e: weights[e] * components[e] for e in weights if e in components}
    total = sum(mixed.values())
    if total > 0:
        lead = max(mixed, key=mixed.__getitem__)
        share = mixed[lead] / total
        text = f"{WORDS.get(lead, lead)} carries {share:.0%} of the risk"
        anchor = components.get("omori", math.nan)
        if lead != "omori" and anchor > 0:
            text += f" ({components[lead] / anchor:.1f}× the generic aftershock law)"
        out.append(Reason("expert", text, share))
    event_id, t_src, log_e, share = source
    if share >= AFTERSHOCK_SHARE and math.isfinite(t_src):
        out.append(Reason(
            "aftershocks", f"aftershocks of {10 ** log_e:,.0f} J at "
            f"{clock(t_src, utc_offset_s, t)} ({share:.0%} of the expected events)", share,
            event_id))
    energy = features.get("energy_ratio_8h", math.nan)
    if energy >= RATIO:
        out.append(Reason("energy", f"energy release {energy:.1f}× the 7-day level", energy))
    rate = features.get("activity_ratio_8h", math.nan)
    if rate >= RATIO:
        n = features.get("count_8h", math.nan)
        count = (f"{n:.0f} event{'s' if n != 1 else ''} in 8 h, " if n == n else "")
        out.append(Reason("activity", f"{count}{rate:.1f}× the 7-day event rate", rate))
    b24, b7 = features.get("b_value_24h", math.nan), features.get("b_value_7d", math.nan)
    se = features.get("b_value_se_24h", math.nan)
    if b7 - b24 >= max(B_DROP, 2 * se):  # NaN compares False: no reason without a b-value
        out.append(Reason("b_value", f"b-value down to {b24:.2f} (7-day {b7:.2f})", b24))
    return out


def reentry_text(tr: Transition, utc_offset_s: float) -> str:
    """A zone's exclusion in words: when re-entry is expected, how sure, and after what.

    >>> from stream_models.fusion.hazard import ReentryNotice
    >>> n = ReentryNotice("e7", 0.0, 13950.0, 6.5 * 3600, 5 * 3600, 11 * 3600, 0.42, 4, False)
    >>> tr = Transition("id", "re-entry", "lava-1", "c", "c", math.nan, 600.0, "e9", None, n)
    >>> reentry_text(tr, 0.0)  # doctest: +NORMALIZE_WHITESPACE
    'lava-1 RE-ENTRY expected 06:30 (05:00–11:00), 6.5 h after 13,950 J at 00:00;
     4 aftershocks so far'
    >>> reentry_text(Transition("id", "re-entry reached", "lava-1", "c", "c", math.nan,
    ...                         6.5 * 3600, "e7", None, n), 0.0)
    'lava-1 RE-ENTRY REACHED at 06:30: rate back under 0.42 events/h, 6.5 h after 13,950 J at 00:00'
    """
    n = tr.reentry
    assert n is not None
    after = (f"{n.exclusion_s / 3600:.1f} h after {n.source_energy_j:,.0f} J at "
             f"{clock(n.source_t, utc_offset_s, tr.t)}")
    if tr.kind == "re-entry reached":
        return (f"{tr.zone} RE-ENTRY REACHED at {clock(n.at, utc_offset_s, tr.t)}: rate back "
                f"under {n.level_per_h:.2g} events/h, {after}")
    rule = "; the mine's minimum exclusion" if n.floor_applied else ""
    counted = f"{n.aftershocks} aftershock{'' if n.aftershocks == 1 else 's'} so far"
    return (f"{tr.zone} RE-ENTRY expected {clock(n.at, utc_offset_s, tr.t)} "
            f"({clock(n.low, utc_offset_s, tr.t)}–{clock(n.high, utc_offset_s, tr.t)}{rule}), "
            f"{after}; {counted}")


def _p(p: float) -> str:
    return f"p={p:.2g}" if p == p else "p=?"


def episode_text(ep: Episode | None, utc_offset_s: float, now: float) -> str:
    if ep is None:
        return ""
    return (f"after {ep.duration_s / 3600:.1f} h (peak {_p(ep.peak_probability)} at "
            f"{clock(ep.peak_t, utc_offset_s, now)})")


def alert_text(tr: Transition, reasons: Sequence[Reason], utc_offset_s: float,
               horizon_s: float) -> str:
    """The alert as one line an operator reads aloud.

    >>> ep = Episode(0.0, "c", 0.023, 3600.0, 8.5 * 3600)
    >>> tr = Transition("id", "all-clear", "lava-1", "a", "c", 0.0012, 8.5 * 3600, "e+1", ep)
    >>> alert_text(tr, [], 0.0, 8 * 3600)
    'lava-1 ALL CLEAR c→a after 8.5 h (peak p=0.023 at 01:00); now p=0.0012'
    """
    if tr.reentry is not None:
        return reentry_text(tr, utc_offset_s)
    if tr.kind == "all-clear":
        now = (f"now {_p(tr.probability)}" if tr.probability == tr.probability else
               f"no forecast stands: no event for {horizon_s / 3600:.0f} h")
        return (f"{tr.zone} ALL CLEAR {tr.previous_state}→{tr.state} "
                f"{episode_text(tr.episode, utc_offset_s, tr.t)}; {now}")
    why = "; ".join(r.text for r in reasons)
    return (f"{tr.zone} STATE {tr.state.upper()} ({tr.previous_state}→{tr.state}) "
            f"{_p(tr.probability)}" + (f": {why}" if why else ""))
