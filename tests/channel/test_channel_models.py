"""Tests of dscref.channel.models: complex noise and Rayleigh gain statistics, fixed gains, the
channel kernels == NumPy reference, bad SNRs, blocks and gains.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref import channel as ch
from dscref._kernels import channel as kern
from dscref._reference import channel as ref


# --------------------------------------------------------------------------- noise statistics


@pytest.mark.parametrize("snr_db", [-3.0, 7.0])
def test_complex_noise_split_equally_over_iq(chi2_ok, snr_db):
    m = 50_000
    s = np.zeros(m, dtype=np.complex128)
    res = ch.transmit_symbols(s, ch.AWGN(snr_db), rng=11)
    n0 = 10 ** (-snr_db / 10)
    np.testing.assert_allclose(res.noise_var, n0)
    assert res.channel_uses == m
    for part in (res.symbols.real, res.symbols.imag):
        ok, info = chi2_ok(np.sum(part ** 2) / (n0 / 2), m)
        assert ok, info


def test_rayleigh_gains_have_unit_power_and_are_block_constant(chi2_ok):
    m, block = 60_000, 5
    res = ch.transmit_symbols(np.ones(m), ch.RayleighBlock(10.0, block), rng=3)
    gain2 = 10 ** (-1.0) / res.noise_var                         # |h|^2 per symbol
    per_block = gain2.reshape(-1, block)
    np.testing.assert_allclose(per_block, per_block[:, :1].repeat(block, axis=1), rtol=1e-12)
    # |h|^2 ~ Exp(1): sum of n of them ~ Gamma(n, 1), i.e. chi2_{2n} / 2
    ok, info = chi2_ok(2 * per_block[:, 0].sum(), 2 * per_block.shape[0])
    assert ok, info


def test_fixed_gains_cycle_per_block():
    res = ch.transmit_symbols(np.ones(6), ch.RayleighBlock(0.0, 2, gains=[2.0, 1j]), rng=0)
    np.testing.assert_allclose(1.0 / res.noise_var, [4, 4, 1, 1, 4, 4])


# --------------------------------------------------------------------------- kernels == references


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


def test_snr_per_use_from_eb_n0_per_information_bit():
    # uncoded: info_bits / uses = bits per symbol, the same as ebn0_to_esn0
    for m, k in (("bpsk", 1), ("qpsk", 2), ("256qam", 8)):
        assert ch.ebn0_to_snr(2.0, 100 * k, 100) == pytest.approx(ch.ebn0_to_esn0(2.0, m))
    # rate-1/2 K=7 code of 386 message bits (370 information bits) in 392 QPSK uses
    assert ch.ebn0_to_snr(4.0, 370, 392) == pytest.approx(4.0 + 10 * np.log10(370 / 392))
    np.testing.assert_allclose(ch.snr_to_ebn0(ch.ebn0_to_snr([0.0, 3.0], 370, 262), 370, 262), [0.0, 3.0])
    assert isinstance(ch.ebn0_to_snr(1.0, 5, 7), float) and ch.ebn0_to_snr([1.0, 2.0], 5, 7).shape == (2,)
    with pytest.raises(ValueError, match="info_bits"):
        ch.ebn0_to_snr(1.0, 0, 7)
    with pytest.raises(ValueError, match="channel_uses"):
        ch.snr_to_ebn0(1.0, 5, 0)
    with pytest.raises(TypeError, match="channel_uses"):
        ch.ebn0_to_snr(1.0, 5, 7.5)
