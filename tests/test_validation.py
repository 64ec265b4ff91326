"""Validation at the public boundary (issue 17, section 1): one query check shared by every
searcher, the channel's numeric envelope, NaN LLRs in every decode mode, and finite but absurd
numbers (huge features, huge k, zero sample sizes, NumPy scalars, another d)."""

import math
import re

import numpy as np
import pytest

from dscref import channel as ch
from dscref._validate import max_feature_abs
from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.index.base import Query
from dscref.index.flat import FlatPQIndex
from dscref.index.gp import GPIndex
from dscref.index.imi import IMIIndex
from dscref.index.ivf import IVFIndex
from dscref.index.semantic import SemanticIndex
from dscref.kmeans import KMeans, relocate_empty_clusters
from dscref.pq import ProductQuantizer
from dscref.robust import (LabelOrder, RobustLayout, decode_head_soft, decode_robust_payload, error_patterns,
                           robust_permutation, soft_search)
from dscref.scoring import adc_cosine, adc_l2_topk, topk

D = 16
KINDS = ["dsc", "ivf", "flat", "imi", "gp"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, D)).astype(np.float32)
    labels = rng.integers(0, 6, 400)
    return x, labels


@pytest.fixture(scope="module")
def indexes(data):
    x, labels = data
    return {
        "dsc": SemanticIndex(6, M=4, nbits=4, n_iter=2, seed=0, progress=False, keep_vectors=True).build(x, labels),
        "ivf": IVFIndex(5, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2).build(x),
        "flat": FlatPQIndex(M=4, nbits=4, n_iter=2, seed=0).build(x),
        "imi": IMIIndex(3, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2).build(x),
        "gp": GPIndex(5, n_neighbors=2, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2).build(x),
    }


def _query(index, x):
    return index.encode_query(x, [1, 2, 3]) if index.kind == "dsc" else index.encode_query(x, n_probe=2)


# ================================================================== queries: one check everywhere
@pytest.mark.parametrize("kind", KINDS)
def test_repeated_head_labels_are_refused_by_every_index(indexes, data, kind):
    index = indexes[kind]
    q = _query(index, data[0][0])
    dup = Query(labels=np.repeat(q.labels[:1], 2), codes=np.repeat(q.codes[:1], 2, axis=0))
    with pytest.raises(ValueError, match="duplicates"):  # used to return the same ids twice
        index.search(dup, k=20)
    with pytest.raises(ValueError, match="duplicates"):
        index.query_candidates(dup)
    soft = Query(labels=dup.labels, codes=dup.codes, code_llr=np.zeros((2, index.M * index.nbits)))
    with pytest.raises(ValueError, match="duplicates"):
        index.search(soft, k=20)


def test_non_integer_labels_are_refused_never_truncated(indexes, data):
    index = indexes["dsc"]
    q = _query(index, data[0][0])
    for bad in ([1.7, 2.2, 3.0], np.array([1.0, 2.0, 3.0]), ["1", "2", "3"], [True, False, True]):
        with pytest.raises(TypeError, match="integer dtype"):
            Query(labels=bad, codes=q.codes)
        with pytest.raises(TypeError, match="integer dtype"):
            index.encode_query(data[0][0], top_labels=bad)
    q.labels = np.array([1.5, 2.5, 3.5])  # mutated after construction: the search still checks
    with pytest.raises(TypeError, match="integer dtype"):
        index.search(q, k=5)
    with pytest.raises(ValueError, match="1-D"):
        Query(labels=[[1, 2]], codes=q.codes)
    assert Query(labels=[], codes=np.zeros((0, 4), np.uint8)).labels.dtype == np.int64  # [] is float64
    assert Query(labels=np.uint8(3), codes=q.codes[:1]).labels.tolist() == [3]


def test_codes_and_llrs_are_checked(indexes, data):
    index = indexes["ivf"]
    q = _query(index, data[0][0])
    with pytest.raises(TypeError, match="integer dtype"):  # float codes (1.5 would be truncated)
        index.search(Query(q.labels, q.codes.astype(np.float32) + 0.5), k=5)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        index.search(Query(q.labels, q.codes.astype(np.int64) + 16), k=5)
    with pytest.raises(ValueError, match="shape"):
        index.search(Query(q.labels, q.codes[:, :3]), k=5)
    llr = np.ones((q.labels.size, 16))
    with pytest.raises(TypeError, match="LLRs"):  # complex LLRs used to lose their imaginary part
        Query(q.labels, q.codes, code_llr=llr + 1j)
    bad = llr.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN at index \(1, 3\)"):
        index.search(Query(q.labels, q.codes, code_llr=bad), k=5)
    certain = np.where(llr > 0, np.inf, -np.inf)  # +-inf: certain bits, accepted
    assert index.search(Query(q.labels, q.codes, code_llr=certain), k=5).I.shape == (1, 5)


def test_soft_search_and_the_codec_apply_the_same_check(indexes, data):
    index = indexes["dsc"]
    q = _query(index, data[0][0])
    with pytest.raises(ValueError, match="duplicates"):
        soft_search(index, [1, 1], np.zeros((2, 16)))
    with pytest.raises(TypeError, match="integer dtype"):
        soft_search(index, [1.0, 2.0], np.zeros((2, 16)))
    layout = PayloadLayout.for_index(index, 3)
    with pytest.raises(ValueError, match="duplicates"):  # used to be encoded and reported as an error later
        encode_payload(Query([1, 1, 2], q.codes), layout)
    with pytest.raises(TypeError, match="integer dtype"):  # used to be truncated
        encode_payload(Query(q.labels, q.codes + 0.5), layout)
    back, rep = decode_payload(encode_payload(q, layout), layout)
    assert rep.clean and back.labels.tolist() == q.labels.tolist()


def test_label_order_and_layouts_refuse_foreign_objects(indexes):
    index = indexes["dsc"]
    order = LabelOrder(forward=np.arange(6), inverse=np.arange(6))
    for bad in (np.zeros(3), "query", None):
        with pytest.raises(TypeError, match="Query"):
            order.encode_query(bad)
    with pytest.raises(ValueError, match="inverse permutations"):
        LabelOrder(forward=np.array([0, 0, 1]), inverse=np.arange(3)).to_codes([1])
    with pytest.raises(TypeError, match="LabelOrder.forward"):
        LabelOrder(forward=np.array(5), inverse=np.arange(3)).to_labels([1])
    with pytest.raises(TypeError, match="PayloadLayout"):
        decode_payload(bytes(19), np.zeros(3))
    with pytest.raises(TypeError, match="built dscref index"):
        PayloadLayout.for_index("index")
    with pytest.raises(TypeError, match="built dscref index"):
        PayloadLayout.for_index(SemanticIndex(6, M=4, nbits=4), 3)
    with pytest.raises(TypeError, match="PayloadLayout"):
        decode_robust_payload(np.zeros(8), RobustLayout(np.zeros(3), "none"))


# ================================================================== channel boundaries
@pytest.mark.parametrize("snr", [1e6, -1e6, 300.5, -400.0, 10 ** 400, np.float32(1e6)])
def test_extreme_snrs_are_refused_with_the_supported_range(snr):
    # 10 ** (-snr / 10) used to overflow (OverflowError) or underflow to a noise-free channel
    for make in (ch.AWGN, lambda s: ch.RayleighBlock(s, 2), ch.snr_to_noise_var):
        with pytest.raises(ValueError, match=r"outside .*\[-300, 300\] dB"):
            make(snr)


@pytest.mark.parametrize("gain", [1e-300, 1e300, 1e-16, 2e15])
def test_extreme_fading_gains_are_refused(gain):
    # used to raise ZeroDivisionError in the equaliser kernel or return inf / NaN symbols
    with pytest.raises(ValueError, match=r"magnitudes in \[1e-15, 1e\+15\]"):
        ch.RayleighBlock(10.0, 1, gains=[1.0, gain])


@pytest.mark.parametrize("modem", ["bpsk", "qpsk", "16qam"])
def test_the_edges_of_the_envelope_give_finite_llrs(modem):
    bits = np.random.default_rng(0).integers(0, 2, 64)
    for channel in (ch.AWGN(-300.0), ch.AWGN(300.0), ch.RayleighBlock(-300.0, 1, gains=[1e-15, 1e15]),
                    ch.RayleighBlock(300.0, 3, gains=[1e-15j, 1e15]), ch.RayleighBlock(-300.0, 2)):
        for exact in (True, False):
            res = ch.transmit_bits(bits, modem, channel, rng=1, soft=True, exact=exact)
            assert not np.isnan(res.llr).any(), channel
    out = ch.transmit_analog(np.ones(8, np.float32), ch.AWGN(-300.0), rng=0).received
    assert np.isfinite(out).all()


def test_analog_output_beyond_float32_is_an_error_not_inf():
    x = np.full(8, 0.9 * max_feature_abs(8), np.float32)
    with pytest.raises(ValueError, match="beyond float32"):
        ch.transmit_analog(x, ch.RayleighBlock(-300.0, 1, gains=[1e-15]), rng=0)


def test_huge_symbols_are_refused_instead_of_nan_llrs():
    m = ch.Modem("qpsk")
    with pytest.raises(ValueError, match=r"magnitudes above 1e\+150"):
        m.demodulate(np.array([1e200 + 0j]), 1e-3, soft=True)  # used to give NaN LLRs (inf - inf)
    with pytest.raises(ValueError, match=r"magnitudes above 1e\+100"):
        ch.transmit_symbols(np.array([1e120 + 0j]), ch.AWGN(10.0), rng=0)
    llr = m.demodulate(np.array([1e150, -1e150j]), 1e-300, soft=True)
    assert not np.isnan(llr).any()


def test_long_fading_blocks_do_not_allocate_the_block():
    # the gains used to be np.repeat-ed block times: a block of 10**12 was a MemoryError
    res = ch.transmit_bits(np.ones(64, np.uint8), "qpsk", ch.RayleighBlock(20.0, 10 ** 12), rng=0)
    assert res.channel_uses == 32


def test_theory_helpers_at_extreme_snrs():
    assert ch.ber_bpsk_rayleigh(1e6) == 0.0  # used to be NaN (inf / inf)
    assert ch.ber_bpsk_rayleigh(np.inf) == 0.0 and ch.ber_bpsk_rayleigh(-np.inf) == 0.5
    with pytest.raises(TypeError, match="ebn0_db"):
        ch.ebn0_to_esn0(10 ** 400, "qpsk")  # used to be an OverflowError
    with pytest.raises(ValueError, match="NaN"):
        ch.ber_qpsk([1.0, np.nan])


@pytest.mark.parametrize("scheme", ["none", "rep3", "hamming84"])
def test_nan_llrs_are_refused_by_every_decode_mode(indexes, scheme):
    rl = RobustLayout(PayloadLayout.for_index(indexes["dsc"], 3), scheme)
    llr = np.random.default_rng(0).standard_normal(rl.n_bits) * 4
    for where in (1, rl.n_bits - 1):  # a head bit, a code bit
        bad = llr.copy()
        bad[where] = np.nan
        for head in ("hard", "soft"):
            for codes in ("hard", "soft"):  # hard/hard used to decode NaN as bit 0
                with pytest.raises(ValueError, match="NaN"):
                    decode_robust_payload(bad, rl, head=head, codes=codes)
    q, _ = decode_robust_payload(np.where(llr > 0, np.inf, -np.inf), rl, head="soft", codes="soft")
    assert not np.isnan(q.code_llr).any()


def test_contradictory_certain_rep3_copies_give_the_majority_not_nan():
    b = np.array([0, 1, 1, 0], np.uint8)
    L = np.tile(np.where(b == 0, np.inf, -np.inf), 3)
    L[1] = np.inf  # the first copy of bit 1 says "certainly 0", the two others "certainly 1"
    out = decode_head_soft(L, 4, "rep3")
    assert not np.isnan(out).any()  # inf - inf used to be NaN
    np.testing.assert_array_equal(out < 0, b == 1)
    assert np.isinf(out[[0, 2, 3]]).all() and np.isfinite(out[1])


# ================================================================== finite but absurd numbers
def test_huge_features_are_refused_naming_the_bound(data):
    x, labels = data
    big = x * np.float32(1e19)
    bound = f"{max_feature_abs(D):.3g}"
    for call in (lambda: SemanticIndex(6, M=4, nbits=4, n_iter=2, seed=0, progress=False).build(big, labels),
                 lambda: IVFIndex(5, M=4, nbits=4, n_iter=2, seed=0).build(big),
                 lambda: KMeans(4, seed=0).fit(big),
                 lambda: ProductQuantizer(4, nbits=4, seed=0).fit(big)):
        # used to be inf distances: silently wrong k-means, or "lut holds a non-finite value" later
        with pytest.raises(ValueError, match=re.escape(f"magnitudes above {bound}")):
            call()
    with pytest.raises(ValueError, match="magnitudes above"):  # a float64 beyond float32, named as given
        KMeans(4, seed=0).fit(x.astype(np.float64) * 1e39)


@pytest.mark.parametrize("kind", KINDS)
def test_features_just_below_the_bound_search_without_overflow(kind, data):
    x, labels = data
    xs = (x / np.abs(x).max() * (0.99 * max_feature_abs(D))).astype(np.float32)
    index = {"dsc": lambda: SemanticIndex(6, M=4, nbits=4, n_iter=2, seed=0, progress=False, keep_vectors=True),
             "ivf": lambda: IVFIndex(5, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2),
             "flat": lambda: FlatPQIndex(M=4, nbits=4, n_iter=2, seed=0),
             "imi": lambda: IMIIndex(3, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2),
             "gp": lambda: GPIndex(5, n_neighbors=2, M=4, nbits=4, n_iter=2, seed=0, coarse_iter=2)}[kind]()
    index.build(xs, labels)
    q = _query(index, xs[3])
    for metric in ("l2", "cosine"):
        res = index.search(q, k=10, metric=metric)
        assert np.isfinite(res.D[res.I >= 0]).all() and (res.I >= 0).any()
    if kind == "dsc":
        for metric in ("l2", "cosine"):
            res = index.search(index.encode_query(xs[3], [0, 1], raw=True), k=10, metric=metric)
            assert np.isfinite(res.D[res.I >= 0]).all()


def test_cosine_scores_do_not_overflow_the_norm_product():
    lut = np.ones((2, 4), np.float32)
    codes = np.zeros((3, 2), np.uint8)
    # sqrt(q_norm2 * db_norm2) used to overflow float32 to inf: every score became 0
    s = adc_cosine(lut, codes, 1e19, 1e38, np.full(3, 1e38, np.float32))
    np.testing.assert_allclose(s, 1e19 / 1e38, rtol=1e-5)
    with pytest.raises(ValueError, match="db_norm2"):
        adc_cosine(lut, codes, 0.0, 1.0, np.array([1.0, -1.0, 1.0], np.float32))


def test_absurd_k_is_refused_without_allocating(indexes, data):
    index = indexes["dsc"]
    q = _query(index, data[0][0])
    for call in (lambda: index.search(q, k=10 ** 12), lambda: topk(np.zeros(5, np.float32), 10 ** 12),
                 lambda: adc_l2_topk(np.zeros((4, 16), np.float32), index.codes_[:5], 10 ** 12)):
        with pytest.raises(ValueError, match="k=1000000000000"):  # used to be a MemoryError
            call()
    res = index.search(q, k=index.ntotal + 7)  # k beyond ntotal still pads, as documented
    assert res.I.shape == (1, index.ntotal + 7) and (res.I[0, -7:] == -1).all()
    assert topk(np.zeros(3, np.float32), 1000)[1].shape == (1000,)


def test_zero_sample_sizes_are_refused_up_front():
    # ProductQuantizer used to accept it and fail in fit with "x is empty"
    for make in (lambda v: ProductQuantizer(2, max_points_per_centroid=v), lambda v: KMeans(2, max_points_per_centroid=v)):
        with pytest.raises(ValueError, match="max_points_per_centroid=0"):
            make(0)
        with pytest.raises(TypeError, match="max_points_per_centroid"):
            make(2.5)


def test_numpy_scalars_are_accepted_for_float_and_int_parameters(data):
    x = data[0]
    km = KMeans(np.int64(3), n_iter=np.int32(2), tol=np.float32(1e-3), seed=np.uint8(1)).fit(x)  # tol used to fail
    assert km.tol == pytest.approx(1e-3) and isinstance(km.tol, float)
    pq = ProductQuantizer(np.int64(4), nbits=np.uint8(3), n_iter=np.int16(2), seed=0,
                          max_points_per_centroid=np.int64(64)).fit(x)
    robust_permutation(pq, np.float32(0.05), n_iter=np.int64(3))
    assert error_patterns(np.int64(3), np.float16(0.1))[0].size == 6
    assert ch.AWGN(np.float32(10.0)).noise_var == pytest.approx(0.1)
    for bad in ("0.05", 0.05 + 0j, True):
        with pytest.raises(TypeError, match="p"):
            robust_permutation(pq, bad)
    with pytest.raises(TypeError, match="tol"):
        KMeans(2, tol="0.1")


def test_integers_beyond_int64_are_refused(data):
    pq = ProductQuantizer(4, nbits=3, n_iter=2, seed=0).fit(data[0])
    with pytest.raises(ValueError, match="int64"):  # used to be an OverflowError in the kernel call
        robust_permutation(pq, 0.05, n_iter=2 ** 64)
    with pytest.raises(ValueError, match="int64"):
        KMeans(2 ** 70)


def test_adding_rows_of_another_d_is_refused(indexes, data):
    x, labels = data
    index = SemanticIndex(6, M=4, nbits=4, n_iter=2, seed=0, progress=False).train(x, labels)
    narrow = np.ascontiguousarray(x[:, :8])
    for call in (lambda: index.add(narrow, labels), lambda: index.encode_items(narrow, labels)):
        with pytest.raises(ValueError, match="d=8 columns but this SemanticIndex was trained with d=16"):
            call()


def test_relocate_empty_clusters_checks_its_arguments(data):
    x = data[0][:10].copy()
    labels = np.zeros(10, np.int64)
    counts = np.array([10, 0], np.int64)
    cent = np.zeros((2, D), np.float32)
    dists = np.ones(10, np.float32)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):  # used to be an IndexError
        relocate_empty_clusters(cent, counts, x, labels + 5, dists)
    with pytest.raises(ValueError, match="bincount"):
        relocate_empty_clusters(cent, np.array([3, 0], np.int64), x, labels, dists)
    with pytest.raises(ValueError, match="at least one row"):
        relocate_empty_clusters(cent, np.zeros(2, np.int64), x[:0], labels[:0], dists[:0])
    with pytest.raises(TypeError, match="float32"):
        relocate_empty_clusters(cent.astype(np.float64), counts, x, labels, dists)
    assert relocate_empty_clusters(cent, counts, x, labels, dists) == 1 and counts.tolist() == [9, 1]


def test_topk_largest_must_be_a_bool():
    with pytest.raises(TypeError, match="largest"):  # an object array used to reach the Numba kernel
        topk(np.zeros((2, 3), np.float32), 2, largest=np.array([1, None], dtype=object))
    assert math.isinf(topk(np.zeros(2, np.float32), 3, largest=np.bool_(True))[0][-1])


def test_pair_tables_above_12_bits_are_refused_not_allocated(indexes, data):
    pq = ProductQuantizer(2, nbits=16, seed=0).fit(data[0][:20])  # 65536 codewords per sub-space
    assert pq.encode(data[0][:3]).dtype == np.uint16  # coding works at 16 bits
    for call in (pq.sdc_table, lambda: robust_permutation(pq, 0.01)):
        with pytest.raises(ValueError, match="nbits=12|supported 12"):  # used to be a 16-32 GiB MemoryError
            call()


def test_k_above_the_padding_cap_but_within_ntotal_searches(tmp_path):
    """k may be anything up to ntotal: a query with fewer candidates pads, it never raises
    (the candidate-level selection used to re-check k against the candidates)."""
    from dscref._validate import MAX_PADDED_K
    from dscref.index import IVFIndex

    rng = np.random.default_rng(3)
    n = MAX_PADDED_K + 500
    x = rng.standard_normal((n, 8)).astype(np.float32)
    index = IVFIndex(n_lists=4, M=2, nbits=4, n_iter=2, seed=0).build(x)
    q = index.encode_query(x[0], n_probe=1)
    k = MAX_PADDED_K + 100
    res = index.search(q, k=k)
    got = int(res.n_candidates[0])
    assert got < k and res.I.shape == (1, k)
    assert (res.I[0, :got] >= 0).all() and (res.I[0, got:] == -1).all() and np.isinf(res.D[0, got:]).all()
    assert np.array_equal(res.I[0, :10], index.search(q, k=10).I[0])
