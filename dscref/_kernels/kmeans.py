"""Numba kernels for k-means: centroid update and k-means++ seeding.

The assignment step is :mod:`dscref._kernels.nearest` (shared with PQ encoding).

Arguments are marked IN / OUT. No validation happens here: the public :mod:`dscref.kmeans`
checks shapes, dtypes and finiteness first.
"""

import numba as nb
import numpy as np

from .._threads import parallel_kernel


@nb.njit(cache=True)
def accumulate(x, labels, sums, counts):
    """Per-cluster sums (float64) and counts.

    IN  x (n, d) float32, labels (n,) int64
    OUT sums (k, d) float64 (zeroed by caller), counts (k,) int64 (zeroed by caller)
    """
    d = x.shape[1]
    for i in range(x.shape[0]):
        c = labels[i]
        counts[c] += 1
        for j in range(d):
            sums[c, j] += x[i, j]


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def accumulate_parallel(x, labels, k, n_chunks):
    """:func:`accumulate` over ``n_chunks`` independent row chunks, then a reduction.

    Each chunk owns its partial sums, so threads never write to shared memory.
    Returns (sums (k, d) float64, counts (k,) int64).
    """
    n, d = x.shape
    part_sums = np.zeros((n_chunks, k, d), dtype=np.float64)
    part_counts = np.zeros((n_chunks, k), dtype=np.int64)
    step = (n + n_chunks - 1) // n_chunks
    for t in nb.prange(n_chunks):
        lo = t * step
        hi = min(lo + step, n)
        if lo < hi:
            accumulate(x[lo:hi], labels[lo:hi], part_sums[t], part_counts[t])
    sums = np.zeros((k, d), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    for t in range(n_chunks):
        counts += part_counts[t]
        sums += part_sums[t]
    return sums, counts


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def subspace_sums(xs, labels, sums, counts):
    """Per sub-space and cluster, float64 sums of the assigned sub-vectors and their counts.

    Sub-space m is summed by one thread over i = 0, 1, ..., n-1 in order: the sums do not
    depend on the thread count.

    IN  xs (M, n, dsub) float32, labels (M, n) int32
    OUT sums (M, k, dsub) float64 and counts (M, k) int64, zeroed by the caller
    """
    M, n, dsub = xs.shape
    for m in nb.prange(M):
        for i in range(n):
            c = labels[m, i]
            counts[m, c] += 1
            for t in range(dsub):
                sums[m, c, t] += xs[m, i, t]


@nb.njit(cache=True)
def _min_sqdist_row(x, c, mind, i):
    """mind[i] = min(mind[i], ||x[i] - c||^2), accumulated in float64."""
    s = 0.0
    for j in range(x.shape[1]):
        v = np.float64(x[i, j]) - np.float64(c[j])
        s += v * v
    if s < mind[i]:
        mind[i] = s


@nb.njit(cache=True, parallel=True)  # launched only through kmeanspp_init (guarded)
def _update_min_sqdist(x, c, mind):
    """:func:`_min_sqdist_row` for every row, rows in parallel (IN x, c; IN/OUT mind)."""
    for i in nb.prange(x.shape[0]):
        _min_sqdist_row(x, c, mind, i)


@nb.njit(cache=True)
def _update_min_sqdist_serial(x, c, mind):
    """:func:`_update_min_sqdist` on one thread (same float64 arithmetic, same result)."""
    for i in range(x.shape[0]):
        _min_sqdist_row(x, c, mind, i)


# Below this many elements (n * d) a k-means++ step stays on one thread: k-means++ runs one
# step per centroid, and a parallel region per step cost 15 ms each on a loaded 2-core machine
# (300 centroids: 4.5 s of waiting for ~50 ms of arithmetic).
PP_PARALLEL_MIN = 1 << 22


@nb.njit(cache=True)
def _pp_update(x, c, mind):
    if x.shape[0] * x.shape[1] >= PP_PARALLEL_MIN:
        _update_min_sqdist(x, c, mind)
    else:
        _update_min_sqdist_serial(x, c, mind)


@parallel_kernel  # its _pp_update launches _update_min_sqdist
@nb.njit(cache=True)
def kmeanspp_init(x, first, uniforms, chosen):
    """k-means++ seeding (Arthur & Vassilvitskii 2007) with externally drawn randomness.

    Centroid 0 is row ``first``; centroid t is the row where the cumulative sum of D(x)^2
    (squared distance to the nearest chosen centroid) first exceeds ``uniforms[t] * sum D^2``.
    Drawing the uniforms outside makes the kernel and its NumPy twin choose identical rows.

    IN  x (n, d) float32, first int, uniforms (k,) float64 in [0, 1)
    OUT chosen (k,) int64 row indices
    """
    n = x.shape[0]
    k = chosen.shape[0]
    mind = np.full(n, np.inf)
    chosen[0] = first
    _pp_update(x, x[first], mind)
    for t in range(1, k):
        total = 0.0
        for i in range(n):
            total += mind[i]
        if total <= 0.0:
            # every point coincides with a chosen centroid: take the first unchosen row
            pick = 0
            for i in range(n):
                dup = False
                for s in range(t):
                    if chosen[s] == i:
                        dup = True
                        break
                if not dup:
                    pick = i
                    break
        else:
            target = uniforms[t] * total
            acc = 0.0
            pick = -1
            for i in range(n):
                acc += mind[i]
                if acc > target and mind[i] > 0.0:
                    pick = i
                    break
            if pick < 0:  # rounding left target beyond the last partial sum
                for i in range(n - 1, -1, -1):
                    if mind[i] > 0.0:
                        pick = i
                        break
        chosen[t] = pick
        _pp_update(x, x[pick], mind)
