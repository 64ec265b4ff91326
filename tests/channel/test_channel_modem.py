"""Tests of dscref.channel.modem: LLR conventions, the modem kernels == NumPy reference, Gray
constellations with unit energy, unknown modems and bad demodulator input.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import logsumexp

from dscref import channel as ch
from dscref._kernels import channel as kern
from dscref._reference import channel as ref

MODEMS = ["bpsk", "qpsk", "16qam", "64qam", "256qam"]


# --------------------------------------------------------------------------- LLR conventions
@given(st.sampled_from(MODEMS), st.floats(-5, 15), st.integers(1, 60), st.integers(0, 2**31 - 1), st.booleans())
def test_llr_sign_equals_hard_decision(random_bits, modem, snr_db, n_sym, seed, fading):
    m = ch.Modem(modem)
    bits = random_bits(n_sym * m.bits_per_symbol, seed)
    channel = ch.RayleighBlock(snr_db, 2) if fading else ch.AWGN(snr_db)
    rx = ch.transmit_symbols(m.modulate(bits), channel, rng=seed)
    hard = m.demodulate(rx.symbols, rx.noise_var)
    exact = m.demodulate(rx.symbols, rx.noise_var, soft=True, exact=True)
    maxlog = m.demodulate(rx.symbols, rx.noise_var, soft=True, exact=False)
    # max-log: sign(m1 - m0) says which bit the nearest point carries -> same as slicing
    np.testing.assert_array_equal((maxlog < 0).astype(np.uint8), hard)
    exact_bits = (exact < 0).astype(np.uint8)
    if modem in ("bpsk", "qpsk"):
        np.testing.assert_array_equal(exact_bits, hard)
        np.testing.assert_array_equal(np.sign(exact), np.sign(maxlog))
        return
    # QAM: the exact LLR is the bitwise-MAP decision. Each log-sum-exp exceeds its largest term by
    # at most log(M / 2), so it can disagree with the slicer only where |max-log LLR| <= log(M / 2);
    # never on the sign bits (first bit of each axis), whose MAP boundary is the axis itself.
    k = m.bits_per_symbol
    diff = exact_bits != hard
    assert np.all(np.abs(maxlog[diff]) <= np.log(2 ** (k - 1)) + 1e-9)
    assert not diff.reshape(-1, k)[:, [0, k // 2]].any()
    if modem != "16qam":
        return
    # 16-QAM: on the magnitude bits the MAP boundary lies slightly *outside* |axis| = 2/sqrt(10),
    # so the only possible disagreement is "slicer says 1 (outer), MAP says 0 (inner)".
    diff = diff.reshape(-1, 4)
    h = hard.reshape(-1, 4)
    e = exact_bits.reshape(-1, 4)
    assert np.all(h[diff] == 1) and np.all(e[diff] == 0)
    axis = np.stack([np.abs(rx.symbols.real), np.abs(rx.symbols.imag)], axis=1)   # (m, 2)
    assert np.all(axis[diff[:, [1, 3]]] > 2 / np.sqrt(10))


@pytest.mark.parametrize("modem", ["16qam", "64qam", "256qam"])
def test_exact_and_maxlog_llrs_agree_at_high_snr(random_bits, modem):
    m = ch.Modem(modem)
    bits = random_bits(4000 * m.bits_per_symbol, 21)
    rx = ch.transmit_symbols(m.modulate(bits), ch.AWGN(40.0), rng=22)
    exact = m.demodulate(rx.symbols, rx.noise_var, soft=True)
    maxlog = m.demodulate(rx.symbols, rx.noise_var, soft=True, exact=False)
    np.testing.assert_array_equal(np.sign(exact), np.sign(maxlog))
    # the log-sum-exp corrections vanish beside LLRs of order d_min^2 / N0
    assert np.median(np.abs(exact - maxlog) / np.abs(maxlog)) < 1e-6
    assert np.max(np.abs(exact - maxlog)) < 1e-3 * np.min(np.abs(maxlog))
    # ... and at moderate SNR they do not (the test can fail)
    rx = ch.transmit_symbols(m.modulate(bits), ch.AWGN(5.0), rng=22)
    e5 = m.demodulate(rx.symbols, rx.noise_var, soft=True)
    a5 = m.demodulate(rx.symbols, rx.noise_var, soft=True, exact=False)
    assert np.max(np.abs(e5 - a5)) > 0.1


def test_llr_positive_means_bit_zero_and_bpsk_maxlog_is_exact():
    m = ch.Modem("bpsk")
    z = np.random.default_rng(0).standard_normal(1000) * 2 + 1j * np.random.default_rng(1).standard_normal(1000)
    n0 = 0.7
    exact = m.demodulate(z, n0, soft=True)
    maxlog = m.demodulate(z, n0, soft=True, exact=False)
    np.testing.assert_array_equal(exact, maxlog)
    np.testing.assert_allclose(exact, 4 * z.real / n0, rtol=1e-9, atol=1e-12)
    assert m.demodulate([1.0], n0, soft=True)[0] > 0 and m.demodulate([-1.0], n0, soft=True)[0] < 0


def test_qpsk_maxlog_equals_exact_and_16qam_differs():
    rng = np.random.default_rng(2)
    z = rng.standard_normal(500) + 1j * rng.standard_normal(500)
    q = ch.Modem("qpsk")
    np.testing.assert_allclose(q.demodulate(z, 1.3, soft=True), q.demodulate(z, 1.3, soft=True, exact=False),
                               rtol=1e-9, atol=1e-12)
    m16 = ch.Modem("16qam")
    e, a = m16.demodulate(z, 1.3, soft=True), m16.demodulate(z, 1.3, soft=True, exact=False)
    assert np.max(np.abs(e - a)) > 1e-3


@pytest.mark.parametrize("modem", ["16qam", "64qam", "256qam"])
def test_llr_equals_log_posterior_ratio_brute_force(modem):
    m = ch.Modem(modem)
    k, npts = m.bits_per_symbol, m.constellation.size
    rng = np.random.default_rng(3)
    z = rng.standard_normal(50) + 1j * rng.standard_normal(50)
    n0 = 0.4 * 10 / npts
    llr = m.demodulate(z, n0, soft=True).reshape(50, k)
    loglik = -np.abs(z[:, None] - m.constellation[None, :]) ** 2 / n0          # (50, npts)
    for j in range(k):
        bit = (np.arange(npts) >> (k - 1 - j)) & 1
        # scipy's log-sum-exp (exp alone underflows to subnormals for far points at 256 points)
        want = logsumexp(loglik[:, bit == 0], axis=1) - logsumexp(loglik[:, bit == 1], axis=1)
        np.testing.assert_allclose(llr[:, j], want, rtol=1e-9, atol=1e-9)


def test_fading_llrs_scale_with_gain(random_bits):
    m = ch.Modem("qpsk")
    bits = random_bits(400, 8)
    rx = ch.transmit_symbols(m.modulate(bits), ch.RayleighBlock(3.0, 4), rng=9)
    llr = m.demodulate(rx.symbols, rx.noise_var, soft=True).reshape(-1, 2)
    gain2 = 10 ** (-0.3) / rx.noise_var
    # QPSK exact LLR of bit 0 = 2 sqrt(2) Re(z) |h|^2 / N0
    np.testing.assert_allclose(llr[:, 0], 2 * np.sqrt(2) * rx.symbols.real * gain2 / 10 ** (-0.3), rtol=1e-9)


# --------------------------------------------------------------------------- kernels == references


@st.composite
def symbols_case(draw):
    modem = ch.Modem(draw(st.sampled_from(MODEMS)))
    m = draw(st.integers(0, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    zr, zi = rng.standard_normal(m) * 1.5, rng.standard_normal(m) * 1.5
    nvar = rng.uniform(0.01, 3.0, m)
    nvar[rng.random(m) < 0.2] = 0.0
    return modem, zr, zi, nvar, rng


@given(symbols_case())
def test_modem_kernels_equal_reference(case):
    modem, zr, zi, nvar, rng = case
    k, pr, pi = modem.bits_per_symbol, modem._re, modem._im
    bits = rng.integers(0, 2, zr.size * k).astype(np.uint8)
    re, im = np.empty(zr.size), np.empty(zr.size)
    kern.modulate(bits, k, pr, pi, re, im)
    rre, rim = ref.modulate_ref(bits, k, pr, pi)
    np.testing.assert_array_equal(re, rre)
    np.testing.assert_array_equal(im, rim)
    hard = np.empty(zr.size * k, dtype=np.uint8)
    kern.demod_hard(zr, zi, pr, pi, k, hard)
    np.testing.assert_array_equal(hard, ref.demod_hard_ref(zr, zi, pr, pi, k))
    for exact in (False, True):
        llr = np.empty(zr.size * k)
        kern.demod_llr(zr, zi, nvar, pr, pi, k, exact, llr)
        want = ref.demod_llr_ref(zr, zi, nvar, pr, pi, k, exact)
        if not exact:
            np.testing.assert_array_equal(llr, want)
        else:   # exp/log of Numba (LLVM libm) and NumPy may differ in the last ulps
            np.testing.assert_allclose(llr, want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- constellations
@pytest.mark.parametrize("modem", MODEMS)
def test_unit_average_symbol_energy(random_bits, modem):
    pts = ch.Modem(modem).constellation
    assert np.mean(np.abs(pts) ** 2) == pytest.approx(1.0, rel=1e-12)
    # and over modulated random bits
    m = ch.Modem(modem)
    s = m.modulate(random_bits(40_000 * m.bits_per_symbol, 3))
    assert np.mean(np.abs(s) ** 2) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("modem", MODEMS)
def test_gray_mapping_neighbours_differ_in_one_bit(modem):
    pts = ch.Modem(modem).constellation
    d = np.abs(pts[:, None] - pts[None, :])
    dmin = d[d > 0].min()
    pairs = np.argwhere(np.isclose(d, dmin))
    assert len(pairs) > 0
    for p, q in pairs:
        assert bin(int(p) ^ int(q)).count("1") == 1, (modem, p, q, pts[p], pts[q])
    # every point has at least one nearest neighbour (the grid is connected)
    assert set(pairs[:, 0].tolist()) == set(range(len(pts)))


def test_constellation_is_read_only_and_bpsk_polarity():
    m = ch.Modem("BPSK")
    assert m.name == "bpsk" and m.bits_per_symbol == 1
    np.testing.assert_array_equal(m.modulate([0, 1]), [1.0, -1.0])
    with pytest.raises(ValueError):
        m.constellation[0] = 3
    assert ch.Modem("16-QAM").bits_per_symbol == 4 and ch.Modem("qpsk") == ch.Modem("QPSK")


def test_square_qam_axes_are_the_documented_gray_pam():
    # 64-QAM, I axis from -7 to +7 carries 110 111 101 100 000 001 011 010 (first 3 bits)
    p = ch.Modem("64-QAM").constellation * np.sqrt(42)
    for label in range(64):
        want_i = [-7, -5, -3, -1, 1, 3, 5, 7][[6, 7, 5, 4, 0, 1, 3, 2].index(label >> 3)]
        want_q = [-7, -5, -3, -1, 1, 3, 5, 7][[6, 7, 5, 4, 0, 1, 3, 2].index(label & 7)]
        assert p[label] == pytest.approx(want_i + 1j * want_q, abs=1e-12)
    # 256-QAM: 16 levels per axis, all of them, each once per row of the grid
    q = ch.Modem("256qam").constellation * np.sqrt(170)
    np.testing.assert_allclose(np.unique(np.round(q.real)), np.arange(-15, 16, 2))
    assert ch.Modem("256qam").bits_per_symbol == 8 and ch.Modem("64qam").bits_per_symbol == 6


# --------------------------------------------------------------------------- bad input


def test_unknown_modem():
    with pytest.raises(ValueError, match="'8psk'"):
        ch.Modem("8psk")
    with pytest.raises(ValueError, match="'1024qam'"):
        ch.transmit_bits([0, 1], "1024qam", ch.AWGN(1.0), rng=0)
    with pytest.raises(TypeError, match="modem"):
        ch.transmit_bits([0, 1], 4, ch.AWGN(1.0), rng=0)


def test_bad_demodulate_input():
    m = ch.Modem("qpsk")
    with pytest.raises(ValueError, match="-1.0"):
        m.demodulate([1 + 1j], -1.0)
    with pytest.raises(ValueError, match="nan"):
        m.demodulate([1 + 1j], float("nan"))
    with pytest.raises(ValueError, match=r"shape \(2,\), got shape \(3,\)"):
        m.demodulate([1 + 1j, 1], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-finite"):
        m.demodulate([complex(np.nan, 0)], 1.0)
    with pytest.raises(TypeError, match="symbols"):
        m.demodulate(["x"], 1.0)
