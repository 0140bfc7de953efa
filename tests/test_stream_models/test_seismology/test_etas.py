"""The ETAS law in O(1) per event: the incremental kernel sums equal the Omori-Utsu sum written
out, a fitted alpha's row rebuilt from the history equals the one kept incrementally, and the
Gutenberg-Richter tail carries counts between energies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_models.seismology.background import Background
from stream_models.seismology.etas import EtasParams, EtasState, decayed_sums, generic_law
from stream_models.seismology.gr import log_tail


def _catalog(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 30 * 86400, n))
    return t, 1 + rng.exponential(1 / math.log(10) * 1.5, t.size)


@pytest.mark.parametrize("alpha", [1.0, 1.37])
def test_incremental_intensity_equals_the_direct_omori_sum(alpha: float) -> None:
    params = EtasParams(Background("constant", 1e-4), 0.05, alpha, 60.0, 1.1, 1.0)
    t, log_e = _catalog()
    state = EtasState()
    if alpha != 1.0:
        state.set_fit_alpha(alpha, t[:0], log_e[:0])
    for ti, li in zip(t, log_e, strict=True):
        state.add(float(ti), float(li))
    now = float(t[-1]) + 600
    direct = params.mu + sum(
        params.k * 10 ** (alpha / 1.5 * (li - 4.0)) * (now - ti + params.c_s) ** -params.p
        for ti, li in zip(t, log_e, strict=True)
    )
    assert state.intensity(params, now) == pytest.approx(direct, rel=0.02)


def test_a_fitted_alphas_sums_rebuilt_from_the_history_equal_the_incremental_ones() -> None:
    t, log_e = _catalog(1)
    kept = EtasState()
    kept.set_fit_alpha(0.8, t[:0], log_e[:0])
    late = EtasState()
    for ti, li in zip(t, log_e, strict=True):
        kept.add(float(ti), float(li))
        late.add(float(ti), float(li))
    late.set_fit_alpha(0.8, t, log_e)  # promoted now: its row rebuilt from the history
    np.testing.assert_allclose(late.sums[1], kept.sums[1], rtol=1e-9)
    np.testing.assert_allclose(decayed_sums(t, log_e, 1.0, float(t[-1])), kept.sums[0],
                               rtol=1e-9)


def test_an_alpha_without_sums_is_refused() -> None:
    state = EtasState()
    state.add(0.0, 2.0)
    params = EtasParams(Background("constant", 1e-4), 0.05, 0.7, 60.0, 1.1, 1.0)
    with pytest.raises(ValueError, match="no sums for alpha"):
        state.expected(params, 10.0, 3600.0)


def test_the_generic_law_has_the_stated_branching_ratio() -> None:
    assert generic_law(1.0).branching_ratio() == pytest.approx(0.5, rel=1e-6)
    assert generic_law(2.5).branching_ratio() == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("b", [0.8, 1.0, 1.2])
def test_the_tail_is_the_gutenberg_richter_fraction_of_the_count(b: float) -> None:
    """Two decades of energy: 10^(-b/1.5 * 2) of the events (log10 E = 1.5 M + 4.8)."""
    assert math.exp(log_tail(2.0, 4.0, b)) == pytest.approx(10 ** (-(b / 1.5) * 2.0))
    assert log_tail(4.0, 2.0, b) == 0.0  # never a count raised above the one it came from
