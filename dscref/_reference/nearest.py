"""NumPy twins of the nearest-codeword kernels (see :mod:`dscref._kernels.nearest`)."""

from __future__ import annotations

import numpy as np

__all__ = ["fma32_ref", "nearest_direct_ref", "nearest_f64_ref", "subspace_sqnorms_ref"]


def fma32_ref(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """x * y + z rounded once to float32, for float32 arrays: IEEE ``fma``, emulated exactly.

    The product is exact in float64 (24 + 24 bits); the float64 sum is rounded to odd (if the
    TwoSum error is not 0 and the last bit is even, step one ulp towards the error), after
    which rounding to float32 is correct (Boldo & Melquiond, "Emulation of FMA and correctly
    rounded sums: proved algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008;
    53 >= 24 + 2 bits).
    """
    p = x.astype(np.float64) * y.astype(np.float64)
    zz = z.astype(np.float64)
    s = p + zz
    bp = s - p
    err = (p - (s - bp)) + (zz - bp)
    even = (s.view(np.int64) & 1) == 0
    s = np.where((err != 0) & even, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


def nearest_direct_ref(x: np.ndarray, codebooks: np.ndarray):
    """labels[i, m] = first argmin_j of the direct kernel's distance: d = v_0 * v_0, then
    d = fma(v_t, v_t, d) for t = 1, 2, ... (v = x - c, float32).

    The same float32 operations in the same order as the direct kernel: equal bit for bit.
    Returns (labels (n, M) int64, dists (n, M) float32).
    """
    n = x.shape[0]
    M, k, dsub = codebooks.shape
    labels = np.empty((n, M), dtype=np.int64)
    dists = np.empty((n, M), dtype=np.float32)
    for m in range(M):
        v = x[:, m * dsub, None] - codebooks[m, None, :, 0]
        d2 = v * v
        for t in range(1, dsub):
            v = x[:, m * dsub + t, None] - codebooks[m, None, :, t]
            d2 = fma32_ref(v, v, d2)
        labels[:, m] = d2.argmin(1)
        dists[:, m] = d2[np.arange(n), labels[:, m]]
    return labels, dists


def nearest_f64_ref(x: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """All squared distances in float64, (n, M, k): the brute-force judge of near-ties."""
    n = x.shape[0]
    M, k, dsub = codebooks.shape
    xs = x.reshape(n, M, dsub).astype(np.float64)
    return ((xs[:, :, None, :] - codebooks[None].astype(np.float64)) ** 2).sum(-1)


def subspace_sqnorms_ref(x: np.ndarray, dsub: int) -> np.ndarray:
    """Squared sub-vector norms (n, M) float32: float64 sums of dimensions t = 4u + r into four
    partial sums r = 0..3 (each in order), combined as (s0 + s1) + (s2 + s3)."""
    n, d = x.shape
    M = d // dsub
    out = np.empty((n, M), dtype=np.float32)
    for m in range(M):
        sq = x[:, m * dsub:(m + 1) * dsub].astype(np.float64) ** 2
        parts = [np.zeros(n) for _ in range(4)]
        for t in range(dsub):
            parts[t % 4] += sq[:, t]
        out[:, m] = (parts[0] + parts[1]) + (parts[2] + parts[3])
    return out
