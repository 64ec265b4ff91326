"""The channel-coded payload (dscref.codec.coded): sizes, the message, noise-free round trips of
every rate / CRC / variant, the head CRC catching corrupted heads, the interleaver, truncated
codes searched by expected distance, Eb/N0 accounting, bad input, and the module's example."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dscref import bitpack, convcode
from dscref.channel import AWGN, Modem, transmit_bits, transmit_symbols
from dscref.codec import (CodedLayout, CodedReport, PayloadLayout, decode_coded_payload, decode_coded_payloads,
                          encode_coded_payload, encode_payload, message_bits)
from dscref.codec import coded as coded_module
from dscref.codec.channel_code import interleaver
from dscref.crc import crc_bits
from dscref.query import Query

PAPER = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)


def _query(seed, layout=PAPER):
    rng = np.random.default_rng(seed)
    h = layout.head_size
    labels = rng.choice(layout.valid_labels, h, replace=False) if h else np.zeros(1, np.int64)
    codes = rng.integers(0, 1 << layout.nbits, (layout.n_codes, layout.M))
    return Query(labels=labels, codes=codes.astype(np.uint8 if layout.nbits <= 8 else np.uint16))


def _certain(bits):
    return np.where(bits == 0, np.inf, -np.inf)


# --------------------------------------------------------------------------- sizes and the message
def test_sizes_of_the_paper_payload():
    cl = CodedLayout(PAPER)
    assert (cl.rate, cl.crc, cl.head_size, cl.subcodes, cl.interleave) == ("1/2", "crc16", 5, 8, True)
    assert (cl.head_bits, cl.crc_bits, cl.code_bits, cl.info_bits, cl.message_bits) == (50, 16, 320, 370, 386)
    assert [CodedLayout(PAPER, r).coded_bits for r in convcode.RATES] == [784, 588, 523]
    assert [cl.channel_uses(m) for m in ("bpsk", "qpsk", "16qam", "64qam", "256qam")] == [784, 392, 196, 131, 98]
    assert CodedLayout(PAPER, "3/4").channel_uses("qpsk") == convcode.coded_channel_uses(386, "3/4", "qpsk") == 262
    unc = CodedLayout(PAPER, None, crc=None)
    assert (unc.coded_bits, unc.interleave) == (370, False)       # the 6 pad bits of the head are not sent
    small = CodedLayout(PAPER, "1/2", crc="crc8", head_size=2, subcodes=3)
    assert (small.info_bits, small.message_bits, small.coded_bits, small.truncated) == (68, 76, 164, True)
    assert small.sent_layout == PayloadLayout(head_size=2, label_bits=10, M=8, nbits=8, n_lists=1000)
    flat = CodedLayout(PayloadLayout(head_size=0, label_bits=0, M=8, nbits=8))
    assert (flat.head_size, flat.crc, flat.n_codes, flat.message_bits) == (0, None, 1, 64)


def test_message_is_head_crc_then_the_sent_subcodes():
    q = _query(1)
    plain = bitpack.bytes_to_bits(encode_payload(q, PAPER))
    msg = message_bits(q, CodedLayout(PAPER))
    np.testing.assert_array_equal(msg[:50], plain[:50])
    np.testing.assert_array_equal(msg[50:66], crc_bits(plain[:50]))
    np.testing.assert_array_equal(msg[66:], plain[56:])
    cl = CodedLayout(PAPER, crc=None, head_size=3, subcodes=5)
    msg = message_bits(q, cl)
    assert msg.size == cl.message_bits == 30 + 3 * 40
    np.testing.assert_array_equal(msg[:30], plain[:30])
    np.testing.assert_array_equal(msg[30:].reshape(3, 40), plain[56:].reshape(5, 64)[:3, :40])
    # a query that already has only the sent entries gives the same message
    short = Query(labels=q.labels[:3], codes=q.codes[:3])
    np.testing.assert_array_equal(message_bits(short, cl), msg)


def test_interleaver_permutes_the_code_and_is_off_uncoded():
    q = _query(2)
    for rate in convcode.RATES:
        msg = message_bits(q, CodedLayout(PAPER, rate))
        plain = encode_coded_payload(q, CodedLayout(PAPER, rate, interleave=False))
        np.testing.assert_array_equal(plain, convcode.encode(msg, rate))
        mixed = encode_coded_payload(q, CodedLayout(PAPER, rate))
        perm = interleaver(plain.size)
        np.testing.assert_array_equal(mixed, plain[perm])
        assert sorted(perm.tolist()) == list(range(plain.size)) and not np.array_equal(mixed, plain)
    np.testing.assert_array_equal(encode_coded_payload(q, CodedLayout(PAPER, None)),
                                  message_bits(q, CodedLayout(PAPER, None)))


# --------------------------------------------------------------------------- noise-free round trips
def _check_round_trip(q, cl, got, report):
    h = cl.head_size if cl.layout.head_size else 1
    if cl.layout.head_size:
        assert got.labels.tolist() == q.labels[:h].tolist()
    np.testing.assert_array_equal(got.codes[:, :cl.subcodes], np.asarray(q.codes)[:h, :cl.subcodes])
    assert report.crc_ok is (True if cl.crc else None) and report.clean and not report.dropped
    if cl.truncated:
        nb = cl.layout.nbits
        llr = got.code_llr.reshape(h, cl.layout.M, nb)
        assert np.all(llr[:, cl.subcodes:] == 0) and np.all(np.isinf(llr[:, :cl.subcodes]))
        sent_bits = (np.asarray(q.codes)[:h, :cl.subcodes, None].astype(np.int64) >> np.arange(nb - 1, -1, -1)) & 1
        np.testing.assert_array_equal(llr[:, :cl.subcodes] < 0, sent_bits == 1)
    else:
        assert got.code_llr is None


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([None, *convcode.RATES]), st.sampled_from([None, "crc16", "crc8"]), st.integers(1, 5),
       st.integers(1, 8), st.booleans(), st.sampled_from(["head", "message"]), st.integers(0, 2**31 - 1))
def test_noise_free_round_trip_of_every_variant(rate, crc, h, m, interleave, scope, seed):
    q = _query(seed)
    cl = CodedLayout(PAPER, rate, crc=crc, head_size=h, subcodes=m, interleave=interleave, crc_scope=scope)
    sent = encode_coded_payload(q, cl)
    assert sent.shape == (cl.coded_bits,) and sent.dtype == np.uint8
    got, report = decode_coded_payload(_certain(sent), cl)
    assert isinstance(report, CodedReport)
    _check_round_trip(q, cl, got, report)
    np.testing.assert_array_equal(report.message, message_bits(q, cl))


@pytest.mark.parametrize("layout", [PayloadLayout(head_size=3, label_bits=5, M=4, nbits=6, n_lists=20),
                                    PayloadLayout(head_size=0, label_bits=0, M=4, nbits=12),
                                    PayloadLayout(head_size=2, label_bits=10, M=3, nbits=10, n_lists=700)])
def test_noise_free_round_trip_of_other_layouts(layout):
    qs = [_query(s, layout) for s in range(4)]
    for subcodes, scope in ((None, "head"), (1, "head"), (None, "message"), (1, "message")):
        cl = CodedLayout(layout, "2/3", subcodes=subcodes, crc_scope=scope)
        batch = np.stack([_certain(encode_coded_payload(q, cl)) for q in qs])
        for q, (got, report) in zip(qs, decode_coded_payloads(batch, cl)):
            _check_round_trip(q, cl, got, report)


@pytest.mark.parametrize("modem,ebn0_db", [("qpsk", 6.0), ("16qam", 9.0), ("64qam", 12.0), ("256qam", 16.0)])
def test_a_noisy_channel_is_corrected(modem, ebn0_db):
    """Through a channel with raw bit errors, the Viterbi decoder returns the sent queries (Eb/N0
    about 2 dB above where 100 payloads first all arrive intact with this seed)."""
    rng = np.random.default_rng(4)
    cl = CodedLayout(PAPER, "1/2")
    esn0 = cl.esn0_db(ebn0_db, modem)
    errors = 0
    for s in range(10):
        q = _query(100 + s)
        res = transmit_bits(encode_coded_payload(q, cl), Modem(modem), AWGN(esn0), rng, soft=True)
        got, report = decode_coded_payload(res.llr, cl)
        _check_round_trip(q, cl, got, report)
        errors += res.bit_errors
    assert errors > 10  # the channel did flip bits


# --------------------------------------------------------------------------- the head CRC
def _forged(q, cl, flip):
    """Coded bits of q's message with the message bits in ``flip`` inverted after the CRC was computed."""
    msg = message_bits(q, cl).copy()
    msg[flip] ^= 1
    return convcode.encode(msg, cl.rate)


@pytest.mark.parametrize("flip", [[0], [9], [49], [3, 17], [50], [65], list(range(10, 20))])
def test_crc_catches_a_corrupted_head_and_the_query_gets_no_answer(flip):
    q = _query(5)
    cl = CodedLayout(PAPER, "1/2", interleave=False)
    llr = _certain(_forged(q, cl, flip))
    got, report = decode_coded_payload(llr, cl)
    assert report.crc_ok is False and report.dropped == [0, 1, 2, 3, 4]
    assert got.labels.size == 0 and got.codes.shape == (0, 8)
    head = message_bits(q, cl)[:50].copy()
    head[[f for f in flip if f < 50]] ^= 1
    want = (head.reshape(5, 10).astype(np.int64) @ (1 << np.arange(9, -1, -1))).tolist()
    assert report.received_labels == want                       # what arrived, for the record
    # crc_policy="search": the head is used anyway (labels still made valid by the codec's policy)
    got, report = decode_coded_payload(llr, cl, crc_policy="search")
    assert report.crc_ok is False and got.labels.size + len(report.dropped) == 5
    kept = [lab for lab in want if lab < 1000]
    assert got.labels.tolist() == [lab for i, lab in enumerate(kept) if lab not in kept[:i]]


def test_code_bit_errors_do_not_fail_the_head_crc():
    q = _query(6)
    cl = CodedLayout(PAPER, "3/4", interleave=False)
    got, report = decode_coded_payload(_certain(_forged(q, cl, [70, 200])), cl)
    assert report.crc_ok is True and got.labels.tolist() == q.labels.tolist()
    assert not np.array_equal(got.codes, q.codes)


def _through_awgn(qs, cl, ebn0_db, seed):
    """The queries' coded payloads over QPSK / AWGN at ``ebn0_db`` per information bit, decoded."""
    res = transmit_bits(np.concatenate([encode_coded_payload(q, cl) for q in qs]), "qpsk",
                        AWGN(cl.esn0_db(ebn0_db, "qpsk")), np.random.default_rng(seed), soft=True)
    return decode_coded_payloads(res.llr.reshape(len(qs), -1), cl)


def test_at_low_snr_every_head_that_passes_the_crc_is_the_sent_head():
    cl = CodedLayout(PAPER, "3/4")
    qs = [_query(200 + s) for s in range(150)]
    out = _through_awgn(qs, cl, 2.0, 8)
    failed = 0
    for q, (got, report) in zip(qs, out):
        if report.crc_ok:
            assert got.labels.tolist() == q.labels.tolist()
        else:
            failed += 1
            assert got.labels.size == 0
    assert 10 < failed < 140, failed          # the test saw both outcomes


# --------------------------------------------------------------------------- the whole-message CRC
def test_message_scope_puts_one_crc_over_head_and_subcodes_at_the_end():
    q = _query(1)
    head_scope = message_bits(q, CodedLayout(PAPER))
    cl = CodedLayout(PAPER, crc_scope="message")
    msg = message_bits(q, cl)
    assert cl.crc_scope == "message" and (cl.info_bits, cl.crc_bits, cl.message_bits) == (370, 16, 386)
    body = np.concatenate([head_scope[:50], head_scope[66:]])   # head | sub-codes
    np.testing.assert_array_equal(msg[:370], body)
    np.testing.assert_array_equal(msg[370:], crc_bits(body))
    # a layout without a head carries the CRC only with the message scope
    nohead = PayloadLayout(head_size=0, label_bits=0, M=4, nbits=12)
    assert CodedLayout(nohead).crc is None and CodedLayout(nohead).crc_bits == 0
    assert CodedLayout(nohead, crc_scope="message").crc_bits == 16


@pytest.mark.parametrize("flip", [[0], [49], [50], [200], [369], [370], [385], [60, 300]])
def test_message_crc_catches_an_error_anywhere_and_the_query_gets_no_answer(flip):
    q = _query(6)
    cl = CodedLayout(PAPER, "3/4", interleave=False, crc_scope="message")
    got, report = decode_coded_payload(_certain(_forged(q, cl, flip)), cl)
    assert report.crc_ok is False and report.dropped == [0, 1, 2, 3, 4]
    assert got.labels.size == 0 and got.codes.shape == (0, 8)
    # the head-scope CRC lets the same sub-code errors through (the test above for the head)
    if min(flip) >= 66:
        head_only = CodedLayout(PAPER, "3/4", interleave=False)
        got, report = decode_coded_payload(_certain(_forged(q, head_only, flip)), head_only)
        assert report.crc_ok is True and not np.array_equal(got.codes, q.codes)


def test_at_low_snr_every_message_that_passes_the_crc_is_intact():
    cl = CodedLayout(PAPER, "3/4", crc_scope="message")
    head_only = CodedLayout(PAPER, "3/4")
    qs = [_query(200 + s) for s in range(150)]
    out, out_h = _through_awgn(qs, cl, 2.0, 8), _through_awgn(qs, head_only, 2.0, 8)
    failed = wrong_h = 0
    for q, (got, report), (got_h, rep_h) in zip(qs, out, out_h):
        if report.crc_ok:
            np.testing.assert_array_equal(report.message, message_bits(q, cl))
            assert got.labels.tolist() == q.labels.tolist() and np.array_equal(got.codes, q.codes)
        else:
            failed += 1
            assert got.labels.size == 0
        wrong_h += bool(rep_h.crc_ok) and not np.array_equal(rep_h.message, message_bits(q, head_only))
    assert 10 < failed < 140, failed          # the test saw both outcomes
    assert wrong_h > 0                         # ... where a head-only CRC answers with wrong sub-codes


# --------------------------------------------------------------------------- truncated codes are searchable
def test_truncated_codes_are_searched_by_expected_distance(tmp_path):
    from dscref.index import SemanticIndex
    from dscref.index.robust import soft_search

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((2000, 16)).astype(np.float32)
    labels_b = rng.integers(0, 12, 2000)
    index = SemanticIndex(12, M=4, nbits=5, seed=0, progress=False).build(xb, labels_b)
    layout = PayloadLayout.for_index(index, 3)
    q = index.encode_query(xb[5], top_labels=[labels_b[5], (labels_b[5] + 1) % 12, (labels_b[5] + 2) % 12])
    full, _ = decode_coded_payload(_certain(encode_coded_payload(q, CodedLayout(layout))), CodedLayout(layout))
    np.testing.assert_array_equal(index.search(full, k=10).I, index.search(q, k=10).I)
    cl = CodedLayout(layout, subcodes=2)
    got, _ = decode_coded_payload(_certain(encode_coded_payload(q, cl)), cl)
    res = index.search(got, k=10)
    np.testing.assert_array_equal(res.I, soft_search(index, got.labels, got.code_llr, k=10).I)
    assert not np.array_equal(res.I, index.search(q, k=10).I)   # half the code is unknown


# --------------------------------------------------------------------------- energy per information bit
def test_equal_energy_per_information_bit_is_counted():
    cl = CodedLayout(PAPER, "1/2")
    # 370 information bits in 392 QPSK uses of Es = 1: Eb = 392 / 370 Es
    assert cl.esn0_db(4.0, "qpsk") == pytest.approx(4.0 + 10 * np.log10(370 / 392))
    assert cl.ebn0_db(cl.esn0_db([1.0, 4.0], "16qam"), "16qam") == pytest.approx([1.0, 4.0])
    assert CodedLayout(PAPER, "3/4").esn0_db(0.0, "qpsk") == pytest.approx(10 * np.log10(370 / 262))
    # uncoded, no CRC, no pad: Es/N0 = Eb/N0 + 10 log10(bits per symbol), as ebn0_to_esn0
    from dscref.channel import ebn0_to_esn0

    unc = CodedLayout(PayloadLayout(head_size=2, label_bits=8, M=4, nbits=8, n_lists=200), None, crc=None)
    for m in ("bpsk", "qpsk", "16qam", "256qam"):
        assert unc.esn0_db(3.0, m) == pytest.approx(ebn0_to_esn0(3.0, m))
    # measured on the transmitted signal: symbol energy per information bit over the noise's N0
    rng = np.random.default_rng(10)
    for modem in ("qpsk", "64qam"):
        m = Modem(modem)
        pad = np.zeros((-cl.coded_bits) % m.bits_per_symbol, np.uint8)
        sym = np.concatenate([m.modulate(np.concatenate([encode_coded_payload(_query(s), cl), pad]))
                              for s in range(200)])
        assert sym.size == 200 * cl.channel_uses(modem)
        rx = transmit_symbols(sym, AWGN(cl.esn0_db(5.0, modem)), rng)
        es = np.mean(np.abs(sym) ** 2)                        # 1 on average over random bits; a
        assert es == pytest.approx(1.0, abs=0.03)             # payload's bit statistics move it a little
        eb = np.sum(np.abs(sym) ** 2) / (200 * cl.info_bits)
        n0 = np.mean(np.abs(rx.symbols - sym) ** 2)
        assert 10 * np.log10(eb / n0) == pytest.approx(5.0 + 10 * np.log10(es), abs=0.03)


# --------------------------------------------------------------------------- bad input
def test_bad_layouts_are_refused():
    with pytest.raises(TypeError, match="PayloadLayout"):
        CodedLayout(PAPER.__dict__)
    with pytest.raises(ValueError, match="rate='1/3'"):
        CodedLayout(PAPER, "1/3")
    with pytest.raises(TypeError, match="rate"):
        CodedLayout(PAPER, 0.5)
    with pytest.raises(ValueError, match="crc='crc32'"):
        CodedLayout(PAPER, crc="crc32")
    with pytest.raises(TypeError, match="crc"):
        CodedLayout(PAPER, crc=16)
    with pytest.raises(ValueError, match="head_size"):
        CodedLayout(PAPER, head_size=6)
    with pytest.raises(ValueError, match="head_size"):
        CodedLayout(PAPER, head_size=0)
    with pytest.raises(ValueError, match="head_size"):
        CodedLayout(PayloadLayout(head_size=0, label_bits=0), head_size=1)
    with pytest.raises(ValueError, match="subcodes"):
        CodedLayout(PAPER, subcodes=9)
    with pytest.raises(ValueError, match="subcodes"):
        CodedLayout(PAPER, subcodes=0)
    with pytest.raises(TypeError, match="subcodes"):
        CodedLayout(PAPER, subcodes=2.0)
    with pytest.raises(TypeError, match="interleave"):
        CodedLayout(PAPER, interleave="yes")
    with pytest.raises(ValueError, match="crc_scope='frame'"):
        CodedLayout(PAPER, crc_scope="frame")
    with pytest.raises(TypeError, match="crc_scope"):
        CodedLayout(PAPER, crc_scope=None)
    with pytest.raises(ValueError, match="MAX_INFO_BITS"):
        CodedLayout(PayloadLayout(head_size=1, label_bits=10, M=200_000, nbits=8))


def test_bad_queries_and_llrs_are_refused():
    cl = CodedLayout(PAPER)
    q = _query(0)
    with pytest.raises(TypeError, match="CodedLayout"):
        encode_coded_payload(q, PAPER)
    with pytest.raises(TypeError, match="Query"):
        encode_coded_payload(q.labels, cl)
    with pytest.raises(ValueError, match="raw-feature"):
        encode_coded_payload(Query(labels=q.labels, vector=np.zeros(4, np.float32)), cl)
    with pytest.raises(ValueError, match="3 head labels, layout expects 5"):
        encode_coded_payload(Query(labels=q.labels[:3], codes=q.codes[:3]), cl)
    with pytest.raises(ValueError, match="5 head labels, layout expects 2"):   # 0-d codes: not cut, refused
        encode_coded_payload(Query(labels=q.labels, codes=np.uint8(3)), CodedLayout(PAPER, head_size=2))
    with pytest.raises(ValueError, match="1000"):
        encode_coded_payload(Query(labels=[1, 2, 3, 4, 1000], codes=q.codes), cl)
    llr = _certain(encode_coded_payload(q, cl))
    with pytest.raises(ValueError, match=r"\(\.\.\., 784\)"):
        decode_coded_payload(llr[:-1], cl)
    with pytest.raises(ValueError, match="NaN"):
        decode_coded_payload(np.where(np.arange(784) == 3, np.nan, llr), cl)
    with pytest.raises(TypeError, match="real LLRs"):
        decode_coded_payload(llr.astype(complex), cl)
    with pytest.raises(ValueError, match="1-D"):
        decode_coded_payload(llr[None, :], cl)
    with pytest.raises(ValueError, match="crc_policy='ignore'"):
        decode_coded_payloads(llr, cl, crc_policy="ignore")
    with pytest.raises(ValueError, match="policy='keep'"):
        decode_coded_payloads(llr, cl, policy="keep")
    with pytest.raises(ValueError, match="NaN"):   # uncoded: the LLRs' signs, NaN refused too
        decode_coded_payload(np.full(386, np.nan), CodedLayout(PAPER, None))


def test_the_module_example_runs():
    result = doctest.testmod(coded_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0
