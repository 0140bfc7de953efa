"""The ETAS fit: known parameters recovered within their standard errors, the background form
chosen by AIC, the incompleteness after large events masked, and the compiled sweep equal
to the sums written out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_models.seismology.background import Background, cell_of
from stream_models.seismology.coda import incompleteness
from stream_models.seismology.etas import RATES, generic_law
from stream_models.seismology.etas_fit import FitError, fit_etas, log_likelihood
from stream_models.seismology.kernels import sweep
from stream_models.seismology.simulate import simulate_etas

# the generic law's productivity: a branching ratio of 0.5
TRUE = {"mu": 2e-4, "k": generic_law(1.0).k, "alpha": 1.0, "c_s": 60.0, "p": 1.1}
TOLERANCE_SE = 3.0  # stated tolerance: every parameter within three standard errors


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fit_recovers_known_parameters_within_three_standard_errors(seed: int) -> None:
    span = 200 * 86400.0
    t, log_e = simulate_etas(b_value=1.0, mc_log_e=1.0, span_s=span, seed=seed, **TRUE)
    assert 5000 < t.size < 20000
    fit = fit_etas(t, log_e, 0.0, span, mc_log_e=1.0)
    got = fit.params
    assert got.background.kind == "constant"  # the calendar and the driver did not earn theirs
    for name in ("mu", "k", "alpha", "c_s", "p"):
        value = got.mu if name == "mu" else getattr(got, name)
        se = got.se[name]
        assert 0 < se < abs(TRUE[name]), (name, se)
        assert abs(value - TRUE[name]) <= TOLERANCE_SE * se, (name, value, TRUE[name], se)
    assert len(got.cov) == 5 and all(len(row) == 5 for row in got.cov)


def _weekly(t: np.ndarray) -> np.ndarray:
    """Sundays at a third of a working day, nights at half: a shape at most 1."""
    cell = cell_of(t, 0.0)
    day, block = cell // 4, cell % 4
    return np.where(day == 6, 1 / 3, 1.0) * np.where(block == 0, 0.5, 1.0)


@pytest.mark.slow
def test_a_working_week_in_the_background_is_chosen_by_aic() -> None:
    span = 120 * 86400.0
    t, log_e = simulate_etas(mu=1e-3, k=generic_law(1.0).k * 0.6, alpha=1.0, c_s=60.0, p=1.1,
                             b_value=1.0, mc_log_e=1.0, span_s=span, seed=5, background=_weekly)
    fit = fit_etas(t, log_e, 0.0, span, mc_log_e=1.0)
    assert fit.params.background.kind == "weekly", fit.aic_by_form
    assert fit.aic_by_form["weekly"] < fit.aic_by_form["constant"] - 10
    shape = np.asarray(fit.params.background.shape).reshape(7, 4)
    sunday, weekday = shape[6].mean(), shape[:5].mean()
    assert 0.2 < sunday / weekday < 0.5  # a third, from the data


@pytest.mark.slow
def test_a_background_that_follows_the_mined_volume_is_driven() -> None:
    """Production switched on and off by the week: the volume in the export drives it."""
    span = 120 * 86400.0
    week = np.floor(np.arange(0, span, 86400.0) / (7 * 86400.0)).astype(int)
    daily_volume = np.where(week % 2 == 0, 900.0, 100.0)

    def producing(t: np.ndarray) -> np.ndarray:
        return daily_volume[(t // 86400.0).astype(int)] / 900.0

    t, log_e = simulate_etas(mu=1e-3, k=generic_law(1.0).k * 0.5, alpha=1.0, c_s=60.0, p=1.1,
                             b_value=1.0, mc_log_e=1.0, span_s=span, seed=6, background=producing)
    volume = daily_volume[(t // 86400.0).astype(int)]
    fit = fit_etas(t, log_e, 0.0, span, mc_log_e=1.0, volume=volume)
    bg = fit.params.background
    assert bg.kind == "driven" and bg.driver == "volume", fit.aic_by_form
    assert bg.rate(0.0, 900.0) > 4 * bg.rate(0.0, 100.0)


def test_the_coda_of_a_large_event_raises_the_completeness_as_helmstetter_says() -> None:
    t = np.array([0.0, 100.0, 5000.0])
    log_e = np.array([1.0 + 1.5 * 5.0, 1.5, 1.0 + 1.5 * 1.0])  # 5 units above Mc, small, 1 above
    coda = incompleteness(t, log_e, 1.0, b_value=1.0)
    assert coda.a[0] == 0.0 and coda.b[-1] == pytest.approx(86400.0 * 10 ** (0.5 / 0.75))
    for at in (60.0, 3600.0, 86400.0):  # Mc(t) = M - 4.5 - 0.75 log10(t / day), in steps
        want = 1.5 * (5.0 - 4.5 - 0.75 * np.log10(at / 86400.0))
        assert abs(float(coda.at(np.array([at]))[0]) - want) <= 1.5 * 0.75 / 4 + 1e-9
    assert float(coda.at(np.array([5e5]))[0]) == 0.0  # complete again after 3.4 days
    assert np.all(np.diff(coda.w) >= 0)  # the share recorded grows as the coda decays


@pytest.mark.slow
def test_a_raised_completeness_in_the_coda_recovers_p_from_an_incomplete_catalog() -> None:
    """Small events hidden after large ones (Helmstetter's Mc(t)) bias a fit that counts them;
    the likelihood counts only what the coda's completeness admits and stays within its
    tolerance."""
    span = 200 * 86400.0
    t, log_e = simulate_etas(b_value=1.0, mc_log_e=1.0, span_s=span, seed=11, **TRUE)
    big = np.flatnonzero(log_e >= 1.0 + 1.5 * 2.0)
    hidden = np.zeros(t.size, bool)
    for i in big:
        dt_days = np.maximum((t - t[i]) / 86400.0, 1e-9)
        mc_t = (log_e[i] - 4.8) / 1.5 - 4.5 - 0.75 * np.log10(dt_days)  # magnitude units
        hidden |= (t > t[i]) & ((log_e - 4.8) / 1.5 < mc_t)
    assert hidden.sum() > 20
    fit = fit_etas(t[~hidden], log_e[~hidden], 0.0, span, mc_log_e=1.0)
    assert abs(fit.params.p - TRUE["p"]) <= TOLERANCE_SE * fit.params.se["p"]


def test_too_few_events_are_refused_with_a_reason() -> None:
    with pytest.raises(FitError, match="need"):
        fit_etas(np.arange(10.0), np.full(10, 2.0), 0.0, 10.0)


def test_the_likelihood_of_the_fit_beats_the_generic_law_out_of_sample() -> None:
    """Fitted on the first half of a sequence unlike the generic law (fast decay, strong
    productivity), it is the better law on the second half."""
    span = 60 * 86400.0
    t, log_e = simulate_etas(mu=3e-4, k=generic_law(1.0).k * 0.3, alpha=1.6, c_s=300.0, p=1.5,
                             b_value=1.0, mc_log_e=1.0, span_s=span, seed=4)
    fit = fit_etas(t, log_e, 0.0, span / 2, mc_log_e=1.0)
    half = t <= span / 2
    generic = generic_law(1.0, int(half.sum()) * 0.5 / (span / 2))
    assert log_likelihood(fit.params, t, log_e, span / 2, span) > log_likelihood(
        generic, t, log_e, span / 2, span) + 10


def test_the_sweep_equals_the_sums_written_out() -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 950, 120))
    prod = rng.uniform(0.5, 2, (120, 2))
    rates = RATES[[10, 20, 24]]
    counted = rng.random(120) < 0.5
    start, end = 300.0, 950.0
    mask_a, mask_b = np.array([100.0, 500.0, 900.0]), np.array([350.0, 520.0, 2000.0])
    mask_w = np.array([0.0, 0.3, 0.6])  # the share of a stretch's events recorded
    g, h = sweep(t, prod, counted, start, end, mask_a, mask_b, rates, mask_w)
    want_g = np.array([[[(prod[:i, q] * np.exp(-r * (t[i] - t[:i]))).sum() for r in rates]
                        for i in np.flatnonzero(counted)] for q in range(2)])
    np.testing.assert_allclose(g, want_g, rtol=1e-12)
    u = np.linspace(start, end, 650_001)
    weight = np.ones(u.size)
    for a, b, w in zip(mask_a, mask_b, mask_w, strict=True):
        weight[(u >= a) & (u < b)] = w
    du = u[1] - u[0]
    want_h = np.array([[sum(prod[j, q] * (weight[u > t[j]] * np.exp(-r * (u[u > t[j]] - t[j]))
                                          ).sum() * du for j in range(t.size))
                        for r in rates] for q in range(2)])
    np.testing.assert_allclose(h, want_h, rtol=1e-4)


@pytest.mark.parametrize("kind", ["constant", "weekly", "driven"])
def test_a_background_integral_is_its_rate_integrated(kind: str) -> None:
    bg = {"constant": Background("constant", 2e-4),
          "weekly": Background.weekly(2e-4, [0.1, -0.2, 0.3, 0.0, 0.2, -1.1], [-0.7, 0.1, 0.2],
                                      utc_offset_s=7 * 3600.0),
          "driven": Background("driven", 2e-4, mu1=1.5e-4, driver="volume", driver_mean=500.0),
          }[kind]
    t0, horizon = 1_600_000_123.0, 30 * 3600.0
    u = np.linspace(t0, t0 + horizon, 300_001)
    numeric = np.trapezoid([bg.rate(float(v), 800.0) for v in u[::100]], u[::100])
    assert bg.integral(t0, horizon, 800.0) == pytest.approx(numeric, rel=2e-3)
    assert math.isfinite(bg.rate(t0, math.nan))  # no driver known yet: at its mean
