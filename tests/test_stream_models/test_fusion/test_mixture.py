"""The mixture: never more than its stated bound behind the best expert, on any stream; it
follows a switch of the best expert with fixed share; time-weighted labels keep the bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_models.fusion.mixture import SHARE, Mixture


def _loss(p: float, y: bool, c: float = 1.0) -> float:
    return -c * math.log(p if y else 1 - p)


def _knowing_and_noise(seed: int, n: int) -> tuple[list[dict[str, float]], np.ndarray]:
    """One expert forecasts the true probability, the other noise on the same scale."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.01, 0.6, n)
    y = rng.random(n) < truth
    rows = [{"knows": float(truth[i]), "noise": float(rng.uniform(0.01, 0.6))} for i in range(n)]
    return rows, y


@pytest.mark.parametrize("seed", range(5))
def test_the_mixture_stays_within_ln_one_over_the_prior_of_the_knowing_expert(seed: int) -> None:
    rows, y = _knowing_and_noise(seed, 3000)
    mix = Mixture({"knows": 0.3, "noise": 0.7}, share=0.0)
    regret = {"knows": 0.0, "noise": 0.0}
    for x, label in zip(rows, y, strict=True):
        q = mix.predict_one(x)
        for name in regret:
            regret[name] += _loss(q, label) - _loss(x[name], label)
        mix.learn_one(x, bool(label))
    assert regret["knows"] <= math.log(1 / 0.3) + 1e-9  # the bound, on this very stream
    assert regret["noise"] < 0  # and far ahead of the noise
    assert mix.weights()["knows"] > 0.999


def test_time_weighted_labels_keep_the_bound() -> None:
    """Each label weighs the share of a horizon its forecast stood (bursts weigh little)."""
    rows, y = _knowing_and_noise(7, 3000)
    c = np.random.default_rng(8).uniform(0.01, 1.0, len(rows))
    mix = Mixture({"knows": 0.5, "noise": 0.5}, share=0.0)
    regret = 0.0
    for x, label, w in zip(rows, y, c, strict=True):
        q = mix.predict_one(x)
        regret += _loss(q, label, w) - _loss(x["knows"], label, w)
        mix.learn_one(x, bool(label), float(w))
    assert regret <= math.log(2) + 1e-9


def test_fixed_share_follows_a_switch_of_the_best_expert() -> None:
    """The knowing expert changes halfway: fixed share's loss stays within its bound of the
    switching sequence; without share the weight stays stuck on the first one much longer."""
    rows, y = _knowing_and_noise(3, 4000)
    swapped = [dict(r) if i < 2000 else {"knows": r["noise"], "noise": r["knows"]}
               for i, r in enumerate(rows)]
    best = sum(_loss(r["knows"] if i < 2000 else r["noise"], bool(label))
               for i, (r, label) in enumerate(zip(swapped, y, strict=True)))
    losses = {}
    for share in (SHARE, 0.0):
        mix = Mixture({"knows": 0.5, "noise": 0.5}, share=share)
        total = 0.0
        for x, label in zip(swapped, y, strict=True):
            total += _loss(mix.predict_one(x), bool(label))
            mix.learn_one(x, bool(label))
        losses[share] = total
    bound = 2 * math.log(2) + math.log(1 / SHARE) + len(rows) * -math.log(1 - SHARE)
    assert losses[SHARE] - best <= bound
    assert losses[SHARE] < losses[0.0] - 10


def test_a_missing_forecast_counts_as_the_mixtures_own() -> None:
    mix = Mixture({"a": 0.5, "b": 0.5})
    assert mix.predict_one({"a": 0.2, "b": math.nan}) == pytest.approx(0.2)
    before = mix.weights()
    mix.learn_one({"a": 0.2, "b": math.nan}, True)
    assert mix.weights()["b"] <= before["b"] + 1e-12  # no credit for saying nothing


def test_a_zero_prior_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="positive prior"):
        Mixture({"a": 1.0, "b": 0.0})


def test_three_outcomes_at_once_keep_the_bound_and_find_the_expert_that_knows_both() -> None:
    """Outcomes none / learning-target only / target: one expert knows both probabilities,
    one knows the frequent one only (its targets are noise). The mixture, learning on the
    three outcomes, stays within ln(1 / prior) of the first and finds it."""
    rng = np.random.default_rng(11)
    mix = Mixture({"both": 0.2, "frequent": 0.8}, share=0.0)
    regret = 0.0
    for _ in range(4000):
        p_l = rng.uniform(0.1, 0.7)
        p_t = p_l * rng.uniform(0.01, 0.2)  # the rare target, part of the frequent one
        guess = p_l * rng.uniform(0.01, 0.2)  # the other expert's target probability
        u = rng.random()
        outcome = "target" if u < p_t else "learning" if u < p_l else "none"

        def prob(pl: float, pt: float, outcome: str = outcome) -> float:
            return {"target": pt, "learning": pl - pt, "none": 1 - pl}[outcome]

        q = {"both": prob(p_l, p_t), "frequent": prob(p_l, guess)}
        fused = {o: mix.predict_one({"both": prob(p_l, p_t, o), "frequent": prob(p_l, guess, o)})
                 for o in ("none", "learning", "target")}
        assert sum(fused.values()) == pytest.approx(1.0)
        regret += math.log(q["both"]) - math.log(fused[outcome])
        mix.learn_outcome(q)
    assert regret <= math.log(1 / 0.2) + 1e-9
    assert mix.weights()["both"] > 0.99
