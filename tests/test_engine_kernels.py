"""The search engine's kernels against their NumPy twins (dscref._reference.engine), exactly:
table rows, pair tables, the reservoir top-k; and dscref.index.tables.query_rows (the per-list
path's rows) against the same twin."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dscref._kernels import engine as kern
from dscref._kernels import select
from dscref._reference.engine import pair_gram_ref, pair_sdc_ref, rows_ref, topk_pairs_ref
from dscref.index.tables import query_rows


def _quantizer(seed, M, ksub, dsub, scale=1.0):
    rng = np.random.default_rng(seed)
    cb = (scale * rng.standard_normal((M, ksub, dsub))).astype(np.float32)
    cb[:, :2] = 0.0  # exact zeros and -0.0 products
    return rng, cb, (cb.astype(np.float64) ** 2).sum(-1)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(1, 8), st.sampled_from([2, 16, 256]), st.integers(1, 40),
       st.sampled_from([1e-3, 1.0, 1e3]))
def test_rows_kernel_equals_twin_and_tables(seed, M, ksub, dsub, scale):
    rng, cb, n2 = _quantizer(seed, M, ksub, dsub, scale)
    v = (scale * rng.standard_normal((M, dsub))).astype(np.float32)
    vn2 = (v.astype(np.float64) ** 2).sum(1)
    gram, sdc = np.empty((M, ksub), np.float32), np.empty((M, ksub), np.float32)
    kern.rows(np.ascontiguousarray(cb.transpose(0, 2, 1)), n2, v, vn2, gram, sdc)
    sdc_ref, gram_ref = rows_ref(cb, n2, v, vn2)
    assert np.array_equal(gram, gram_ref) and np.array_equal(sdc, sdc_ref)
    sdc_t, gram_t = query_rows(cb, n2, v, vn2)
    assert np.array_equal(gram_t, gram_ref) and np.array_equal(sdc_t, sdc_ref)
    # and they are the distances: ||v_m - r_mj||^2
    brute = ((v[:, None, :].astype(np.float64) - cb) ** 2).sum(-1)
    np.testing.assert_allclose(sdc, brute, rtol=1e-4, atol=1e-4 * scale * scale * dsub)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(1, 4), st.sampled_from([4, 32]), st.integers(1, 20))
def test_pair_tables_are_the_rows_of_every_code(seed, M, ksub, dsub):
    _, cb, n2 = _quantizer(seed, M, ksub, dsub)
    G = np.empty((M, ksub, ksub), np.float32)
    kern.pair_gram(np.ascontiguousarray(cb.transpose(0, 2, 1)), cb, G)
    assert np.array_equal(G, pair_gram_ref(cb))
    S = np.empty_like(G)
    kern.pair_sdc(G, n2, S)
    assert np.array_equal(S, pair_sdc_ref(G, n2))
    e = np.arange(M) % ksub
    sdc, gram = rows_ref(cb, n2, cb[np.arange(M), e], n2[np.arange(M), e])
    assert np.array_equal(S[np.arange(M), e], sdc) and np.array_equal(G[np.arange(M), e], gram)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10 ** 6), st.integers(1, 400), st.integers(1, 60), st.integers(1, 5))
def test_reservoir_topk_equals_a_stable_sort(seed, n, k, distinct):
    """Keys with many ties (``distinct`` values), offered in position order through the
    reservoir as the engine does: the k best (key, position) pairs, sorted."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, distinct * 3, n).astype(np.float64) / 3
    rk, ri = np.empty(2 * k), np.empty(2 * k, np.int64)
    n_r, thr = 0, np.inf
    for p, key in enumerate(keys):
        if key < thr:
            rk[n_r], ri[n_r] = key, p
            n_r += 1
            if n_r == 2 * k:
                thr = select.shrink(rk, ri, n_r, k)
                n_r = k
    D, P = np.empty(k, np.float32), np.empty(k, np.int64)
    select.finish(rk, ri, n_r, k, 1.0, D, P)
    ref_k, ref_p = topk_pairs_ref(keys, k)
    m = min(k, n)
    assert np.array_equal(P[:m], ref_p) and np.array_equal(D[:m], ref_k.astype(np.float32))
    assert (P[m:] == -1).all() and np.isposinf(D[m:]).all()


def test_sort_handles_long_runs_and_presorted_input():
    for keys in (np.zeros(5000), np.arange(5000.0), np.arange(5000.0)[::-1].copy()):
        rk, ri = keys.copy(), np.arange(keys.size)
        select.sort(rk, ri, keys.size)
        ref_k, ref_p = topk_pairs_ref(keys, keys.size)
        assert np.array_equal(rk, ref_k) and np.array_equal(ri, ref_p)


def test_prefetch_has_no_effect_on_any_dtype():
    import numba as nb

    from dscref._kernels.prefetch import prefetch

    @nb.njit
    def touched_sum(a):
        for i in range(0, a.shape[0], 7):
            prefetch(a, i)
        return a.sum()

    for dt in (np.uint8, np.float32, np.float64, np.int64):
        a = np.arange(100).astype(dt)
        before = a.copy()
        assert touched_sum(a) == a.sum() and np.array_equal(a, before)
