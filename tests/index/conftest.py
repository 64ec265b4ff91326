"""Fixtures shared by the index tests (tests/index/): data and small built indexes.

Two families, as the tests were written: clustered, labelled data (3000 x 32, 20 partitions) for
DSC, IVF and flat PQ (``lut``, ``lut_index``), and unlabelled points on the sphere (1500 x 16)
for the multi-index and IVF+G+P (``x``, ``queries``, ``imi``, ``gp``, ``gp_centroid``). Built
indexes are session-scoped (built once); a test that changes one (``gp.prune``) restores it.
The generators behind them are in ``index_data.py``.
"""

import numpy as np
import pytest

from dscref.index import GPIndex, IMIIndex
from index_data import D, KW, lut_build, lut_data, sphere_data


@pytest.fixture(scope="module")
def lut():
    """``lut_data()``: a fresh generator per test module (the tests draw their queries from it)."""
    return lut_data()


@pytest.fixture(scope="session", params=["dsc", "ivf", "flat"])
def lut_index(request):
    """``(kind, index)`` built on ``lut_data()`` with ``keep_vectors=True``."""
    x, labels, _ = lut_data()
    return request.param, lut_build(request.param, x, labels, keep_vectors=True)


@pytest.fixture(scope="session")
def x():
    return sphere_data()


@pytest.fixture(scope="session")
def queries(x):
    rng = np.random.default_rng(1)
    q = x[:6] + 0.1 * rng.standard_normal((6, D)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def imi(x):
    return IMIIndex(n_centroids_per_half=6, coarse_iter=8, **KW).build(x)


@pytest.fixture(scope="session")
def gp(x):
    return GPIndex(n_lists=16, n_neighbors=4, coarse_iter=8, **KW).build(x)


@pytest.fixture(scope="session")
def gp_centroid(x):
    return GPIndex(n_lists=16, n_neighbors=4, coarse_iter=8, residual="centroid", alpha="global",
                   **KW).build(x)


@pytest.fixture(scope="session")
def gp_per_list(x):
    """G+P with one residual PQ per cell of >= 100 training rows (about half the 16 cells), the
    others on the shared one: both kinds of list in one index."""
    ix = GPIndex(n_lists=16, n_neighbors=4, coarse_iter=8, pq_per_list=True, min_partition_size=100,
                 **KW).build(x)
    assert 0 < ix.own_pq_lists.size < 16
    return ix
