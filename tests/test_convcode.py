"""dscref.convcode: the K=7 133/171 encoder against a shift register written from the generator
polynomials, exact recovery at infinite SNR, maximum-likelihood decoding (brute force on short
blocks), correction of every hard-decision error pattern of weight <= 4, and input validation."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref import convcode as cc
from dscref.channel import Modem

# The 802.11 / NASA generators as polynomials in the delay D (1 = the current input):
# g0 = 133 (octal) = 1 + D^2 + D^3 + D^5 + D^6, g1 = 171 (octal) = 1 + D + D^2 + D^3 + D^6.
G0 = (0, 2, 3, 5, 6)
G1 = (0, 1, 2, 3, 6)
# 802.11 puncturing: row A (g0), row B (g1); a 1 is sent.
PATTERNS = {"1/2": [[1], [1]], "2/3": [[1, 1], [1, 0]], "3/4": [[1, 1, 0], [1, 0, 1]]}


def reference_encode(bits, rate="1/2"):
    """Bit by bit: a 7-stage shift register, six zero tail bits, A_t then B_t, punctured."""
    u = [int(b) for b in bits] + [0] * 6
    reg = [0] * 7  # reg[j] = u_{t-j}
    pat = PATTERNS[rate]
    out = []
    for t, bit in enumerate(u):
        reg = [bit] + reg[:-1]
        a = sum(reg[j] for j in G0) % 2
        b = sum(reg[j] for j in G1) % 2
        if pat[0][t % len(pat[0])]:
            out.append(a)
        if pat[1][t % len(pat[1])]:
            out.append(b)
    return np.array(out, dtype=np.uint8)


# ------------------------------------------------------------------------------------ encoder
@pytest.mark.parametrize("rate", cc.RATES)
@pytest.mark.parametrize("n_info", [1, 2, 3, 7, 50, 376])
def test_encoder_matches_the_shift_register(rate, n_info):
    rng = np.random.default_rng(n_info)
    u = rng.integers(0, 2, (5, n_info)).astype(np.uint8)
    got = cc.encode(u, rate)
    assert got.dtype == np.uint8 and got.shape == (5, cc.coded_length(n_info, rate))
    for row, coded in zip(u, got):
        assert np.array_equal(coded, reference_encode(row, rate))
    assert np.array_equal(cc.encode(u[0], rate), got[0])  # a single block as 1-D


def test_impulse_response_has_the_free_distance_and_the_published_taps():
    imp = np.zeros(10, dtype=np.uint8)
    imp[0] = 1
    c = cc.encode(imp)
    # A = 1011011 (133), B = 1111001 (171) interleaved, then zeros
    assert c[:14].tolist() == [1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1]
    assert c.sum() == 10 and not c[14:].any()


def test_published_802_11_style_vector():
    # 12 bits through the 133/171 encoder (A then B per step), as printed by the 'viterbi'
    # package's README (an independent implementation); ours continues with the tail.
    u = [0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0]
    want = [0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    assert cc.encode(u)[:24].tolist() == want


def test_lengths_rates_and_channel_uses():
    assert [cc.coded_length(376, r) for r in cc.RATES] == [764, 573, 510]
    assert cc.coded_length(1, "3/4") == 10  # 14 mother bits, pattern 110110 110110 11
    assert cc.effective_rate(376, "1/2") == pytest.approx(376 / 764)
    assert [cc.coded_channel_uses(376, r, "qpsk") for r in cc.RATES] == [382, 287, 255]
    assert [cc.coded_channel_uses(376, "1/2", m) for m in ("bpsk", "qpsk", "16qam")] == [764, 382, 191]
    assert cc.coded_channel_uses(66, "3/4", Modem("16qam")) == -(-cc.coded_length(66, "3/4") // 4)
    for r in cc.RATES:
        m = cc.puncture_mask(600, r)
        nominal = {"1/2": 0.5, "2/3": 2 / 3, "3/4": 0.75}[r]
        assert m.size == 1212 and abs(m.size / 2 / m.sum() - nominal) < 1e-2


# ------------------------------------------------------------------------------------ decoder
@pytest.mark.parametrize("rate", cc.RATES)
def test_every_codeword_is_recovered_at_infinite_snr(rate):
    rng = np.random.default_rng(1)
    for n_info in (1, 5, 64, 376):
        u = rng.integers(0, 2, (20, n_info)).astype(np.uint8)
        c = cc.encode(u, rate)
        bits, metric = cc.decode(1.0 - 2.0 * c, rate, n_info, return_metric=True)
        assert np.array_equal(bits, u)
        assert np.array_equal(metric, np.full(20, float(c.shape[1])))  # every sent bit agrees
        assert np.array_equal(cc.decode_hard(c, rate, n_info), u)
        # the modem at noise variance 0 gives +-inf LLRs: certain bits
        sent = np.concatenate([c[0], np.zeros(c.shape[1] % 2, np.uint8)])
        llr = Modem("qpsk").demodulate(Modem("qpsk").modulate(sent), 0.0, soft=True)[:c.shape[1]]
        assert np.isinf(llr).all()
        assert np.array_equal(cc.decode(llr, rate, n_info), u[0])


@pytest.mark.parametrize("rate", cc.RATES)
@pytest.mark.parametrize("n_info", [1, 2, 4, 7])
def test_decoder_is_maximum_likelihood_by_brute_force(rate, n_info):
    """Over all 2^n_info messages, the decoded one maximises sum_i s(c_i) L_i (max-log ML)."""
    msgs = np.array(list(itertools.product([0, 1], repeat=n_info)), dtype=np.uint8)
    book = 1.0 - 2.0 * cc.encode(msgs, rate)  # (2^k, n_coded) signs
    rng = np.random.default_rng(n_info)
    L = rng.standard_normal((200, book.shape[1])) * 1.5 + 0.3
    bits, metric = cc.decode(L, rate, n_info, return_metric=True)
    scores = L @ book.T
    best = scores.argmax(1)
    assert np.array_equal(bits, msgs[best])
    assert np.allclose(metric, scores.max(1), rtol=0, atol=1e-9)


def _hard_errors_decode(u, positions):
    c = cc.encode(u, "1/2")
    r = c.copy()
    r[positions] ^= 1
    return cc.decode_hard(r, "1/2", u.size)


@given(st.data())
def test_every_error_pattern_of_weight_at_most_4_is_corrected(data):
    n_info = data.draw(st.integers(1, 120), label="n_info")
    u = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n_info, max_size=n_info)), dtype=np.uint8)
    n_coded = 2 * (n_info + 6)
    pos = data.draw(st.lists(st.integers(0, n_coded - 1), min_size=0, max_size=4, unique=True))
    assert np.array_equal(_hard_errors_decode(u, np.array(pos, dtype=np.int64)), u)


def test_weight_4_errors_corrected_many_seeded_trials():
    rng = np.random.default_rng(7)
    n_info, trials = 376, 3000
    u = rng.integers(0, 2, (trials, n_info)).astype(np.uint8)
    c = cc.encode(u)
    r = c.copy()
    for i in range(trials):
        w = 4 if i % 2 else int(rng.integers(1, 5))
        if i % 3 == 0:  # clustered errors: the hardest patterns for a convolutional code
            start = int(rng.integers(0, c.shape[1] - 12))
            pos = start + rng.choice(12, w, replace=False)
        else:
            pos = rng.choice(c.shape[1], w, replace=False)
        r[i, pos] ^= 1
    assert np.array_equal(cc.decode_hard(r, "1/2", n_info), u)


@pytest.mark.parametrize("n_info", [1, 4])
def test_weight_at_most_4_errors_exhaustively_on_short_blocks(n_info):
    """Every message and every pattern of at most 4 flipped bits (14 or 20 coded bits)."""
    n_coded = 2 * (n_info + 6)
    pats = [np.zeros(n_coded, dtype=np.uint8)]
    for w in range(1, 5):
        for pos in itertools.combinations(range(n_coded), w):
            p = np.zeros(n_coded, dtype=np.uint8)
            p[list(pos)] = 1
            pats.append(p)
    pats = np.array(pats)
    msgs = np.array(list(itertools.product([0, 1], repeat=n_info)), dtype=np.uint8)
    for u in msgs:
        r = cc.encode(u) ^ pats
        assert np.array_equal(cc.decode_hard(r, "1/2", n_info), np.broadcast_to(u, (len(pats), n_info)))


def test_six_errors_on_a_minimum_weight_codeword_mislead_the_decoder():
    """The guarantee stops at 4: the all-zero block received with 6 of the 10 ones of the impulse
    codeword is 4 flips away from that codeword and 6 from the sent one."""
    n_info = 10
    imp = np.zeros(n_info, dtype=np.uint8)
    imp[0] = 1
    ones = np.flatnonzero(cc.encode(imp))
    r = np.zeros(2 * (n_info + 6), dtype=np.uint8)
    r[ones[:6]] = 1
    assert np.array_equal(cc.decode_hard(r, "1/2", n_info), imp)
    r[ones[5]] = 0
    r[ones[3]] = 0  # 4 errors: corrected
    assert not cc.decode_hard(r, "1/2", n_info).any()


def test_batch_equals_rows_and_empty_batch():
    rng = np.random.default_rng(3)
    L = rng.standard_normal((9, cc.coded_length(30, "2/3")))
    batch, m = cc.decode(L, "2/3", 30, return_metric=True)
    for i in range(9):
        b, mi = cc.decode(L[i], "2/3", 30, return_metric=True)
        assert np.array_equal(b, batch[i]) and mi == m[i] and isinstance(mi, float)
    assert cc.decode(np.empty((0, L.shape[1])), "2/3", 30).shape == (0, 30)
    assert cc.decode(L.astype(np.float32), "2/3", 30).dtype == np.uint8


def test_huge_and_infinite_llrs_are_clipped_not_nan():
    u = np.array([1, 0, 1, 1, 0], dtype=np.uint8)
    s = 1.0 - 2.0 * cc.encode(u)
    s[3] = -s[3]  # one wrong bit, very confident
    L = s * 1e300
    L[0] = np.inf * s[0]
    bits, metric = cc.decode(L, "1/2", 5, return_metric=True)
    assert np.array_equal(bits, u) and np.isfinite(metric)


# ------------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("bits, exc, match", [
    ([0, 1, 2], ValueError, "found 2"),
    (np.array([0.0, 1.0]), TypeError, "float64"),
    (np.zeros((2, 2, 2), np.uint8), ValueError, r"\(2, 2, 2\)"),
    (np.zeros((3, 0), np.uint8), ValueError, r"\(3, 0\)"),
])
def test_encode_rejects_bad_bits(bits, exc, match):
    with pytest.raises(exc, match=match):
        cc.encode(bits, "1/2")


@pytest.mark.parametrize("fn", [cc.encode, lambda b, r: cc.decode(b, r, 4), lambda b, r: cc.coded_length(4, r)])
@pytest.mark.parametrize("rate, exc", [("5/6", ValueError), ("1/3", ValueError), (0.5, TypeError), (None, TypeError)])
def test_unknown_rate_is_named(fn, rate, exc):
    with pytest.raises(exc, match=str(rate).replace("/", "/")):
        fn(np.zeros(20, np.uint8) if fn is not cc.encode else np.zeros(4, np.uint8), rate)


def test_decode_rejects_bad_llrs_and_lengths():
    n = cc.coded_length(8, "3/4")
    L = np.zeros(n)
    L[5] = np.nan
    with pytest.raises(ValueError, match=r"NaN at index \(5,\)"):
        cc.decode(L, "3/4", 8)
    L2 = np.zeros((3, n))
    L2[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN at index \(2, 1\)"):
        cc.decode(L2, "3/4", 8)
    with pytest.raises(ValueError, match=rf"\({n},\).*got \({n + 1},\)"):
        cc.decode(np.zeros(n + 1), "3/4", 8)
    with pytest.raises(ValueError, match="got"):
        cc.decode(np.zeros((2, 2, n)), "3/4", 8)
    with pytest.raises(TypeError, match="complex128"):
        cc.decode(np.zeros(n, complex), "3/4", 8)
    with pytest.raises(TypeError, match="bool"):
        cc.decode(np.zeros(n, bool), "3/4", 8)
    with pytest.raises(ValueError, match="n_info=0"):
        cc.decode(np.zeros(12), "1/2", 0)
    with pytest.raises(TypeError, match="n_info"):
        cc.decode(np.zeros(n), "3/4", 8.0)
    with pytest.raises(TypeError, match="return_metric"):
        cc.decode(np.zeros(n), "3/4", 8, return_metric="yes")
    with pytest.raises(ValueError, match=rf"bits must have shape \({n},\)"):
        cc.decode_hard(np.zeros(n - 1, np.uint8), "3/4", 8)
    with pytest.raises(ValueError, match="found 3"):
        cc.decode_hard(np.full(n, 3), "3/4", 8)
    with pytest.raises(ValueError, match="n_info=-1"):
        cc.coded_channel_uses(-1, "1/2", "qpsk")
    with pytest.raises(ValueError, match=f"n_info={cc.MAX_INFO_BITS + 1} must be <= {cc.MAX_INFO_BITS}"):
        cc.coded_length(cc.MAX_INFO_BITS + 1, "1/2")
    with pytest.raises(ValueError, match="n_info=1000000000000"):
        cc.decode(np.zeros(4), "1/2", 10**12)
    with pytest.raises(ValueError, match="1024qam"):
        cc.coded_channel_uses(10, "1/2", "1024qam")
