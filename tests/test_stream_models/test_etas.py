"""ETAS: the incremental kernel sum equals the direct sum, the fit recovers known parameters,
and the Gutenberg-Richter lift maps the learning target to the alert target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_models.seismology.etas import EtasParams, EtasState, prior_params
from stream_models.seismology.etas_fit import FitError, fit_etas, simulate_etas
from stream_models.seismology.gr import lift

# the generic law's productivity: a branching ratio of 0.5
TRUE = {"mu": 2e-4, "k": prior_params(1.0).k, "alpha": 1.0, "c_s": 60.0, "p": 1.1}


def test_incremental_intensity_equals_the_direct_omori_sum() -> None:
    params = EtasParams({"z": 1e-4}, 0.05, 1.0, 60.0, 1.1, 1.0)
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 30 * 86400, 300))
    log_e = 1 + rng.exponential(1 / math.log(10) * 1.5, t.size)
    state = EtasState()
    for ti, li in zip(t, log_e, strict=True):
        state.add(float(ti), float(li), params.mc_log_e)
    now = float(t[-1]) + 600
    direct = params.mu["z"] + sum(
        params.k * 10 ** (params.alpha / 1.5 * (li - 4.0)) * (now - ti + params.c_s) ** -params.p
        for ti, li in zip(t, log_e, strict=True)
    )
    assert state.intensity(params, "z", now) == pytest.approx(direct, rel=0.02)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fit_recovers_a_simulated_catalog(seed: int) -> None:
    """Tolerances: alpha on its grid exactly, p within 0.1, c within a factor 2, background
    within 25 %, branching ratio within 0.15."""
    span = 200 * 86400.0
    t, log_e = simulate_etas(b_value=1.0, mc_log_e=1.0, span_s=span, seed=seed, **TRUE)
    assert 5000 < t.size < 20000
    fit = fit_etas({"z": (t, log_e)}, 0.0, span, mc_log_e=1.0)
    got = fit.params
    assert got.alpha == TRUE["alpha"]
    assert abs(got.p - TRUE["p"]) < 0.1
    assert TRUE["c_s"] / 2 < got.c_s < TRUE["c_s"] * 2
    assert got.mu["z"] == pytest.approx(TRUE["mu"], rel=0.25)
    assert abs(fit.branching_ratio - 0.5) < 0.15


def test_too_few_events_are_refused_with_a_reason() -> None:
    with pytest.raises(FitError, match="need"):
        fit_etas({"z": (np.arange(10.0), np.full(10, 2.0))}, 0.0, 10.0)
    with pytest.raises(FitError, match="no zone"):
        fit_etas({}, 0.0, 10.0)


def test_the_generic_law_has_the_stated_branching_ratio() -> None:
    assert prior_params(1.0).branching_ratio() == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("b", [0.8, 1.0, 1.2])
def test_the_lift_is_the_gutenberg_richter_tail_of_the_expected_count(b: float) -> None:
    p = 0.3
    count = -math.log(1 - p)
    want = 1 - math.exp(-count * 10 ** (-(b / 1.5) * 2.0))
    assert lift(p, 2.0, 4.0, b) == pytest.approx(want)
    assert lift(p, 2.0, 5.0, b) < lift(p, 2.0, 4.0, b) < p
