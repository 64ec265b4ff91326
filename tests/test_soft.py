"""Soft-decision ADC (dscref.soft): posteriors, expected tables, and the index's soft path."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref import bitpack
from dscref._kernels import soft as kern
from dscref._reference import soft as ref
from dscref.channel import AWGN, transmit_bits
from dscref.index.robust import soft_search
from dscref.query import Query
from dscref.soft import expected_rows, hard_codes, posteriors, soft_lut_l2


# --------------------------------------------------------------------------- kernels vs reference
@given(seed=st.integers(0, 2 ** 31), M=st.integers(1, 3), nbits=st.integers(1, 6),
       scale=st.sampled_from([0.0, 0.5, 3.0, np.inf]), w=st.sampled_from([None, 1, 3]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_posteriors_and_expected_rows_match_reference(seed, M, nbits, scale, w, dtype):
    rng = np.random.default_rng(seed)
    llr = rng.standard_normal(M * nbits) * scale if np.isfinite(scale) else \
        np.where(rng.random(M * nbits) < 0.5, np.inf, -np.inf)
    post = posteriors(llr, M, nbits)
    np.testing.assert_allclose(post, ref.posteriors_ref(llr, M, nbits), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(post.sum(1), 1.0, rtol=1e-12)
    assert (post >= 0).all()
    ksub = 1 << nbits
    table = rng.random((M, ksub, ksub if w is None else w)).astype(dtype)  # SDC rows, codewords, norms
    out = np.empty((M, table.shape[2]))
    kern.expected_rows(post, table, out)
    np.testing.assert_array_equal(out, ref.expected_rows_ref(post, table))
    np.testing.assert_array_equal(expected_rows(post, table), out)
    np.testing.assert_array_equal(expected_rows(post, table[:, :, 0]), out[:, 0])  # a 2-D table: (M,)


def test_expected_rows_of_certain_codes_are_the_rows_themselves():
    rng = np.random.default_rng(0)
    e = rng.integers(0, 16, 3)
    bits = bitpack.bytes_to_bits(bitpack.pack(e, 4))[:12]
    post = posteriors(np.where(bits == 0, np.inf, -np.inf), 3, 4)
    for table in (rng.random((3, 16, 5)).astype(np.float32), rng.standard_normal((3, 16))):
        np.testing.assert_array_equal(expected_rows(post, table), table[np.arange(3), e])


# --------------------------------------------------------------------------- soft-decision ADC
@pytest.mark.parametrize("big", [np.inf, 1e9])
def test_certain_llrs_reproduce_hard_adc_table(robust_built, big):
    x, labels, index, robust = robust_built
    rng = np.random.default_rng(0)
    sdc = index.pqs_[1].sdc_table()
    e = rng.integers(0, 64, 4)
    bits = bitpack.bytes_to_bits(bitpack.pack(e, 6))[:24]
    llr = np.where(bits == 0, big, -big)
    np.testing.assert_array_equal(hard_codes(llr, 4, 6), e.astype(np.uint8))
    np.testing.assert_array_equal(soft_lut_l2(sdc, llr, 6), sdc[np.arange(4), e])


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_soft_search_with_certain_bits_equals_hard_search(robust_built, metric):
    x, labels, index, robust = robust_built
    q = index.encode_query(x[3], [labels[3], 1, 2] if labels[3] not in (1, 2) else [labels[3], 7, 8])
    bits = np.stack([bitpack.bytes_to_bits(bitpack.pack(c.astype(np.int64), 6))[:24] for c in q.codes])
    llr = np.where(bits == 0, np.inf, -np.inf)
    hard = index.search(q, 20, metric)
    soft = soft_search(index, q.labels, llr, 20, metric)
    np.testing.assert_array_equal(soft.I, hard.I)
    if metric == "l2":
        np.testing.assert_array_equal(soft.D, hard.D)
    else:
        np.testing.assert_allclose(soft.D, hard.D, rtol=1e-5)


def test_index_soft_l2_scores_are_the_expected_distance_table(robust_built):
    """The index's soft path and soft_lut_l2 compute one expectation (dscref.soft.expected_rows):
    its L2 scores are the ADC of E ||r^q_m - r_mj||^2, up to float32 rounding of the table."""
    from dscref.scoring import adc_l2

    x, labels, index, robust = robust_built
    rng = np.random.default_rng(1)
    lab = int(labels[5])
    q = index.encode_query(x[5], [lab])
    llr = rng.standard_normal((1, 24)) * 2
    got = soft_search(index, q.labels, llr, index.ntotal).D[0]
    a, b = index.offsets_[lab], index.offsets_[lab + 1]
    pq = index.pqs_[index.list_pq_[lab]]
    want = np.sort(adc_l2(soft_lut_l2(pq.sdc_table(), llr[0], 6), index.codes_[a:b]))
    np.testing.assert_allclose(got[:b - a], want, rtol=1e-4, atol=1e-5)


def test_soft_adc_helps_on_noisy_codes(robust_built):
    """Soft-decision ADC of noisy codes finds more of the true 20 nearest neighbours than hard ADC."""
    x, labels, index, robust = robust_built
    rng = np.random.default_rng(2)
    found_h = found_s = 0
    for i in rng.choice(len(x), 100, replace=False):
        q = index.encode_query(x[i], [labels[i]])
        members = np.flatnonzero(labels == labels[i])
        true = set(members[np.argsort(((x[members] - x[i]) ** 2).sum(1))[:20]].tolist())
        bits = bitpack.bytes_to_bits(bitpack.pack(q.codes[0].astype(np.int64), 6))[:24]
        rx = transmit_bits(bits, "bpsk", AWGN(0.0), rng, soft=True)  # BER ~ 8 %
        found_h += len(true & set(index.search(Query(q.labels, hard_codes(rx.llr[None], 4, 6)), 20).I[0].tolist()))
        found_s += len(true & set(soft_search(index, q.labels, rx.llr[None], 20).I[0].tolist()))
    assert found_s > found_h


# --------------------------------------------------------------------------- errors
def test_bad_inputs_raise(robust_built):
    x, labels, index, robust = robust_built
    with pytest.raises(ValueError, match="NaN"):
        posteriors(np.full(24, np.nan), 4, 6)
    with pytest.raises(ValueError, match="shape"):
        posteriors(np.zeros(23), 4, 6)
    with pytest.raises(TypeError, match="LLRs"):
        posteriors(np.array(["a"] * 24), 4, 6)
    with pytest.raises(ValueError, match="code_llr"):
        index.search(Query([1], codes=np.zeros((1, 4), np.uint8), code_llr=np.zeros((1, 5))))
    with pytest.raises(ValueError, match="rows for"):
        soft_search(index, [1, 2], np.zeros((1, 24)))
    with pytest.raises(TypeError, match="InvertedPQIndex"):
        soft_search("index", [1], np.zeros((1, 24)))
    with pytest.raises(ValueError, match=r"shape \(M, ksub, ksub\)"):
        soft_lut_l2(np.zeros((4, 64, 8), np.float32), np.zeros(24), 6)
    with pytest.raises(ValueError, match="2\\*\\*nbits=64"):
        soft_lut_l2(np.zeros((4, 32, 32), np.float32), np.zeros(20), 6)
