"""Tests of dscref.channel.theory: simulated BER against the closed forms (binomial bounds at
alpha = 1e-6), and the closed forms and Eb/N0 conversions themselves.
"""

import numpy as np
import pytest
from scipy import stats

from dscref import channel as ch

MODEMS = ["bpsk", "qpsk", "16qam", "64qam", "256qam"]


# --------------------------------------------------------------------------- BER vs closed forms
THEORY = {"bpsk": ch.ber_bpsk, "qpsk": ch.ber_qpsk, "16qam": ch.ber_16qam,
          "64qam": lambda e: ch.ber_qam(e, 64), "256qam": lambda e: ch.ber_qam(e, 256)}


@pytest.mark.parametrize("modem", MODEMS)
@pytest.mark.parametrize("ebn0_db", [0.0, 4.0, 7.0, 12.0])
def test_ber_matches_closed_form_within_binomial_bound(binom_interval, random_bits, modem, ebn0_db):
    n = 120_000
    bits = random_bits(n, 17)
    esn0 = ch.ebn0_to_esn0(ebn0_db, modem)
    res = ch.transmit_bits(bits, modem, ch.AWGN(esn0), rng=int(ebn0_db * 10) + 1)
    p = THEORY[modem](ebn0_db)
    lo, hi = binom_interval(n, p)
    assert lo <= res.bit_errors <= hi, (modem, ebn0_db, res.bit_errors, lo, hi, p * n)


def test_bpsk_rayleigh_fast_fading_ber_matches_closed_form(binom_interval, random_bits):
    n = 100_000
    res = ch.transmit_bits(random_bits(n, 4), "bpsk", ch.RayleighBlock(5.0, block=1), rng=6)
    lo, hi = binom_interval(n, ch.ber_bpsk_rayleigh(5.0))
    assert lo <= res.bit_errors <= hi, (res.bit_errors, lo, hi)


def test_theory_helpers():
    assert ch.ber_bpsk(0.0) == pytest.approx(0.0786496, rel=1e-5)       # Q(sqrt(2))
    np.testing.assert_allclose(ch.ber_qpsk([0, 5]), ch.ber_bpsk([0, 5]))
    # the leading term (3/4) Q(sqrt(0.8 Eb/N0)) dominates at high SNR
    lead = 0.75 * stats.norm.sf(np.sqrt(0.8 * 10 ** 1.2))
    assert ch.ber_16qam(12.0) == pytest.approx(lead, rel=1e-6)
    assert ch.ber_bpsk_rayleigh(10.0) == pytest.approx(0.5 * (1 - np.sqrt(10 / 11)))
    for m, k in (("bpsk", 1), ("qpsk", 2), ("16qam", 4)):
        assert ch.ebn0_to_esn0(3.0, m) == pytest.approx(3.0 + 10 * np.log10(k))
        np.testing.assert_allclose(ch.esn0_to_ebn0(ch.ebn0_to_esn0([1.0, 2.0], m), m), [1.0, 2.0])


def test_general_qam_ber_reduces_to_the_known_forms():
    e = np.array([-2.0, 0.0, 4.0, 8.0, 12.0, 16.0])
    np.testing.assert_allclose(ch.ber_qam(e, 16), ch.ber_16qam(e), rtol=1e-12)
    np.testing.assert_allclose(ch.ber_qam(e, 4), ch.ber_bpsk(e), rtol=1e-12)
    # 64-QAM written out (Cho & Yoon's sum expanded): (1/12)[7Q(a) + 6Q(3a) - Q(5a) + Q(9a) - Q(13a)]
    a = np.sqrt(2 * 10 ** (e / 10) / 7)
    q = stats.norm.sf
    want = (7 * q(a) + 6 * q(3 * a) - q(5 * a) + q(9 * a) - q(13 * a)) / 12
    np.testing.assert_allclose(ch.ber_qam(e, 64), want, rtol=1e-12)
    # the nearest-neighbour approximation (4/log2 M)(1 - 1/sqrt M) Q(sqrt(3 log2 M Eb / ((M-1) N0)))
    g = 10 ** 1.8
    for order in (64, 256):
        k = np.log2(order)
        approx = 4 / k * (1 - 1 / np.sqrt(order)) * q(np.sqrt(3 * k * g / (order - 1)))
        assert ch.ber_qam(18.0, order) == pytest.approx(approx, rel=2e-3)
    # more bits per symbol cost energy per bit: the curves are ordered
    assert ch.ber_qam(10.0, 4) < ch.ber_qam(10.0, 16) < ch.ber_qam(10.0, 64) < ch.ber_qam(10.0, 256) < 0.5
    assert isinstance(ch.ber_qam(3.0, 64), float) and ch.ber_qam([1.0, 2.0], 256).shape == (2,)
    assert ch.ber_qam(np.inf, 256) == 0.0
    for m in ch.MODEM_NAMES:
        assert ch.ber_modem(6.0, m) == pytest.approx(THEORY[m](6.0), rel=1e-12)


@pytest.mark.parametrize("order", [0, 2, 8, 32, 36, 128, 100, 4 ** 9, 2 ** 64])
def test_general_qam_ber_refuses_non_square_orders(order):
    with pytest.raises(ValueError, match=f"order={order}"):
        ch.ber_qam(5.0, order)


def test_general_qam_ber_refuses_a_non_integer_order():
    with pytest.raises(TypeError, match="order"):
        ch.ber_qam(5.0, 16.0)

