"""Nearest-codeword search in sub-spaces: the assignment step of k-means and the PQ encoder.

For x (n, d) and codebooks (M, k, dsub) with d = M * dsub,
``labels[i, m] = argmin_j ||x[i, m*dsub:(m+1)*dsub] - codebooks[m, j]||^2`` (eq. 5 of Wang & Qi
for PQ; k-means is M = 1). Two kernels (:mod:`dscref._kernels.nearest`), chosen by the shape
alone, so that a given shape always gives the same bits:

* **direct** for ``dsub <= DIRECT_MAX_DSUB`` (16): distance loops over blocks of 256 points
  that LLVM vectorises across points. Exact: each distance is the float32 sum of
  ``(x_t - c_t)^2`` over t in order, equal bit for bit to the NumPy twin; a vector equal to a
  codeword gets that codeword (the lowest index among equal ones).
* **GEMM** for larger dsub: ``||c||^2 - 2 <x, c>`` with one BLAS product per block of 256 points
  and sub-space. The expanded form rounds differently from the direct sum: two codewords
  within float32 rounding of each other (about ``1e-7 * (||x||^2 + ||c||^2)``) may be ordered
  differently than by the direct path or by a float64 search.

Measured on this project's 2-core AVX-512 machine, one thread, k = 256 (pair-dims / s = point
-codeword pairs times dsub, per second; direct padded to 4 dimensions): direct 24 G/s for dsub
4..32 and 20 G/s at dsub 64; GEMM 21 G/s at dsub 16, 28 G/s at 32, 34 G/s at 60-64 and 28 G/s at
256. The paths cross near dsub = 16; faiss's ``ProductQuantizer::compute_codes`` switches to BLAS
at the same point (``dsub < 16`` direct, ``faiss/impl/ProductQuantizer.cpp``).

Threads: each point's argmin is computed by one thread over j = 0, 1, ..., k-1 (strict ``<``,
ties to the lowest index), so labels and distances are the same on any number of Numba threads.
The GEMM kernel runs BLAS inside every Numba thread with BLAS pinned to one thread
(threadpoolctl); without threadpoolctl it stays serial and BLAS threads each product itself.
Either way the products have the same shapes (blocks depend on n only), and OpenBLAS computes
every output entry of a product with the same kernel whatever its thread count.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ._chunks import CHUNK_ROWS
from ._threads import blas_threads_pinned_to_one, num_threads

__all__ = ["DIRECT_MAX_DSUB", "uses_direct", "parallel_plan", "nearest"]

# Largest sub-space width searched with direct distance loops (measured crossover, see above).
DIRECT_MAX_DSUB = 16
# Rows per block in both kernels: 256 points x 16 padded dims of direct scratch = 16 KiB (L1).
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
            parallel: bool = False) -> None:
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
        dpad = -(-dsub // 4) * 4
        cbp = np.zeros((M, k, dpad), dtype=np.float32)
        cbp[:, :, :dsub] = codebooks
        run = kern.nearest_direct if parallel else kern.nearest_direct_serial
        args = (cbp, dsub, BLOCK_ROWS)
    else:
        cb = np.ascontiguousarray(codebooks)
        cn = (cb.astype(np.float64) ** 2).sum(-1).astype(np.float32)
        run = kern.nearest_gemm if parallel else kern.nearest_gemm_serial
        args = (cb, cn, BLOCK_ROWS)
    direct_out = (labels.dtype == np.int32 and labels.flags.c_contiguous
                  and (dists is None or dists.flags.c_contiguous))
    if direct_out:
        run(x, *args, labels, np.empty((0, M), np.float32) if dists is None else dists)
        return
    # other label dtypes: row chunks through an int32 buffer; chunks are multiples of the
    # kernels' blocks, so the blocks (hence the GEMM path's bits) are those of one call
    step = min(n, CHUNK_ROWS)
    lab = np.empty((step, M), dtype=np.int32)
    dis = np.empty((step if dists is not None else 0, M), dtype=np.float32)
    for s in range(0, n, step):
        e = min(s + step, n)
        run(x[s:e], *args, lab[:e - s], dis[:e - s])
        labels[s:e] = lab[:e - s]
        if dists is not None:
            dists[s:e] = dis[:e - s]
