"""Numba kernels for product quantization: blocked BLAS encoding and decoding.

Arguments are marked IN / OUT; no validation (see :mod:`dscref.pq`).
"""

import numba as nb
import numpy as np

from .._threads import parallel_kernel

BLOCK = 1024


@nb.njit(cache=True)
def _max_norms(cb_norms):
    """Largest codeword norm of every sub-space: (M,) float64."""
    M, ksub = cb_norms.shape
    out = np.zeros(M)
    for m in range(M):
        for j in range(ksub):
            out[m] = max(out[m], cb_norms[m, j])
    return out


@nb.njit(cache=True)
def _encode_block(x, cbt, cb_norms, max_cn, codes, start, end, buf):
    """Codes of rows [start, end) for every sub-space; ``buf`` (>= end-start, dsub) is scratch."""
    M, dsub, ksub = cbt.shape
    b = end - start
    for m in range(M):
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
            tol = 1e-4 * (xn + max_cn[m]) + 1e-30
            # exactness refine: re-score every codeword within the rounding bound of the best
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
    dsub = cbt.shape[1]
    max_cn = _max_norms(cb_norms)
    buf = np.empty((BLOCK, dsub), dtype=np.float32)
    for start in range(0, n, BLOCK):
        _encode_block(x, cbt, cb_norms, max_cn, codes, start, min(start + BLOCK, n), buf)


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def encode_parallel(x, cbt, cb_norms, codes):
    """:func:`encode_blocked` with row blocks spread over threads (``prange``); each thread
    encodes its block in every sub-space while the block is hot in cache. The caller pins BLAS
    to one thread (see :func:`dscref.kmeans.assignment_threads`). Same IN / OUT."""
    n = x.shape[0]
    dsub = cbt.shape[1]
    max_cn = _max_norms(cb_norms)
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in nb.prange(n_blocks):
        buf = np.empty((BLOCK, dsub), dtype=np.float32)
        _encode_block(x, cbt, cb_norms, max_cn, codes, b * BLOCK, min(b * BLOCK + BLOCK, n), buf)


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
