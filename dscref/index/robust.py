"""An inverted index made robust to bit errors: robust index assignment of its codebooks and
head labels, and its soft-decision search.

:func:`make_index_robust` applies the pseudo-Gray assignment of :mod:`dscref.assignment` to
every product quantizer of an index (error-free search bit-exact unchanged);
:func:`robust_label_order` orders the head labels the same way (a :class:`LabelOrder`, applied
around the codec); :func:`soft_search` searches one query from the LLRs of its codes
(soft-decision ADC, :mod:`dscref.soft`). :mod:`dscref.experiments_robust` compares the variants
by mAP over a noisy channel. Not imported by :mod:`dscref.index`; the old path
:mod:`dscref.robust` re-exports everything.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from .._validate import as_generator, as_int_array, as_llr, check_int
from ..assignment import (apply_permutation, check_flip_probability, distance_table, error_patterns,
                          optimise_assignment, permute_codes, robust_permutation)
from ..errors import ReadOnlyIndexError
from ..pq import MAX_TABLE_NBITS
from ..query import Query, check_labels
from ..soft import hard_codes
from .base import InvertedPQIndex, SearchResult

__all__ = ["make_index_robust", "LabelOrder", "robust_label_order", "soft_search"]


def _check_index(index) -> InvertedPQIndex:
    if not isinstance(index, InvertedPQIndex):
        raise TypeError(f"expected a dscref InvertedPQIndex, got {type(index).__name__}")
    index._check_built()
    return index


def make_index_robust(index, p: float = 0.01, order: int | None = 2, n_iter: int | None = None,
                      seed=0, n_restarts: int = 1, inplace: bool = False):
    """Apply a robust index assignment to every product quantizer of an inverted index.

    For each quantizer of ``index.pqs_`` the permutation of :func:`robust_permutation` is
    computed with the centroid usage frequencies of the stored codes as weights; the codebooks
    are reordered, the stored codes remapped and the lookup tables permuted.

    Parameters
    ----------
    index : InvertedPQIndex, built
    p, order, n_iter, seed, n_restarts
        See :func:`robust_permutation`.
    inplace : bool, default False
        Modify ``index`` itself instead of a deep copy. Refused up front with
        :class:`~dscref.errors.ReadOnlyIndexError` when an array it modifies in place
        (``codes_``, ``cr_``) is read-only, as every array of a memory-mapped
        :func:`~dscref.io.load_index` is; ``inplace=False`` works on any index. Either way the
        conversion is all or nothing: everything is computed before the index is touched.

    Returns
    -------
    InvertedPQIndex with ``robust_perms_`` (list of (M, ksub) int64, one per quantizer) and
    ``robust_p_``.

    Notes
    -----
    Error-free search is bit-exact unchanged: the per-codeword tables of ``_prepare_tables``
    (``sub_norm2_``, ``cr_``) are permuted exactly instead of recomputed (BLAS could round a
    moved entry differently); ``cnorm2_`` and ``db_norm2_`` do not depend on indices. A query's
    rows are computed from the permuted codebooks, one dot product per codeword whose value
    does not depend on the codeword's position (tested).
    """
    index = _check_index(index)
    robust_p = check_flip_probability(p)
    if inplace:
        # the two arrays changed in place (quantizers and sub_norm2_ tables are replaced)
        frozen = [name for name in ("codes_", "cr_") if not getattr(index, name).flags.writeable]
        if frozen:
            raise ReadOnlyIndexError(
                f"make_index_robust(inplace=True) would modify {', '.join(frozen)} of this "
                f"{type(index).__name__}, which are read-only (a memory-mapped load_index?); nothing "
                f"was changed. Use inplace=False (a converted in-memory copy), or load_index(path, "
                f"mmap=False) and save_index the result")
    else:
        index = copy.deepcopy(index)
    # compute everything first, assign only at the end: an exception midway leaves index unchanged
    sizes = np.diff(index.offsets_)
    row_pq = np.repeat(index.list_pq_, sizes)
    ar = np.arange(index.M)[:, None]
    new_pqs, new_sub, perms, code_blocks, cr_blocks = [], [], [], [], []
    for pid, pq in enumerate(index.pqs_):
        rows = np.flatnonzero(row_pq == pid)
        ksub = pq.ksub
        w = np.zeros((index.M, ksub))
        for m in range(index.M):
            w[m] = np.bincount(index.codes_[rows, m], minlength=ksub)
        perm = robust_permutation(pq, p, weights=w, seed=seed, n_iter=n_iter, order=order,
                                  n_restarts=n_restarts)
        inv = np.argsort(perm, axis=1)
        new_pqs.append(apply_permutation(pq, perm))
        if rows.size:
            code_blocks.append((rows, permute_codes(index.codes_[rows], perm)))
        new_sub.append(np.ascontiguousarray(index.sub_norm2_[pid][ar, inv]))
        lists = np.flatnonzero(index.list_pq_ == pid)
        if lists.size:
            cr_blocks.append((lists, index.cr_[lists][:, ar, inv]))
        perms.append(perm)
    for rows, block in code_blocks:  # writable (checked above) and precomputed: cannot fail
        index.codes_[rows] = block
    for lists, block in cr_blocks:
        index.cr_[lists] = block
    index.pqs_[:] = new_pqs
    index.sub_norm2_[:] = new_sub
    index.robust_perms_ = perms
    index.robust_p_ = robust_p
    return index


class LabelOrder(NamedTuple):
    """A robust assignment of head labels to transmitted label codes.

    ``forward[label]`` is the code sent for ``label``; ``inverse[code]`` the label of a received
    code. Both are permutations of ``0..K-1``, so transmitted codes stay valid labels (< K) and
    the codec's policies for invalid (>= K) and repeated labels apply unchanged.

    Use with the codec::

        order = robust_label_order(index)
        buf = encode_payload(order.encode_query(query), layout)   # before the channel
        q, report = decode_payload(buf_received, layout)            # after the channel
        q = order.decode_query(q)                                   # then index.search(q)
    """

    forward: np.ndarray
    inverse: np.ndarray

    def _checked(self) -> tuple[np.ndarray, np.ndarray]:
        """(forward, inverse), or raise if they are not inverse permutations of 0..K-1."""
        f, i = self.forward, self.inverse
        for name, a in (("forward", f), ("inverse", i)):
            if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != 1 or a.size == 0:
                raise TypeError(f"LabelOrder.{name} must be a non-empty 1-D integer array, got "
                                f"{a.dtype if isinstance(a, np.ndarray) else type(a).__name__}")
        K = f.size
        if i.size != K or f.min() < 0 or f.max() >= K or i.min() < 0 or i.max() >= K \
                or not np.array_equal(i[f], np.arange(K)):
            raise ValueError("LabelOrder.forward and .inverse must be inverse permutations of 0..K-1")
        return f, i

    def to_codes(self, labels) -> np.ndarray:
        """Transmitted codes of ``labels`` (any shape, values in [0, K))."""
        f, _ = self._checked()
        return f[as_int_array(labels, "labels", ndim=np.ndim(labels), low=0, high=f.size)]

    def to_labels(self, codes) -> np.ndarray:
        """Labels of received codes (values in [0, K))."""
        _, i = self._checked()
        return i[as_int_array(codes, "codes", ndim=np.ndim(codes), low=0, high=i.size)]

    def encode_query(self, query: Query) -> Query:
        """The query with its head labels replaced by their transmitted codes (apply before
        :func:`dscref.codec.encode_payload`)."""
        return _replace_labels(query, self.to_codes(_as_query(query).labels))

    def decode_query(self, query: Query) -> Query:
        """Invert :meth:`encode_query` on a decoded query (apply after
        :func:`dscref.codec.decode_payload`)."""
        return _replace_labels(query, self.to_labels(_as_query(query).labels))


def _as_query(query) -> Query:
    if not isinstance(query, Query):
        raise TypeError(f"expected a dscref Query, got {type(query).__name__}")
    return query


def _replace_labels(query: Query, labels) -> Query:
    return Query(labels=labels, codes=query.codes, vector=query.vector, info=dict(query.info),
                 code_llr=query.code_llr)


def robust_label_order(index, p: float = 0.01, weights=None, order: int | None = 2,
                       n_iter: int | None = None, seed=0, n_restarts: int = 1) -> LabelOrder:
    """Order the K head labels so that Hamming-close label codes name nearby partitions.

    Parameters
    ----------
    index : InvertedPQIndex with a head (``label_bits >= 1``), built
    p, order, n_iter, seed, n_restarts
        See :func:`robust_permutation` (``n_iter`` default ``10 * K``).
    weights : ndarray (K,), optional
        Label frequencies; default the partition sizes (all ones if the index is empty).

    Returns
    -------
    LabelOrder ``(forward, inverse)``, int64 arrays of shape (K,).

    Notes
    -----
    Same objective and optimiser as :func:`robust_permutation` with the K partition centroids
    as codewords and distances ``S[i, j] = ||c^i - c^j||^2`` on ``label_bits``-bit codes. Codes
    ``K .. 2**label_bits - 1`` are invalid labels (dropped by the codec); they stay in place and
    only the K valid codes are permuted. An error landing on an invalid code costs the
    weighted mean distance between partitions (a lost partition is as bad as a random one).
    """
    index = _check_index(index)
    bits = int(getattr(index, "label_bits", 0))
    if bits < 1:
        raise ValueError(f"{type(index).__name__} has no head (label_bits={bits}); nothing to order")
    if bits > MAX_TABLE_NBITS:
        raise ValueError(f"ordering {1 << bits} label codes needs a ({1 << bits}, {1 << bits}) distance table; "
                         f"label_bits={bits} is above the supported {MAX_TABLE_NBITS}")
    p = check_flip_probability(p)
    K = index.n_lists
    n = 1 << bits
    if weights is None:
        w = np.diff(index.offsets_).astype(np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (K,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weights must be ({K},) finite and non-negative, got shape {w.shape}")
    w = w / w.sum() if w.sum() > 0 else np.full(K, 1.0 / K)
    Sk = distance_table(index.centroids_)
    S = np.zeros((n, n))
    S[:K, :K] = Sk
    S[:K, K:] = S[K:, :K] = float(w @ Sk @ w) / max(float(1.0 - (w ** 2).sum()), 1e-300)
    wf = np.zeros(n)
    wf[:K] = w
    pats, probs = error_patterns(bits, p, order)
    n_iter = 10 * K if n_iter is None else check_int(n_iter, "n_iter", low=0)
    inv, _ = optimise_assignment(S, wf, pats, probs, K, n_iter, check_int(n_restarts, "n_restarts", low=1),
                                 as_generator(seed))
    inverse = inv[:K].copy()
    forward = np.empty(K, dtype=np.int64)
    forward[inverse] = np.arange(K)
    return LabelOrder(forward=forward, inverse=inverse)


def soft_search(index, head_labels, code_llrs, k: int = 100, metric: str = "l2") -> SearchResult:
    """Search one query from its head labels and the LLRs of its codes (soft-decision ADC).

    Parameters
    ----------
    index : InvertedPQIndex
    head_labels : array (h,) int
    code_llrs : ndarray (h, M * nbits) float
        Bit LLRs of each head entry's code, in payload order.
    k : int
    metric : {"l2", "cosine"}

    Returns
    -------
    SearchResult, as :meth:`InvertedPQIndex.search`. See ``Query.code_llr`` and :mod:`dscref.soft`.
    """
    index = _check_index(index)
    labels = check_labels(head_labels, index.n_lists, "head_labels")
    llr = as_llr(code_llrs, "code_llrs", index.M * index.nbits, ndim=2)
    if llr.shape[0] != labels.size:
        raise ValueError(f"code_llrs has {llr.shape[0]} rows for {labels.size} head labels")
    q = Query(labels=labels, codes=hard_codes(llr, index.M, index.nbits), code_llr=llr)
    return index.search(q, k=k, metric=metric)
