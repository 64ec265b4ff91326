"""Numba kernels for product quantization: blocked BLAS encoding and decoding.

Arguments are marked IN / OUT; no validation (see :mod:`dscref.pq`).
"""

import numba as nb
import numpy as np

BLOCK = 1024


@nb.njit(cache=True)
def encode_blocked(x, cbt, cb_norms, codes):
    """Nearest sub-codeword of every sub-vector, by one GEMM per (block, sub-space).

    For sub-space m the score of codeword j is ``||r_mj||^2 - 2 <x_m, r_mj>`` (||x_m||^2 is the
    same for every j and is dropped). The sub-vectors of a block are copied into a contiguous
    buffer so BLAS sees a dense (b, dsub) matrix. The expanded form loses precision when
    ||x_m|| is large against the gaps between codewords, so every codeword scoring within the
    rounding bound of the best is re-scored exactly as sum (x - r)^2: a vector equal to a
    codeword always gets that codeword (ties: the smaller index).

    IN  x (n, d) float32, cbt (M, dsub, ksub) float32 = codebooks transposed,
        cb_norms (M, ksub) float32
    OUT codes (n, M) uint8 or uint16
    """
    n = x.shape[0]
    M, dsub, ksub = cbt.shape
    buf = np.empty((BLOCK, dsub), dtype=np.float32)
    for m in range(M):
        max_cn = 0.0
        for j in range(ksub):
            max_cn = max(max_cn, cb_norms[m, j])
        for start in range(0, n, BLOCK):
            end = min(start + BLOCK, n)
            b = end - start
            for i in range(b):
                for j in range(dsub):
                    buf[i, j] = x[start + i, m * dsub + j]
            ip = np.dot(buf[:b], cbt[m])
            for i in range(b):
                best = np.inf
                arg = 0
                for j in range(ksub):
                    s = cb_norms[m, j] - 2.0 * ip[i, j]
                    if s < best:
                        best = s
                        arg = j
                xn = 0.0
                for t in range(dsub):
                    xn += buf[i, t] * buf[i, t]
                tol = 1e-4 * (xn + max_cn) + 1e-30
                best_exact = np.inf
                for j in range(ksub):
                    if cb_norms[m, j] - 2.0 * ip[i, j] <= best + tol:
                        e = 0.0
                        for t in range(dsub):
                            v = buf[i, t] - cbt[m, t, j]
                            e += v * v
                        if e < best_exact:
                            best_exact = e
                            arg = j
                codes[start + i, m] = arg


@nb.njit(cache=True, parallel=True)
def decode(codes, codebooks, out):
    """out[i, m*dsub:(m+1)*dsub] = codebooks[m, codes[i, m]] (IN codes, codebooks; OUT out (n, d))."""
    M, ksub, dsub = codebooks.shape
    for i in nb.prange(codes.shape[0]):
        for m in range(M):
            c = codes[i, m]
            for j in range(dsub):
                out[i, m * dsub + j] = codebooks[m, c, j]
