"""DUC-IMI: the inverted multi-index with one shared residual PQ.

Babenko & Lempitsky, "The inverted multi-index", CVPR 2012 / IEEE TPAMI 37(6), 2015 (ref. [10]
of Wang & Qi). The vector is split into two halves ``x = [x^1, x^2]``; each half gets its own
k-means codebook of K centroids, and the K² pairs are the cells of the index. A query visits the
cells in increasing order of ``||q^1 - c^1_i||² + ||q^2 - c^2_j||²`` without sorting all K² sums:
the *multi-sequence algorithm* walks the two sorted distance lists with a priority queue.

In Wang & Qi's DUC scheme the head holds the first cells of that order (Fig. 2 needs up to 200
of them for the IMI, versus 5 for DSC).
"""

from __future__ import annotations

import heapq
import logging

import numpy as np

from .._validate import as_generator, check_int
from ..kmeans import KMeans
from .._chunks import CHUNK_ROWS, gather_rows, release_pages
from . import _state
from .base import InvertedPQIndex

__all__ = ["IMIIndex", "multi_sequence"]

log = logging.getLogger(__name__)


def multi_sequence(d1: np.ndarray, d2: np.ndarray, n_out: int, accept: np.ndarray | None = None) -> np.ndarray:
    """Cells ``i * K2 + j`` in increasing order of ``d1[i] + d2[j]`` (multi-sequence algorithm).

    Parameters
    ----------
    d1 : ndarray (K1,) float64
        Distances of the query's first half to the first codebook.
    d2 : ndarray (K2,) float64
        Distances of the second half to the second codebook.
    n_out : int
        How many cells to return (fewer if the K1*K2 cells run out).
    accept : ndarray (K1 * K2,) bool, optional
        Only cells with ``accept[cell]`` are returned; the others are traversed and skipped
        (used to leave empty cells out of a head).

    Returns
    -------
    ndarray (<= n_out,) int64, cell ids, nearest first; ties broken by position in the sorted
    lists (then by the lower position in the first list).

    Notes
    -----
    Algorithm 1 of Babenko & Lempitsky (2012). With ``u = argsort(d1)`` and ``v = argsort(d2)``,
    the pair of positions ``(a, b)`` has sum ``d1[u_a] + d2[v_b]``, non-decreasing in ``a`` and
    ``b``. A heap holds the frontier; after popping ``(a, b)`` its successor ``(a+1, b)`` is
    pushed once ``(a+1, b-1)`` has been popped (or ``b = 0``), and ``(a, b+1)`` once
    ``(a-1, b+1)`` has been popped (or ``a = 0``). Each pair enters the heap exactly once, all
    of its predecessors come out before it, so pops are in sorted order. Cost
    O(T log T) for T traversed cells, against O(K1 K2) to sort everything.
    """
    k1, k2 = d1.shape[0], d2.shape[0]
    u = np.argsort(d1, kind="stable")
    v = np.argsort(d2, kind="stable")
    s1 = np.asarray(d1, dtype=np.float64)[u]
    s2 = np.asarray(d2, dtype=np.float64)[v]
    popped = np.zeros((k1, k2), dtype=bool)
    heap = [(s1[0] + s2[0], 0, 0)]
    out: list[int] = []
    while heap and len(out) < n_out:
        _, a, b = heapq.heappop(heap)
        popped[a, b] = True
        cell = int(u[a]) * k2 + int(v[b])
        if accept is None or accept[cell]:
            out.append(cell)
        if a + 1 < k1 and (b == 0 or popped[a + 1, b - 1]):
            heapq.heappush(heap, (s1[a + 1] + s2[b], a + 1, b))
        if b + 1 < k2 and (a == 0 or popped[a - 1, b + 1]):
            heapq.heappush(heap, (s1[a] + s2[b + 1], a, b + 1))
    return np.asarray(out, dtype=np.int64)


class IMIIndex(InvertedPQIndex):
    """Inverted multi-index (K² cells from two half-space codebooks) + one shared residual PQ.

    Parameters
    ----------
    n_centroids_per_half : int, default 32
        K, centroids of each half codebook. The index has K² cells (1024 for K=32), so a head
        entry takes ``ceil(log2 K²)`` bits (10, like DSC's 1000 labels).
    M, nbits, n_iter, seed, keep_vectors
        See :class:`dscref.index.base.InvertedPQIndex`.
    coarse_iter : int, default 20
        k-means iterations of each half codebook.
    skip_empty : bool, default True
        Leave empty cells out of the head built by :meth:`head`. The head is what the device
        transmits, so an empty cell would spend ``label_bits`` (and an M-byte code) on nothing;
        with K² cells most are empty on a small database. The device needs one bit per cell
        (the occupancy mask) to do this; pass ``False`` for the plain multi-sequence order.

    Attributes
    ----------
    codebook1_, codebook2_ : ndarray (K, d/2) float32, the half codebooks
    centroids_ : ndarray (K², d) float32, cell ``i*K + j`` has centroid ``[c^1_i, c^2_j]``
    nonempty_ : ndarray (K²,) bool, occupancy of each cell

    Notes
    -----
    A database vector goes to cell ``(argmin_i ||x^1 - c^1_i||², argmin_j ||x^2 - c^2_j||²)``,
    which is also its nearest cell centroid since the squared distance splits over the halves.
    Its residual ``x - [c^1_i, c^2_j]`` is encoded by one PQ shared by all cells (the
    "multi-ADC" of Babenko & Lempitsky), and scored by eqs. (14)-(15) of Wang & Qi like every
    other list of :class:`~dscref.index.base.InvertedPQIndex`.
    """

    kind = "imi"
    _v2_renames = {"K": "n_centroids_per_half"}

    def __init__(self, n_centroids_per_half: int = 32, M: int = 8, nbits: int = 8, n_iter: int = 25, seed=None,
                 keep_vectors: bool = False, coarse_iter: int = 20, skip_empty: bool = True):
        super().__init__(M=M, nbits=nbits, n_iter=n_iter, seed=seed, keep_vectors=keep_vectors)
        self.n_centroids_per_half = check_int(n_centroids_per_half, "n_centroids_per_half", low=1)
        self.coarse_iter = check_int(coarse_iter, "coarse_iter", low=1)
        if not isinstance(skip_empty, (bool, np.bool_)):
            raise TypeError(f"skip_empty must be a bool, got {skip_empty!r}")
        self.skip_empty = bool(skip_empty)

    @property
    def K(self) -> int:
        """Alias of :attr:`n_centroids_per_half` (the multi-index papers' K), kept for code
        written before the names were unified."""
        return self.n_centroids_per_half

    @K.setter
    def K(self, value) -> None:
        self.n_centroids_per_half = value

    @property
    def label_bits(self) -> int:
        """Bits of one head entry: ``ceil(log2 K²)``."""
        return max(1, int(np.ceil(np.log2(self.n_centroids_per_half ** 2))))

    def _planned_lists(self) -> int:
        return self.n_centroids_per_half ** 2

    def _check_fit_input(self, x, labels):
        x, _ = super()._check_fit_input(x, labels)
        n, d = x.shape
        if d % 2:
            raise ValueError(f"the inverted multi-index splits vectors in two halves: d={d} must be even")
        if n < self.n_centroids_per_half:
            raise ValueError(f"n_centroids_per_half={self.n_centroids_per_half} must be <= n_samples={n}")
        return x, None

    def _fit(self, x, labels):
        """``train(x)``: both half codebooks on ``x`` (n, d) float32, then the residual PQ.

        ``d`` must be even (two halves) and divisible by M. ``labels`` is ignored (DUC is
        unsupervised); it is accepted so every index trains and builds with the same call.
        """
        n, d = x.shape
        K = self.n_centroids_per_half
        rng = as_generator(self.seed)
        h = d // 2
        kms = []
        for half in (slice(0, h), slice(h, d)):
            # the sub-sample KMeans would draw (same rng calls, so the result is unchanged),
            # gathered here so neither half of the database is ever copied whole
            m = 256 * K
            if n > m:
                xs = gather_rows(x, np.sort(rng.choice(n, m, replace=False)))[:, half]
            else:
                xs = np.asarray(x[:, half], dtype=np.float32)
            kms.append(KMeans(K, n_iter=self.coarse_iter, init="random", seed=rng,
                              max_points_per_centroid=None).fit(np.ascontiguousarray(xs)))
        self.codebook1_, self.codebook2_ = kms[0].centroids_, kms[1].centroids_
        self.centroids_ = np.concatenate(
            [np.repeat(self.codebook1_, K, axis=0), np.tile(self.codebook2_, (K, 1))], axis=1)
        assign = self._prepare_rows(x, None)[0]
        sample = rng.choice(n, min(n, 256 * (1 << self.nbits)), replace=False)
        self.pqs_ = [self._train_pq(gather_rows(x, sample) - self.centroids_[assign[sample]], rng)]
        self.list_pq_ = np.zeros(K * K, dtype=np.int64)
        log.info("IMI: %d x %d = %d cells, %d hold training rows", K, K, K * K,
                 np.unique(assign).size)
        return assign, assign

    def _prepare_rows(self, x, labels):
        """Cell ``i*K + j`` of every row: nearest centroid of each half codebook."""
        n, h = x.shape[0], x.shape[1] // 2
        K = self.n_centroids_per_half
        halves = []
        for cb in (self.codebook1_, self.codebook2_):
            km = KMeans(K)
            km.centroids_ = cb  # predict needs only the centroids
            halves.append(km)
        assign = np.empty(n, dtype=np.int64)
        for s in range(0, n, CHUNK_ROWS):
            blk = np.asarray(x[s:s + CHUNK_ROWS], dtype=np.float32)
            assign[s:s + CHUNK_ROWS] = (halves[0].predict(np.ascontiguousarray(blk[:, :h])) * K
                                        + halves[1].predict(np.ascontiguousarray(blk[:, h:])))
            release_pages(x)
        return assign, assign

    def _codebook_arrays(self) -> list:
        """The two half codebooks (the K² cell centroids are their pairs) and the residual PQ."""
        return [self.codebook1_, self.codebook2_] + [pq.codebooks_ for pq in self.pqs_]

    def _store_groups(self, offsets, items):
        super()._store_groups(offsets, items)
        self.nonempty_ = np.diff(self.offsets_) > 0

    def _check_state(self) -> None:
        """Base checks, then: K^2 cells whose centroids are the pairs of the two half
        codebooks, the occupancy mask, one shared quantizer."""
        super()._check_state()
        K = _state.integer(self, "n_centroids_per_half", low=1)
        _state.integer(self, "coarse_iter", low=1)
        _state.flag(self, "skip_empty")
        _state.single_quantizer(self)
        d = self.d_
        _state.need(d % 2 == 0 and self.n_lists == K * K,
                    f"an IMI with K={K} has K^2 = {K * K} cells of even dimension, got centroids_ of "
                    f"shape {self.centroids_.shape}")
        h = d // 2
        cb1 = _state.array(self, "codebook1_", np.float32, (K, h))
        cb2 = _state.array(self, "codebook2_", np.float32, (K, h))
        _state.finite(cb1, "codebook1_")
        _state.finite(cb2, "codebook2_")
        cells = self.centroids_.reshape(K, K, d)  # cell i*K + j = [c^1_i, c^2_j]
        _state.need(bool((cells[:, :, :h] == cb1[:, None]).all() and (cells[:, :, h:] == cb2[None]).all()),
                    "centroids_ are not the pairs [codebook1_[i], codebook2_[j]] of the half codebooks")
        mask = _state.array(self, "nonempty_", np.bool_, (K * K,))
        _state.need(bool((mask == (self.offsets_[1:] > self.offsets_[:-1])).all()),
                    "nonempty_ does not match the list sizes of offsets_")

    def _half_distances(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = q.shape[0] // 2
        q64 = q.astype(np.float64)
        d1 = ((self.codebook1_.astype(np.float64) - q64[:h]) ** 2).sum(1)
        d2 = ((self.codebook2_.astype(np.float64) - q64[h:]) ** 2).sum(1)
        return d1, d2

    def traverse(self, q, n_cells: int, skip_empty: bool = False) -> np.ndarray:
        """The first ``n_cells`` cells for query ``q`` (d,) in multi-sequence order.

        Returns ndarray (<= n_cells,) int64 of cell ids ``i*K + j``, nearest first. With
        ``skip_empty`` the empty cells are passed over (so the result may be shorter only when
        fewer non-empty cells exist).
        """
        q = self._as_query_vector(q)
        n_cells = check_int(n_cells, "n_cells", low=1)
        d1, d2 = self._half_distances(q)
        return multi_sequence(d1, d2, n_cells, self.nonempty_ if skip_empty else None)

    def head(self, q, n_probe):
        """The first ``n_probe`` cells of the multi-sequence order (non-empty only if
        :attr:`skip_empty`)."""
        d1, d2 = self._half_distances(q)
        return multi_sequence(d1, d2, n_probe, self.nonempty_ if self.skip_empty else None)
