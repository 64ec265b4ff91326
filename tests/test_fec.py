"""Head protection codes (dscref.fec): repetition, extended Hamming (8,4), soft head decoding."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref import bitpack
from dscref.channel import AWGN, transmit_bits
from dscref.fec import (
    HEAD_SCHEMES,
    decode_head_hard,
    decode_head_soft,
    encode_head_bits,
    protected_head_bits,
    soft_decode_head,
)


def test_protected_head_bits_cost():
    assert HEAD_SCHEMES == {"none", "rep3", "hamming84"}
    assert protected_head_bits(50, "none") == 50
    assert protected_head_bits(50, "rep3") == 150
    assert protected_head_bits(50, "hamming84") == 104


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


def test_soft_decode_head_size_keyword_and_its_deprecated_alias():
    L = np.random.default_rng(3).standard_normal(15)
    want = soft_decode_head(L, 5, 3, 8, per_slot=1)
    got = soft_decode_head(L, head_size=5, label_bits=3, K=8)
    with pytest.warns(DeprecationWarning, match="n_labels= is deprecated, use head_size="):
        old = soft_decode_head(L, n_labels=5, label_bits=3, K=8)
    for a, b in zip(want, got + old):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="both head_size= and its deprecated alias n_labels="):
        soft_decode_head(L, head_size=5, n_labels=5, label_bits=3, K=8)


# --------------------------------------------------------------------------- errors
def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="scheme='bch'"):
        protected_head_bits(50, "bch")
    with pytest.raises(ValueError, match=r"shape \(104,\)"):
        decode_head_hard(np.zeros(100, np.uint8), 50, "hamming84")
    with pytest.raises(ValueError, match="only 0 and 1"):
        encode_head_bits(np.array([0, 2]), "rep3")
    with pytest.raises(ValueError, match="exceed K=4"):
        soft_decode_head(np.zeros(15), 5, 3, 4)
    with pytest.raises(ValueError, match="K=9"):
        soft_decode_head(np.zeros(15), 5, 3, 9)
    with pytest.raises(ValueError, match="NaN"):
        decode_head_soft(np.full(150, np.nan), 50, "rep3")
