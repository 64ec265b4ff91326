"""Tests of dscref.channel.theory: simulated BER against the closed forms (binomial bounds at
alpha = 1e-6), and the closed forms and Eb/N0 conversions themselves.
"""

import numpy as np
import pytest
from scipy import stats

from dscref import channel as ch

MODEMS = ["bpsk", "qpsk", "16qam"]


# --------------------------------------------------------------------------- BER vs closed forms
THEORY = {"bpsk": ch.ber_bpsk, "qpsk": ch.ber_qpsk, "16qam": ch.ber_16qam}


@pytest.mark.parametrize("modem", MODEMS)
@pytest.mark.parametrize("ebn0_db", [0.0, 4.0, 7.0])
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
