"""The bit-level channel code (dscref.codec.channel_code): code + interleaver round trips for any
message length and rate, the interleaver is a fixed permutation, corrections, bad input."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dscref import convcode
from dscref.codec import channel_code
from dscref.codec.channel_code import coded_length, decode_message, encode_message, interleaver


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), rows=st.integers(1, 4), rate=st.sampled_from(["1/2", "2/3", "3/4", None]),
       inter=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_round_trip_without_noise(n, rows, rate, inter, seed):
    msg = np.random.default_rng(seed).integers(0, 2, (rows, n)).astype(np.uint8)
    sent = encode_message(msg, rate, interleave=inter)
    assert sent.shape == (rows, coded_length(n, rate)) and sent.dtype == np.uint8
    llr = np.where(sent == 0, np.inf, -np.inf)
    np.testing.assert_array_equal(decode_message(llr, rate, n, interleave=inter), msg)
    np.testing.assert_array_equal(decode_message(llr[0], rate, n, interleave=inter), msg[0])  # one block


def test_interleaver_is_a_fixed_permutation_of_the_code():
    msg = np.random.default_rng(0).integers(0, 2, 80).astype(np.uint8)
    plain = encode_message(msg, "1/2", interleave=False)
    np.testing.assert_array_equal(plain, convcode.encode(msg, "1/2"))
    perm = interleaver(plain.size)
    np.testing.assert_array_equal(encode_message(msg, "1/2"), plain[perm])
    assert sorted(perm.tolist()) == list(range(plain.size)) and not np.array_equal(perm, np.arange(plain.size))
    np.testing.assert_array_equal(interleaver(plain.size), perm)  # the same at both ends
    assert not perm.flags.writeable


def test_errors_spread_by_the_interleaver_are_corrected():
    """Eight adjacent coded bits flipped on the air are eight scattered errors at the decoder:
    corrected with the interleaver (free distance 10 corrects 4 adjacent at most without it)."""
    msg = np.random.default_rng(4).integers(0, 2, (20, 66)).astype(np.uint8)
    for inter, want in ((True, True), (False, False)):
        sent = encode_message(msg, "1/2", interleave=inter)
        llr = np.where(sent == 0, 1.0, -1.0)
        llr[:, 40:48] *= -1
        ok = (decode_message(llr, "1/2", 66, interleave=inter) == msg).all(axis=1)
        assert ok.all() if want else not ok.all()


def test_uncoded_is_the_signs():
    llr = np.array([[2.0, -0.1, 0.0, -3.0]])
    np.testing.assert_array_equal(decode_message(llr, None, 4, interleave=False), [[0, 1, 0, 1]])


def test_bad_input():
    with pytest.raises(ValueError, match="rate"):
        encode_message(np.zeros(8, np.uint8), "5/6")
    with pytest.raises(ValueError, match="bits"):
        encode_message(np.zeros((2, 0), np.uint8), None)
    with pytest.raises(ValueError, match="0 and 1|0/1|bits"):
        encode_message(np.full(8, 2), "1/2")
    with pytest.raises(ValueError, match="llr"):
        decode_message(np.zeros(10), "1/2", 8)  # 28 coded bits expected
    with pytest.raises(ValueError, match="NaN"):
        decode_message(np.full(28, np.nan), "1/2", 8)
    with pytest.raises(ValueError, match="n_message"):
        decode_message(np.zeros(0), "1/2", 0)
    with pytest.raises(ValueError, match="n"):
        interleaver(0)


def test_module_example():
    assert doctest.testmod(channel_code).failed == 0
