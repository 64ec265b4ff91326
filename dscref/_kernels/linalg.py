"""Matrix products whose every output bit is fixed by the inputs: no BLAS, no thread dependence.

BLAS (OpenBLAS, MKL) splits a product differently with 1 or 2 threads and per CPU kernel, so
float32 results move by an ulp with the thread count. The synthetic generator must give the same
bits in a Dask worker (1 BLAS thread) and in the caller (all cores), so its products run here:
every output entry is the float64 sum over k = 0, 1, ..., K-1 in that order of exact float64
products, rounded once to float32. Rows are independent, so ``prange`` over row blocks changes
nothing but speed. Arguments are marked IN / OUT; the wrappers in :mod:`dscref.synthetic._linalg` validate.
"""

import numba as nb
import numpy as np

from .._threads import parallel_kernel

_ROWS = 64  # rows per parallel task


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def matmul(a, b, out):
    """out = a @ b (IN a (n, K) f32, b (K, d) f32; OUT out (n, d) f32), fixed summation order."""
    n, kk = a.shape
    d = b.shape[1]
    for blk in nb.prange((n + _ROWS - 1) // _ROWS):
        acc = np.empty(d)  # one output row in float64; the j loop vectorises
        for i in range(blk * _ROWS, min((blk + 1) * _ROWS, n)):
            acc[:] = 0.0
            for k in range(kk):
                a_ik = np.float64(a[i, k])
                for j in range(d):
                    acc[j] += a_ik * np.float64(b[k, j])
            for j in range(d):
                out[i, j] = acc[j]


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def matvec(a, v, out):
    """out[i] = sum_j a[i, j] v[j] (IN a (n, d) f32, v (d,) f32; OUT out (n,) f32), j in order."""
    for i in nb.prange(a.shape[0]):
        s = 0.0
        for j in range(a.shape[1]):
            s += np.float64(a[i, j]) * np.float64(v[j])
        out[i] = s


@nb.njit(cache=True)
def orthonormalise_rows(q):
    """Modified Gram-Schmidt on the rows of q, in place (IN/OUT q (k, d) f64, k <= d, full rank).

    Row i becomes the unit vector of what remains of it after removing rows 0..i-1, each
    projection summed over j in order: the result is fixed by the input bits.
    """
    k, d = q.shape
    for i in range(k):
        for p in range(i):
            s = 0.0
            for j in range(d):
                s += q[p, j] * q[i, j]
            for j in range(d):
                q[i, j] -= s * q[p, j]
        s = 0.0
        for j in range(d):
            s += q[i, j] * q[i, j]
        s = np.sqrt(s)
        for j in range(d):
            q[i, j] /= s
