"""Tests of dscref.channel.allocation: the optimal linear power allocation against a numerical
optimiser and its KKT conditions, its limits, and the LMMSE distortion."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from dscref.channel.allocation import linear_power_allocation, lmmse_distortion


def _total(lam, p, N):
    return float(lmmse_distortion(lam, p, N).sum())


def test_doc_examples_by_hand():
    # lambda = (4, 1), N = 1, P = 1: f(2) = (1 + 2) * 1 - 1 * 3 = 0, so only the first is on
    np.testing.assert_allclose(linear_power_allocation([4.0, 1.0], 1.0, 1.0), [1.0, 0.0])
    # N = 0.1: both on, p_i = (P + 2N) sqrt(lambda_i) / (2 + 1) - N = (0.8 - 0.1, 0.4 - 0.1)
    np.testing.assert_allclose(linear_power_allocation([4.0, 1.0], 0.1, 1.0), [0.7, 0.3])


@pytest.mark.parametrize("N", [1e-3, 0.05, 0.5, 3.0, 40.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_a_numerical_optimiser(N, seed):
    rng = np.random.default_rng(seed)
    lam = np.sort(rng.gamma(0.7, 1.0, 12))[::-1] * 2.0
    P = 3.0
    p = linear_power_allocation(lam, N, P)
    assert p.sum() == pytest.approx(P, rel=1e-12) and (p >= 0).all()
    res = minimize(lambda q: _total(lam, np.maximum(q, 0), N), np.full(lam.size, P / lam.size),
                   method="SLSQP", bounds=[(0, None)] * lam.size,
                   constraints=[{"type": "eq", "fun": lambda q: q.sum() - P}],
                   options={"ftol": 1e-14, "maxiter": 2000})
    assert res.success, res.message
    # the closed form is at least as good as the optimiser, and the optimiser finds it
    assert _total(lam, p, N) <= res.fun + 1e-9
    np.testing.assert_allclose(p, np.maximum(res.x, 0), atol=2e-3 * P)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=30), st.floats(1e-6, 1e3), st.floats(1e-3, 1e3))
def test_kkt_conditions(lam, N, P):
    lam = np.asarray(lam)
    p = linear_power_allocation(lam, N, P)
    assert (p >= 0).all()
    if not (lam > 0).any():
        assert not p.any()
        return
    assert p.sum() == pytest.approx(P, rel=1e-9)
    assert not p[lam == 0].any()
    # marginal gain dD_i/dp_i = lambda_i N / (p_i + N)^2 equal on the active set (= mu) and
    # at most mu where p_i = 0
    slope = lam * N / (p + N) ** 2
    on = p > 1e-12 * P
    mu = slope[on]
    np.testing.assert_allclose(mu, mu.mean(), rtol=1e-6)
    assert (slope[~on] <= mu.mean() * (1 + 1e-6)).all()


@settings(deadline=None, max_examples=100)
@given(st.lists(st.floats(0.01, 100.0), min_size=2, max_size=20), st.floats(1e-4, 1e2), st.integers(0, 2**31 - 1))
def test_beats_equal_allocation_and_is_order_free(lam, N, seed):
    lam = np.asarray(lam)
    P = float(lam.size)
    p = linear_power_allocation(lam, N, P)
    assert _total(lam, p, N) <= _total(lam, np.full(lam.size, P / lam.size), N) * (1 + 1e-12)
    perm = np.random.default_rng(seed).permutation(lam.size)
    np.testing.assert_allclose(linear_power_allocation(lam[perm], N, P), p[perm], rtol=1e-12, atol=1e-12)


def test_strictly_better_than_equal_for_unequal_variances():
    lam, N, P = np.array([9.0, 1.0, 0.1]), 0.2, 3.0
    opt = _total(lam, linear_power_allocation(lam, N, P), N)
    eq = _total(lam, np.full(3, 1.0), N)
    assert opt < 0.9 * eq


def test_closed_form_distortion():
    lam, N, P = np.array([5.0, 2.0, 1.0, 0.01]), 0.3, 2.0
    p = linear_power_allocation(lam, N, P)
    k = int((p > 0).sum())
    S = np.sqrt(lam[:k]).sum()
    assert _total(lam, p, N) == pytest.approx(N * S ** 2 / (P + k * N) + lam[k:].sum(), rel=1e-12)


def test_limits():
    lam = np.array([4.0, 1.0, 0.25, 0.0])
    # noise-free: every non-zero component, power in proportion to its standard deviation
    np.testing.assert_allclose(linear_power_allocation(lam, 0.0, 7.0), [4.0, 2.0, 1.0, 0.0])
    # very noisy: everything on the strongest component
    np.testing.assert_allclose(linear_power_allocation(lam, 1e6, 1.0), [1.0, 0.0, 0.0, 0.0])
    # more components switch on as the SNR grows
    active = [int((linear_power_allocation(lam, N, 1.0) > 0).sum()) for N in (10.0, 1.0, 0.1, 0.01)]
    assert active == sorted(active) and active[0] < active[-1]
    assert not linear_power_allocation(np.zeros(3), 1.0, 1.0).any()
    assert linear_power_allocation([], 1.0, 1.0).shape == (0,)


def test_lmmse_distortion_values():
    d = lmmse_distortion([2.0, 2.0, 3.0], [1.0, 0.0, 5.0], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(d, [1.0, 2.0, 0.0])  # 2*1/(1+1); not sent: its variance; noise-free
    np.testing.assert_allclose(lmmse_distortion([2.0], [1.0], 1.0), [1.0])


@pytest.mark.parametrize("args, exc, words", [
    (([1.0, -1.0], 1.0, 1.0), ValueError, "variances"),
    (([1.0, np.nan], 1.0, 1.0), ValueError, "finite"),
    (([[1.0]], 1.0, 1.0), ValueError, "1-D"),
    ((["a"], 1.0, 1.0), TypeError, "variances"),
    (([1.0], -1.0, 1.0), ValueError, "noise_var"),
    (([1.0], np.inf, 1.0), ValueError, "noise_var"),
    (([1.0], 1.0, 0.0), ValueError, "total_power"),
    (([1.0], 1.0, "1"), TypeError, "total_power"),
])
def test_validation(args, exc, words):
    with pytest.raises(exc, match=words):
        linear_power_allocation(*args)


def test_lmmse_distortion_validation():
    with pytest.raises(ValueError, match="powers"):
        lmmse_distortion([1.0, 2.0], [1.0], 1.0)
    with pytest.raises(ValueError, match="noise_var"):
        lmmse_distortion([1.0], [1.0], -1.0)


def test_numeric_envelope():
    # scale-free in the variances (D_i = lambda_i N / (p_i + N) scales, its argmin does not)
    lam = np.array([4.0, 1.0, 0.25])
    ref = linear_power_allocation(lam, 0.1, 2.0)
    for scale in (1e-300, 1e-30, 1e30, 1e300):
        np.testing.assert_allclose(linear_power_allocation(lam * scale, 0.1, 2.0), ref, rtol=1e-9)
    np.testing.assert_allclose(linear_power_allocation(lam, 1e-300, 2.0), 2.0 * np.sqrt(lam) / 3.5, rtol=1e-12)
    with pytest.raises(ValueError, match="overflows"):
        linear_power_allocation(lam, 1e308, 1e308)
    # N / (p + N) without overflow
    np.testing.assert_allclose(lmmse_distortion([1e300], [1e308], [1e308]), [0.5e300])
