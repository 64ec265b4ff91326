"""Bit-error-robust codes: index assignment, soft-decision ADC, head protection, soft head."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dscref import bitpack
from dscref._kernels import robust as kern
from dscref._reference import robust as ref
from dscref.channel import AWGN, transmit_bits
from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.experiments_robust import VARIANTS, robust_variants_mAP
from dscref.index.base import Query
from dscref.index.semantic import SemanticIndex
from dscref.pq import ProductQuantizer
from dscref.robust import (
    RobustLayout,
    apply_permutation,
    assignment_distortion,
    decode_head_hard,
    decode_head_soft,
    decode_robust_payload,
    encode_head_bits,
    encode_robust_payload,
    error_patterns,
    hard_codes,
    make_index_robust,
    permute_codes,
    posteriors,
    protected_head_bits,
    robust_label_order,
    robust_permutation,
    soft_decode_head,
    soft_lut_l2,
    soft_search,
)

K = 20


def _data(seed=0, n=2500, d=16):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((K, d)).astype(np.float32)
    labels = rng.integers(0, K, n)
    x = C[labels] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)


@pytest.fixture(scope="module")
def built():
    x, labels = _data()
    index = SemanticIndex(K, M=4, nbits=6, n_iter=6, seed=0, progress=False,
                          min_partition_size=100).build(x, labels)
    robust = make_index_robust(index, p=0.02, order=2)
    return x, labels, index, robust


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


@given(seed=st.integers(0, 2 ** 31), M=st.integers(1, 3), nbits=st.integers(1, 6),
       scale=st.sampled_from([0.0, 0.5, 3.0, np.inf]))
def test_posteriors_and_expected_rows_match_reference(seed, M, nbits, scale):
    rng = np.random.default_rng(seed)
    llr = rng.standard_normal(M * nbits) * scale if np.isfinite(scale) else \
        np.where(rng.random(M * nbits) < 0.5, np.inf, -np.inf)
    post = posteriors(llr, M, nbits)
    np.testing.assert_allclose(post, ref.posteriors_ref(llr, M, nbits), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(post.sum(1), 1.0, rtol=1e-12)
    assert (post >= 0).all()
    table = rng.random((M, 1 << nbits, 1 << nbits)).astype(np.float32)
    out = np.empty(post.shape)
    kern.expected_rows(post, table, out)
    np.testing.assert_array_equal(out, ref.expected_rows_ref(post, table))


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


def test_robust_index_tables_and_codes(built):
    x, labels, index, robust = built
    assert len(robust.robust_perms_) == len(index.pqs_)
    ar = np.arange(index.M)
    for pid, pq in enumerate(robust.pqs_):
        perm = robust.robust_perms_[pid]
        np.testing.assert_array_equal(robust.sub_norm2_[pid][ar[:, None], perm], index.sub_norm2_[pid])
        np.testing.assert_allclose(robust.sub_norm2_[pid], (pq.codebooks_.astype(np.float64) ** 2).sum(-1),
                                   rtol=1e-12)
        # a code's table rows follow its codewords through the permutation, bit for bit
        e = np.arange(index.M) % pq.ksub
        moved = robust.robust_perms_[pid][ar, e]
        for old, new in zip(index._code_rows(pid, e), robust._code_rows(pid, moved)):
            np.testing.assert_array_equal(new[ar[:, None], perm], old)
        np.testing.assert_allclose(robust._code_rows(pid, moved)[0], pq.sdc_table()[ar, moved],
                                   rtol=1e-5, atol=1e-6)
    # stored codes decode to the same vectors
    for lab in range(0, K, 7):
        a, b = index.offsets_[lab], index.offsets_[lab + 1]
        p = index.list_pq_[lab]
        np.testing.assert_array_equal(index.pqs_[p].decode(index.codes_[a:b]),
                                      robust.pqs_[p].decode(robust.codes_[a:b]))
    np.testing.assert_array_equal(index.db_norm2_, robust.db_norm2_)


@settings(max_examples=15)
@given(seed=st.integers(0, 2 ** 31), metric=st.sampled_from(["l2", "cosine"]))
def test_error_free_search_is_bit_exact_unchanged(built, seed, metric):
    x, labels, index, robust = built
    rng = np.random.default_rng(seed)
    qs, rqs = [], []
    for _ in range(3):
        i = int(rng.integers(len(x)))
        q = x[i] + 0.1 * rng.standard_normal(x.shape[1]).astype(np.float32)
        head = rng.choice(K, 3, replace=False)
        qa, qb = index.encode_query(q, head), robust.encode_query(q, head)
        p = [index.list_pq_[h] for h in head]
        np.testing.assert_array_equal(
            qb.codes, np.stack([robust.robust_perms_[pp][np.arange(4), c] for pp, c in zip(p, qa.codes)]))
        qs.append(qa)
        rqs.append(qb)
    ra, rb = index.search(qs, 10, metric), robust.search(rqs, 10, metric)
    np.testing.assert_array_equal(ra.D, rb.D)
    np.testing.assert_array_equal(ra.I, rb.I)


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


def test_label_order_roundtrip_with_codec(built):
    x, labels, index, robust = built
    order = robust_label_order(index, p=0.02)
    np.testing.assert_array_equal(np.sort(order.forward), np.arange(K))
    np.testing.assert_array_equal(order.inverse[order.forward], np.arange(K))
    layout = PayloadLayout.for_index(index, n_labels=3)
    q = index.encode_query(x[0], [5, 0, 19])
    buf = encode_payload(order.encode_query(q), layout)
    q2, rep = decode_payload(buf, layout)
    q2 = order.decode_query(q2)
    assert rep.clean and q2.labels.tolist() == [5, 0, 19]
    np.testing.assert_array_equal(q2.codes, q.codes)


# --------------------------------------------------------------------------- soft-decision ADC
@pytest.mark.parametrize("big", [np.inf, 1e9])
def test_certain_llrs_reproduce_hard_adc_table(built, big):
    x, labels, index, robust = built
    rng = np.random.default_rng(0)
    sdc = index.pqs_[1].sdc_table()
    e = rng.integers(0, 64, 4)
    bits = bitpack.bytes_to_bits(bitpack.pack(e, 6))[:24]
    llr = np.where(bits == 0, big, -big)
    np.testing.assert_array_equal(hard_codes(llr, 4, 6), e.astype(np.uint8))
    np.testing.assert_array_equal(soft_lut_l2(sdc, llr, 6), sdc[np.arange(4), e])


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_soft_search_with_certain_bits_equals_hard_search(built, metric):
    x, labels, index, robust = built
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


def test_soft_adc_helps_on_noisy_codes(built):
    """Soft-decision ADC of noisy codes finds more of the true 20 nearest neighbours than hard ADC."""
    x, labels, index, robust = built
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


# --------------------------------------------------------------------------- head protection
def test_protected_head_bits_cost():
    assert protected_head_bits(50, "none") == 50
    assert protected_head_bits(50, "rep3") == 150
    assert protected_head_bits(50, "hamming84") == 104
    layout = PayloadLayout()
    assert RobustLayout(layout, "none").n_bits == 8 * layout.nbytes == 376
    assert RobustLayout(layout, "hamming84").n_bits == 104 + 320
    assert RobustLayout(layout, "rep3").n_bits == 152 + 320


def test_hamming84_corrects_every_single_error_and_detects_double():
    for v in range(16):
        d = np.array([(v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1], dtype=np.uint8)
        c = encode_head_bits(d, "hamming84")
        assert c.size == 8 and c.sum() % 2 == 0
        out, det = decode_head_hard(c, 4, "hamming84")
        assert out.tolist() == d.tolist() and det == 0
        for i in range(8):
            r = c.copy()
            r[i] ^= 1
            out, det = decode_head_hard(r, 4, "hamming84")
            assert out.tolist() == d.tolist() and det == 0
        for i, j in itertools.combinations(range(8), 2):
            r = c.copy()
            r[[i, j]] ^= 1
            assert decode_head_hard(r, 4, "hamming84")[1] == 1
    # minimum distance 4
    cw = np.stack([encode_head_bits(np.array([(v >> s) & 1 for s in (3, 2, 1, 0)], np.uint8), "hamming84")
                   for v in range(16)])
    dist = (cw[:, None] != cw[None]).sum(-1) + 8 * np.eye(16, dtype=int)
    assert dist.min() == 4


def test_repetition_corrects_any_single_error_per_bit():
    rng = np.random.default_rng(0)
    b = rng.integers(0, 2, 50).astype(np.uint8)
    c = encode_head_bits(b, "rep3")
    assert c.size == 150
    for copy in range(3):
        r = c.copy()
        r[copy * 50:(copy + 1) * 50] ^= 1  # one copy entirely wrong: one error per bit
        assert decode_head_hard(r, 50, "rep3")[0].tolist() == b.tolist()
    llr = np.where(c == 0, 2.0, -2.0)
    llr[:50] *= -0.9  # first copy wrong but less confident
    np.testing.assert_array_equal(decode_head_soft(llr, 50, "rep3") < 0, b == 1)


@pytest.mark.parametrize("scheme", ["none", "rep3", "hamming84"])
def test_head_codes_roundtrip_and_soft_decoding(scheme):
    rng = np.random.default_rng(1)
    b = rng.integers(0, 2, 50).astype(np.uint8)
    c = encode_head_bits(b, scheme)
    assert c.size == protected_head_bits(50, scheme)
    assert decode_head_hard(c, 50, scheme)[0].tolist() == b.tolist()
    for big in (np.inf, 8.0):
        L = decode_head_soft(np.where(c == 0, big, -big), 50, scheme)
        assert np.isfinite(L).all() or big == np.inf
        np.testing.assert_array_equal(L < 0, b == 1)
    if scheme == "hamming84":  # soft decoding fixes a single confidently wrong bit per block
        llr = np.where(c == 0, 3.0, -3.0)
        llr[::8] *= -1
        np.testing.assert_array_equal(decode_head_soft(llr, 50, scheme) < 0, b == 1)


# --------------------------------------------------------------------------- soft head decoding
@given(seed=st.integers(0, 2 ** 31), per_slot=st.integers(1, 3), scale=st.sampled_from([0.0, 1.0, 5.0, np.inf]))
def test_soft_head_returns_valid_distinct_labels(seed, per_slot, scale):
    rng = np.random.default_rng(seed)
    Kv, bits, n = 37, 6, 5
    L = rng.standard_normal(n * bits) * scale if np.isfinite(scale) else np.where(rng.random(n * bits) < .5, np.inf, -np.inf)
    if seed % 3 == 0:  # all slots identical: collisions must be resolved
        L = np.tile(L[:bits], n)
    labels, scores = soft_decode_head(L, n, bits, Kv, per_slot=per_slot)
    assert labels.shape == scores.shape == (n, per_slot)
    assert labels.min() >= 0 and labels.max() < Kv
    assert np.unique(labels).size == labels.size
    assert (scores <= 1e-12).all()


def test_soft_head_recovers_labels_at_high_snr_and_beats_hard_at_low_snr():
    rng = np.random.default_rng(0)
    ok_soft = ok_hard = 0
    for t in range(120):
        labs = rng.choice(1000, 5, replace=False)
        bits = bitpack.bytes_to_bits(bitpack.pack(labs, 10))[:50]
        hi = transmit_bits(bits, "qpsk", AWGN(20.0), rng, soft=True)
        assert soft_decode_head(hi.llr, 5, 10, 1000)[0][:, 0].tolist() == labs.tolist()
        lo = transmit_bits(bits, "qpsk", AWGN(4.0), rng, soft=True)
        ok_soft += np.isin(soft_decode_head(lo.llr, 5, 10, 1000)[0][:, 0], labs).sum()
        hard = bitpack.unpack(bitpack.bits_to_bytes(np.concatenate([lo.bits, np.zeros(6, np.uint8)])), 10, 5)
        ok_hard += np.isin(hard, labs).sum()
    assert ok_soft >= ok_hard


# --------------------------------------------------------------------------- payload and experiment
@pytest.mark.parametrize("scheme", ["none", "rep3", "hamming84"])
def test_robust_payload_error_free_roundtrip(built, scheme):
    x, labels, index, robust = built
    layout = PayloadLayout.for_index(index, n_labels=3)
    rl = RobustLayout(layout, scheme)
    order = robust_label_order(index, p=0.02)
    q = robust.encode_query(x[10], [4, 9, 17])
    bits = encode_robust_payload(q, rl, label_order=order)
    assert bits.size == rl.n_bits
    if scheme == "none":
        np.testing.assert_array_equal(bits, bitpack.bytes_to_bits(encode_payload(order.encode_query(q), layout)))
    llr = np.where(bits == 0, 4.0, -4.0)
    for head, codes in [("hard", "hard"), ("soft", "soft"), ("hard", "soft"), ("soft", "hard")]:
        q2, _ = decode_robust_payload(llr, rl, head=head, codes=codes, label_order=order)
        assert q2.labels.tolist() == [4, 9, 17]
        np.testing.assert_array_equal(q2.codes, q.codes)
        assert (q2.code_llr is not None) == (codes == "soft")


def test_robust_variants_mAP_smoke(built):
    x, labels, index, robust = built
    rng = np.random.default_rng(0)
    qi = rng.choice(len(x), 6, replace=False)
    heads = np.stack([[labels[i], (labels[i] + 1) % K, (labels[i] + 2) % K] for i in qi])
    gnd = [{"ok": np.flatnonzero(labels == labels[i])[:50], "junk": []} for i in qi]
    res = robust_variants_mAP(index, x[qi], heads, gnd, [6.0], n_trials=1, k=20,
                              robust_index=robust, label_order=robust_label_order(index, 0.02))
    assert set(res["mAP"]) == set(VARIANTS)
    # error-free, every variant searches the same candidates with the same scores
    clean = [res["mAP_clean"][v] for v in VARIANTS]
    assert max(clean) - min(clean) < 1e-12
    assert res["channel_uses"]["plain"] == (8 * (2 + 3 * 3)) // 2
    assert res["channel_uses"]["protected_head"] > res["channel_uses"]["plain"]
    assert all(0 <= res["mAP"][v][6.0]["mean"] <= 1 for v in VARIANTS)


# --------------------------------------------------------------------------- errors
def test_bad_inputs_raise(built):
    x, labels, index, robust = built
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
    with pytest.raises(ValueError, match="scheme='bch'"):
        protected_head_bits(50, "bch")
    with pytest.raises(ValueError, match=r"shape \(104,\)"):
        decode_head_hard(np.zeros(100, np.uint8), 50, "hamming84")
    with pytest.raises(ValueError, match="only 0 and 1"):
        encode_head_bits(np.array([0, 2]), "rep3")
    with pytest.raises(ValueError, match="NaN"):
        posteriors(np.full(24, np.nan), 4, 6)
    with pytest.raises(ValueError, match="shape"):
        posteriors(np.zeros(23), 4, 6)
    with pytest.raises(TypeError, match="LLRs"):
        posteriors(np.array(["a"] * 24), 4, 6)
    with pytest.raises(ValueError, match="exceed K=4"):
        soft_decode_head(np.zeros(15), 5, 3, 4)
    with pytest.raises(ValueError, match="K=9"):
        soft_decode_head(np.zeros(15), 5, 3, 9)
    with pytest.raises(ValueError, match="code_llr"):
        index.search(Query([1], codes=np.zeros((1, 4), np.uint8), code_llr=np.zeros((1, 5))))
    with pytest.raises(ValueError, match="rows for"):
        soft_search(index, [1, 2], np.zeros((1, 24)))
    rl = RobustLayout(PayloadLayout.for_index(index, n_labels=3), "none")
    with pytest.raises(ValueError, match="needs LLRs"):
        decode_robust_payload(np.zeros(rl.n_bits, np.uint8), rl, codes="soft")
    with pytest.raises(ValueError, match="nothing to order"):
        from dscref.index.flat import FlatPQIndex
        robust_label_order(FlatPQIndex(M=4, nbits=4, n_iter=2, seed=0).build(x[:300]))


# --------------------------------------------------------------------------- in place / read-only
def _snapshot(index):
    return (list(index.pqs_), [pq.codebooks_.copy() for pq in index.pqs_], index.codes_.copy(),
            index.cr_.copy(), [a.copy() for a in index.sub_norm2_], hasattr(index, "robust_perms_"))


def _assert_unchanged(index, snap):
    pqs, cbs, codes, cr, sub, had_perms = snap
    assert all(a is b for a, b in zip(index.pqs_, pqs)) and len(index.pqs_) == len(pqs)
    for pq, cb in zip(index.pqs_, cbs):
        np.testing.assert_array_equal(pq.codebooks_, cb)
    np.testing.assert_array_equal(index.codes_, codes)
    np.testing.assert_array_equal(index.cr_, cr)
    for a, b in zip(index.sub_norm2_, sub):
        np.testing.assert_array_equal(a, b)
    assert hasattr(index, "robust_perms_") == had_perms


def test_make_index_robust_refuses_a_read_only_index_in_place(built, tmp_path):
    from dscref.errors import ReadOnlyIndexError
    from dscref.io import load_index, save_index

    x, labels, index, robust = built
    save_index(index, tmp_path / "ix")
    mm = load_index(tmp_path / "ix")  # memory-mapped: every array is read-only
    snap = _snapshot(mm)
    with pytest.raises(ReadOnlyIndexError, match=r"codes_, cr_ .*read-only.*nothing was changed"):
        make_index_robust(mm, p=0.02, order=2, inplace=True)
    _assert_unchanged(mm, snap)
    # the default (a converted copy) works on the memory-mapped index, same as in memory
    r = make_index_robust(mm, p=0.02, order=2)
    _assert_unchanged(mm, snap)
    np.testing.assert_array_equal(r.codes_, robust.codes_)
    np.testing.assert_array_equal(r.cr_, robust.cr_)
    for a, b in zip(r.robust_perms_, robust.robust_perms_):
        np.testing.assert_array_equal(a, b)


def test_make_index_robust_in_place_is_all_or_nothing(built, monkeypatch):
    import copy

    from dscref import robust as robust_mod

    x, labels, index, robust = built
    work = copy.deepcopy(index)
    assert len(work.pqs_) >= 3
    real, calls = robust_mod.robust_permutation, []

    def fails_on_third_quantizer(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("simulated failure midway")
        return real(*a, **k)

    monkeypatch.setattr(robust_mod, "robust_permutation", fails_on_third_quantizer)
    snap = _snapshot(work)
    with pytest.raises(MemoryError, match="midway"):
        make_index_robust(work, p=0.02, order=2, inplace=True)
    _assert_unchanged(work, snap)
    monkeypatch.setattr(robust_mod, "robust_permutation", real)
    assert make_index_robust(work, p=0.02, order=2, inplace=True) is work
    np.testing.assert_array_equal(work.codes_, robust.codes_)
    np.testing.assert_array_equal(work.cr_, robust.cr_)
