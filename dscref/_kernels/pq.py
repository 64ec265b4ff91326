"""Numba kernel for product quantization: decoding.

Encoding is :mod:`dscref._kernels.nearest` (shared with the k-means assignment).

Arguments are marked IN / OUT; no validation (see :mod:`dscref.pq`).
"""

import numba as nb

from .._threads import parallel_kernel


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def decode(codes, codebooks, out):
    """out[i, m*dsub:(m+1)*dsub] = codebooks[m, codes[i, m]] (IN codes, codebooks; OUT out (n, d))."""
    M, ksub, dsub = codebooks.shape
    for i in nb.prange(codes.shape[0]):
        for m in range(M):
            c = codes[i, m]
            for j in range(dsub):
                out[i, m * dsub + j] = codebooks[m, c, j]
