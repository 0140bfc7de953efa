"""Space-time ETAS: the kernel's closed forms, and the joint fit's recovery of known parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from stream_models.seismology.simulate import simulate_spacetime
from stream_models.seismology.spacetime_fit import fit_spacetime
from stream_models.seismology.spatial import SpatialKernel, generic_kernel


def test_the_kernel_is_a_density_whose_mass_and_radius_agree() -> None:
    k = SpatialKernel(40.0, 1.8, 1.0)
    for log_e in (3.0, 4.0, 5.5):
        total, _ = integrate.quad(lambda r, m=log_e: 2 * math.pi * r * float(k.density(r * r, m)),
                                  0, np.inf)
        assert total == pytest.approx(1.0, rel=1e-6)
        r90 = k.radius(0.9, log_e)
        assert k.mass_within(r90, log_e) == pytest.approx(0.9, rel=1e-9)


def test_sampled_offsets_follow_the_kernel() -> None:
    k = generic_kernel()
    dx, dy = k.sample(np.random.default_rng(1), np.full(40_000, 4.0))
    r = np.hypot(dx, dy)
    for share in (0.25, 0.5, 0.75):
        assert np.mean(r <= k.radius(share, 4.0)) == pytest.approx(share, abs=0.01)


def test_the_generic_kernel_is_tens_of_metres_for_a_1e4_j_tremor_and_grows_with_size() -> None:
    k = generic_kernel()
    assert 10.0 <= k.scale_m(4.0) <= 100.0
    assert k.scale_m(5.5) == pytest.approx(k.scale_m(4.0) * math.sqrt(10))


def test_the_joint_fit_recovers_simulated_parameters() -> None:
    """Tolerances from six catalogs of this size (seeds 1-6, ~500 events each): d 43-52 m
    (true 50), q 1.55-1.74 (1.7), gamma 1.03-1.22 (1.0), p 1.13-1.33 (1.15), alpha
    0.94-1.02 (1.0), mu within 13 %; K trades off against c and p, as in any ETAS fit."""
    truth = {"mu": 3e-5, "k": 0.45, "alpha": 1.0, "c_s": 120.0, "p": 1.15}  # branching ~0.5
    kernel = SpatialKernel(50.0, 1.7, 1.0)
    span = 120 * 86400.0
    t, x, y, log_e = simulate_spacetime(**truth, kernel=kernel, b_value=1.0, mc_log_e=2.0,
                                        span_s=span, side_m=5000.0, seed=4, max_log_e=6.5)
    fit = fit_spacetime(t, x, y, log_e, 2.0, 0.0, span)
    assert fit.n_events > 400
    assert fit.kernel.d_m == pytest.approx(kernel.d_m, rel=0.2)
    assert fit.kernel.q == pytest.approx(kernel.q, abs=0.25)
    assert fit.kernel.gamma == pytest.approx(kernel.gamma, abs=0.3)
    assert fit.p == pytest.approx(truth["p"], abs=0.2)
    assert fit.alpha == pytest.approx(truth["alpha"], abs=0.15)
    assert fit.mu == pytest.approx(truth["mu"], rel=0.25)
