"""Tests of dscref.channel.capacity: Shannon's threshold on AWGN, accumulated mutual information per
block under fading (fixed gains by hand, random gains against the outage probability), bad input."""

import math

import numpy as np
import pytest
from scipy import stats

from dscref.channel import AWGN, RayleighBlock
from dscref.channel.capacity import capacity, ideal_delivery, min_uses, threshold_snr_db


def test_capacity_and_threshold():
    assert capacity(0.0) == pytest.approx(1.0)
    assert capacity(10 * math.log10(3)) == pytest.approx(2.0)
    assert capacity(math.inf) == math.inf
    assert threshold_snr_db(376, 188) == pytest.approx(10 * math.log10(3))
    assert threshold_snr_db(376, 47) == pytest.approx(10 * math.log10(255))
    assert threshold_snr_db(0, 5) == -math.inf
    for b, B in ((50, 10), (376, 94), (7, 300)):
        t = threshold_snr_db(b, B)
        assert B * capacity(t) == pytest.approx(b)
        assert min_uses(b, t) == B and min_uses(b, t - 0.01) > B
        assert min_uses(b, t) * capacity(t) >= b * (1 - 1e-9)
        assert (min_uses(b, t) - 1) * capacity(t) < b
    assert min_uses(0, 3.0) == 0 and min_uses(10, math.inf) == 0


@pytest.mark.parametrize("b, B", [(376, 188), (376, 47), (50, 25), (50, 7)])
def test_awgn_delivers_exactly_above_the_threshold(b, B):
    t = threshold_snr_db(b, B)
    assert ideal_delivery(b, B, AWGN(t), n=4, rng=0).delivered.all()  # at the threshold: arrives
    assert ideal_delivery(b, B, AWGN(t + 0.01), n=4, rng=0).delivered.all()
    assert not ideal_delivery(b, B, AWGN(t - 0.01), n=4, rng=0).delivered.any()
    assert ideal_delivery(b, B, AWGN(math.inf), n=2, rng=0).delivered.all()
    res = ideal_delivery(b, B, AWGN(t), n=3, rng=0)
    np.testing.assert_allclose(res.information, B * capacity(t))
    assert res.delivery_rate == 1.0 and res.n_bits == b and res.n_uses == B


def test_fading_sums_information_over_blocks_by_hand():
    snr_db = 10.0
    s = 10.0
    # B = 5 uses in blocks of 2: L = (2, 2, 1); fixed gains per block (rows continue the cycle)
    gains = [1.0, 0.5j, 2.0]
    res = ideal_delivery(10, 5, RayleighBlock(snr_db, 2, gains=gains), n=2, rng=0)
    row0 = 2 * math.log2(1 + s) + 2 * math.log2(1 + 0.25 * s) + 1 * math.log2(1 + 4 * s)
    np.testing.assert_allclose(res.information, [row0, row0])  # 3 blocks per row, 3 gains: each row the same
    assert res.delivered.all()
    assert not ideal_delivery(int(row0) + 1, 5, RayleighBlock(snr_db, 2, gains=gains), n=1).delivered.any()
    # unit gains reproduce AWGN
    one = ideal_delivery(17, 9, RayleighBlock(snr_db, 4, gains=1.0), n=3, rng=1)
    np.testing.assert_allclose(one.information, 9 * capacity(snr_db))


def test_single_block_outage_probability():
    # block >= B: one gain per payload; lost iff B log2(1 + |h|^2 s) < b, |h|^2 ~ Exp(1), so
    # P(outage) = 1 - exp(-(2^(b/B) - 1) / s)
    b, B, snr_db, n = 100, 50, 3.0, 20000
    s = 10 ** (snr_db / 10)
    p = 1 - math.exp(-(2 ** (b / B) - 1) / s)
    lost = int((~ideal_delivery(b, B, RayleighBlock(snr_db, 64), n=n, rng=7).delivered).sum())
    lo, hi = stats.binom.interval(1 - 1e-6, n, p)
    assert lo <= lost <= hi, (lost, n * p)


def test_more_blocks_give_diversity():
    b, B, snr_db = 100, 48, 10.0  # rate 2.08 bits per use, below the ergodic capacity (~2.9)
    slow = ideal_delivery(b, B, RayleighBlock(snr_db, 48), n=5000, rng=1).delivery_rate
    fast = ideal_delivery(b, B, RayleighBlock(snr_db, 4), n=5000, rng=1).delivery_rate
    assert fast > slow + 0.05


def test_the_generator_advances_like_a_transmission():
    # noise (2, n, B) then the gains, even on AWGN: a following draw is the same
    a = np.random.default_rng(3)
    ideal_delivery(10, 6, AWGN(0.0), n=4, rng=a)
    b = np.random.default_rng(3)
    b.standard_normal((2, 4, 6))
    assert a.standard_normal() == b.standard_normal()


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ideal_delivery(-1, 5, AWGN(0.0)), ValueError, "n_bits"),
    (lambda: ideal_delivery(10, 0, AWGN(0.0)), ValueError, "n_uses"),
    (lambda: ideal_delivery(10, 5, AWGN(0.0), n=-1), ValueError, "n="),
    (lambda: ideal_delivery(10, 5, "awgn"), TypeError, "channel"),
    (lambda: ideal_delivery(10.0, 5, AWGN(0.0)), TypeError, "n_bits"),
    (lambda: capacity(float("nan")), ValueError, "snr_db"),
    (lambda: threshold_snr_db(10, 0), ValueError, "n_uses"),
])
def test_validation(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_outage_probability():
    from dscref.channel.capacity import outage_probability

    t = threshold_snr_db(100, 50)
    assert outage_probability(100, 50, AWGN(t + 0.01)) == 0.0
    assert outage_probability(100, 50, AWGN(t - 0.01)) == 1.0
    s = 10 ** 0.3
    p = 1 - math.exp(-(2 ** 2 - 1) / s)  # one block
    assert outage_probability(100, 50, RayleighBlock(3.0, 50), n_draws=40000, seed=1) == pytest.approx(p, abs=0.01)
    # diversity: more blocks, smaller outage below the ergodic capacity
    assert outage_probability(100, 48, RayleighBlock(10.0, 4)) < outage_probability(100, 48, RayleighBlock(10.0, 48))
    with pytest.raises(ValueError, match="n_draws"):
        outage_probability(10, 5, AWGN(0.0), n_draws=0)


def test_numeric_envelope():
    # -300 dB: a tiny but positive capacity (log1p), so min_uses stays a finite count
    assert 0 < capacity(-300.0) < 1e-29
    assert min_uses(1, -300.0) > 10 ** 29
    # very high rates: 2^r - 1 = 2^r, no overflow
    assert threshold_snr_db(2 ** 40, 1) == pytest.approx(10 * 2 ** 40 * math.log10(2))
    assert threshold_snr_db(65, 1) == pytest.approx(10 * math.log10(2 ** 65 - 1))
    assert np.isfinite(ideal_delivery(2 ** 62, 3, RayleighBlock(300.0, 2), n=2, rng=0).information).all()
