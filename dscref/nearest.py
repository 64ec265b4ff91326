"""Nearest-codeword search in sub-spaces: the assignment step of k-means and the PQ encoder.

For x (n, d) and codebooks (M, k, dsub) with d = M * dsub,
``labels[i, m] = argmin_j ||x[i, m*dsub:(m+1)*dsub] - codebooks[m, j]||^2`` (eq. 5 of Wang & Qi
for PQ; k-means is M = 1). Kernels in :mod:`dscref._kernels.nearest`, chosen by the shape alone,
so that a given shape always gives the same bits:

* **direct** for ``dsub <= DIRECT_MAX_DSUB`` (63): distance loops over blocks of 256 points
  that LLVM vectorises across points (:mod:`dscref._kernels.direct`). Exact: each distance is
  ``v_0^2`` then ``fma(v_t, v_t, d)`` over t in order (v = x - c, float32, one rounding per
  fused multiply-add), equal bit for bit to the NumPy twin; a vector equal to a codeword gets
  that codeword (the lowest index among equal ones).
* **GEMM** from dsub = 64 on: ``||x||^2 - 2 <x, c> + ||c||^2`` with one BLAS product
  ``C @ x_block^T`` per block of 256 points and sub-space, then an argmin vectorised across the
  block's points. The expanded form rounds differently from the direct sum: codewords within
  float32 rounding of each other (about ``dsub * 6e-8 * (||x||^2 + ||c||^2)``) may be ordered
  differently than by a float64 search.

Measured on this project's 2-core AVX-512 machine (one thread, CPU time, k = 256, in point-
codeword pairs times dsub per second, on a machine shared with other jobs: +-15 %):

=========  ==========  ===========  ============================================
dsub       direct      GEMM         before issue 22 (GEMM x @ C^T, row scan)
=========  ==========  ===========  ============================================
4          30 G/s      9 G/s        (GEMM + exact re-scoring)
16 - 24    36-38 G/s   21-23 G/s
32 - 48    35-38 G/s   29-34 G/s    18-23 G/s
60         33-38 G/s   28-31 G/s    26 G/s
64         28-35 G/s   34-35 G/s
96 - 128   31-35 G/s   36-44 G/s    34 G/s
256                    39-47 G/s    38-40 G/s
2048                   44-45 G/s    46 G/s (OpenBLAS alone: 45-49 G/s)
=========  ==========  ===========  ============================================

The paths cross between dsub 60 and 64 (BLAS runs best when dsub is a multiple of 16 or 32);
lower GEMM figures are PQ (M > 1: the block's sub-vectors are copied to contiguous rows, except
in training, :func:`nearest_split`), higher ones k-means (M = 1: BLAS reads the rows in place).
faiss's ``ProductQuantizer::compute_codes`` switches to BLAS at dsub = 16
(faiss/impl/ProductQuantizer.cpp): its direct loops do not use fused multiply-adds. The
codeword-major direct layout ([m][dsub][k], vectorised across codewords, then an argmin
across lanes) stayed scalar under Numba 0.68: 5-15x slower.

Threads: each point's argmin is computed by one thread over j = 0, 1, ..., k-1 (strict ``<``,
ties to the lowest index), so labels and distances are the same on any number of Numba threads.
The GEMM kernel runs BLAS inside every Numba thread with BLAS pinned to one thread
(threadpoolctl); without threadpoolctl it stays serial and BLAS threads each product itself.
Either way the products have the same shapes (blocks of 256 rows from row 0, whatever the
threads or the row chunks), and OpenBLAS computes every output entry of a product with the same
kernel whatever its thread count.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ._chunks import CHUNK_ROWS
from ._threads import blas_threads_pinned_to_one, num_threads

__all__ = ["DIRECT_MAX_DSUB", "uses_direct", "parallel_plan", "nearest", "nearest_split", "subspace_sqnorms",
           "gemm_operands"]

# Largest sub-space width searched with direct distance loops (measured crossover, see above).
DIRECT_MAX_DSUB = 63
# Rows per block in both kernels (measured best of 128..1024 for dsub 4..16): the direct
# scratch holds 256 points x dpad floats, 4 KiB (dsub <= 4) to 64 KiB (dsub 60).
BLOCK_ROWS = 256
# Multiply-adds (n * d * k) below which one thread works alone: a parallel region costs about
# a millisecond on a loaded machine, as much as ~10^7 multiply-adds.
PARALLEL_WORK = 1 << 24


def uses_direct(dsub: int) -> bool:
    """Whether sub-spaces of width ``dsub`` take the direct path (else the GEMM path)."""
    return dsub <= DIRECT_MAX_DSUB


@contextlib.contextmanager
def parallel_plan(n: int, d: int, k: int, dsub: int | None = None):
    """Yield whether to run the threaded kernels for n rows of width d against k codewords per
    sub-space; while a threaded GEMM path is in use, BLAS is pinned to one thread.

    The choice depends on the work and the availability of threads only; the results do not
    depend on it (see the module docstring).
    """
    dsub = d if dsub is None else dsub
    parallel = n * d * k >= PARALLEL_WORK and n > BLOCK_ROWS and num_threads() > 1
    if not parallel or uses_direct(dsub):
        yield parallel
        return
    ctx = blas_threads_pinned_to_one()
    if ctx is None:  # no threadpoolctl: one Numba thread, BLAS threads each product
        yield False
        return
    with ctx:
        yield True


def subspace_sqnorms(x: np.ndarray, dsub: int) -> np.ndarray:
    """Squared norms (n, M) float32 of the width-``dsub`` sub-vectors of x (n, M * dsub) float32,
    each summed in float64 in order."""
    from ._kernels import nearest as kern

    out = np.empty((x.shape[0], x.shape[1] // dsub), dtype=np.float32)
    if x.shape[0]:
        kern.subspace_sqnorms(np.ascontiguousarray(x), dsub, out)
    return out


def padded_codebooks(codebooks: np.ndarray) -> np.ndarray:
    """The direct kernels' codebooks (M, k', dpad) float32: zero columns up to dpad =
    4 * ceil(dsub / 4), and for an odd k one extra row of +inf (distance +inf, never chosen),
    since the kernel takes codewords two at a time."""
    M, k, dsub = codebooks.shape
    cbp = np.zeros((M, k + k % 2, -(-dsub // 4) * 4), dtype=np.float32)
    cbp[:, :k, :dsub] = codebooks
    cbp[:, k:] = np.inf
    return cbp


def gemm_operands(codebooks: np.ndarray):
    """(cb, cn) for the GEMM kernels: the codebooks (M, k, dsub) C-contiguous float32 and their
    squared codeword norms (M, k) float32, each summed in float64."""
    cb = np.ascontiguousarray(codebooks, dtype=np.float32)
    return cb, (cb.astype(np.float64) ** 2).sum(-1).astype(np.float32)


def _check(x, codebooks, labels, dists) -> None:
    if not (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.ndim == 2):
        raise TypeError(f"x must be a 2-D float32 array, got {getattr(x, 'dtype', type(x).__name__)}")
    if not (isinstance(codebooks, np.ndarray) and codebooks.dtype == np.float32 and codebooks.ndim == 3):
        raise TypeError("codebooks must be a (M, k, dsub) float32 array")
    M, k, dsub = codebooks.shape
    if M * dsub != x.shape[1] or k == 0:
        raise ValueError(f"codebooks of shape {codebooks.shape} do not split x of width {x.shape[1]}")
    n = x.shape[0]
    if not (isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" and labels.shape == (n, M)):
        raise ValueError(f"labels must be an integer array of shape ({n}, {M})")
    if np.iinfo(labels.dtype).max < k - 1:
        raise ValueError(f"labels of dtype {labels.dtype} cannot hold indices up to {k - 1}")
    if dists is not None and not (isinstance(dists, np.ndarray) and dists.dtype == np.float32
                                  and dists.shape == (n, M)):
        raise ValueError(f"dists must be a float32 array of shape ({n}, {M})")


def nearest(x: np.ndarray, codebooks: np.ndarray, labels: np.ndarray, dists: np.ndarray | None = None,
            parallel: bool = False, x_sqnorms: np.ndarray | None = None) -> None:
    """Nearest codeword of every row in every sub-space, written into ``labels`` (and ``dists``).

    Parameters
    ----------
    x : ndarray (n, M * dsub), float32, finite (callers validate it)
    codebooks : ndarray (M, k, dsub), float32
    labels : ndarray (n, M), any integer dtype that holds k - 1; OUT
    dists : ndarray (n, M) float32, optional; OUT squared distances (exact on the direct path,
        ``||x||^2 - 2 <x, c> + ||c||^2`` clamped at 0 on the GEMM path)
    parallel : bool
        Threaded kernels; pass the value yielded by :func:`parallel_plan` (the GEMM path needs
        BLAS pinned meanwhile).
    x_sqnorms : ndarray (n, M) float32, optional
        :func:`subspace_sqnorms` of x, for the GEMM path's distances; computed when needed and
        not given (loops over the same x pass them once).

    Raises
    ------
    TypeError, ValueError
        For arrays of another dtype or shape than above.
    """
    from ._kernels import nearest as kern

    _check(x, codebooks, labels, dists)
    n = x.shape[0]
    M, k, dsub = codebooks.shape
    if n == 0:
        return
    x = np.ascontiguousarray(x)
    if uses_direct(dsub):
        cbp = padded_codebooks(codebooks)
        run = kern.nearest_direct if parallel else kern.nearest_direct_serial

        def call(s, e, lab, dis):
            run(x[s:e], cbp, dsub, BLOCK_ROWS, lab, dis)
    else:
        cb, cn = gemm_operands(codebooks)
        if dists is None:
            xx = np.empty((0, M), dtype=np.float32)
        else:
            xx = subspace_sqnorms(x, dsub) if x_sqnorms is None else x_sqnorms
            if xx.shape != (n, M) or xx.dtype != np.float32:
                raise ValueError(f"x_sqnorms must be a float32 array of shape ({n}, {M})")
        xx = np.ascontiguousarray(xx)
        run = kern.nearest_gemm if parallel else kern.nearest_gemm_serial

        def call(s, e, lab, dis):
            run(x[s:e], cb, cn, xx[s:e] if xx.shape[0] else xx, BLOCK_ROWS, lab, dis)
    direct_out = (labels.dtype == np.int32 and labels.flags.c_contiguous
                  and (dists is None or dists.flags.c_contiguous))
    if direct_out:
        call(0, n, labels, np.empty((0, M), np.float32) if dists is None else dists)
        return
    # other label dtypes: row chunks through an int32 buffer; chunks are multiples of the
    # kernels' blocks, so the blocks (hence the GEMM path's bits) are those of one call
    step = min(n, CHUNK_ROWS)
    lab = np.empty((step, M), dtype=np.int32)
    dis = np.empty((step if dists is not None else 0, M), dtype=np.float32)
    for s in range(0, n, step):
        e = min(s + step, n)
        call(s, e, lab[:e - s], dis[:e - s])
        labels[s:e] = lab[:e - s]
        if dists is not None:
            dists[s:e] = dis[:e - s]


def nearest_split(xs: np.ndarray, codebooks: np.ndarray, labels: np.ndarray, dists: np.ndarray | None = None,
                  parallel: bool = False, x_sqnorms: np.ndarray | None = None) -> None:
    """:func:`nearest` for vectors stored sub-space by sub-space (PQ training's sample).

    ``xs`` (M, n, dsub) float32 C-contiguous holds sub-space m's n sub-vectors contiguously, so
    the GEMM path multiplies them in place (no copy of sub-vectors per block) and the threads
    share tasks over sub-spaces and rows alike. ``labels`` (M, n) int32 and ``dists`` (M, n)
    float32 (optional) are C-contiguous outputs; ``x_sqnorms`` (M, n) float32 as in
    :func:`nearest`. Labels and distances are those :func:`nearest` gives for the same vectors.

    Raises
    ------
    TypeError, ValueError
        For arrays of another dtype, shape or layout than above.
    """
    from ._kernels import nearest as kern

    if not (isinstance(xs, np.ndarray) and xs.dtype == np.float32 and xs.ndim == 3 and xs.flags.c_contiguous):
        raise TypeError("xs must be a C-contiguous (M, n, dsub) float32 array")
    M, n, dsub = xs.shape
    if not (isinstance(codebooks, np.ndarray) and codebooks.dtype == np.float32 and codebooks.ndim == 3
            and codebooks.shape[0] == M and codebooks.shape[2] == dsub and codebooks.shape[1] > 0):
        raise ValueError(f"codebooks must be (M={M}, k, dsub={dsub}) float32")
    for name, a, dt in (("labels", labels, np.int32), ("dists", dists, np.float32), ("x_sqnorms", x_sqnorms, np.float32)):
        if a is not None and not (isinstance(a, np.ndarray) and a.dtype == dt and a.shape == (M, n)
                                  and a.flags.c_contiguous):
            raise ValueError(f"{name} must be a C-contiguous {np.dtype(dt)} array of shape ({M}, {n})")
    if labels is None:
        raise ValueError("labels is required")
    if n == 0:
        return
    empty3 = np.empty((0, 0, 0), dtype=np.float32)
    nod = np.empty((M, 0, 1), dtype=np.float32)
    lab3 = labels.reshape(M, n, 1)
    dis3 = nod if dists is None else dists.reshape(M, n, 1)
    direct = uses_direct(dsub)
    if direct:
        cbp, cb, cn, xx = padded_codebooks(codebooks), empty3, np.empty((0, 0), np.float32), nod
    else:
        cbp, (cb, cn), xx = empty3, gemm_operands(codebooks), nod
        if dists is not None:
            xx = (subspace_sqnorms(xs.reshape(M * n, dsub), dsub) if x_sqnorms is None else x_sqnorms).reshape(M, n, 1)
    if parallel:
        kern.nearest_split(xs, cbp, cb, cn, xx, dsub, BLOCK_ROWS, lab3, dis3)
        return
    for m in range(M):  # small inputs: the one-thread row kernels on each sub-space (M = 1)
        if direct:
            kern.nearest_direct_serial(xs[m], cbp[m:m + 1], dsub, BLOCK_ROWS, lab3[m], dis3[m])
        else:
            kern.nearest_gemm_serial(xs[m], cb[m:m + 1], cn[m:m + 1], xx[m], BLOCK_ROWS, lab3[m], dis3[m])
