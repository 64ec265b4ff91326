"""Numba kernels for nearest-codeword search in sub-spaces: direct distance loops and GEMM blocks.

The shared step of k-means (assignment) and product quantization (encoding): for every row i of
``x`` (n, d) and every sub-space m (columns ``m*dsub .. (m+1)*dsub``), the index of the nearest
of the k codewords of sub-space m. k-means is the case M = 1. Arguments are marked IN / OUT; no
validation (see :mod:`dscref.nearest`, which also chooses the path by shape).

Layout (measurements in the module docstring of :mod:`dscref.nearest`):

* **direct** (small dsub): a block of P rows is copied transposed into ``xt`` (dpad, P), so the
  innermost loop runs over P contiguous points and LLVM vectorises it (16 points per AVX-512
  instruction); the codebook is read as scalars, ``[m][k][dpad]``, broadcast to all lanes. Four
  dimensions are summed per pass over the block, the last pass fused with the running
  argmin, so the partial sums touch memory once per four dimensions.
* **GEMM** (large dsub): the block's sub-vectors copied to contiguous rows ``xb`` (b, dsub)
  (for k-means, M = 1, the rows of x themselves), then per sub-space one BLAS product
  ``C_m @ xb.T`` (k, b), read by BLAS as a transposed operand, and the same argmin vectorised
  across points. The other orientation, ``xb @ C_m^T`` (b, k) with a scan along each point's
  row, ran 5-40 % slower at every width but the largest (dsub 2048: equal).

Exactness: the direct kernels sum ``(x_t - c_t)^2`` over t = 0, 1, ... in float32, in that
order, without fused multiply-adds (no ``fastmath``): every distance, hence every label, equals
the NumPy twin (:mod:`dscref._reference.nearest`) bit for bit. Dimensions are padded with zeros
to a multiple of 4 in both x and the codebook; adding ``(0 - 0)^2 = 0`` leaves every sum
unchanged. Every point's argmin runs over j = 0, 1, ..., k-1 with a strict ``<`` in one thread:
ties go to the lowest index and no result depends on how rows are split across threads.
"""

import numba as nb
import numpy as np

from .._threads import parallel_kernel
from .direct import direct_block, transpose_block

# Rows per parallel task: a multiple of every block size P below, so a task never splits a block.
TASK_ROWS = 1024
# Codewords per BLAS product: bounds the (KB, P) product block at 512 KiB for P = 256.
GEMM_KB = 512


# ------------------------------------------------------------------------------ direct
@nb.njit(cache=True)
def _direct_rows(x, cbp, dsub, lo, hi, P, labels, dists):
    """Rows [lo, hi) in blocks of P, every sub-space per block while the block is in cache."""
    M, k, dpad = cbp.shape
    xt = np.zeros((dpad, P), dtype=np.float32)  # padding rows stay 0
    acc = np.empty(P, dtype=np.float32)
    acc2 = np.empty(P, dtype=np.float32)
    best = np.empty(P, dtype=np.float32)
    arg = np.empty(P, dtype=np.int32)
    for s in range(lo, hi, P):
        b = min(P, hi - s)
        for m in range(M):
            transpose_block(x, s, b, m * dsub, dsub, xt)
            direct_block(xt, b, cbp[m], acc, acc2, best, arg)
            for i in range(b):
                labels[s + i, m] = arg[i]
            if dists.shape[0] > 0:
                for i in range(b):
                    dists[s + i, m] = best[i]


@nb.njit(cache=True)
def nearest_direct_serial(x, cbp, dsub, P, labels, dists):
    """Nearest codeword of every (row, sub-space) by direct distances, on one thread.

    IN  x (n, M*dsub) float32, cbp (M, k, dpad) float32 = codebooks padded with zero columns
        to dpad = 4 * ceil(dsub / 4), dsub int, P int (rows per block, multiple of 16 dividing
        TASK_ROWS)
    OUT labels (n, M) int32; dists (n, M) float32 exact squared distances, or shape (0, M) for
        none
    """
    _direct_rows(x, cbp, dsub, 0, x.shape[0], P, labels, dists)


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def nearest_direct(x, cbp, dsub, P, labels, dists):
    """:func:`nearest_direct_serial` with tasks of TASK_ROWS rows spread over threads (same
    IN / OUT, same bits: rows are independent)."""
    n = x.shape[0]
    for t in nb.prange((n + TASK_ROWS - 1) // TASK_ROWS):
        _direct_rows(x, cbp, dsub, t * TASK_ROWS, min(n, (t + 1) * TASK_ROWS), P, labels, dists)


# ------------------------------------------------------------------------------ GEMM
@nb.njit(cache=True)
def _copy_rows(x, s, b, col0, dsub, xb):
    """xb[i, t] = x[s + i, col0 + t]: the block's sub-vectors as a contiguous (b, dsub) matrix."""
    for i in range(b):
        for t in range(dsub):
            xb[i, t] = x[s + i, col0 + t]


@nb.njit(cache=True)
def _gemm_rows(x, cb, cn, xx, lo, hi, P, labels, dists):
    """Rows [lo, hi) in blocks of P, every sub-space per block: BLAS ``ip = cb[m] @ xb.T``
    (KB, b) per block of at most GEMM_KB codewords, then the argmin of ``cn[m, j] - 2 ip[j, i]``
    over j in order (strict ``<``: lowest index on ties), vectorised across the block's points."""
    M, k, dsub = cb.shape
    kb_max = min(k, GEMM_KB)
    xb_buf = np.empty(P * dsub, dtype=np.float32)
    ip_buf = np.empty(kb_max * P, dtype=np.float32)
    best = np.empty(P, dtype=np.float32)
    arg = np.empty(P, dtype=np.int32)
    for s in range(lo, hi, P):
        b = min(P, hi - s)
        xb = xb_buf[:b * dsub].reshape(b, dsub)  # the block's sub-vectors, contiguous rows
        blk = x[s:s + b] if M == 1 else xb  # k-means: the rows themselves (x may be read-only)
        for m in range(M):
            if M > 1:
                _copy_rows(x, s, b, m * dsub, dsub, xb)
            for i in range(b):
                best[i] = np.inf
                arg[i] = 0
            for j0 in range(0, k, kb_max):
                kb = min(kb_max, k - j0)
                ip = ip_buf[:kb * b].reshape(kb, b)
                np.dot(cb[m, j0:j0 + kb], blk.T, ip)  # BLAS reads the block transposed, no copy
                for jj in range(kb):
                    c = cn[m, j0 + jj]
                    for i in range(b):
                        sc = c - 2.0 * ip[jj, i]
                        lt = sc < best[i]
                        best[i] = sc if lt else best[i]
                        arg[i] = np.int32(j0 + jj) if lt else arg[i]
            for i in range(b):
                labels[s + i, m] = arg[i]
            if dists.shape[0] > 0:  # ||x||^2 + best, clamped at 0
                for i in range(b):
                    dd = best[i] + xx[s + i, m]
                    dists[s + i, m] = dd if dd > 0.0 else 0.0


@nb.njit(cache=True)
def nearest_gemm_serial(x, cb, cn, xx, P, labels, dists):
    """Nearest codeword of every (row, sub-space) through BLAS products, on one thread.

    ``||x - c||^2 = ||x||^2 - 2 <x, c> + ||c||^2``: the cross term is one GEMM (KB, dsub) @
    (dsub, b) per block of b <= P rows, sub-space and block of at most GEMM_KB codewords.

    IN  x (n, M*dsub) float32, cb (M, k, dsub) float32 C-contiguous, cn (M, k) float32 squared
        codeword norms, xx (n, M) float32 squared norms of the sub-vectors
        (:func:`subspace_sqnorms`) or (0, M) without dists, P int (rows per block, dividing
        TASK_ROWS)
    OUT labels (n, M) int32; dists (n, M) float32 (clamped at 0 against rounding), or (0, M)
    """
    _gemm_rows(x, cb, cn, xx, 0, x.shape[0], P, labels, dists)


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def nearest_gemm(x, cb, cn, xx, P, labels, dists):
    """:func:`nearest_gemm_serial` with tasks spread over threads. Every thread calls BLAS, so
    the caller pins BLAS to one thread (:func:`dscref._threads.blas_threads_pinned_to_one`):
    the products, hence the bits, are then those of the serial kernel. Same IN / OUT."""
    n = x.shape[0]
    for t in nb.prange((n + TASK_ROWS - 1) // TASK_ROWS):
        _gemm_rows(x, cb, cn, xx, t * TASK_ROWS, min(n, (t + 1) * TASK_ROWS), P, labels, dists)


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def subspace_sqnorms(x, dsub, out):
    """out[i, m] = ||x[i, m*dsub:(m+1)*dsub]||^2 in float64, rounded to float32: four interleaved
    partial sums (dimensions t = 4u + r go to sum r), added as (s0 + s1) + (s2 + s3), so the
    additions do not wait on each other. Rows in parallel.

    IN x (n, M*dsub) float32; OUT out (n, M) float32
    """
    M = out.shape[1]
    for i in nb.prange(x.shape[0]):
        for m in range(M):
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            t = m * dsub
            end = t + dsub
            while t + 4 <= end:
                v0 = np.float64(x[i, t])
                v1 = np.float64(x[i, t + 1])
                v2 = np.float64(x[i, t + 2])
                v3 = np.float64(x[i, t + 3])
                s0 += v0 * v0
                s1 += v1 * v1
                s2 += v2 * v2
                s3 += v3 * v3
                t += 4
            r = 0
            while t < end:  # the remainder continues the same interleaving
                v = np.float64(x[i, t])
                if r == 0:
                    s0 += v * v
                elif r == 1:
                    s1 += v * v
                else:
                    s2 += v * v
                r += 1
                t += 1
            out[i, m] = (s0 + s1) + (s2 + s3)


# ------------------------------------------------------------------------------ sub-space-major x
@nb.njit(cache=True)
def _split_tasks(xs, cbp, cb, cn, xx, dsub, P, labels, dists, t0, t1):
    """Tasks [t0, t1) of the grid (sub-space m, TASK_ROWS rows): each runs the M = 1 kernel on
    the contiguous rows ``xs[m]``, direct when ``cbp`` is given (non-empty), else GEMM."""
    n = xs.shape[1]
    nt = (n + TASK_ROWS - 1) // TASK_ROWS
    for t in range(t0, t1):
        m = t // nt
        lo = (t % nt) * TASK_ROWS
        hi = min(n, lo + TASK_ROWS)
        if cbp.shape[0] > 0:
            _direct_rows(xs[m], cbp[m:m + 1], dsub, lo, hi, P, labels[m], dists[m])
        else:
            _gemm_rows(xs[m], cb[m:m + 1], cn[m:m + 1], xx[m], lo, hi, P, labels[m], dists[m])


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def nearest_split(xs, cbp, cb, cn, xx, dsub, P, labels, dists):
    """Nearest codeword for a sub-space-major x (PQ training), the (sub-space, TASK_ROWS rows)
    tasks spread over threads: in parallel over sub-spaces and over points.

    IN  xs (M, n, dsub) float32: sub-space m's vectors contiguous; either cbp (M, k, dpad) as in
        :func:`nearest_direct_serial` and empty cb (0, 0, 0), cn (0, 0), or an empty cbp and
        cb (M, k, dsub), cn (M, k), xx (M, n, 1) or (M, 0, 1) as in :func:`nearest_gemm_serial`
    OUT labels (M, n, 1) int32; dists (M, n, 1) float32 or (M, 0, 1)
    Each task runs the M = 1 row kernels on ``xs[m]``: the bits of :func:`nearest_direct_serial`
    / :func:`nearest_gemm_serial` called on each sub-space (its rows read in place).
    """
    nt = (xs.shape[1] + TASK_ROWS - 1) // TASK_ROWS
    for t in nb.prange(xs.shape[0] * nt):
        _split_tasks(xs, cbp, cb, cn, xx, dsub, P, labels, dists, t, t + 1)
