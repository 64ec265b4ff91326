"""Thread-count-independent linear algebra for the synthetic generator.

The generator promises the same bits wherever it runs (a Dask worker with one BLAS thread, a
laptop with eight, another CPU's BLAS kernel), so that a sharded build of data generated on the
workers equals the single-machine build. NumPy's ``@`` and ``linalg.qr`` call BLAS / LAPACK,
whose results change in the last bit with the thread count and the CPU kernel; these functions
run the kernels of :mod:`dscref._kernels.linalg` instead, whose summation order is fixed (float64
accumulation, one rounding to float32). Private: the generator's inputs are trusted shapes; only
dtypes and contiguity are normalised here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matmul", "matvec", "orthonormal_rows"]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a (n, K) and b (K, d) as float32, (n, d) float32, bit-reproducible."""
    from .._kernels import linalg as kern

    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul needs (n, K) @ (K, d), got {a.shape} @ {b.shape}")
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
    if out.size:
        kern.matmul(a, b, out)
    return out


def matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``a @ v`` for a (n, d) and v (d,) as float32, (n,) float32, bit-reproducible."""
    from .._kernels import linalg as kern

    a = np.ascontiguousarray(a, dtype=np.float32)
    v = np.ascontiguousarray(v, dtype=np.float32)
    if a.ndim != 2 or v.shape != (a.shape[1],):
        raise ValueError(f"matvec needs (n, d) @ (d,), got {a.shape} @ {v.shape}")
    out = np.empty(a.shape[0], dtype=np.float32)
    if out.size:
        kern.matvec(a, v, out)
    return out


def orthonormal_rows(g: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning the rows of g (k, d), k <= d, by modified Gram-Schmidt (float64).

    For a Gaussian g this is a uniformly random orthonormal k-frame, as the Q factor of a QR
    decomposition is; unlike LAPACK's, the bits do not depend on threads or CPU kernels.
    """
    from .._kernels import linalg as kern

    q = np.array(g, dtype=np.float64, order="C")
    if q.ndim != 2 or q.shape[0] > q.shape[1]:
        raise ValueError(f"orthonormal_rows needs (k, d) with k <= d, got {q.shape}")
    kern.orthonormalise_rows(q)
    return q
