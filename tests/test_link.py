"""The link (dscref.link): the device -> channel -> server journey written once.

Each test compares the link with the chain written out by hand from the codec, bitpack and
channel primitives (the code the six callers used to repeat), draw for draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from dscref import bitpack
from dscref.channel import AWGN, Modem, RayleighBlock, transmit_analog, transmit_bits
from dscref.codec import PayloadLayout, decode_head, decode_payload, encode_payload
from dscref.link import AnalogLink, Link
from dscref.codec import ProtectedLayout, decode_protected_payload, encode_protected_payload
from dscref.index.robust import robust_label_order


@pytest.fixture(scope="module")
def setup(small_dsc_index):
    xb, labels_b, index, rng = small_dsc_index()
    K, d = index.n_lists, xb.shape[1]
    xq = xb[:12] + 0.05 * rng.standard_normal((12, d)).astype(np.float32)
    heads = np.stack([rng.permutation(K)[:5] for _ in range(12)])
    layout = PayloadLayout.for_index(index, 5)
    queries = [index.encode_query(q, top_labels=t) for q, t in zip(xq, heads)]
    return xq, index, layout, queries


def _same_query(a, b):
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.codes, b.codes)
    if a.code_llr is None:
        assert b.code_llr is None
    else:
        np.testing.assert_array_equal(a.code_llr, b.code_llr)


def test_error_free_link_is_the_codec_round_trip(setup):
    _, _, layout, queries = setup
    out = Link(layout).send(queries)
    assert out.bit_errors == 0 and out.channel_uses == 0 and out.bits == len(queries) * 8 * layout.nbytes
    for q, r in zip(queries, out.received):
        _same_query(r.query, decode_payload(encode_payload(q, layout), layout)[0])
        _same_query(r.query, q)


@pytest.mark.parametrize("modem", ["bpsk", "qpsk", "16qam"])
@pytest.mark.parametrize("fading", [False, True])
def test_per_query_link_matches_the_hand_written_chain(setup, modem, fading):
    _, _, layout, queries = setup
    ch = RayleighBlock(4.0, 8) if fading else AWGN(4.0)
    out = Link(layout, modem, ch, policy="nearest_valid").send(queries, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    errors, uses = 0, 0
    for q, r in zip(queries, out.received):
        sent = bitpack.bytes_to_bits(encode_payload(q, layout))
        res = transmit_bits(sent, Modem(modem), ch, rng)
        want, rep = decode_payload(bitpack.bits_to_bytes(res.bits), layout, policy="nearest_valid")
        _same_query(r.query, want)
        assert r.report == rep and r.bit_errors == res.bit_errors
        hb = 8 * layout.head_bytes
        assert r.head_bit_errors == int(np.count_nonzero(res.bits[:hb] != sent[:hb]))
        errors += res.bit_errors
        uses += res.channel_uses
    assert out.bit_errors == errors > 0 and out.channel_uses == uses


def test_burst_link_sends_the_batch_as_one_transmission(setup):
    _, _, layout, queries = setup
    ch = RayleighBlock(2.0, 16)
    out = Link(layout, "bpsk", ch, burst=True).send(queries, np.random.default_rng(3))
    bits = bitpack.bytes_to_bits(np.frombuffer(b"".join(encode_payload(q, layout) for q in queries), np.uint8))
    res = transmit_bits(bits, Modem("bpsk"), ch, np.random.default_rng(3))
    rx = bitpack.bits_to_bytes(res.bits).reshape(len(queries), layout.nbytes)
    for i, r in enumerate(out.received):
        _same_query(r.query, decode_payload(rx[i], layout)[0])
    assert out.bit_errors == res.bit_errors and out.channel_uses == res.channel_uses
    assert out.ber == pytest.approx(res.ber)


def test_send_heads_matches_decode_head_of_the_head_bytes(setup):
    _, _, layout, queries = setup
    ch = AWGN(0.0)
    out = Link(layout, "qpsk", ch, burst=True).send_heads(queries, np.random.default_rng(5))
    heads = np.stack([np.frombuffer(encode_payload(q, layout)[:layout.head_bytes], np.uint8) for q in queries])
    res = transmit_bits(bitpack.bytes_to_bits(heads.reshape(-1)), Modem("qpsk"), ch, np.random.default_rng(5))
    rxh = bitpack.bits_to_bytes(res.bits).reshape(len(queries), -1)
    for i, r in enumerate(out.received):
        labels, rep = decode_head(rxh[i], layout)
        np.testing.assert_array_equal(r.labels, labels)
        assert r.query is None and r.report == rep
    assert out.ber == pytest.approx(res.ber)


@pytest.mark.parametrize("head,codes", [("hard", "hard"), ("soft", "hard"), ("hard", "soft"), ("soft", "soft")])
def test_protected_link_matches_the_robust_chain(setup, head, codes):
    _, index, layout, queries = setup
    rl = ProtectedLayout(layout, "hamming84")
    order = robust_label_order(index, 0.01)
    ch = AWGN(1.0)
    out = Link(rl, "qpsk", ch, head=head, codes=codes, label_order=order).send(queries, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    for q, r in zip(queries, out.received):
        b = encode_protected_payload(q, rl, label_order=order)
        res = transmit_bits(b, Modem("qpsk"), ch, rng, soft=True)
        want, rep = decode_protected_payload(res.llr, rl, head=head, codes=codes, label_order=order)
        _same_query(r.query, want)
        assert r.bit_errors == res.bit_errors
    assert out.payload_bits == rl.n_bits


def test_error_free_protected_link_with_soft_decoding_returns_the_queries(setup):
    _, _, layout, queries = setup
    out = Link(ProtectedLayout(layout, "rep3"), head="soft", codes="soft").send(queries)
    for q, r in zip(queries, out.received):
        np.testing.assert_array_equal(r.query.labels, q.labels)
        np.testing.assert_array_equal(r.query.codes, q.codes)
        assert np.isinf(r.query.code_llr).all()


def test_analog_link_is_transmit_analog(setup):
    xq = setup[0]
    ch = AWGN(-3.0)
    got = AnalogLink(ch).send(xq, np.random.default_rng(2))
    want = transmit_analog(xq, ch, np.random.default_rng(2), complex_baseband=True).received
    np.testing.assert_array_equal(got, want)


def test_bad_link_settings_are_refused(setup):
    _, _, layout, _ = setup
    with pytest.raises(TypeError, match="layout"):
        Link("layout")
    with pytest.raises(ValueError, match="protected"):
        Link(layout, head="soft")
    with pytest.raises(ValueError, match="policy"):
        Link(layout, policy="guess")
    with pytest.raises(TypeError, match="channel"):
        Link(layout, "qpsk", channel=3.0)
    with pytest.raises(ValueError):
        Link(layout, "8psk", AWGN(1.0))
    with pytest.raises(ValueError):   # the modem is checked with or without a channel
        Link(layout, "8psk")
    with pytest.raises(ValueError, match="plain"):
        Link(ProtectedLayout(layout, "rep3")).send_heads([])
    # a protected layout is checked when the link is made, not when its size is first needed
    with pytest.raises(TypeError, match="ProtectedLayout.layout"):
        Link(ProtectedLayout(3.0, "rep3"))
    with pytest.raises(ValueError, match="scheme"):
        Link(ProtectedLayout(layout, "turbo"))
    # a label order is an object that maps queries both ways
    with pytest.raises(TypeError, match="label_order"):
        Link(ProtectedLayout(layout, "rep3"), label_order=3)
    with pytest.raises(ValueError, match="protected"):
        Link(layout, label_order=3)


def test_received_holds_a_query_or_none(setup):
    from dscref.codec import DecodeReport
    from dscref.link import Received

    _, _, _, queries = setup
    rep = DecodeReport([1, 2])
    assert Received(None, rep).labels is None
    np.testing.assert_array_equal(Received(queries[0], rep).labels, queries[0].labels)
    with pytest.raises(TypeError, match="Query"):
        Received(np.arange(3), rep)
