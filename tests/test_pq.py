import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref._reference.pq import adc_l2_ref, decode_ref, encode_ref, lut_l2_ref
from dscref.pq import ProductQuantizer
from dscref.scoring import adc_l2

seeds = st.integers(0, 2**31 - 1)


def _fitted(seed, M, dsub, nbits, n_train=None):
    """A PQ with random (distinct) codebooks, without training, for kernel tests."""
    rng = np.random.default_rng(seed)
    pq = ProductQuantizer(M, nbits)
    pq.codebooks_ = rng.standard_normal((M, 1 << nbits, dsub)).astype(np.float32)
    pq.d_ = M * dsub
    return pq, rng


@given(seeds, st.integers(1, 8), st.integers(1, 12), st.integers(1, 9), st.integers(1, 2500))
def test_encode_matches_reference(seed, M, dsub, nbits, n):
    pq, rng = _fitted(seed, M, dsub, nbits)
    x = rng.standard_normal((n, pq.d_)).astype(np.float32)
    codes = pq.encode(x)
    assert codes.dtype == (np.uint8 if nbits <= 8 else np.uint16) and codes.shape == (n, M)
    ref, d2 = encode_ref(x, pq.codebooks_)
    chosen = np.take_along_axis(d2, codes.astype(np.int64)[..., None], -1)[..., 0]
    best = d2.min(-1)
    assert np.all(chosen - best <= 1e-4 * (1 + best + (x.reshape(n, M, dsub) ** 2).sum(-1)))
    assert (codes == ref).mean() > 0.99


@given(seeds, st.integers(1, 8), st.integers(1, 12), st.integers(1, 10), st.integers(0, 500))
def test_decode_matches_reference_and_encode_inverts_it(seed, M, dsub, nbits, n):
    pq, rng = _fitted(seed, M, dsub, nbits)
    codes = rng.integers(0, 1 << nbits, (n, M)).astype(pq.code_dtype)
    dec = pq.decode(codes)
    np.testing.assert_array_equal(dec, decode_ref(codes, pq.codebooks_))
    re = pq.encode(dec)
    # encode(decode(c)) == c whenever codewords are farther apart than float32 can blur
    # (||x||^2 - 2<x,r> + ||r||^2 has rounding ~1e-7 * ||r||^2); otherwise the re-encoded
    # codeword is one of the indistinguishable twins.
    cb = pq.codebooks_.astype(np.float64)
    sdc = pq.sdc_table().astype(np.float64) + np.eye(1 << nbits) * 1e9
    scale = 1e-5 * (1 + (cb ** 2).sum(-1).max())
    if sdc.min() > scale:
        np.testing.assert_array_equal(re, codes)
    else:
        np.testing.assert_allclose(pq.decode(re), dec, atol=np.sqrt(scale) * 4)


@given(seeds, st.integers(1, 8), st.integers(1, 16), st.integers(1, 8), st.integers(1, 300), st.integers(1, 4))
def test_adc_equals_distance_to_decoded(seed, M, dsub, nbits, n, nq):
    pq, rng = _fitted(seed, M, dsub, nbits)
    codes = rng.integers(0, 1 << nbits, (n, M)).astype(pq.code_dtype)
    q = rng.standard_normal((nq, pq.d_)).astype(np.float32)
    luts = pq.lut_l2(q)
    np.testing.assert_allclose(luts[0], lut_l2_ref(q[0], pq.codebooks_), rtol=1e-4, atol=1e-4)
    dist = adc_l2(luts, codes)
    assert dist.shape == (nq, n)
    exact = ((q[:, None, :].astype(np.float64) - pq.decode(codes)[None]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, exact, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(adc_l2(luts[0], codes), adc_l2_ref(luts[0], codes))
    # inner-product tables: sum_m lut_ip = <q, decode(code)>
    ip = pq.lut_ip(q[0])
    ip_sum = adc_l2_ref(ip, codes)
    np.testing.assert_allclose(ip_sum, pq.decode(codes) @ q[0], rtol=1e-4, atol=1e-3)


@given(seeds, st.integers(1, 4), st.integers(1, 6), st.integers(2, 7))
def test_pq_reconstructs_small_training_set_exactly(seed, M, dsub, nbits):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, (1 << nbits) + 1))
    x = rng.standard_normal((n, M * dsub)).astype(np.float32)
    pq = ProductQuantizer(M, nbits, seed=seed).fit(x)
    np.testing.assert_array_equal(pq.decode(pq.encode(x)), x)


def test_sdc_table():
    pq, _ = _fitted(0, 3, 4, 4)
    t = pq.sdc_table()
    cb = pq.codebooks_.astype(np.float64)
    direct = ((cb[:, :, None] - cb[:, None, :]) ** 2).sum(-1)
    np.testing.assert_allclose(t, direct, rtol=1e-5, atol=1e-5)
    assert t.shape == (3, 16, 16) and np.all(np.diagonal(t, axis1=1, axis2=2) == 0)


def test_training_quality_improves_with_bits_and_is_seeded():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4000, 32)) @ rng.standard_normal((32, 32))).astype(np.float32)
    mse = {}
    for nbits in (2, 4, 8):
        pq = ProductQuantizer(4, nbits, seed=1).fit(x)
        mse[nbits] = float(((pq.decode(pq.encode(x)) - x) ** 2).sum(1).mean())
    assert mse[8] < mse[4] < mse[2]
    a = ProductQuantizer(4, 6, seed=3).fit(x).codebooks_
    b = ProductQuantizer(4, 6, seed=3).fit(x).codebooks_
    np.testing.assert_array_equal(a, b)


def test_nbits_above_8_uses_uint16():
    x = np.random.default_rng(0).standard_normal((700, 8)).astype(np.float32)
    pq = ProductQuantizer(2, nbits=9, seed=0, n_iter=3).fit(x)
    codes = pq.encode(x)
    assert codes.dtype == np.uint16 and codes.max() < 512
    assert pq.code_size == 3


@pytest.mark.parametrize("kwargs, err, match", [
    ({"M": 0}, ValueError, "M=0"),
    ({"M": 2, "nbits": 0}, ValueError, "nbits=0"),
    ({"M": 2, "nbits": 17}, ValueError, "nbits=17"),
    ({"M": 2, "init": "x"}, ValueError, "init"),
])
def test_bad_parameters(kwargs, err, match):
    with pytest.raises(err, match=match):
        ProductQuantizer(**kwargs)


def test_bad_inputs():
    x = np.random.default_rng(0).standard_normal((300, 12)).astype(np.float32)
    with pytest.raises(ValueError, match="d=12 is not divisible by M=5"):
        ProductQuantizer(5, 4).fit(x)
    with pytest.raises(ValueError, match="not fitted"):
        ProductQuantizer(4, 4).encode(x)
    pq = ProductQuantizer(4, 4, seed=0, n_iter=2).fit(x)
    with pytest.raises(ValueError, match="d=12"):
        pq.encode(x[:, :8])
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        pq.encode(bad)
    with pytest.raises(ValueError, match="non-finite"):
        pq.lut_l2(bad[3])
    with pytest.raises(ValueError, match=r"shape \(n, M=4\)"):
        pq.decode(np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        pq.decode(np.full((2, 4), 16, np.uint8))
    with pytest.raises(TypeError, match="unsigned"):
        pq.decode(np.zeros((2, 4), np.float32))
