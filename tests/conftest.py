import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Bounded example counts keep the suite fast; deadline=None because the first call of a Numba
# kernel compiles it (seconds), which is not a property failure.
settings.register_profile(
    "dscref",
    max_examples=int(os.environ.get("DSCREF_HYPOTHESIS_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("dscref")


# --------------------------------------------------------------------------- shared fixtures
ROBUST_K = 20  # lists of the small DSC index of ``robust_built``


@pytest.fixture(scope="session")
def robust_built():
    """``(x, labels, index, robust)``: a small DSC index (K=20 lists, M=4, nbits=6) and its
    robust index assignment (p=0.02, order 2). Used by the soft-decision, head-code, codec and
    robust-index tests; never modified by them (copies are deep)."""
    from dscref.index.robust import make_index_robust
    from dscref.index.semantic import SemanticIndex

    rng = np.random.default_rng(0)
    n, d = 2500, 16
    C = rng.standard_normal((ROBUST_K, d)).astype(np.float32)
    labels = rng.integers(0, ROBUST_K, n)
    x = C[labels] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x, labels = x.astype(np.float32), labels.astype(np.int64)
    index = SemanticIndex(ROBUST_K, M=4, nbits=6, n_iter=6, seed=0, progress=False,
                          min_partition_size=100).build(x, labels)
    return x, labels, index, make_index_robust(index, p=0.02, order=2)


@pytest.fixture(scope="session")
def small_dsc_index():
    """The builder of :func:`_small_dsc_index` (the link tests' module fixtures call it)."""
    return _small_dsc_index


def _small_dsc_index(seed: int = 0):
    """A small DSC index of 2,500 clustered 16-d rows in 20 partitions (M=4, nbits=6), for the link
    tests: ``(xb, labels_b, index, rng)``, ``rng`` the generator that drew the data, to go on with."""
    from dscref.index import SemanticIndex

    rng = np.random.default_rng(seed)
    K, n, d = 20, 2500, 16
    centers = rng.standard_normal((K, d)).astype(np.float32)
    labels_b = rng.integers(0, K, n)
    xb = centers[labels_b] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    xb = (xb / np.linalg.norm(xb, axis=1, keepdims=True)).astype(np.float32)
    index = SemanticIndex(K, M=4, nbits=6, n_iter=6, seed=0, progress=False,
                          min_partition_size=100).build(xb, labels_b)
    return xb, labels_b, index, rng


def _same_ranking(r, D_old, I_old, rtol=1e-5):
    """The search results an old version of the code stored, up to float rounding: issue 23
    fixed the order of the table arithmetic (no BLAS), which moves scores in their last bits, so
    the scores must agree to ``rtol`` and the ids be the same except where two old scores are
    that close (a near-tie may swap, or trade the last place with an item just beyond it)."""
    np.testing.assert_allclose(r.D, D_old, rtol=rtol, atol=rtol)
    tol = rtol * np.maximum(1.0, np.abs(D_old))
    for q, u in zip(*np.nonzero(r.I != I_old)):
        where = np.flatnonzero(I_old[q] == r.I[q, u])
        if where.size:  # moved within the row: only past an old score that close
            assert abs(D_old[q, where[0]] - D_old[q, u]) <= tol[q, u], (q, u)
        else:  # entered the row: only at the old last place's score
            assert abs(r.D[q, u] - D_old[q, -1]) <= tol[q, -1], (q, u)


@pytest.fixture
def same_ranking():
    """:func:`_same_ranking`: compare search results with ones an older version stored."""
    return _same_ranking

