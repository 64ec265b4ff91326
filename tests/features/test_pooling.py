"""dscref.features.pooling: GeM (eq. 8), L2 normalisation (no model needed)."""

import math

import numpy as np
import pytest

from dscref.features.pooling import gem


# --------------------------------------------------------------------------- gem
def test_gem_p1_is_average_and_large_p_tends_to_max():
    rng = np.random.default_rng(1)
    f = rng.random((2, 5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(gem(f, 1.0), f.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_allclose(gem(f, 500.0), f.max(axis=(2, 3)), rtol=2e-2)
    np.testing.assert_allclose(gem(f, math.inf), f.max(axis=(2, 3)), rtol=0)
    direct = (np.maximum(f.astype(np.float64), 1e-6) ** 3).mean(axis=(2, 3)) ** (1 / 3)
    np.testing.assert_allclose(gem(f, 3.0), direct, rtol=1e-6)
    assert gem(f, 3.0).dtype == np.float32 and gem(f[0], 3.0).shape == (5,)
    # monotone in p (power-mean inequality)
    assert np.all(gem(f, 2.0) <= gem(f, 4.0) + 1e-7)


def test_gem_clamps_and_validates():
    f = -np.ones((1, 2, 2, 2), np.float32)
    np.testing.assert_allclose(gem(f, 3.0, eps=1e-6), 1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="p=0"):
        gem(f, 0)
    with pytest.raises(ValueError, match="shape"):
        gem(np.ones((2, 3)), 3)
    with pytest.raises(TypeError):
        gem(np.array([["a"]]), 3)
