"""The base LSTM that ships with the package, trained on pooled synthetic mines.

A mine zone has a few hundred events a year: an LSTM that waited for its own
examples would never forecast. So one network is trained, once, on many
synthetic years (:mod:`replay.synth`) with a spread of event rates and b-values,
both faces and the mine-wide scope of each, through the daemon's own per-event
code (:class:`~stream_models.online.orchestrator.Orchestrator`): the inputs it
learns from are the ones scoring computes. Its inputs are z-scores against each
scope's own running history (:class:`~stream_models.learners.sequence.InputScale`),
with the pooled training inputs' mean and scale as every new scope's prior, so it
serves catalogs of other energies and rates. It never sees the example catalog,
nor the synthetic seeds the documentation evaluates on.

``seismowatch pretrain`` runs :func:`pretrain` on fixed seeds (``replay.synth``'s
``pretraining_years``): the same command gives the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_models.features.inputs import INPUT_NAMES
from stream_models.learners.sequence import SequenceModel, Standardiser, causal_scale
from stream_models.mathutil import logit
from stream_models.online.experts import ANCHOR, EXPERTS
from stream_models.online.labels import example_key
from stream_models.online.orchestrator import Orchestrator
from stream_models.online.outcome import LEARNING_BIT, Outcome
from stream_models.online.payload import PAYLOAD
from stream_models.online.policies import MonitorPolicy, TrainConfig
from stream_models.retraining.judge import Judge
from stream_models.retraining.sequences import LabelledSequence, time_split
from stream_models.wire import Event

CONFIG = TrainConfig(window=64, hidden=16, epochs=6, seed=7, lr=2e-3)
MIN_EXAMPLES = 200  # a scope with fewer examples adds nothing but noise


@dataclass
class _Scope:
    x: dict[int, np.ndarray]  # example key -> raw inputs at scoring
    rows: list[tuple[int, float, np.ndarray, float, bool, float]]  # key, t, static, log E,
    # label, the anchor's log-odds


def scope_examples(events: list[Event], policy: MonitorPolicy, mine_scope: str | None
                   ) -> list[tuple[np.ndarray, ...]]:
    """Each scope's (times, raw inputs, static context, log10 E over the learning target,
    labels, the generic law's log-odds) of its labelled examples, in time order, as the
    online code computes them."""
    orch = Orchestrator(policy, mine_scope=mine_scope)
    scopes: dict[str, _Scope] = {}
    for step in orch.run(events):
        if not isinstance(step, Outcome):
            continue
        sc = scopes.setdefault(step.event.zone, _Scope({}, []))
        sc.x[example_key(step.event.event_id)] = np.fromiter(step.inputs.values(), float)
        learning_j = orch.scopes[step.event.zone].learning_j
        for row in step.learned:
            p = row["x"]
            sc.rows.append((int(row["key"]), float(row["t"]), p[PAYLOAD.static],
                            float(p[PAYLOAD.log_e][0]) - np.log10(learning_j),
                            bool(row["labels"][LEARNING_BIT]),
                            logit(float(p[PAYLOAD.learning][EXPERTS.index(ANCHOR)]))))
    out = []
    for sc in scopes.values():
        rows = [r for r in sc.rows if r[0] in sc.x]
        if len(rows) < MIN_EXAMPLES:
            continue
        out.append((np.array([r[1] for r in rows]), np.array([sc.x[r[0]] for r in rows]),
                    np.array([r[2] for r in rows], np.float32), np.array([r[3] for r in rows]),
                    np.array([r[4] for r in rows]), np.array([r[5] for r in rows], np.float32)))
    return out


def pretrain(years: list[tuple[str, list[Event]]], policy: MonitorPolicy | None = None,
             mine_scope: str | None = "mine-wide", config: TrainConfig = CONFIG
             ) -> tuple[SequenceModel, dict[str, Any]]:
    """Train the base model on ``years`` (name, events); its report names the data and the
    held-back skill."""
    from stream_models.retraining.training import train_sequence_model

    policy = policy or MonitorPolicy()
    raw = [ex for _, events in years for ex in scope_examples(events, policy, mine_scope)]
    all_x = np.concatenate([x for _, x, *_ in raw])
    prior = Standardiser.fit(all_x)
    seqs = [LabelledSequence(t, causal_scale(x, prior.mean, prior.scale), st, y, le, off)
            for t, x, st, le, y, off in raw]
    split = time_split(seqs, config.validation_fraction, config.horizon_s)
    model, report = train_sequence_model(seqs, split, INPUT_NAMES, config, inputs=prior)
    skills = [Judge(s, v, config.horizon_s).skill(model) for s, v in
              zip(seqs, split.validation, strict=True) if v.size]
    skills = [s for s in skills if s == s]
    model.meta |= {"version": "pretrained-1", "years": len(years), "scopes": len(seqs),
                   "validation_skill": float(np.mean(skills)) if skills else float("nan")}
    report |= {"years": [name for name, _ in years], "scopes": len(seqs),
               "examples": int(sum(len(s.t) for s in seqs)),
               "validation_skill_mean": model.meta["validation_skill"]}
    return model, report


def train_site(events: list[Event], policy: MonitorPolicy, base: SequenceModel,
               config: TrainConfig, mine_scope: str | None = None
               ) -> tuple[SequenceModel, dict[str, Any]]:
    """A mine's own base: ``base`` fine-tuned on every scope of a historical file, judged
    on its newest time against ``base``; ``report["promoted"]`` says whether it beat it."""
    from stream_models.retraining.training import train_sequence_model

    raw = scope_examples(events, policy, mine_scope)
    if not raw:
        raise ValueError(f"no scope of the file has {MIN_EXAMPLES} labelled examples")
    seqs = [LabelledSequence(t, causal_scale(x, base.inputs.mean, base.inputs.scale), st, y, le,
                             off) for t, x, st, le, y, off in raw]
    split = time_split(seqs, config.validation_fraction, config.horizon_s)
    model, report = train_sequence_model(seqs, split, INPUT_NAMES, config, init=base)

    def skill(m: SequenceModel) -> float:
        s = [Judge(q, v, config.horizon_s).skill(m)
             for q, v in zip(seqs, split.validation, strict=True) if v.size]
        s = [x for x in s if x == x]
        return float(np.mean(s)) if s else float("nan")

    cand, inc = skill(model), skill(base)
    promoted = cand >= max(inc, 0.5) if inc == inc else cand >= 0.5
    model.meta |= {"version": f"site-from-{base.version}", "validation_skill": cand}
    report |= {"scopes": len(seqs), "examples": int(sum(len(s.t) for s in seqs)),
               "validation_skill": cand, "base_validation_skill": inc, "promoted": promoted,
               "base": base.version}
    return model, report
