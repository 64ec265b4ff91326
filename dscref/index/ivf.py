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
from ._quantizers import check_pq_options, fit_residual_pqs, sample_rows, state_pq_options
from .base import InvertedPQIndex

__all__ = ["IVFIndex"]


class IVFIndex(InvertedPQIndex):
    """k-means coarse quantizer (K lists) + one residual PQ shared by all lists (or one per list).

    Parameters
    ----------
    n_lists : int, default 1000
        K coarse centroids (the paper's DUC uses the same K as DSC's label count).
    M, nbits, n_iter, seed, keep_vectors
        See :class:`dscref.index.base.InvertedPQIndex`.
    coarse_iter : int, default 20
        k-means iterations of the coarse quantizer.
    pq_per_list : bool, default False
        ``False``: one residual PQ shared by every cell (IVFADC, faiss ``IndexIVFPQ``).
        ``True``: one PQ per cell with at least ``min_partition_size`` training rows, the
        others sharing one -- DSC's rule (:mod:`dscref.index._quantizers`), so DUC-IVF+PQ can be
        compared with DSC+PQ at equal quantizer capacity.
    min_partition_size : int, optional
        Per-list mode only: the training rows a cell needs for its own PQ (default
        ``2**nbits``); None in shared mode (giving a value there is a ValueError).

    Notes
    -----
    Training runs, from one generator: the coarse k-means on ``x``, a draw of
    ``min(n, 256 * 2**nbits)`` training rows, then :meth:`_fit_groups` (nothing here; IVF+G+P's
    sub-regions) and the residual quantizers
    (:func:`~dscref.index._quantizers.fit_residual_pqs`: shared mode trains on the drawn rows,
    per-list mode on each cell's training rows). Subclasses that split the lists further
    (:class:`~dscref.index.gp.GPIndex`) override :meth:`_fit_groups`, :meth:`_groups` and the
    residuals' reference.
    """

    kind = "ivf"
    _v2_renames = {"K": "_n_lists"}
    # files written before the option hold one shared quantizer
    _state_defaults = {"pq_per_list": False, "min_partition_size": None}
    _min_lists = 1

    def __init__(self, n_lists: int = 1000, M: int = 8, nbits: int = 8, n_iter: int = 25, seed=None,
                 keep_vectors: bool = False, coarse_iter: int = 20, pq_per_list: bool = False,
                 min_partition_size: int | None = None):
        super().__init__(M=M, nbits=nbits, n_iter=n_iter, seed=seed, keep_vectors=keep_vectors)
        self._n_lists = check_int(n_lists, "n_lists", low=self._min_lists)
        self.coarse_iter = check_int(coarse_iter, "coarse_iter", low=1)
        self.pq_per_list, self.min_partition_size = check_pq_options(pq_per_list, min_partition_size, self.nbits)

    @property
    def label_bits(self) -> int:
        return max(1, int(np.ceil(np.log2(self._n_lists))))

    def _check_fit_input(self, x, labels):
        x, _ = super()._check_fit_input(x, labels)
        if x.shape[0] < self._n_lists:
            raise ValueError(f"n_lists={self._n_lists} must be <= n_samples={x.shape[0]}")
        return x, None

    def _fit(self, x, labels):
        """``train(x)``: cluster ``x`` (n, d) into K cells, train the residual quantizers
        (shared: on a sample of the residuals; per list: on each cell's residuals). ``labels``
        is ignored (DUC is unsupervised); it is accepted so every index trains and builds with
        the same call."""
        rng = as_generator(self.seed)
        self.coarse_ = KMeans(self._n_lists, n_iter=self.coarse_iter, init="random", seed=rng).fit(x)
        self.centroids_ = self.coarse_.centroids_
        assign = self.coarse_.predict(x)
        sample = sample_rows(x.shape[0], self.nbits, rng)
        self._fit_groups(x, assign, sample)
        key = self._groups(x, assign)
        self.pqs_, self.list_pq_, _ = fit_residual_pqs(self, x, assign, rng, key=key, sample=sample)
        return assign, key

    def _fit_groups(self, x: np.ndarray, assign: np.ndarray, sample: np.ndarray) -> None:
        """Learn what splits the cells into groups, from the cells ``assign`` of the rows of ``x``
        and the drawn rows ``sample`` (IVF: nothing, a group is a cell)."""

    def _groups(self, x: np.ndarray, assign: np.ndarray) -> np.ndarray:
        """The group of every row of ``x`` in cells ``assign`` (IVF: the cell)."""
        return assign

    def _prepare_rows(self, x, labels):
        assign = self.coarse_.predict(x)
        return assign, self._groups(x, assign)

    def _check_state(self) -> None:
        """Base checks, then: K lists, the quantizer options (shared mode: one quantizer), the
        coarse quantizer."""
        super()._check_state()
        K = _state.list_count(self, low=self._min_lists)
        _state.integer(self, "coarse_iter", low=1)
        state_pq_options(self)
        _state.kmeans(self, "coarse_", K, self.d_)

    def head(self, q, n_probe):
        """The ``n_probe`` coarse centroids nearest to ``q`` (nearest first)."""
        d = ((self.centroids_ - q) ** 2).sum(1)
        return topk(d.astype(np.float32), min(n_probe, self.n_lists))[1]
