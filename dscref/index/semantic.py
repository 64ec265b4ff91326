"""The semantic inverted index of Deep Semantic Coding (DSC), Wang & Qi, section II.

The database is partitioned by classifier label: image D goes to partition
``i = argmax_i p`` with ``p = M_c(D)`` (eqs. 1-2). Each partition's codeword is its mean
(eq. 3, the minimiser of the summed squared distances) and its residuals ``d - c^i`` get a
product quantizer of their own (eqs. 4-6). A query's head is the classifier's top-5 labels
(eq. 11) -- computed on the device, not from the feature -- so :meth:`SemanticIndex.head`
cannot be derived from ``q`` and callers pass ``top_labels`` to ``encode_query``.
"""

from __future__ import annotations

import numpy as np

from .._chunks import release_pages
from .._validate import as_generator, as_int_array, check_int, renamed_keyword
from . import _state
from ._quantizers import check_pq_options, fit_residual_pqs, state_pq_options
from .base import InvertedPQIndex

__all__ = ["SemanticIndex"]


class SemanticIndex(InvertedPQIndex):
    """DSC: one list per classifier label, per-partition residual PQ.

    Parameters
    ----------
    n_lists : int, default 1000
        K, the number of lists: one per classifier label (ImageNet-1k: 1000). Head entries
        need ``ceil(log2 K)`` bits each (10 for K=1000).
    M, nbits, n_iter, seed, keep_vectors
        See :class:`dscref.index.base.InvertedPQIndex`.
    pq_per_list : bool, default True
        One residual PQ per partition (the paper's eqs. 4-6) or, ``False``, one PQ shared by
        all partitions as in IVFADC (an ablation: DSC with the capacity of DUC-IVF+PQ). The
        rule is :mod:`dscref.index._quantizers`, the same as :class:`~dscref.index.ivf.IVFIndex`'s.
    min_partition_size : int, optional
        Per-list mode: partitions with fewer training rows than this (default ``2**nbits``)
        share one residual PQ trained on all their residuals pooled, instead of an own PQ
        trained on a handful of points. ``shared_pq_lists_`` records which partitions use it.
        None in shared mode (giving a value there is a ValueError).
    progress : bool, default True
        A progress bar over the per-partition quantizers.
    n_labels : int, keyword only, deprecated
        The former name of ``n_lists`` (DeprecationWarning; passing both is a TypeError).

    Attributes
    ----------
    shared_pq_lists_ : ndarray of int64, partitions using the shared quantizer ``pqs_[0]``
    """

    kind = "dsc"
    _v2_renames = {"K": "_n_lists"}
    _state_defaults = {"pq_per_list": True}  # files written before the option: one PQ per partition

    @renamed_keyword("n_labels", "n_lists")
    def __init__(self, n_lists: int = 1000, M: int = 8, nbits: int = 8, n_iter: int = 25, seed=None,
                 keep_vectors: bool = False, min_partition_size: int | None = None, progress: bool = True,
                 pq_per_list: bool = True):
        super().__init__(M=M, nbits=nbits, n_iter=n_iter, seed=seed, keep_vectors=keep_vectors)
        self._n_lists = check_int(n_lists, "n_lists", low=1)
        self.pq_per_list, self.min_partition_size = check_pq_options(pq_per_list, min_partition_size, self.nbits)
        self.progress = progress

    @property
    def label_bits(self) -> int:
        """Bits of one head entry: ``ceil(log2 K)``."""
        return max(1, int(np.ceil(np.log2(self._n_lists))))

    def _check_xl(self, x, labels):
        x = self._check_build_input(x)
        return x, self._check_row_labels(labels, x.shape[0])

    def _check_row_labels(self, labels, n: int) -> np.ndarray:
        if labels is None:
            raise TypeError("SemanticIndex needs labels: the partition (classifier top-1 label) of every row of x")
        labels = as_int_array(labels, "labels", ndim=1, low=0, high=self._n_lists)
        if labels.shape[0] != n:
            raise ValueError(f"labels has {labels.shape[0]} entries but x has {n} rows")
        return labels

    def _check_fit_input(self, x, labels):
        return self._check_xl(x, labels)

    def _check_add_input(self, x, labels):
        x, _ = super()._check_add_input(x, None)
        return x, self._check_row_labels(labels, x.shape[0])

    def _prepare_rows(self, x, labels):
        return labels, labels

    def _fit(self, x: np.ndarray, labels: np.ndarray):
        """``train(x, labels)``: learn the partition codewords and residual quantizers.

        ``c^i`` is the mean of the training rows of partition i (eq. 3; zeros for a partition
        without training rows); the residual quantizers follow ``pq_per_list``
        (:func:`dscref.index._quantizers.fit_residual_pqs`): by default each partition with at
        least ``min_partition_size`` training rows gets its own residual PQ (eqs. 4-6) and the
        others share one. The training set may be a sample of the database
        (:mod:`dscref.distributed` trains on one); :meth:`add` then encodes every item with these.
        """
        rng = as_generator(self.seed)
        n, d = x.shape
        K = self._n_lists
        counts = np.bincount(labels, minlength=K)
        # eq. (3): c^i = mean of partition i (zeros for an empty partition, never searched)
        sums = np.zeros((K, d), dtype=np.float64)
        for s in range(0, n, 65536):
            np.add.at(sums, labels[s:s + 65536], x[s:s + 65536])
            release_pages(x)
        self.centroids_ = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        self.pqs_, self.list_pq_, self.shared_pq_lists_ = fit_residual_pqs(self, x, labels, rng,
                                                                           progress=bool(self.progress))
        return labels, labels

    def encode_items(self, x, labels) -> np.ndarray:
        """Residual codes of database rows, in row order: (n, M) uint8 (uint16 for nbits > 8).

        Row ``t`` is encoded as ``x[t] - c^{labels[t]}`` with partition ``labels[t]``'s quantizer.
        A row's code depends on that row alone (not on the batch), so encoding chunks of a large
        database separately -- on other machines -- gives the codes :meth:`add` stores.
        """
        x, labels = self._check_add_input(x, labels)  # trained, same d, labels in range
        return self._encode_rows(x, np.arange(x.shape[0]), labels)

    def _check_state(self) -> None:
        """Base checks, then: one list per label (``n_lists``) and the shared-quantizer partitions."""
        super()._check_state()
        K = _state.list_count(self, what=" (one per label)")
        state_pq_options(self)
        shared = _state.array(self, "shared_pq_lists_", np.int64, (None,))
        _state.bounded(shared, "shared_pq_lists_", 0, K)
        _state.need(bool((shared[1:] > shared[:-1]).all()), "shared_pq_lists_ must be strictly increasing")
        _state.need(bool((self.list_pq_[shared] == 0).all()),
                    "the partitions of shared_pq_lists_ must use the shared quantizer pqs_[0]")

    def head(self, q, n_probe):
        raise ValueError("the DSC head is the classifier's top labels (eq. 11): pass "
                         "top_labels=... to encode_query")
