"""Lloyd's k-means with k-means++ seeding, direct or BLAS-blocked assignment, empty-cluster relocation.

The DUC baselines of Wang & Qi cluster the database into K partitions by k-means (section II,
refs [10, 11, 16]); product quantization runs one k-means per sub-space (eqs. 4-6).

Examples
--------
>>> import numpy as np
>>> from dscref.kmeans import KMeans
>>> x = np.random.default_rng(0).standard_normal((2000, 16)).astype(np.float32)
>>> km = KMeans(n_clusters=8, seed=0).fit(x)
>>> km.centroids_.shape, km.predict(x[:3]).dtype
((8, 16), dtype('int64'))
"""

from __future__ import annotations

import logging

import numpy as np

from ._chunks import CHUNK_ROWS, gather_rows, release_pages
from .nearest import nearest, nearest_split, parallel_plan, subspace_sqnorms, uses_direct
from ._validate import as_float_matrix, as_generator, check_choice, check_float, check_int

__all__ = ["KMeans", "relocate_empty_clusters"]

log = logging.getLogger(__name__)

# Memory cap for the per-chunk partial sums of the parallel update step.
_PARTIAL_SUM_BYTES = 1 << 27
# Row chunks of the parallel update step: a constant, not the thread count, so that the float64
# summation order (hence the centroids, bit for bit, given the labels) is the same on any number
# of threads. The labels do not depend on the thread count either (:mod:`dscref.nearest`).
_UPDATE_CHUNKS = 16


def relocate_empty_clusters(centroids: np.ndarray, counts: np.ndarray, x: np.ndarray,
                            labels: np.ndarray, dists: np.ndarray) -> int:
    """Move every empty centroid onto a far point of a cluster that can spare it (in place).

    The points farthest from their own centroid, among clusters holding more than one point,
    become the new centroids, one per empty cluster (scikit-learn's strategy). The objective
    cannot increase: the moved point's error drops to 0 and nothing else changes, so Lloyd's
    inertia stays monotone and no centroid is ever NaN.

    Parameters
    ----------
    centroids : ndarray (k, d) float32, modified in place
    counts : ndarray (k,) int64, modified in place
    x : ndarray (n, d) float32
    labels : ndarray (n,) int64, current assignment
    dists : ndarray (n,) float32, squared distance of each point to its centroid

    Returns
    -------
    int : number of relocated clusters.

    Raises
    ------
    TypeError, ValueError
        If an argument is not an array of the dtype and shape above (``centroids`` and
        ``counts`` must be writeable ndarrays), ``labels`` is out of ``[0, k)``, ``counts`` is not
        ``bincount(labels)``, or ``x`` has no row.
    """
    _check_relocate_args(centroids, counts, x, labels, dists)
    return _relocate_empty(centroids, counts, x, labels, dists)


def _check_relocate_args(centroids, counts, x, labels, dists) -> None:
    for name, a, dtype in (("centroids", centroids, np.float32), ("counts", counts, np.int64),
                           ("x", x, np.float32), ("labels", labels, np.int64), ("dists", dists, np.float32)):
        if not isinstance(a, np.ndarray) or a.dtype != dtype:
            raise TypeError(f"{name} must be a numpy array of dtype {np.dtype(dtype)}, got "
                            f"{a.dtype if isinstance(a, np.ndarray) else type(a).__name__}")
    for name, a in (("centroids", centroids), ("counts", counts)):
        if not a.flags.writeable:
            raise ValueError(f"{name} is read-only; it is updated in place")
    if centroids.ndim != 2 or x.ndim != 2 or x.shape[1] != centroids.shape[1]:
        raise ValueError(f"centroids (k, d) and x (n, d) must share d, got shapes {centroids.shape}, {x.shape}")
    k, n = centroids.shape[0], x.shape[0]
    if n == 0 or k == 0:
        raise ValueError(f"x and centroids need at least one row, got shapes {x.shape}, {centroids.shape}")
    if counts.shape != (k,) or labels.shape != (n,) or dists.shape != (n,):
        raise ValueError(f"counts must be ({k},), labels and dists ({n},); got {counts.shape}, "
                         f"{labels.shape}, {dists.shape}")
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}), got range [{labels.min()}, {labels.max()}]")
    if not np.array_equal(counts, np.bincount(labels, minlength=k)):
        raise ValueError("counts must be the cluster sizes of labels (bincount(labels))")


def _relocate_empty(centroids: np.ndarray, counts: np.ndarray, x: np.ndarray,
                    labels: np.ndarray, dists: np.ndarray) -> int:
    """:func:`relocate_empty_clusters` without the argument checks (the k-means loop's call)."""
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return 0
    order = np.argsort(-dists, kind="stable")
    j = 0
    for e in empty:
        while j < order.size and counts[labels[order[j]]] <= 1:
            j += 1
        if j >= order.size:  # fewer distinct movable points than empty clusters
            centroids[e] = x[order[0]]
            continue
        p = order[j]
        counts[labels[p]] -= 1
        counts[e] = 1
        centroids[e] = x[p]
        j += 1
    return int(empty.size)


def subspace_kmeans(xs: np.ndarray, init: np.ndarray, n_iter: int = 25):
    """k-means in each of M sub-spaces, the M problems run in lockstep (the engine of
    :meth:`dscref.pq.ProductQuantizer.fit`, which validates the data: finite float32 values are
    assumed here, as in scikit-learn's private k-means helpers; shapes are checked).

    This is product quantization's training (eq. 5 of Wang & Qi), with faiss's loop
    (``Clustering::train``, faiss/Clustering.cpp, 1.15): ``n_iter`` rounds of assignment then
    centroid update, stopping early once no objective changed from the previous round; the
    codebooks returned are those of the last update. Running the M problems together lets one
    kernel call assign every point in every sub-space (threads over sub-spaces and blocks of
    rows) and another sum every sub-space (one thread per sub-space): 2 parallel regions per
    round instead of 2M. A sub-space whose objective stopped changing is at a fixed point: the
    rounds it still runs while others converge leave its labels, hence its centroids, unchanged.

    Parameters
    ----------
    xs : ndarray (M, n, dsub), float32, C-contiguous, finite, n >= k
        Training vectors stored sub-space by sub-space (:func:`dscref._chunks.gather_subspaces`),
        already sub-sampled (faiss keeps ``256 * k`` of them).
    init : ndarray (M, k, dsub), float32
        Initial codebooks (rows of the sample in faiss and nanopq).
    n_iter : int >= 1

    Returns
    -------
    codebooks : ndarray (M, k, dsub) float32
    n_relocated : int
        Empty clusters moved onto far points (:func:`relocate_empty_clusters`, per sub-space).
    n_rounds : int
        Rounds run (<= n_iter).

    Notes
    -----
    Labels come from :func:`dscref.nearest.nearest_split` (the same on any number of threads);
    sums are float64 over the rows in order, so the codebooks do not depend on the thread count.
    """
    from ._kernels import kmeans as kern

    xs = np.ascontiguousarray(xs, dtype=np.float32)
    if xs.ndim != 3 or init.ndim != 3:
        raise ValueError(f"xs (M, n, dsub) and init (M, k, dsub) must be 3-D, got {xs.shape}, {init.shape}")
    M, n, dsub = xs.shape
    k = init.shape[1]
    if init.shape != (M, k, dsub) or n < k:
        raise ValueError(f"init of shape {init.shape} does not fit xs of shape {xs.shape} (need n >= k)")
    n_iter = check_int(n_iter, "n_iter", low=1)
    cb = np.array(init, dtype=np.float32, order="C")
    labels = np.empty((M, n), dtype=np.int32)
    dists = np.empty((M, n), dtype=np.float32)
    # the GEMM path's ||x_m||^2, once for all rounds
    xx = None if uses_direct(dsub) else subspace_sqnorms(xs.reshape(M * n, dsub), dsub).reshape(M, n)
    prev = None
    relocated = 0
    rounds = 0
    with parallel_plan(n, M * dsub, k, dsub) as parallel:
        for _ in range(n_iter):
            rounds += 1
            nearest_split(xs, cb, labels, dists, parallel, x_sqnorms=xx)
            obj = dists.sum(axis=1, dtype=np.float64)
            sums = np.zeros((M, k, dsub), dtype=np.float64)
            counts = np.zeros((M, k), dtype=np.int64)
            if parallel:
                kern.subspace_sums(xs, labels, sums, counts)
            else:  # small inputs: no parallel region (same sums: rows in order)
                for m in range(M):
                    kern.accumulate(xs[m], labels[m].astype(np.int64), sums[m], counts[m])
            nonempty = counts > 0
            cb[nonempty] = (sums[nonempty] / counts[nonempty][:, None]).astype(np.float32)
            for m in np.flatnonzero(~nonempty.all(axis=1)):
                relocated += _relocate_empty(cb[m], counts[m], xs[m], labels[m], dists[m])
            if prev is not None and np.array_equal(obj, prev):
                break
            prev = obj
    return cb, relocated, rounds


class KMeans:
    """k-means clustering (Lloyd's algorithm).

    Parameters
    ----------
    n_clusters : int
        Number of centroids k >= 1.
    n_iter : int, default 25
        Maximum number of assignment steps (faiss's ``ClusteringParameters::niter`` default,
        faiss/Clustering.h; faiss counts assignment-and-update rounds and returns the centroids
        of its last update, one update past its last assignment: ``n_iter`` rounds of faiss are
        ``n_iter + 1`` assignment steps here, or :func:`subspace_kmeans`, PQ's loop, exactly).
    tol : float, default 1e-4
        Stop when an assignment step improves the inertia by at most ``tol`` times the previous
        inertia (relative). ``tol=0`` runs exactly ``n_iter`` steps unless inertia stalls at 0.
    init : {"k-means++", "random"}, default "k-means++"
        Seeding: k-means++ (Arthur & Vassilvitskii, 2007) or k distinct random training points
        (faiss's default).
    n_init : int, default 1
        Independent runs; the one with the lowest inertia is kept.
    seed : int, numpy.random.Generator or None
        Source of all randomness (sub-sampling and seeding).
    max_points_per_centroid : int or None, default 256
        As in faiss (``Clustering::train`` -> ``subsample_training_set``, faiss/Clustering.cpp
        and faiss/impl/ClusteringHelpers.cpp): training uses a random subset of
        ``max_points_per_centroid * k`` points, drawn without replacement, when there are more.
        ``None`` uses every point.

    Attributes
    ----------
    centroids_ : ndarray (k, d) float32
    inertia_ : float
        Sum of squared distances of the training points to their nearest centroid at the last
        assignment step (the centroids returned are the ones that step used).
    inertia_history_ : list of float
        Inertia after each assignment step; never increases (up to float32 rounding).
    n_iter_ : int
        Assignment steps run.
    n_relocated_ : int
        Empty clusters relocated during training (all runs).

    Notes
    -----
    Assignment is :func:`dscref.nearest.nearest` with M = 1: direct distance loops for
    d < 64 (exact), ``||x||^2 - 2 x.c + ||c||^2`` with one BLAS product per block of rows
    above; the labels do not depend on the thread count. The update accumulates float64 sums
    over a fixed number of row chunks.
    """

    def __init__(self, n_clusters: int, n_iter: int = 25, tol: float = 1e-4, init: str = "k-means++",
                 n_init: int = 1, seed=None, max_points_per_centroid: int | None = 256):
        self.n_clusters = check_int(n_clusters, "n_clusters", low=1)
        self.n_iter = check_int(n_iter, "n_iter", low=1)
        self.tol = check_float(tol, "tol", low=0.0)
        self.init = check_choice(init, "init", {"k-means++", "random"})
        self.n_init = check_int(n_init, "n_init", low=1)
        self.seed = seed
        if max_points_per_centroid is not None:
            max_points_per_centroid = check_int(max_points_per_centroid, "max_points_per_centroid", low=1)
        self.max_points_per_centroid = max_points_per_centroid

    # ------------------------------------------------------------------ fitting
    def fit(self, x) -> "KMeans":
        """Cluster ``x`` (n, d), n >= n_clusters. Returns ``self``."""
        x = as_float_matrix(x, "x")
        n, d = x.shape
        k = self.n_clusters
        if n < k:
            raise ValueError(f"n_clusters={k} must be <= n_samples={n}")
        rng = as_generator(self.seed)
        if self.max_points_per_centroid is not None and n > self.max_points_per_centroid * k:
            m = self.max_points_per_centroid * k
            idx = np.sort(rng.choice(n, m, replace=False))
            log.debug("k-means: sub-sampling %d of %d points", m, n)
            x = gather_rows(x, idx)
        best = None
        self.n_relocated_ = 0
        with parallel_plan(x.shape[0], d, k) as parallel:
            for _ in range(self.n_init):
                run = self._single_run(x, rng, parallel)
                if best is None or run[1] < best[1]:
                    best = run
        self.centroids_, self.inertia_, self.inertia_history_, self.n_iter_ = best
        return self

    def _init_centroids(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from ._kernels import kmeans as kern

        n, k = x.shape[0], self.n_clusters
        if self.init == "random":
            return x[np.sort(rng.choice(n, k, replace=False))].copy()
        first = int(rng.integers(n))
        uniforms = rng.random(k)
        chosen = np.empty(k, dtype=np.int64)
        kern.kmeanspp_init(x, first, uniforms, chosen)
        return x[chosen].copy()

    def _single_run(self, x: np.ndarray, rng: np.random.Generator, parallel: bool = False):
        from ._kernels import kmeans as kern

        n, d = x.shape
        k = self.n_clusters
        centroids = self._init_centroids(x, rng)
        labels32 = np.empty((n, 1), dtype=np.int32)
        labels = np.empty(n, dtype=np.int64)
        dists = np.empty(n, dtype=np.float32)
        xx = None if uses_direct(d) else subspace_sqnorms(x, d)  # the GEMM path's ||x||^2
        # parallel partial sums only pay off on large inputs (a parallel region costs ~ms); the
        # chunking depends on the data only (see _UPDATE_CHUNKS), never on the thread count
        n_chunks = int(max(1, min(_UPDATE_CHUNKS, n * d // (1 << 21),
                                  _PARTIAL_SUM_BYTES // max(1, k * d * 8))))
        history: list[float] = []
        for it in range(self.n_iter):
            nearest(x, centroids[None], labels32, dists[:, None], parallel, x_sqnorms=xx)
            labels[:] = labels32[:, 0]
            inertia = float(dists.sum(dtype=np.float64))
            history.append(inertia)
            if it == self.n_iter - 1:
                break
            if it > 0 and history[-2] - inertia <= self.tol * history[-2]:
                break
            if n_chunks == 1:  # small inputs: a parallel region costs more than it saves
                sums = np.zeros((k, d), dtype=np.float64)
                counts = np.zeros(k, dtype=np.int64)
                kern.accumulate(x, labels, sums, counts)
            else:
                sums, counts = kern.accumulate_parallel(x, labels, k, n_chunks)
            nonempty = counts > 0
            centroids[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
            self.n_relocated_ += _relocate_empty(centroids, counts, x, labels, dists)
        return centroids, history[-1], history, len(history)

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            raise ValueError("this KMeans is not fitted yet: call fit(x) first")

    def predict(self, x, return_distances: bool = False):
        """Index of the nearest centroid for every row of ``x`` (n, d) -> (n,) int64.

        With ``return_distances=True`` also returns the squared distances (n,) float32.
        """
        self._check_fitted()
        x = as_float_matrix(x, "x", d=self.centroids_.shape[1], allow_empty=True)
        labels = np.empty(x.shape[0], dtype=np.int64)
        dists = np.empty(x.shape[0], dtype=np.float32) if return_distances else None
        # row chunks (multiples of the kernels' row blocks, so results do not change) bound
        # the resident pages of a memory-mapped x
        if x.shape[0]:
            with parallel_plan(*x.shape, self.centroids_.shape[0]) as parallel:
                for s in range(0, x.shape[0], 4 * CHUNK_ROWS):
                    e = min(s + 4 * CHUNK_ROWS, x.shape[0])
                    nearest(x[s:e], self.centroids_[None], labels[s:e, None],
                            None if dists is None else dists[s:e, None], parallel)
                    release_pages(x)
        return (labels, dists) if return_distances else labels

    def fit_predict(self, x) -> np.ndarray:
        """``fit(x)`` then ``predict(x)`` on all of ``x`` (not just the training sample)."""
        return self.fit(x).predict(x)
