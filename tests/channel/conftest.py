"""Fixtures shared by the tests of dscref.channel.

Statistical tests use fixed seeds and two-sided bounds at alpha = 1e-6, so a failure means a bug,
not bad luck. The fixtures are session-scoped functions (plain helpers, usable from hypothesis
tests, which refuse function-scoped fixtures).
"""

import numpy as np
import pytest
from scipy import stats

ALPHA = 1e-6


@pytest.fixture(scope="session")
def random_bits():
    """``random_bits(n, seed)``: n random 0/1 bits as uint8 from a seeded generator."""
    def make(n, seed):
        return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)
    return make


@pytest.fixture(scope="session")
def chi2_ok():
    """``chi2_ok(sum_sq_over_var, dof)``: (inside the two-sided chi2 bound, (lo, value, hi))."""
    def check(sum_sq_over_var, dof):
        lo, hi = stats.chi2.ppf(ALPHA / 2, dof), stats.chi2.ppf(1 - ALPHA / 2, dof)
        return lo <= sum_sq_over_var <= hi, (lo, sum_sq_over_var, hi)
    return check


@pytest.fixture(scope="session")
def binom_interval():
    """``binom_interval(n, p)``: the two-sided binomial bound on the error count of n bits."""
    def interval(n, p):
        return stats.binom.interval(1 - ALPHA, n, p)
    return interval
