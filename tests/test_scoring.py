import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dscref._reference.pq import adc_cosine_ref, adc_l2_ref, topk_ref
from dscref.scoring import adc_cosine, adc_l2, topk

seeds = st.integers(0, 2**31 - 1)


@given(seeds, st.integers(1, 16), st.integers(1, 9), st.integers(0, 10000), st.integers(1, 5))
def test_adc_kernel_equals_reference_exactly(seed, M, nbits, n, nq):
    rng = np.random.default_rng(seed)
    luts = rng.random((nq, M, 1 << nbits)).astype(np.float32)
    codes = rng.integers(0, 1 << nbits, (n, M)).astype(np.uint8 if nbits <= 8 else np.uint16)
    out = adc_l2(luts, codes)
    for q in range(nq):
        np.testing.assert_array_equal(out[q], adc_l2_ref(luts[q], codes))
    np.testing.assert_array_equal(adc_l2(luts[0], codes), out[0])


@given(seeds, st.integers(1, 3000), st.integers(1, 60), st.booleans(), st.booleans())
def test_topk_matches_full_sort_with_ties(seed, n, k, largest, ties):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 20, n).astype(np.float32) if ties else rng.standard_normal(n).astype(np.float32)
    D, I = topk(s, k, largest=largest)
    rD, rI = topk_ref(s, k, largest=largest)
    np.testing.assert_array_equal(I, rI)
    np.testing.assert_array_equal(D, rD)
    if k > n:
        assert np.all(I[n:] == -1) and np.all(np.isinf(D[n:]))


def test_topk_batched_and_padding():
    s = np.array([[3.0, 1.0, 2.0], [0.0, 0.0, -1.0]], np.float32)
    D, I = topk(s, 5)
    assert I.tolist() == [[1, 2, 0, -1, -1], [2, 0, 1, -1, -1]]
    assert D[0, 3] == np.inf
    D, I = topk(s, 2, largest=True)
    assert I.tolist() == [[0, 2], [0, 1]]
    D, I = topk(s, 5, largest=True)
    assert D[0, 4] == -np.inf


def test_bad_inputs():
    lut = np.zeros((4, 16), np.float32)
    with pytest.raises(TypeError, match="uint8"):
        adc_l2(lut, np.zeros((3, 4), np.int64))
    with pytest.raises(ValueError, match="M=5"):
        adc_l2(lut, np.zeros((3, 5), np.uint8))
    with pytest.raises(ValueError, match="outside"):
        adc_l2(lut, np.full((3, 4), 16, np.uint8))
    with pytest.raises(ValueError, match="non-finite"):
        adc_l2(np.full((4, 16), np.nan, np.float32), np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match="k=0"):
        topk(np.zeros(3, np.float32), 0)
    with pytest.raises(ValueError, match="NaN"):
        topk(np.array([1.0, np.nan]), 1)
    with pytest.raises(TypeError):
        topk(np.array([1, 2]), 1)


@given(seeds, st.integers(1, 12), st.integers(1, 9), st.integers(0, 40000), st.integers(1, 150), st.integers(1, 120))
def test_fused_adc_topk_equals_scan_then_topk(seed, M, nbits, n, nq, k):
    """Single queries (uint64 words for M=8) and query blocks of up to 64 (nq > 64: several
    blocks, the last one padded), uint8 and uint16 codes."""
    from dscref.scoring import adc_l2_topk

    rng = np.random.default_rng(seed)
    # few distinct table values make ties frequent: the tie rule (smaller index) is exercised;
    # -0.0 entries check that sums start from +0.0 as in the reference
    luts = rng.integers(-2, 2, (nq, M, 1 << nbits)).astype(np.float32)
    luts[luts == 0] = -0.0
    codes = rng.integers(0, 1 << nbits, (n, M)).astype(np.uint8 if nbits <= 8 else np.uint16)
    n = min(n, 40000 * 8 // max(nq, 8))  # bound the (nq, n) reference matrix
    codes = codes[:n]
    D, I = adc_l2_topk(luts, codes, k)
    rD, rI = topk(adc_l2(luts, codes), k)
    np.testing.assert_array_equal(I, rI)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(np.signbit(D), np.signbit(rD))
    for q in range(min(nq, 2)):
        fD, fI = topk_ref(adc_l2_ref(luts[q], codes), k)
        np.testing.assert_array_equal(I[q], fI)


def test_topk_long_rows_match_reference():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 1000, (4, 1 << 20)).astype(np.float32)  # many ties
    for largest in (False, True):
        D, I = topk(s, 50, largest=largest)
        for r in range(4):
            rD, rI = topk_ref(s[r], 50, largest=largest)
            np.testing.assert_array_equal(I[r], rI)
            np.testing.assert_array_equal(D[r], rD)


@given(st.integers(0, 2**31 - 1), st.integers(1, 8), st.integers(0, 3000))
@settings(max_examples=25)
def test_adc_cosine_kernel_matches_reference(seed, M, n):
    rng = np.random.default_rng(seed)
    lut = rng.standard_normal((M, 64)).astype(np.float32)
    codes = rng.integers(0, 64, (n, M)).astype(np.uint8)
    norms = rng.random(n).astype(np.float32) * 3
    norms[: n // 10] = 0
    got = adc_cosine(lut, codes, 0.5, 2.0, norms)
    # float32 sums of M terms in another order: the error bound scales with the sum of the terms'
    # magnitudes, not with the (possibly cancelled) result
    mag = 0.5 + np.abs(lut)[np.arange(M), codes].sum(axis=1)
    den = np.sqrt(np.float32(2.0) * norms)
    tol = 4 * M * np.finfo(np.float32).eps * mag / np.where(den > 0, den, 1)
    ref = adc_cosine_ref(lut, codes, 0.5, 2.0, norms)
    assert np.all(np.abs(got - ref) <= tol + 1e-5 * np.abs(ref)), np.max(np.abs(got - ref) - tol)


@given(seeds, st.integers(1, 12), st.integers(1, 9), st.integers(0, 20000), st.integers(1, 64), st.integers(1, 100),
       st.integers(1, 4))
def test_blocked_topk_kernel_equals_reference(seed, M, nbits, n, nqb, k, n_parts):
    """The query-blocked scan + top-k kernel, for any block width and number of parts, equals the
    reference scan and full sort of every query of the block (ids, distances, -0.0 included)."""
    rng = np.random.default_rng(seed)
    luts = rng.integers(-2, 2, (nqb, M, 1 << nbits)).astype(np.float32)
    luts[luts == 0] = -0.0
    codes = rng.integers(0, 1 << nbits, (n, M)).astype(np.uint8 if nbits <= 8 else np.uint16)
    _check_blocked(luts, codes, k, n_parts)


def _check_blocked(luts, codes, k, n_parts):
    """The blocked kernel on every query of ``luts`` equals the reference scan + full sort."""
    from dscref._kernels import scoring as kern
    from dscref.scoring import _query_block

    nqb = luts.shape[0]
    D, I = np.empty((nqb, k), np.float32), np.empty((nqb, k), np.int64)
    kern.adc_l2_topk_blocked(_query_block(luts), nqb, codes, k, n_parts, D, I)
    for q in range(nqb):
        rD, rI = topk_ref(adc_l2_ref(luts[q], codes), k)
        np.testing.assert_array_equal(I[q], rI)
        np.testing.assert_array_equal(D[q], rD)
        np.testing.assert_array_equal(np.signbit(D[q]), np.signbit(rD))


@pytest.mark.parametrize("nbits,nqb,n_parts", [(8, 64, 2), (8, 5, 3), (9, 64, 1), (4, 17, 4)])
def test_blocked_topk_kernel_for_m8_equals_reference(nbits, nqb, n_parts):
    """M = 8 takes its own register-summing path (``_blocked_part8``): the same distances bit for
    bit, ties (integer tables) broken by id, -0.0 kept, as the reference."""
    rng = np.random.default_rng(nbits * 100 + nqb)
    luts = rng.integers(-2, 2, (nqb, 8, 1 << nbits)).astype(np.float32)
    luts[luts == 0] = -0.0
    luts[0] = rng.standard_normal((8, 1 << nbits)).astype(np.float32)  # one query without ties
    codes = rng.integers(0, 1 << nbits, (30000, 8)).astype(np.uint8 if nbits <= 8 else np.uint16)
    for k in (1, 100):
        _check_blocked(luts, codes, k, n_parts)


def test_batched_topk_takes_the_blocked_scan_for_long_lists():
    """Above 2^22 (query, code) pairs a batch runs in query blocks (70 queries: 64 + 6)."""
    from dscref.scoring import adc_l2_topk

    rng = np.random.default_rng(5)
    luts = rng.random((70, 8, 256)).astype(np.float32)
    codes = rng.integers(0, 256, (70000, 8), dtype=np.uint8)
    D, I = adc_l2_topk(luts, codes, 25)
    rD, rI = topk(adc_l2(luts, codes), 25)
    np.testing.assert_array_equal(I, rI)
    np.testing.assert_array_equal(D, rD)
