"""DUC-IVF: k-means inverted file with residual PQ (IVFADC).

Sivic & Zisserman, "Video Google", ICCV 2003 (inverted file); Jégou, Douze & Schmid, TPAMI 2011
(IVFADC: residuals to the coarse centroid encoded by one shared PQ, as faiss ``IndexIVFPQ``).
In Wang & Qi's DUC scheme the head holds the 5 coarse centroids nearest to the query.
"""

from __future__ import annotations

import numpy as np

from .._validate import as_generator, check_int
from ..kmeans import KMeans
from ..scoring import topk
from . import _state
from .base import InvertedPQIndex

__all__ = ["IVFIndex"]


class IVFIndex(InvertedPQIndex):
    """k-means coarse quantizer (K lists) + one residual PQ shared by all lists.

    Parameters
    ----------
    n_lists : int, default 1000
        K coarse centroids (the paper's DUC uses the same K as DSC's label count).
    M, nbits, n_iter, seed, keep_vectors
        See :class:`dscref.index.base.InvertedPQIndex`.
    coarse_iter : int, default 20
        k-means iterations of the coarse quantizer.

    Notes
    -----
    Training runs, from one generator: the coarse k-means on ``x``, a draw of
    ``min(n, 256 * 2**nbits)`` training rows, then :meth:`_fit_groups` (nothing here; IVF+G+P's
    sub-regions) and the residual PQ on the drawn rows (:meth:`_fit_residual_pq`). Subclasses
    that split the lists further (:class:`~dscref.index.gp.GPIndex`) override those two steps
    and :meth:`_groups`.
    """

    kind = "ivf"
    _v2_renames = {"K": "_n_lists"}
    _min_lists = 1

    def __init__(self, n_lists: int = 1000, M: int = 8, nbits: int = 8, n_iter: int = 25, seed=None,
                 keep_vectors: bool = False, coarse_iter: int = 20):
        super().__init__(M=M, nbits=nbits, n_iter=n_iter, seed=seed, keep_vectors=keep_vectors)
        self._n_lists = check_int(n_lists, "n_lists", low=self._min_lists)
        self.coarse_iter = check_int(coarse_iter, "coarse_iter", low=1)

    @property
    def label_bits(self) -> int:
        return max(1, int(np.ceil(np.log2(self._n_lists))))

    def _check_fit_input(self, x, labels):
        x, _ = super()._check_fit_input(x, labels)
        if x.shape[0] < self._n_lists:
            raise ValueError(f"n_lists={self._n_lists} must be <= n_samples={x.shape[0]}")
        return x, None

    def _fit(self, x, labels):
        """``train(x)``: cluster ``x`` (n, d) into K cells, train the residual PQ on a sample of
        the residuals. ``labels`` is ignored (DUC is unsupervised); it is accepted so every
        index trains and builds with the same call."""
        rng = as_generator(self.seed)
        self.coarse_ = KMeans(self._n_lists, n_iter=self.coarse_iter, init="random", seed=rng).fit(x)
        self.centroids_ = self.coarse_.centroids_
        assign = self.coarse_.predict(x)
        sample = rng.choice(x.shape[0], min(x.shape[0], 256 * (1 << self.nbits)), replace=False)
        self._fit_groups(x, assign, sample)
        key = self._groups(x, assign)
        self.pqs_ = [self._fit_residual_pq(x, assign, key, sample, rng)]
        self.list_pq_ = np.zeros(self.n_lists, dtype=np.int64)
        return assign, key

    def _fit_groups(self, x: np.ndarray, assign: np.ndarray, sample: np.ndarray) -> None:
        """Learn what splits the cells into groups, from the cells ``assign`` of the rows of ``x``
        and the drawn rows ``sample`` (IVF: nothing, a group is a cell)."""

    def _groups(self, x: np.ndarray, assign: np.ndarray) -> np.ndarray:
        """The group of every row of ``x`` in cells ``assign`` (IVF: the cell)."""
        return assign

    def _fit_residual_pq(self, x, assign, key, sample, rng):
        """The shared residual PQ, trained on the drawn rows' residuals to their cell centroids."""
        return self._train_pq_on_rows(x, sample, assign[sample], rng)

    def _prepare_rows(self, x, labels):
        assign = self.coarse_.predict(x)
        return assign, self._groups(x, assign)

    def _check_state(self) -> None:
        """Base checks, then: K lists, one shared quantizer, the coarse quantizer."""
        super()._check_state()
        K = _state.list_count(self, low=self._min_lists)
        _state.integer(self, "coarse_iter", low=1)
        _state.single_quantizer(self)
        _state.kmeans(self, "coarse_", K, self.d_)

    def head(self, q, n_probe):
        """The ``n_probe`` coarse centroids nearest to ``q`` (nearest first)."""
        d = ((self.centroids_ - q) ** 2).sum(1)
        return topk(d.astype(np.float32), min(n_probe, self.n_lists))[1]
