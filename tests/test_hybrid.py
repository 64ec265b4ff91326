"""The hybrid digital-analog link (dscref.hybrid): at high SNR it is DSC's search with the clean
query, at very low SNR it degrades without crashing, the head coders, the seam, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dscref.channel import AWGN, RayleighBlock, transmit_bits
from dscref.channel.jscc import LinearJSCC
from dscref.fec import decode_head_soft, encode_head_bits
from dscref.hybrid import ConvHead, FecHead, HeadReceived, HybridLink, IdealHead, head_bits, search_received
from dscref.index import SemanticIndex
from dscref.query import Query

K, D = 20, 12


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    n = 3000
    centers = rng.standard_normal((K, D)).astype(np.float32)
    labels_b = rng.integers(0, K, n)
    xb = centers[labels_b] + 0.5 * rng.standard_normal((n, D)).astype(np.float32)
    xb = (xb / np.linalg.norm(xb, axis=1, keepdims=True)).astype(np.float32)
    index = SemanticIndex(K, M=4, nbits=6, n_iter=6, seed=0, progress=False, keep_vectors=True,
                          min_partition_size=100).build(xb, labels_b)
    xq = xb[:15] + 0.05 * rng.standard_normal((15, D)).astype(np.float32)
    heads = np.stack([np.concatenate([[labels_b[i]], rng.permutation(np.setdiff1d(np.arange(K), labels_b[i]))[:2]])
                      for i in range(15)])
    residual = xb - index.centroids_[labels_b]
    return xb, labels_b, xq, heads, index, residual


def test_head_bits_msb_first():
    np.testing.assert_array_equal(head_bits(np.array([[5, 1]]), 4), [[0, 1, 0, 1, 0, 0, 0, 1]])


def test_high_snr_hybrid_is_dsc_search_with_the_clean_query(setup):
    xb, labels_b, xq, heads, index, residual = setup
    head = IdealHead(3)
    B_a = D // 2  # 2 B_a = d reals: the residual is recovered exactly at infinite SNR
    jscc = LinearJSCC(B_a, math.inf).fit(residual, labels_b)
    link = HybridLink(jscc, head, n_lists=K, centroids=index.centroids_)
    got = link.send(xq, heads, AWGN(math.inf), rng=0)
    assert got.head_ok.all() and not got.head_wrong.any()
    assert got.channel_uses == 3 + B_a and got.head_uses == 3 and got.analog_uses == B_a
    for lab, h in zip(got.labels, heads):
        np.testing.assert_array_equal(lab, h)
    np.testing.assert_allclose(got.vectors, xq, atol=2e-5)
    ref = index.search([Query(labels=h, vector=q) for q, h in zip(xq, heads)], k=50)
    res = search_received(index, got, k=50)
    np.testing.assert_array_equal(res.I, ref.I)
    np.testing.assert_allclose(res.D, ref.D, atol=1e-4)
    # at a finite but high SNR the ranking is still the clean one at the top
    hi = search_received(index, link.send(xq, heads, AWGN(60.0), rng=1), k=50)
    assert (hi.I[:, :5] == ref.I[:, :5]).mean() > 0.95


def test_residual_beats_the_feature_at_equal_uses(setup):
    xb, labels_b, xq, heads, index, residual = setup
    head, snr = IdealHead(8), 5.0  # 10 head bits in 8 uses at 5 dB: delivered
    hybrid = HybridLink(LinearJSCC(2, snr).fit(residual), head, n_lists=K, centroids=index.centroids_)
    plain = HybridLink(LinearJSCC(2, snr).fit(xb), head, n_lists=K)
    x = xb[:1000]
    lab = np.stack([np.concatenate([[labels_b[i]], [(labels_b[i] + 1) % K]]) for i in range(1000)])
    got = hybrid.send(x, lab, AWGN(snr), rng=2)
    assert got.head_ok.all()
    e_h = ((got.vectors - x) ** 2).sum(1).mean()
    e_p = ((plain.send(x, lab, AWGN(snr), rng=2).vectors - x) ** 2).sum(1).mean()
    assert e_h < 0.8 * e_p


@pytest.mark.parametrize("coder", [IdealHead(3), FecHead("rep3", "qpsk"), FecHead("hamming84", "bpsk")])
@pytest.mark.parametrize("fading", [False, True])
def test_very_low_snr_degrades_gracefully(setup, coder, fading):
    xb, labels_b, xq, heads, index, residual = setup
    ch = RayleighBlock(-25.0, 4) if fading else AWGN(-25.0)
    link = HybridLink(LinearJSCC(3, -25.0).fit(residual, labels_b), coder, n_lists=K, centroids=index.centroids_)
    got = link.send(xq, heads, ch, rng=3)
    assert np.isfinite(got.vectors).all() and got.vectors.dtype == np.float32
    for lab, ok in zip(got.labels, got.head_ok):
        assert lab.dtype == np.int64
        if ok:  # decoded heads are valid and distinct, even when wrong
            assert lab.size == 3 and np.unique(lab).size == 3 and ((lab >= 0) & (lab < K)).all()
        else:
            assert lab.size == 0
    res = search_received(index, got, k=20)
    assert res.I.shape == (15, 20)
    lost = ~got.head_ok
    assert (res.I[lost] == -1).all()
    if isinstance(coder, IdealHead):
        assert lost.all()  # 3 x 5 bits in 3 uses at -25 dB: never
    else:
        assert got.head_wrong.mean() > 0.5


def test_fec_head_is_the_fec_chain_draw_for_draw(setup):
    *_, heads, _, _ = setup
    bits = head_bits(heads[:4], 5)
    coder = FecHead("hamming84", "qpsk")
    assert coder.uses(50) == 52 and coder.uses(15) == 16
    rx = coder.send(bits, AWGN(2.0), rng=np.random.default_rng(5))
    rng = np.random.default_rng(5)
    for r in range(4):
        res = transmit_bits(encode_head_bits(bits[r], "hamming84"), "qpsk", AWGN(2.0), rng, soft=True)
        np.testing.assert_array_equal(rx.llr[r], decode_head_soft(res.llr, 15, "hamming84"))
    assert rx.ok.all()


def test_ideal_head_delivery_follows_capacity():
    bits = np.ones((6, 50), np.uint8)
    # 50 bits in 25 uses need log2(1 + s) >= 2: s >= 3 (4.77 dB)
    assert IdealHead(25).send(bits, AWGN(4.8), rng=0).ok.all()
    rx = IdealHead(25).send(bits, AWGN(4.7), rng=0)
    assert not rx.ok.any() and (rx.llr == 0).all()
    ok = IdealHead(25).send(bits, AWGN(30.0), rng=0)
    assert (ok.llr == -np.inf).all()


class _CountingHead:
    """A third-party head coder through the seam: a perfect link that reports row 0 as lost."""

    def uses(self, n_bits):
        return 7

    def send(self, bits, channel, rng=None):
        llr = np.where(bits == 0, np.inf, -np.inf)
        ok = np.ones(bits.shape[0], bool)
        ok[0] = False
        return HeadReceived(llr=llr, ok=ok)


def test_any_head_coder_plugs_in(setup):
    xb, labels_b, xq, heads, index, residual = setup
    link = HybridLink(LinearJSCC(2, 10.0).fit(xb), _CountingHead(), n_lists=K)
    got = link.send(xq, heads, AWGN(10.0), rng=0)
    assert got.head_uses == 7 and got.channel_uses == 9
    assert got.labels[0].size == 0 and not got.head_ok[0] and got.head_ok[1:].all()
    for lab, h in zip(got.labels[1:], heads[1:]):
        np.testing.assert_array_equal(lab, h)
    res = search_received(index, got, k=5)
    assert (res.I[0] == -1).all() and (res.I[1:] >= 0).all()


class _SwappingHead:
    """A head coder that delivers, with certainty, a fixed *other* valid head (undetected error)."""

    def __init__(self, other):
        self.other = other

    def uses(self, n_bits):
        return 2

    def send(self, bits, channel, rng=None):
        wrong = head_bits(np.tile(self.other, (bits.shape[0], 1)), 5)
        return HeadReceived(llr=np.where(wrong == 0, np.inf, -np.inf), ok=np.ones(bits.shape[0], bool))


def test_the_server_uses_the_received_head_as_it_arrived(setup):
    xb, labels_b, xq, heads, index, residual = setup
    other = np.array([(heads[0, 0] + 1) % K, (heads[0, 0] + 2) % K, (heads[0, 0] + 3) % K])
    x, sent = xq[:1], heads[:1]
    # the JSCC keeps a PCA per partition: the server decodes with the received partition's
    jscc = LinearJSCC(2, 5.0, min_group_size=100).fit(residual, labels_b)
    assert {sent[0, 0], other[0]} <= set(jscc.group_ids_.tolist())
    link = HybridLink(jscc, _SwappingHead(other), n_lists=K, centroids=index.centroids_)
    got = link.send(x, sent, AWGN(5.0), rng=4)
    assert got.head_wrong.all() and got.head_ok.all()
    np.testing.assert_array_equal(got.labels[0], other)
    # by hand: the residual to the sent centroid, decoded with the received group's PCA, plus
    # the received centroid
    by_hand = jscc.send(x - index.centroids_[sent[:, 0]], AWGN(5.0), rng=4, groups=sent[:, 0],
                        rx_groups=other[:1]).received + index.centroids_[other[0]]
    np.testing.assert_allclose(got.vectors, by_hand, rtol=1e-6, atol=1e-6)


def test_validation(setup):
    xb, labels_b, xq, heads, index, residual = setup
    jscc = LinearJSCC(2, 0.0).fit(xb)
    with pytest.raises(ValueError, match="not fitted"):
        HybridLink(LinearJSCC(2, 0.0), IdealHead(3), n_lists=K)
    with pytest.raises(TypeError, match="head coder"):
        HybridLink(jscc, "ideal", n_lists=K)
    with pytest.raises(ValueError, match="centroids"):
        HybridLink(jscc, IdealHead(3), n_lists=K, centroids=index.centroids_[:5])
    with pytest.raises(ValueError, match="n_lists"):
        HybridLink(jscc, IdealHead(3), n_lists=1)
    link = HybridLink(jscc, IdealHead(3), n_lists=K)
    with pytest.raises(ValueError, match="labels must have shape"):
        link.send(xq, heads[:3], AWGN(0.0))
    dup = heads.copy()
    dup[0, 1] = dup[0, 0]
    with pytest.raises(ValueError, match="duplicates"):
        link.send(xq, dup, AWGN(0.0))
    with pytest.raises(ValueError, match="outside"):
        link.send(xq, heads + K, AWGN(0.0))
    with pytest.raises(TypeError, match="integer"):
        link.send(xq, heads.astype(float), AWGN(0.0))
    with pytest.raises(ValueError, match="x"):
        link.send(xq[:, :5], heads, AWGN(0.0))
    with pytest.raises(ValueError, match="n_uses"):
        IdealHead(0)
    with pytest.raises(ValueError, match="scheme"):
        FecHead("ldpc")
    with pytest.raises(ValueError, match="bits"):
        IdealHead(3).send(np.full((2, 4), 2), AWGN(0.0))


# --------------------------------------------------------------------------- the convolutional head
def test_conv_head_is_the_coded_chain_draw_for_draw():
    """CRC-16 on the head bits, the K = 7 code and interleaver of codec.channel_code, one
    transmission per head: the coder's LLRs are the hard decisions of that chain by hand."""
    from dscref import convcode
    from dscref.codec.channel_code import decode_message, encode_message
    from dscref.crc import crc_append, crc_check

    bits = np.random.default_rng(3).integers(0, 2, (12, 50)).astype(np.uint8)
    coder = ConvHead("1/2", "qpsk")
    assert coder.uses(50) == convcode.coded_length(66, "1/2") // 2 == 72
    rx = coder.send(bits, AWGN(0.5), rng=np.random.default_rng(7))
    rng = np.random.default_rng(7)
    coded = encode_message(crc_append(bits, "crc16"), "1/2")
    llr = np.stack([transmit_bits(c, "qpsk", AWGN(0.5), rng, soft=True).llr for c in coded])
    dec = decode_message(llr, "1/2", 66)
    ok = crc_check(dec, "crc16")
    np.testing.assert_array_equal(rx.ok, ok)
    np.testing.assert_array_equal(rx.llr[ok], np.where(dec[ok, :50] == 0, 1.0, -1.0))
    assert (rx.llr[~ok] == 0).all()
    assert 0 < ok.sum() < 12  # at 0.5 dB some heads pass and some are rejected


@pytest.mark.parametrize("fading", [False, True])
def test_conv_head_delivers_what_it_accepts(fading):
    """A head the CRC accepts is the sent head; rejected ones are reported lost; at high SNR every
    head arrives, at very low SNR none is accepted."""
    bits = np.random.default_rng(1).integers(0, 2, (150, 50)).astype(np.uint8)
    for rate, modem in (("1/2", "qpsk"), ("3/4", "16qam")):
        coder = ConvHead(rate, modem)
        for snr in (-5.0, 3.0, 8.0, 40.0):
            ch = RayleighBlock(snr, 8) if fading else AWGN(snr)
            rx = coder.send(bits, ch, rng=11)
            got = rx.llr < 0
            assert (got[rx.ok] == bits[rx.ok]).all()
            assert (rx.llr[~rx.ok] == 0).all()
        assert coder.send(bits, AWGN(40.0), rng=0).ok.all()
        assert not coder.send(bits, AWGN(-10.0), rng=0).ok.any()


def test_conv_head_without_crc_detects_nothing():
    bits = np.random.default_rng(2).integers(0, 2, (100, 50)).astype(np.uint8)
    rx = ConvHead("1/2", "qpsk", crc=None).send(bits, AWGN(-1.0), rng=0)
    assert rx.ok.all() and ((rx.llr < 0) != bits).any(axis=1).sum() > 10
    assert ConvHead("1/2", "qpsk", crc=None).uses(50) == 56  # 2 (50 + 6) bits / 2


def test_conv_head_fitting_picks_the_fewest_bits_per_use():
    assert repr(ConvHead.fitting(50, 72)) == "ConvHead('1/2', 'qpsk', crc='crc16')"
    assert repr(ConvHead.fitting(50, 71)) == "ConvHead('3/4', 'qpsk', crc='crc16')"  # 48 uses
    assert repr(ConvHead.fitting(50, 36)) == "ConvHead('1/2', '16qam', crc='crc16')"
    assert repr(ConvHead.fitting(50, 24)) == "ConvHead('3/4', '16qam', crc='crc16')"  # 3 bits/use, tie with 64qam
    assert ConvHead.fitting(50, 11) is None
    for budget in range(12, 80):
        c = ConvHead.fitting(50, budget)
        assert c.uses(50) <= budget
        assert all(ConvHead(r, m).uses(50) > budget for r in ("1/2", "3/4")
                   for m in ("qpsk", "16qam", "64qam", "256qam") if ConvHead(r, m).bits_per_use < c.bits_per_use)


def test_conv_head_in_the_hybrid_link(setup):
    xb, labels_b, xq, heads, index, residual = setup
    link = HybridLink(LinearJSCC(4, 20.0).fit(residual), ConvHead("1/2", "qpsk"), n_lists=K,
                      centroids=index.centroids_)
    got = link.send(xq, heads, AWGN(20.0), rng=0)
    # 3 labels x 5 bits + CRC-16 = 31 bits -> 2 (31 + 6) coded bits -> 37 QPSK uses
    assert got.head_uses == 37 and got.channel_uses == 41
    assert got.head_ok.all() and not got.head_wrong.any()
    lost = link.send(xq, heads, AWGN(-15.0), rng=0)
    assert not lost.head_ok.any() and all(lab.size == 0 for lab in lost.labels)
    assert (search_received(index, lost, k=5).I == -1).all()


def test_conv_head_validation():
    with pytest.raises(ValueError, match="rate"):
        ConvHead("5/6")
    with pytest.raises(ValueError, match="crc"):
        ConvHead("1/2", crc="crc32")
    with pytest.raises(TypeError, match="interleave"):
        ConvHead("1/2", interleave="yes")
    with pytest.raises(ValueError, match="bits"):
        ConvHead().send(np.zeros((2, 0), np.uint8), AWGN(0.0))
    with pytest.raises(ValueError, match="n_bits"):
        ConvHead().uses(0)
