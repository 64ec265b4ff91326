"""NumPy twins of the k-means kernels (see :mod:`dscref._kernels.kmeans`)."""

from __future__ import annotations

import numpy as np

from .nearest import nearest_direct_ref

__all__ = ["assign_ref", "update_ref", "kmeanspp_ref", "relocate_ref", "lloyd_ref", "subspace_kmeans_ref",
           "subspace_sums_ref"]


def assign_ref(x: np.ndarray, centroids: np.ndarray):
    """Nearest centroid by direct differences: argmin_j sum_d (x_d - c_jd)^2 (float64)."""
    diff = x[:, None, :].astype(np.float64) - centroids[None, :, :].astype(np.float64)
    d2 = (diff * diff).sum(-1)
    labels = d2.argmin(1)
    return labels.astype(np.int64), d2[np.arange(len(x)), labels], d2


def update_ref(x: np.ndarray, labels: np.ndarray, k: int):
    """Per-cluster float64 sums and counts."""
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, x.astype(np.float64))
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    return sums, counts


def kmeanspp_ref(x: np.ndarray, first: int, uniforms: np.ndarray) -> np.ndarray:
    """k-means++ with given randomness: next centroid where cumsum(D^2) first exceeds u * sum(D^2)."""
    n, k = x.shape[0], len(uniforms)
    xd = x.astype(np.float64)
    chosen = [first]
    mind = ((xd - xd[first]) ** 2).sum(1)
    for t in range(1, k):
        total = mind.sum()
        if total <= 0:
            pick = next(i for i in range(n) if i not in chosen)
        else:
            cums = np.cumsum(mind)
            ok = np.flatnonzero((cums > uniforms[t] * total) & (mind > 0))
            pick = int(ok[0]) if ok.size else int(np.flatnonzero(mind > 0)[-1])
        chosen.append(pick)
        mind = np.minimum(mind, ((xd - xd[pick]) ** 2).sum(1))
    return np.array(chosen, dtype=np.int64)


def relocate_ref(centroids: np.ndarray, counts: np.ndarray, x: np.ndarray, labels: np.ndarray,
                 dists: np.ndarray) -> int:
    """Empty-cluster relocation, one point at a time (in place; returns the clusters moved).

    Candidates are the points by decreasing distance to their own centroid (ties: lower index
    first). Each empty cluster, in index order, takes the next candidate whose cluster still
    holds more than one point; when none is left it takes the farthest point.
    """
    candidates = sorted(range(x.shape[0]), key=lambda i: (-float(dists[i]), i))
    empty = [c for c in range(centroids.shape[0]) if counts[c] == 0]
    pos = 0
    for e in empty:
        while pos < len(candidates) and counts[labels[candidates[pos]]] <= 1:
            pos += 1
        if pos == len(candidates):
            centroids[e] = x[candidates[0]]
            continue
        i = candidates[pos]
        pos += 1
        counts[labels[i]] -= 1
        counts[e] = 1
        centroids[e] = x[i]
    return len(empty)


def lloyd_ref(x: np.ndarray, init: np.ndarray, n_iter: int, tol: float = 0.0):
    """Plain Lloyd iterations mirroring :class:`dscref.kmeans.KMeans` (same stopping rule and
    the same empty-cluster relocation, :func:`relocate_ref`). Returns (centroids, history)."""
    c = init.astype(np.float32).copy()
    k = c.shape[0]
    history = []
    for it in range(n_iter):
        labels, dists, _ = assign_ref(x, c)
        inertia = float(dists.sum())
        history.append(inertia)
        if it == n_iter - 1:
            break
        if it > 0 and history[-2] - inertia <= tol * history[-2]:
            break
        sums, counts = update_ref(x, labels, k)
        ne = counts > 0
        c[ne] = (sums[ne] / counts[ne, None]).astype(np.float32)
        relocate_ref(c, counts, x, labels, dists.astype(np.float32))
    return c, history


def subspace_sums_ref(xs: np.ndarray, labels: np.ndarray, k: int):
    """Per sub-space float64 sums (M, k, dsub) of xs (M, n, dsub), added in row order, and the
    counts (M, k) of labels (M, n)."""
    M, n, dsub = xs.shape
    sums = np.zeros((M, k, dsub))
    counts = np.zeros((M, k), dtype=np.int64)
    for m in range(M):
        np.add.at(sums[m], labels[m], xs[m].astype(np.float64))
        counts[m] = np.bincount(labels[m], minlength=k)
    return sums, counts


def subspace_kmeans_ref(xs: np.ndarray, init: np.ndarray, n_iter: int):
    """faiss's training loop in every sub-space, as :func:`dscref.kmeans.subspace_kmeans`:
    rounds of (direct-distance assignment, float64 mean update, relocation of empty clusters)
    until ``n_iter`` rounds or an unchanged objective. xs (M, n, dsub). Returns (codebooks, rounds)."""
    cb = init.astype(np.float32).copy()
    M, k, dsub = cb.shape
    n = xs.shape[1]
    x2 = xs.transpose(1, 0, 2).reshape(n, M * dsub)
    prev = None
    for it in range(n_iter):
        labels, dists = nearest_direct_ref(x2, cb)
        labels, dists = np.ascontiguousarray(labels.T), np.ascontiguousarray(dists.T)  # (M, n)
        obj = dists.sum(axis=1, dtype=np.float64)
        sums, counts = subspace_sums_ref(xs, labels, k)
        for m in range(M):
            ne = counts[m] > 0
            cb[m, ne] = (sums[m, ne] / counts[m, ne, None]).astype(np.float32)
            if not ne.all():
                relocate_ref(cb[m], counts[m], xs[m], labels[m], dists[m])
        if prev is not None and np.array_equal(obj, prev):
            return cb, it + 1
        prev = obj
    return cb, n_iter
