"""dscref.crc: standard check values, every single and double bit error of a 50-bit head detected
(brute force), batches, and input validation."""

import itertools

import numpy as np
import pytest

from dscref import crc

CHECK = np.unpackbits(np.frombuffer(b"123456789", dtype=np.uint8))  # the catalogue's test message


def _value(bits) -> int:
    return int("".join(map(str, bits)), 2)


def test_catalogue_check_values():
    assert _value(crc.crc_bits(CHECK, "crc16")) == 0x29B1  # CRC-16/CCITT-FALSE
    assert _value(crc.crc_bits(CHECK, "crc8")) == 0xF4     # CRC-8/SMBUS
    assert crc.crc_width("crc16") == 16 and crc.crc_width("crc8") == 8


def _reference_remainder(bits, width, poly, init):
    """Polynomial long division over GF(2): (x^w m(x) + init(x) x^n) mod (x^w + poly(x))."""
    n = len(bits)
    dividend = [int(b) for b in bits] + [0] * width  # x^w m(x), highest coefficient first
    for i in range(width):  # add init(x) x^n
        dividend[i] ^= (init >> (width - 1 - i)) & 1
    gen = [1] + [(poly >> (width - 1 - i)) & 1 for i in range(width)]
    for i in range(n):
        if dividend[i]:
            for j in range(width + 1):
                dividend[i + j] ^= gen[j]
    return dividend[n:]


@pytest.mark.parametrize("kind, spec", [("crc16", (16, 0x1021, 0xFFFF)), ("crc8", (8, 0x07, 0x00))])
def test_equals_polynomial_division(kind, spec):
    rng = np.random.default_rng(0)
    for n in (1, 7, 50, 123):
        m = rng.integers(0, 2, n).astype(np.uint8)
        assert crc.crc_bits(m, kind).tolist() == _reference_remainder(m, *spec)


def test_every_single_and_double_error_on_a_50_bit_head_is_detected():
    rng = np.random.default_rng(1)
    heads = rng.integers(0, 2, (4, 50)).astype(np.uint8)
    heads[0] = 0  # the all-zero head too
    words = crc.crc_append(heads, "crc16")  # (4, 66)
    n = words.shape[1]
    pats = []
    for w in (1, 2):
        for pos in itertools.combinations(range(n), w):
            p = np.zeros(n, dtype=np.uint8)
            p[list(pos)] = 1
            pats.append(p)
    pats = np.array(pats)
    assert len(pats) == 66 + 66 * 65 // 2
    for word in words:
        assert crc.crc_check(word, "crc16")
        assert not crc.crc_check(word ^ pats, "crc16").any()


def test_crc8_detects_single_errors_and_all_zero_word_fails_crc16():
    head = np.random.default_rng(2).integers(0, 2, 50).astype(np.uint8)
    word = crc.crc_append(head, "crc8")
    flips = np.eye(word.size, dtype=np.uint8)
    assert not crc.crc_check(word ^ flips, "crc8").any()
    assert not crc.crc_check(np.zeros(66, np.uint8), "crc16")


def test_batch_equals_rows_and_shapes():
    rng = np.random.default_rng(3)
    m = rng.integers(0, 2, (6, 50)).astype(bool)
    batch = crc.crc_bits(m)
    assert batch.shape == (6, 16) and batch.dtype == np.uint8
    for i in range(6):
        assert np.array_equal(crc.crc_bits(m[i]), batch[i])
    w = crc.crc_append(m)
    assert w.shape == (6, 66) and np.array_equal(w[:, :50], m)
    ok = crc.crc_check(w)
    assert ok.dtype == bool and ok.all()
    assert isinstance(crc.crc_check(w[0]), bool)


def test_validation():
    with pytest.raises(ValueError, match="found 2"):
        crc.crc_bits([0, 1, 2])
    with pytest.raises(TypeError, match="float64"):
        crc.crc_bits(np.zeros(4))
    with pytest.raises(ValueError, match="'crc32'"):
        crc.crc_bits([0, 1], "crc32")
    with pytest.raises(ValueError, match=r"\(2, 2, 2\)"):
        crc.crc_append(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="16-bit crc16, got 16 bits"):
        crc.crc_check(np.zeros(16, np.uint8))
