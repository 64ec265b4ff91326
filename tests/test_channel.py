"""Tests of dscref.channel: identities at infinite SNR, noise statistics, BER against closed forms,
LLR conventions, fading, kernel == NumPy reference, Gray mapping, bandwidth accounting, bad input.

Statistical tests use fixed seeds and two-sided bounds at alpha = 1e-6, so a failure means a bug,
not bad luck.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from dscref import channel as ch
from dscref._kernels import channel as kern
from dscref._reference import channel as ref
from dscref.bitpack import bytes_to_bits

ALPHA = 1e-6
MODEMS = ["bpsk", "qpsk", "16qam"]
ROOT = Path(__file__).resolve().parents[1]


def _bits(n, seed):
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)


def _channels(snr_db, block=3):
    return [ch.AWGN(snr_db), ch.RayleighBlock(snr_db, block)]


# --------------------------------------------------------------------------- infinite SNR = identity
@pytest.mark.parametrize("complex_baseband", [False, True])
@pytest.mark.parametrize("shape", [(7,), (2048,), (3, 5), (4, 64)])
def test_infinite_snr_analog_is_identity(shape, complex_baseband):
    x = (np.random.default_rng(1).standard_normal(shape) * 3.0).astype(np.float32)
    for channel in _channels(math.inf):
        res = ch.transmit_analog(x, channel, rng=2, complex_baseband=complex_baseband)
        assert res.received.dtype == np.float32 and res.received.shape == x.shape
        # float64 scaling and (for fading) division by h: identity up to float32 rounding
        np.testing.assert_allclose(res.received, x, rtol=1e-6, atol=1e-6)
    d = shape[-1]
    uses = (d + 1) // 2 if complex_baseband else d
    n = shape[0] if len(shape) == 2 else 1
    assert res.uses_per_vector == uses and res.channel_uses == n * uses
    assert res.pad == (d % 2 if complex_baseband else 0)


@given(st.integers(0, 70), st.sampled_from(MODEMS), st.booleans(), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_infinite_snr_digital_is_identity(n_bits, modem, soft, block, seed):
    bits = _bits(n_bits, seed)
    for channel in (ch.AWGN(math.inf), ch.RayleighBlock(math.inf, block)):
        res = ch.transmit_bits(bits, modem, channel, rng=seed, soft=soft)
        np.testing.assert_array_equal(res.bits, bits)
        assert res.bit_errors == 0
        if soft:
            # LLR sign carries the bit: positive -> 0, negative -> 1 (infinitely confident)
            np.testing.assert_array_equal(res.llr < 0, bits.astype(bool))
            assert np.all(np.isinf(res.llr))


def test_all_zero_row_is_sent_unscaled():
    x = np.zeros((2, 6), dtype=np.float32)
    x[1] = 1.0
    res = ch.transmit_analog(x, ch.AWGN(math.inf), rng=0)
    np.testing.assert_array_equal(res.received, x)
    np.testing.assert_array_equal(res.scale, [1.0, 1.0])


# --------------------------------------------------------------------------- noise statistics
def _chi2_ok(sum_sq_over_var, dof):
    lo, hi = stats.chi2.ppf(ALPHA / 2, dof), stats.chi2.ppf(1 - ALPHA / 2, dof)
    return lo <= sum_sq_over_var <= hi, (lo, sum_sq_over_var, hi)


@pytest.mark.parametrize("complex_baseband", [False, True])
@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_analog_noise_variance_within_chi2_bound(snr_db, complex_baseband):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((20, 2048)) * rng.uniform(0.1, 5.0, (20, 1))).astype(np.float32)
    res = ch.transmit_analog(x, ch.AWGN(snr_db), rng=rng, complex_baseband=complex_baseband)
    uses = 1024 if complex_baseband else 2048
    g = np.sqrt(np.sum(x.astype(np.float64) ** 2, axis=1) / uses)   # RMS per channel use
    np.testing.assert_allclose(res.scale, g, rtol=1e-12)
    err = (res.received.astype(np.float64) - x) / g[:, None]      # back to normalised units (P = 1)
    sigma2 = 10 ** (-snr_db / 10)
    # real channel: sigma^2 per real use; complex baseband: CN(0, sigma^2) per complex use, i.e.
    # sigma^2 / 2 on each of I and Q (each real rides on one of them)
    per_real = sigma2 / 2 if complex_baseband else sigma2
    ok, info = _chi2_ok(np.sum(err ** 2) / per_real, err.size)
    assert ok, info
    # in the input's units both modes give the same per-real noise: g_real^2 sigma^2
    g_real = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1))
    ok, info = _chi2_ok(np.sum(((res.received.astype(np.float64) - x) / g_real[:, None]) ** 2) / sigma2, err.size)
    assert ok, info


@pytest.mark.parametrize("snr_db", [-3.0, 7.0])
def test_complex_noise_split_equally_over_iq(snr_db):
    m = 50_000
    s = np.zeros(m, dtype=np.complex128)
    res = ch.transmit_symbols(s, ch.AWGN(snr_db), rng=11)
    n0 = 10 ** (-snr_db / 10)
    np.testing.assert_allclose(res.noise_var, n0)
    assert res.channel_uses == m
    for part in (res.symbols.real, res.symbols.imag):
        ok, info = _chi2_ok(np.sum(part ** 2) / (n0 / 2), m)
        assert ok, info


def test_rayleigh_gains_have_unit_power_and_are_block_constant():
    m, block = 60_000, 5
    res = ch.transmit_symbols(np.ones(m), ch.RayleighBlock(10.0, block), rng=3)
    gain2 = 10 ** (-1.0) / res.noise_var                         # |h|^2 per symbol
    per_block = gain2.reshape(-1, block)
    np.testing.assert_allclose(per_block, per_block[:, :1].repeat(block, axis=1), rtol=1e-12)
    # |h|^2 ~ Exp(1): sum of n of them ~ Gamma(n, 1), i.e. chi2_{2n} / 2
    ok, info = _chi2_ok(2 * per_block[:, 0].sum(), 2 * per_block.shape[0])
    assert ok, info


# --------------------------------------------------------------------------- BER vs closed forms
THEORY = {"bpsk": ch.ber_bpsk, "qpsk": ch.ber_qpsk, "16qam": ch.ber_16qam}


@pytest.mark.parametrize("modem", MODEMS)
@pytest.mark.parametrize("ebn0_db", [0.0, 4.0, 7.0])
def test_ber_matches_closed_form_within_binomial_bound(modem, ebn0_db):
    n = 120_000
    bits = _bits(n, 17)
    esn0 = ch.ebn0_to_esn0(ebn0_db, modem)
    res = ch.transmit_bits(bits, modem, ch.AWGN(esn0), rng=int(ebn0_db * 10) + 1)
    p = THEORY[modem](ebn0_db)
    lo, hi = stats.binom.interval(1 - ALPHA, n, p)
    assert lo <= res.bit_errors <= hi, (modem, ebn0_db, res.bit_errors, lo, hi, p * n)


def test_bpsk_rayleigh_fast_fading_ber_matches_closed_form():
    n = 100_000
    res = ch.transmit_bits(_bits(n, 4), "bpsk", ch.RayleighBlock(5.0, block=1), rng=6)
    lo, hi = stats.binom.interval(1 - ALPHA, n, ch.ber_bpsk_rayleigh(5.0))
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


# --------------------------------------------------------------------------- LLR conventions
@given(st.sampled_from(MODEMS), st.floats(-5, 15), st.integers(1, 60), st.integers(0, 2**31 - 1), st.booleans())
def test_llr_sign_equals_hard_decision(modem, snr_db, n_sym, seed, fading):
    m = ch.Modem(modem)
    bits = _bits(n_sym * m.bits_per_symbol, seed)
    channel = ch.RayleighBlock(snr_db, 2) if fading else ch.AWGN(snr_db)
    rx = ch.transmit_symbols(m.modulate(bits), channel, rng=seed)
    hard = m.demodulate(rx.symbols, rx.noise_var)
    exact = m.demodulate(rx.symbols, rx.noise_var, soft=True, exact=True)
    maxlog = m.demodulate(rx.symbols, rx.noise_var, soft=True, exact=False)
    # max-log: sign(m1 - m0) says which bit the nearest point carries -> same as slicing
    np.testing.assert_array_equal((maxlog < 0).astype(np.uint8), hard)
    exact_bits = (exact < 0).astype(np.uint8)
    if modem != "16qam":
        np.testing.assert_array_equal(exact_bits, hard)
        np.testing.assert_array_equal(np.sign(exact), np.sign(maxlog))
        return
    # 16-QAM: the exact LLR is the bitwise-MAP decision. On the sign bits (0 and 2) it equals
    # slicing; on the magnitude bits the MAP boundary lies slightly *outside* |axis| = 2/sqrt(10),
    # so the only possible disagreement is "slicer says 1 (outer), MAP says 0 (inner)".
    diff = (exact_bits != hard).reshape(-1, 4)
    assert not diff[:, [0, 2]].any()
    h = hard.reshape(-1, 4)
    e = exact_bits.reshape(-1, 4)
    assert np.all(h[diff] == 1) and np.all(e[diff] == 0)
    axis = np.stack([np.abs(rx.symbols.real), np.abs(rx.symbols.imag)], axis=1)   # (m, 2)
    assert np.all(axis[diff[:, [1, 3]]] > 2 / np.sqrt(10))


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


def test_llr_equals_log_posterior_ratio_brute_force():
    m = ch.Modem("16qam")
    rng = np.random.default_rng(3)
    z = rng.standard_normal(50) + 1j * rng.standard_normal(50)
    n0 = 0.4
    llr = m.demodulate(z, n0, soft=True).reshape(50, 4)
    lik = np.exp(-np.abs(z[:, None] - m.constellation[None, :]) ** 2 / n0)      # (50, 16)
    for j in range(4):
        bit = (np.arange(16) >> (3 - j)) & 1
        want = np.log(lik[:, bit == 0].sum(1) / lik[:, bit == 1].sum(1))
        np.testing.assert_allclose(llr[:, j], want, rtol=1e-9, atol=1e-9)


def test_fading_llrs_scale_with_gain():
    m = ch.Modem("qpsk")
    bits = _bits(400, 8)
    rx = ch.transmit_symbols(m.modulate(bits), ch.RayleighBlock(3.0, 4), rng=9)
    llr = m.demodulate(rx.symbols, rx.noise_var, soft=True).reshape(-1, 2)
    gain2 = 10 ** (-0.3) / rx.noise_var
    # QPSK exact LLR of bit 0 = 2 sqrt(2) Re(z) |h|^2 / N0
    np.testing.assert_allclose(llr[:, 0], 2 * np.sqrt(2) * rx.symbols.real * gain2 / 10 ** (-0.3), rtol=1e-9)


# --------------------------------------------------------------------------- fading with h = 1 == AWGN
@pytest.mark.parametrize("complex_baseband", [False, True])
def test_unit_gain_fading_equals_awgn_analog(complex_baseband):
    x = np.random.default_rng(0).standard_normal((3, 33)).astype(np.float32)
    a = ch.transmit_analog(x, ch.AWGN(4.0), rng=7, complex_baseband=complex_baseband)
    f = ch.transmit_analog(x, ch.RayleighBlock(4.0, 5, gains=1), rng=7, complex_baseband=complex_baseband)
    np.testing.assert_array_equal(a.received, f.received)


@pytest.mark.parametrize("modem", MODEMS)
def test_unit_gain_fading_equals_awgn_digital(modem):
    bits = _bits(301, 1)
    a = ch.transmit_bits(bits, modem, ch.AWGN(2.0), rng=5, soft=True)
    f = ch.transmit_bits(bits, modem, ch.RayleighBlock(2.0, 7, gains=[1.0]), rng=5, soft=True)
    np.testing.assert_array_equal(a.llr, f.llr)
    np.testing.assert_array_equal(a.bits, f.bits)
    assert a.bit_errors == f.bit_errors and a.channel_uses == f.channel_uses


def test_fixed_gains_cycle_per_block():
    res = ch.transmit_symbols(np.ones(6), ch.RayleighBlock(0.0, 2, gains=[2.0, 1j]), rng=0)
    np.testing.assert_allclose(1.0 / res.noise_var, [4, 4, 1, 1, 4, 4])


def test_same_seed_same_result_and_batch_rows_independent():
    x = np.random.default_rng(0).standard_normal((4, 20)).astype(np.float32)
    x[2] *= 100.0
    r1 = ch.transmit_analog(x, ch.RayleighBlock(5.0, 3), rng=42)
    r2 = ch.transmit_analog(x, ch.RayleighBlock(5.0, 3), rng=42)
    np.testing.assert_array_equal(r1.received, r2.received)
    np.testing.assert_allclose(r1.scale, np.sqrt((x.astype(np.float64) ** 2).mean(1)), rtol=1e-12)
    one = ch.transmit_analog(x[0], ch.AWGN(5.0), rng=1)
    assert one.received.shape == (20,) and np.ndim(one.scale) == 0


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


@given(st.integers(0, 40), st.floats(0.0, 3.0), st.integers(0, 2**31 - 1))
def test_channel_kernels_equal_reference(m, sigma, seed):
    rng = np.random.default_rng(seed)
    sr, si, nr, ni = rng.standard_normal((4, m))
    hr, hi = rng.standard_normal((2, m))
    z = np.empty(m)
    kern.awgn_real(sr, nr, sigma, z)
    np.testing.assert_array_equal(z, ref.awgn_real_ref(sr, nr, sigma))
    a = np.abs(hr) + 0.1
    kern.fading_real(sr, a, nr, sigma, z)
    np.testing.assert_array_equal(z, ref.fading_real_ref(sr, a, nr, sigma))
    zr, zi, g2 = np.empty(m), np.empty(m), np.empty(m)
    kern.awgn_complex(sr, si, nr, ni, sigma, zr, zi)
    wr, wi = ref.awgn_complex_ref(sr, si, nr, ni, sigma)
    np.testing.assert_array_equal(zr, wr)
    np.testing.assert_array_equal(zi, wi)
    kern.fading_complex(sr, si, hr, hi, nr, ni, sigma, zr, zi, g2)
    wr, wi, wg = ref.fading_complex_ref(sr, si, hr, hi, nr, ni, sigma)
    np.testing.assert_array_equal(zr, wr)
    np.testing.assert_array_equal(zi, wi)
    np.testing.assert_array_equal(g2, wg)


@given(st.integers(1, 5), st.integers(1, 40), st.integers(0, 1), st.integers(0, 2**31 - 1))
def test_normalise_kernels_equal_reference(n, half, odd, seed):
    rng = np.random.default_rng(seed)
    length = 2 * half
    x = rng.standard_normal((n, length)) * rng.uniform(0.01, 10, (n, 1))
    x[:, length - odd:] = 0.0                                        # a zero pad column
    for uses in (length, half):
        s, g = np.empty_like(x), np.empty(n)
        kern.power_normalise_rows(x, uses, s, g)
        ws, wg = ref.power_normalise_rows_ref(x, uses)
        # NumPy sums pairwise, the kernel sequentially: equal to float64 rounding
        np.testing.assert_allclose(g, wg, rtol=1e-13)
        np.testing.assert_allclose(s, ws, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(np.sum(s * s, axis=1) / uses, 1.0, rtol=1e-12)
        out = np.empty((n, length - odd), dtype=np.float32)
        kern.denormalise_rows(s, g, out)
        np.testing.assert_array_equal(out, ref.denormalise_rows_ref(s, g, length - odd))


def test_jit_disabled_subprocess_matches_compiled():
    """The kernels run as plain Python under NUMBA_DISABLE_JIT=1 (how coverage sees them) and give
    the same answers as the compiled kernels."""
    script = r"""
import json, math, numpy as np
from dscref import channel as ch
out = {}
bits = np.random.default_rng(0).integers(0, 2, 45).astype(np.uint8)
for m in ("bpsk", "qpsk", "16qam"):
    r = ch.transmit_bits(bits, m, ch.RayleighBlock(3.0, 2), rng=1, soft=True)
    out[m] = [r.bits.tolist(), r.llr.tolist(), r.bit_errors]
    out[m + "_maxlog"] = ch.transmit_bits(bits, m, ch.AWGN(1.0), rng=1, soft=True, exact=False).llr.tolist()
    out[m + "_inf"] = ch.transmit_bits(bits, m, ch.AWGN(math.inf), rng=1).bit_errors
x = np.random.default_rng(2).standard_normal((2, 9)).astype(np.float32)
for cb in (False, True):
    out[f"analog{cb}"] = ch.transmit_analog(x, ch.RayleighBlock(5.0, 2), rng=3, complex_baseband=cb).received.tolist()
print(json.dumps(out))
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    bits = np.random.default_rng(0).integers(0, 2, 45).astype(np.uint8)
    for m in MODEMS:
        r = ch.transmit_bits(bits, m, ch.RayleighBlock(3.0, 2), rng=1, soft=True)
        assert got[m][0] == r.bits.tolist() and got[m][2] == r.bit_errors
        np.testing.assert_allclose(got[m][1], r.llr, rtol=1e-12)
        np.testing.assert_allclose(got[m + "_maxlog"],
                                   ch.transmit_bits(bits, m, ch.AWGN(1.0), rng=1, soft=True, exact=False).llr,
                                   rtol=1e-12)
        assert got[m + "_inf"] == 0
    x = np.random.default_rng(2).standard_normal((2, 9)).astype(np.float32)
    for cb in (False, True):
        np.testing.assert_allclose(
            got[f"analog{cb}"],
            ch.transmit_analog(x, ch.RayleighBlock(5.0, 2), rng=3, complex_baseband=cb).received, rtol=1e-6)


# --------------------------------------------------------------------------- constellations
@pytest.mark.parametrize("modem", MODEMS)
def test_unit_average_symbol_energy(modem):
    pts = ch.Modem(modem).constellation
    assert np.mean(np.abs(pts) ** 2) == pytest.approx(1.0, rel=1e-12)
    # and over modulated random bits
    m = ch.Modem(modem)
    s = m.modulate(_bits(40_000 * m.bits_per_symbol, 3))
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


# --------------------------------------------------------------------------- bandwidth and padding
def test_channel_uses_for_paper_payload():
    assert ch.channel_uses(dim=2048) == 2048
    assert ch.channel_uses(dim=2048, complex_baseband=True) == 1024
    assert ch.channel_uses(dim=7, complex_baseband=True) == 4
    assert [ch.channel_uses(nbytes=47, modem=m) for m in MODEMS] == [376, 188, 94]
    assert ch.channel_uses(nbits=50, modem=ch.Modem("16qam")) == 13
    assert ch.bandwidth_table() == {"analog_real": 2048, "analog_complex": 1024, "bpsk": 376, "qpsk": 188,
                                    "16qam": 94}


def test_payload_bytes_through_qpsk_report_uses():
    payload = np.random.default_rng(0).integers(0, 256, 47, dtype=np.uint8)
    res = ch.transmit_bits(bytes_to_bits(payload), "qpsk", ch.AWGN(0.0), rng=0)
    assert res.channel_uses == 188 and res.pad_bits == 0 and res.bits.shape == (376,)
    assert 0 < res.bit_errors < 376 * 0.4 and res.ber == res.bit_errors / 376


@pytest.mark.parametrize("modem,n_bits,pad,uses", [("qpsk", 7, 1, 4), ("16qam", 50, 2, 13), ("16qam", 3, 1, 1),
                                                   ("bpsk", 5, 0, 5), ("16qam", 0, 0, 0)])
def test_padding_reported_and_stripped(modem, n_bits, pad, uses):
    bits = np.ones(n_bits, dtype=np.uint8)
    for soft in (False, True):
        res = ch.transmit_bits(bits, modem, ch.AWGN(math.inf), rng=0, soft=soft)
        assert res.pad_bits == pad and res.channel_uses == uses
        assert res.bits.shape == (n_bits,) and res.bit_errors == 0
        if soft:
            assert res.llr.shape == (n_bits,)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("snr", [float("nan"), -math.inf])
def test_bad_snr_values(snr):
    for make in (lambda: ch.AWGN(snr), lambda: ch.RayleighBlock(snr, 4)):
        with pytest.raises(ValueError, match=f"snr_db={float(snr)!r}"):
            make()


@pytest.mark.parametrize("snr", ["10", None, True, 1 + 2j])
def test_bad_snr_types(snr):
    with pytest.raises(TypeError, match="snr_db"):
        ch.AWGN(snr)


@pytest.mark.parametrize("block", [0, -3])
def test_block_must_be_positive(block):
    with pytest.raises(ValueError, match=f"block={block}"):
        ch.RayleighBlock(5.0, block)
    with pytest.raises(TypeError, match="block"):
        ch.RayleighBlock(5.0, 2.0)


def test_bad_fixed_gains():
    with pytest.raises(ValueError, match="non-zero"):
        ch.RayleighBlock(5.0, 2, gains=[1.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        ch.RayleighBlock(5.0, 2, gains=[np.nan])
    with pytest.raises(TypeError, match="gains"):
        ch.RayleighBlock(5.0, 2, gains=["a"])


def test_unknown_modem():
    with pytest.raises(ValueError, match="'8psk'"):
        ch.Modem("8psk")
    with pytest.raises(ValueError, match="'64qam'"):
        ch.transmit_bits([0, 1], "64qam", ch.AWGN(1.0), rng=0)
    with pytest.raises(TypeError, match="modem"):
        ch.transmit_bits([0, 1], 4, ch.AWGN(1.0), rng=0)


def test_bad_bits():
    with pytest.raises(ValueError, match="found 2 at index 1"):
        ch.transmit_bits([0, 2, 1], "bpsk", ch.AWGN(1.0), rng=0)
    with pytest.raises(ValueError, match="found -1"):
        ch.Modem("qpsk").modulate(np.array([0, -1]))
    with pytest.raises(TypeError, match="float64"):
        ch.transmit_bits(np.array([0.0, 1.0]), "bpsk", ch.AWGN(1.0), rng=0)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        ch.transmit_bits(np.zeros((2, 2), dtype=np.uint8), "bpsk", ch.AWGN(1.0), rng=0)
    with pytest.raises(ValueError, match="multiple of bits_per_symbol=4"):
        ch.Modem("16qam").modulate([0, 1, 1])
    # bool arrays are fine
    assert ch.transmit_bits(np.array([True, False]), "bpsk", ch.AWGN(math.inf), rng=0).bit_errors == 0


def test_bad_analog_input():
    with pytest.raises(ValueError, match="nan"):
        ch.transmit_analog(np.array([0.0, np.nan, 1.0]), ch.AWGN(1.0), rng=0)
    with pytest.raises(ValueError, match="inf"):
        ch.transmit_analog(np.array([[0.0, np.inf]]), ch.AWGN(1.0), rng=0)
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2\)"):
        ch.transmit_analog(np.zeros((2, 2, 2)), ch.AWGN(1.0), rng=0)
    with pytest.raises(TypeError, match="complex128"):
        ch.transmit_analog(np.ones(4, dtype=complex), ch.AWGN(1.0), rng=0)
    with pytest.raises(TypeError, match="<U1"):
        ch.transmit_analog(["a", "b"], ch.AWGN(1.0), rng=0)
    with pytest.raises(ValueError, match="empty"):
        ch.transmit_analog(np.zeros((0, 4)), ch.AWGN(1.0), rng=0)
    with pytest.raises(TypeError, match="channel"):
        ch.transmit_analog(np.ones(4), 10.0, rng=0)
    with pytest.raises(TypeError, match="complex_baseband"):
        ch.transmit_analog(np.ones(4), ch.AWGN(1.0), rng=0, complex_baseband="yes")
    with pytest.raises(TypeError, match="seed"):
        ch.transmit_analog(np.ones(4), ch.AWGN(1.0), rng="0")


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


def test_bad_channel_uses_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        ch.channel_uses(dim=10, nbytes=4, modem="bpsk")
    with pytest.raises(ValueError, match="modem"):
        ch.channel_uses(nbytes=47)
    with pytest.raises(ValueError, match="nbytes=-1"):
        ch.channel_uses(nbytes=-1, modem="qpsk")
    with pytest.raises(ValueError, match="dim"):
        ch.channel_uses(dim=10, modem="qpsk")
