"""Robust index assignment of PQ codewords (dscref.assignment) and its kernels."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref._kernels import assignment as kern
from dscref._reference import assignment as ref
from dscref.assignment import (
    apply_permutation,
    assignment_distortion,
    distance_table,
    error_patterns,
    permute_codes,
    robust_permutation,
)
from dscref.pq import ProductQuantizer
from dscref.scoring import adc_l2


def _random_problem(seed, nbits, order):
    rng = np.random.default_rng(seed)
    n = 1 << nbits
    c = rng.standard_normal((n, 3))
    S = ((c[:, None] - c[None]) ** 2).sum(-1)
    w = rng.random(n)
    w /= w.sum()
    inv = rng.permutation(n).astype(np.int64)
    pats, probs = error_patterns(nbits, 0.05, order)
    return S, w, inv, pats, probs, rng


# --------------------------------------------------------------------------- kernels vs reference
@given(seed=st.integers(0, 2 ** 31), nbits=st.integers(1, 5), order=st.sampled_from([1, 2, None]))
def test_cost_and_swap_delta_kernels_match_reference(seed, nbits, order):
    S, w, inv, pats, probs, rng = _random_problem(seed, nbits, order)
    c = kern.assignment_cost(S, w, inv, pats, probs)
    assert c == pytest.approx(ref.assignment_cost_ref(S, w, inv, pats, probs), rel=1e-12, abs=1e-14)
    contrib = np.empty(inv.size)
    kern.contributions(S, w, inv, pats, probs, contrib)
    assert contrib.sum() == pytest.approx(2 * c, rel=1e-12, abs=1e-14)
    i, j = rng.integers(0, inv.size, 2)
    d = kern.swap_delta(S, w, inv, pats, probs, int(i), int(j))
    assert d == pytest.approx(ref.swap_delta_ref(S, w, inv, pats, probs, i, j), rel=1e-9, abs=1e-12)


def test_exact_cost_equals_enumeration():
    rng = np.random.default_rng(1)
    pq = ProductQuantizer(1, 4, seed=0).fit(rng.standard_normal((400, 2)).astype(np.float32))
    w = rng.random(16)
    perm = rng.permutation(16)[None]
    got = assignment_distortion(pq, perm, 0.07, weights=w, order=None)[0]
    want = ref.exact_distortion_ref(pq.codebooks_[0], w / w.sum(), perm[0], 0.07)
    assert got == pytest.approx(want, rel=1e-12)


def test_distance_table_is_the_pairwise_squared_distance():
    rng = np.random.default_rng(2)
    c = rng.standard_normal((9, 5)).astype(np.float32)
    S = distance_table(c)
    assert S.dtype == np.float64 and S.shape == (9, 9)
    np.testing.assert_array_equal(np.diag(S), 0.0)
    np.testing.assert_allclose(S, ((c[:, None].astype(float) - c[None]) ** 2).sum(-1), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- index assignment
def test_binary_switching_provably_lowers_exact_distortion():
    rng = np.random.default_rng(3)
    pq = ProductQuantizer(2, 4, seed=0, n_iter=10).fit(rng.standard_normal((2000, 4)).astype(np.float32))
    codes = pq.encode(rng.standard_normal((2000, 4)).astype(np.float32))
    w = np.stack([np.bincount(codes[:, m], minlength=16) for m in range(2)]).astype(float)
    for p in (0.01, 0.1):
        perm = robust_permutation(pq, p, weights=w, order=None)
        for m in range(2):
            wm = w[m] / w[m].sum()
            d_id = ref.exact_distortion_ref(pq.codebooks_[m], wm, np.arange(16), p)
            d_opt = ref.exact_distortion_ref(pq.codebooks_[m], wm, perm[m], p)
            assert d_opt < 0.95 * d_id
        # a local minimum: no single swap improves the (exact) objective
        pats, probs = error_patterns(4, p, None)
        S = ((pq.codebooks_[0][:, None].astype(float) - pq.codebooks_[0][None]) ** 2).sum(-1)
        inv = np.argsort(perm[0])
        deltas = [kern.swap_delta(S, w[0] / w[0].sum(), inv, pats, probs, i, j)
                  for i, j in itertools.combinations(range(16), 2)]
        assert min(deltas) > -1e-9


def test_permutation_is_deterministic_and_first_order_is_cheaper_objective():
    rng = np.random.default_rng(4)
    pq = ProductQuantizer(2, 5, seed=0, n_iter=5).fit(rng.standard_normal((3000, 4)).astype(np.float32))
    a = robust_permutation(pq, 0.02, seed=7, n_restarts=2)
    b = robust_permutation(pq, 0.02, seed=7, n_restarts=2)
    np.testing.assert_array_equal(a, b)
    for order in (1, 2):
        perm = robust_permutation(pq, 0.02, order=order)
        assert (np.sort(perm, 1) == np.arange(32)).all()
        assert (assignment_distortion(pq, perm, 0.02) <= assignment_distortion(pq, None, 0.02) + 1e-12).all()


def test_apply_permutation_and_permute_codes():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1000, 8)).astype(np.float32)
    pq = ProductQuantizer(2, 4, seed=0).fit(x)
    perm = np.stack([rng.permutation(16), rng.permutation(16)])
    new = apply_permutation(pq, perm)
    codes = pq.encode(x)
    np.testing.assert_array_equal(new.encode(x), permute_codes(codes, perm))
    np.testing.assert_array_equal(new.decode(permute_codes(codes, perm)), pq.decode(codes))
    assert pq.codebooks_ is not new.codebooks_


def test_robust_assignment_lowers_reconstruction_error_at_moderate_ber():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6000, 16)).astype(np.float32)
    pq = ProductQuantizer(4, 6, seed=0, n_iter=8).fit(x)
    codes = pq.encode(x[:3000])
    w = np.stack([np.bincount(codes[:, m], minlength=64) for m in range(4)]).astype(float)
    perm = robust_permutation(pq, 0.03, weights=w)
    rpq = apply_permutation(pq, perm)
    rcodes = permute_codes(codes, perm)
    ber = 0.03
    flips = (rng.random((codes.shape[0], 4, 6)) < ber).astype(np.int64)  # same flips for both
    mask = (flips << np.arange(5, -1, -1)).sum(-1).astype(np.uint8)
    err_plain = ((pq.decode(codes ^ mask) - pq.decode(codes)) ** 2).sum(1).mean()
    err_rob = ((rpq.decode(rcodes ^ mask) - rpq.decode(rcodes)) ** 2).sum(1).mean()
    assert err_rob < 0.8 * err_plain


# --------------------------------------------------------------------------- errors
def test_bad_inputs_raise(robust_built):
    x, labels, index, robust = robust_built
    pq = index.pqs_[0]
    with pytest.raises(ValueError, match="p=0.7"):
        robust_permutation(pq, 0.7)
    with pytest.raises(TypeError, match="ProductQuantizer"):
        robust_permutation("pq")
    with pytest.raises(ValueError, match="weights"):
        robust_permutation(pq, 0.01, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a permutation"):
        apply_permutation(pq, np.zeros((4, 64), dtype=np.int64))
    with pytest.raises(TypeError, match="uint8"):
        permute_codes(np.zeros((2, 4), np.int64), robust.robust_perms_[0])


def test_permute_codes_and_adc_share_one_code_array_check():
    """_validate.as_codes: the same messages for the ADC kernels and permute_codes."""
    perm = np.tile(np.arange(4), (2, 1))
    lut = np.zeros((2, 4), np.float32)
    for fn in (lambda c: permute_codes(c, perm), lambda c: adc_l2(lut, c)):
        with pytest.raises(ValueError, match=r"codes must be 2-D \(n, M\), got shape \(3,\)"):
            fn(np.zeros(3, np.uint8))
        with pytest.raises(TypeError, match="codes must be uint8 or uint16, got dtype int32"):
            fn(np.zeros((3, 2), np.int32))
    with pytest.raises(ValueError, match="codes hold 4, outside the permutation's 4 entries"):
        permute_codes(np.full((3, 2), 4, np.uint8), perm)
    with pytest.raises(ValueError, match="codes hold 4, outside the table's 4 entries"):
        adc_l2(lut, np.full((3, 2), 4, np.uint8))
