"""Tests of dscref.channel.transmit: identities at infinite SNR, analog noise statistics, unit-gain
fading equals AWGN, the normalisation kernels == NumPy reference (and without JIT), padding and
channel-use accounting, bad input.
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

from dscref import channel as ch
from dscref._kernels import channel as kern
from dscref._reference import channel as ref
from dscref.bitpack import bytes_to_bits

MODEMS = ["bpsk", "qpsk", "16qam", "64qam", "256qam"]
ROOT = Path(__file__).resolve().parents[2]


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
def test_infinite_snr_digital_is_identity(random_bits, n_bits, modem, soft, block, seed):
    bits = random_bits(n_bits, seed)
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


# --------------------------------------------------------------------------- analog noise statistics


@pytest.mark.parametrize("complex_baseband", [False, True])
@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_analog_noise_variance_within_chi2_bound(chi2_ok, snr_db, complex_baseband):
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
    ok, info = chi2_ok(np.sum(err ** 2) / per_real, err.size)
    assert ok, info
    # in the input's units both modes give the same per-real noise: g_real^2 sigma^2
    g_real = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1))
    ok, info = chi2_ok(np.sum(((res.received.astype(np.float64) - x) / g_real[:, None]) ** 2) / sigma2, err.size)
    assert ok, info


# --------------------------------------------------------------------------- fading with h = 1 == AWGN
@pytest.mark.parametrize("complex_baseband", [False, True])
def test_unit_gain_fading_equals_awgn_analog(complex_baseband):
    x = np.random.default_rng(0).standard_normal((3, 33)).astype(np.float32)
    a = ch.transmit_analog(x, ch.AWGN(4.0), rng=7, complex_baseband=complex_baseband)
    f = ch.transmit_analog(x, ch.RayleighBlock(4.0, 5, gains=1), rng=7, complex_baseband=complex_baseband)
    np.testing.assert_array_equal(a.received, f.received)


@pytest.mark.parametrize("modem", MODEMS)
def test_unit_gain_fading_equals_awgn_digital(random_bits, modem):
    bits = random_bits(301, 1)
    a = ch.transmit_bits(bits, modem, ch.AWGN(2.0), rng=5, soft=True)
    f = ch.transmit_bits(bits, modem, ch.RayleighBlock(2.0, 7, gains=[1.0]), rng=5, soft=True)
    np.testing.assert_array_equal(a.llr, f.llr)
    np.testing.assert_array_equal(a.bits, f.bits)
    assert a.bit_errors == f.bit_errors and a.channel_uses == f.channel_uses


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
for m in ("bpsk", "qpsk", "16qam", "64qam", "256qam"):
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


# --------------------------------------------------------------------------- bandwidth and padding
def test_channel_uses_for_paper_payload():
    assert ch.channel_uses(dim=2048) == 2048
    assert ch.channel_uses(dim=2048, complex_baseband=True) == 1024
    assert ch.channel_uses(dim=7, complex_baseband=True) == 4
    assert [ch.channel_uses(nbytes=47, modem=m) for m in MODEMS] == [376, 188, 94, 63, 47]
    assert ch.channel_uses(nbits=50, modem=ch.Modem("16qam")) == 13
    assert ch.bandwidth_table() == {"analog_real": 2048, "analog_complex": 1024, "bpsk": 376, "qpsk": 188,
                                    "16qam": 94}
    assert ch.bandwidth_table(modems=ch.MODEM_NAMES) == {**ch.bandwidth_table(), "64qam": 63, "256qam": 47}
    assert ch.bandwidth_table(modems=["64-QAM"]) == {"analog_real": 2048, "analog_complex": 1024, "64qam": 63}
    with pytest.raises(TypeError, match="modems"):
        ch.bandwidth_table(modems="qpsk")


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


def test_bad_channel_uses_arguments():
    with pytest.raises(ValueError, match="exactly one"):
        ch.channel_uses(dim=10, nbytes=4, modem="bpsk")
    with pytest.raises(ValueError, match="modem"):
        ch.channel_uses(nbytes=47)
    with pytest.raises(ValueError, match="nbytes=-1"):
        ch.channel_uses(nbytes=-1, modem="qpsk")
    with pytest.raises(ValueError, match="dim"):
        ch.channel_uses(dim=10, modem="qpsk")
