"""Shared machinery of every inverted index: inverted lists, residual PQ, query encoding, search.

An inverted index splits the database into lists (DSC: classifier partitions; DUC: k-means cells,
multi-index cells, ...). Every list ``i`` has a centroid ``c^i`` and a residual product quantizer
``R^i`` (Wang & Qi, eqs. 3-6). A database vector ``d`` in list ``i`` is stored as the PQ code of
``d - c^i``; the edge device sends a *head* naming ``h`` lists and, for each, the PQ code of
``q - c^i`` under that list's quantizer (eqs. 11-12). The server reconstructs
``q_hat^i = c^i + [r_1^{i,q} .. r_M^{i,q}]`` (eq. 13) and ranks the candidates of the named lists
by eq. (14) (L2) or eq. (15) (cosine), using lookup tables only.

Subclasses decide how vectors are assigned to lists and how a query's head is chosen
(:meth:`_assign_lists`, :meth:`head`), and which quantizer each list uses.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Sequence

import numpy as np

from .._chunks import CHUNK_ROWS, gather_residuals, gather_rows
from .._validate import as_float_matrix, as_float_vector, check_choice, check_int, check_k, max_feature_abs
from ..errors import IndexFormatError
from ..pq import ProductQuantizer
from ..query import Query, check_labels, check_query
from . import _state
from ._lifecycle import IndexLifecycle

__all__ = ["Query", "SearchResult", "InvertedPQIndex"]

log = logging.getLogger(__name__)


def _as_query_list(queries) -> list:
    """A sequence of queries as a list; anything else is a TypeError naming it."""
    try:
        return list(queries)
    except TypeError:
        raise TypeError(f"queries must be a dscref Query or a sequence of them, got "
                        f"{type(queries).__name__}") from None


class SearchResult(NamedTuple):
    """``(D, I, n_candidates)``: scores (nq, k) float32, ids (nq, k) int64 padded with -1 and
    +inf (L2) / -inf (cosine), and the number of database items scanned per query (nq,) int64."""

    D: np.ndarray
    I: np.ndarray  # noqa: E741 - faiss's name
    n_candidates: np.ndarray


METRICS = {"l2", "cosine"}


class InvertedPQIndex(IndexLifecycle):
    """Base class: inverted lists of residual PQ codes. Not used directly.

    faiss-style life cycle (:mod:`dscref.index._lifecycle`): ``train(x)`` fits the model and
    leaves an empty index, ``add(x)`` appends (ids continue from ``ntotal``), ``reset()``
    empties it, ``build(x)`` = reset + train + add; ``d``, ``ntotal`` and ``is_trained``
    describe it.

    Parameters
    ----------
    M : int, default 8
        PQ sub-quantizers (bytes per code for nbits=8).
    nbits : int, default 8
        Bits per sub-code.
    n_iter : int, default 25
        k-means iterations of the PQ training.
    seed : int or None
    keep_vectors : bool, default False
        Keep a reference (no copy) to the database matrix for the raw-feature mode
        (``Query.vector``): Table I's "M = 2048" rows.

    Attributes (after :meth:`train`; the lists are empty until :meth:`add`)
    ------------------------------------------------------------------------
    ntotal : int, number of stored items (0 before :meth:`add`)
    d_ : int, vector dimension (also :attr:`d`)
    n_lists : int
    centroids_ : ndarray (n_lists, d) float32
    pqs_ : list of ProductQuantizer
    list_pq_ : ndarray (n_lists,) int64, which quantizer of ``pqs_`` each list uses
    offsets_ : ndarray (n_lists + 1,) int64; list i holds rows offsets_[i]:offsets_[i+1]
    ids_ : ndarray (n,) int64, database ids in list order
    codes_ : ndarray (n, M) uint8, residual codes in list order
    """

    kind = "base"

    def __init__(self, M: int = 8, nbits: int = 8, n_iter: int = 25, seed=None, keep_vectors: bool = False):
        self.M = check_int(M, "M", low=1)
        self.nbits = check_int(nbits, "nbits", low=1, high=16)
        self.n_iter = check_int(n_iter, "n_iter", low=1)
        self.seed = seed
        self.keep_vectors = bool(keep_vectors)
        self.ntotal = 0
        self._xb = None

    # ------------------------------------------------------------------ to be provided
    @property
    def n_lists(self) -> int:
        return self.centroids_.shape[0]

    @property
    def default_head_size(self) -> int:
        return 5

    def head(self, q: np.ndarray, n_probe: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ building blocks
    def _check_built(self) -> None:
        if not hasattr(self, "codes_"):
            raise ValueError(f"this {type(self).__name__} is not built yet: call build(...) first")

    def _fit(self, x: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        """Learn the model from validated rows ``x``; return :meth:`_prepare_rows` of ``x``."""
        raise NotImplementedError

    def _check_state(self) -> None:
        """Raise ValueError unless every attribute that search, encode_query and head index
        with is consistent: types, dtypes, shapes, id / code / offset ranges, finiteness of the
        per-list and per-item tables (:mod:`dscref.index._state`; O(n), vectorised, each array
        read once). Subclasses extend it with ``super()._check_state()``. Called by
        :func:`dscref.io.load_index` on every load; the codebooks are checked separately
        (:meth:`_check_codebooks`)."""
        M = _state.integer(self, "M", low=1)
        nbits = _state.integer(self, "nbits", low=1, high=16)
        _state.integer(self, "n_iter", low=1)
        _state.flag(self, "keep_vectors")
        d = _state.integer(self, "d_", low=1)
        _state.need(d % M == 0, f"d_={d} is not divisible by M={M}")
        n = _state.integer(self, "ntotal", low=0)
        c = _state.array(self, "centroids_", np.float32, (None, d))
        L = c.shape[0]
        _state.need(L >= 1, "centroids_ has no rows (no lists)")
        _state.finite(c, "centroids_", max_abs=max_feature_abs(d))  # as a feature may hold
        n_pq = _state.quantizers(self, M, nbits, d)
        ksub = 1 << nbits
        _state.bounded(_state.array(self, "list_pq_", np.int64, (L,)), "list_pq_", 0, n_pq)
        _state.offsets(_state.array(self, "offsets_", np.int64, (L + 1,)), "offsets_", n)
        # ids: non-negative (-1 pads results); duplicates are allowed, as faiss's add_with_ids
        _state.bounded(_state.array(self, "ids_", np.int64, (n,)), "ids_", 0)
        codes = _state.array(self, "codes_", np.uint8 if nbits <= 8 else np.uint16, (n, M))
        if nbits not in (8, 16):
            _state.bounded(codes, "codes_", high=ksub)
        _state.finite(_state.array(self, "cr_", np.float32, (L, M, ksub)), "cr_")
        _state.finite(_state.array(self, "cnorm2_", np.float32, (L,)), "cnorm2_", low=0.0)
        _state.finite(_state.array(self, "db_norm2_", np.float32, (n,)), "db_norm2_", low=0.0)
        _state.robust_permutations(self, M, nbits, n_pq)

    def _check_codebooks(self) -> None:
        """Raise ValueError if a quantizer's codebooks hold NaN / inf (one pass over them all)."""
        _state.check_codebooks(self)

    def _prepare_rows(self, x: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """``(lists, groups)``: the list of every row of ``x`` and its group (the list itself,
        or a finer key that orders rows inside a list, as IVF+G+P's sub-regions). Rows are
        stored sorted by group; the residual of row ``t`` is ``x[t] - ref`` with ``ref`` given
        by :meth:`_residual_reference` (default: the list centroid ``c^i``)."""
        raise NotImplementedError

    def _encode_rows(self, x: np.ndarray, ids: np.ndarray, assign: np.ndarray) -> np.ndarray:
        """Codes (len(ids), M) of database rows ``ids``: the residual ``x[id] - ref`` (see
        :meth:`_residual_reference`) under the quantizer of the row's list ``assign[id]``.

        Rows are grouped by quantizer and encoded in chunks of ``CHUNK_ROWS``, which keeps the
        gathered rows and their references small; ``gather_rows`` releases a memory-mapped
        database's pages as it goes. A row's code does not depend on its chunk.
        """
        codes = np.empty((ids.size, self.M), dtype=self.pqs_[0].code_dtype)
        row_pq = self.list_pq_[assign[ids]]
        for p in np.unique(row_pq):
            pos = np.flatnonzero(row_pq == p)
            for s in range(0, pos.size, CHUNK_ROWS):
                r = ids[pos[s:s + CHUNK_ROWS]]
                codes[pos[s:s + CHUNK_ROWS]] = self.pqs_[p].encode(
                    gather_rows(x, r) - self._residual_reference(r, assign))
        return codes

    def _residual_reference(self, ids: np.ndarray, assign: np.ndarray) -> np.ndarray:
        """Vectors (len(ids), d) float32 that database rows ``ids`` are encoded relative to."""
        return self.centroids_[assign[ids]]

    def _prepare_list_tables(self) -> None:
        """Per-list terms of eqs. (14)-(15), computed once at training time (per-item terms:
        :meth:`_item_tables`, when items are added).

        Per quantizer p: ``sub_norm2[p]`` (M, ksub) float64 = ||r_mk||^2. Per list i:
        ``cr[i]`` (M, ksub) = <c^i_m, r_mk> and ``cnorm2[i]`` = ||c^i||^2.

        The codeword-pair tables ||r_mi - r_mj||^2 and <r_mi, r_mj> (M * ksub^2 per quantizer) are
        *not* stored: a query needs only the rows of its own sub-codes, which
        :meth:`_query_rows` computes in M small matrix-vector products. With one quantizer per
        partition (DSC at K = 1000) the full tables would cost 4 MB per partition, 4 GB at 1M
        items, against about 50 us of work per probed partition and query.
        """
        self.sub_norm2_ = [np.einsum("mkd,mkd->mk", cb, cb) for cb in
                           (pq.codebooks_.astype(np.float64) for pq in self.pqs_)]
        M = self.M
        ksub = self.pqs_[0].ksub
        dsub = self.centroids_.shape[1] // M
        c = self.centroids_.reshape(self.n_lists, M, dsub)
        self.cr_ = np.empty((self.n_lists, M, ksub), dtype=np.float32)
        for p, pq in enumerate(self.pqs_):
            lists = np.flatnonzero(self.list_pq_ == p)
            if lists.size:
                self.cr_[lists] = np.einsum("lmd,mkd->lmk", c[lists], pq.codebooks_)
        self.cnorm2_ = (self.centroids_.astype(np.float64) ** 2).sum(1).astype(np.float32)

    def _item_tables(self, codes: np.ndarray, offsets: np.ndarray) -> dict:
        """Per-item tables of rows ``codes`` sorted by list (list i: ``offsets[i]:offsets[i+1]``):
        ``db_norm2_`` = ||c^i + r^d||^2 = ||c^i||^2 + sum_m (2 <c_m, r_m> + ||r_m||^2)."""
        from ..scoring import adc_l2

        db_norm2 = np.empty(codes.shape[0], dtype=np.float32)
        for i in np.flatnonzero(np.diff(offsets)):
            a, b = offsets[i], offsets[i + 1]
            lut = 2 * self.cr_[i] + self.sub_norm2_[self.list_pq_[i]]
            db_norm2[a:b] = adc_l2(lut.astype(np.float32), codes[a:b]) + self.cnorm2_[i]
        return {"db_norm2_": db_norm2}

    def _query_rows(self, p: int, v: np.ndarray, v_norm2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lookup-table rows of a query sub-vector ``v`` against quantizer ``p``'s codewords.

        ``v`` (M, dsub) float32 is the query's reconstructed residual split in sub-vectors (the
        codewords ``r_{m, e_m}`` of its code, or their posterior mean for soft decoding) and
        ``v_norm2`` (M,) float64 the matching ``||r^q_m||^2`` term (its expectation for soft
        decoding). Returns

        * ``sdc`` (M, ksub) float32: ``||r^q_m||^2 + ||r_mj||^2 - 2 <r^q_m, r_mj>``, clipped at 0
          -- for a hard code the SDC row ``||r_{m,e_m} - r_mj||^2`` of eq. (14);
        * ``gram`` (M, ksub) float32: ``<r^q_m, r_mj>``, the query-dependent term of eq. (15).

        One float32 matrix-vector product per sub-space (BLAS) gives the inner products; the
        norms come from ``sub_norm2_`` in float64. The same arithmetic serves hard and soft
        queries, so a soft query with certain bits gives bit-identical rows.
        """
        cb = self.pqs_[p].codebooks_
        gram = np.matmul(cb, v[:, :, None])[:, :, 0]
        sdc = np.maximum(v_norm2[:, None] + self.sub_norm2_[p] - 2.0 * gram, 0.0).astype(np.float32)
        if not (np.isfinite(sdc).all() and np.isfinite(gram).all()):
            # codebooks of a large memory-mapped index are not scanned at load (dscref.io)
            raise IndexFormatError(f"quantizer pqs_[{p}] gives non-finite lookup tables: its codebooks "
                                   f"hold NaN / inf or overflowing values (corrupt index?)")
        return sdc, gram

    def _code_rows(self, p: int, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_query_rows` of the hard code ``e`` (M,) int64 under quantizer ``p``."""
        ar = np.arange(self.M)
        return self._query_rows(p, self.pqs_[p].codebooks_[ar, e], self.sub_norm2_[p][ar, e])

    # ------------------------------------------------------------------ queries
    def _as_query_vector(self, q) -> np.ndarray:
        self._check_built()
        return as_float_vector(q, "q", d=self.d_)

    def encode_query(self, q, top_labels=None, n_probe: int | None = None, raw: bool = False) -> Query:
        """The edge device's side: head + one residual PQ code per head entry (eqs. 11-12).

        Parameters
        ----------
        q : array (d,) float32
            The query feature.
        top_labels : array-like of int, optional
            Head entries chosen by the caller (DSC: the classifier's top labels): an integer
            dtype, distinct, in ``[0, n_lists)`` (:func:`dscref.query.check_labels`; floats are
            refused, not rounded). When omitted, :meth:`head` picks ``n_probe`` entries from ``q``.
        n_probe : int, optional
            Head size (default :attr:`default_head_size`).
        raw : bool
            Attach the raw feature instead of codes (Table I's "M = 2048" rows).
        """
        q = self._as_query_vector(q)
        if top_labels is None:
            n_probe = self.default_head_size if n_probe is None else check_int(n_probe, "n_probe", low=1)
            labels = self.head(q, n_probe)
        else:
            labels = self._check_labels(top_labels)
        if raw:
            return Query(labels=labels, codes=None, vector=q.copy())
        return Query(labels=labels, codes=self.encode_residuals(q, labels))

    def _check_labels(self, labels) -> np.ndarray:
        return check_labels(labels, self.n_lists, "top_labels")

    def encode_residuals(self, q: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """codes[j] = PQ code of q - c^{labels[j]} under that list's quantizer: (h, M)."""
        codes = np.empty((labels.size, self.M), dtype=self.pqs_[0].code_dtype)
        for j, lab in enumerate(labels):
            codes[j] = self.pqs_[self.list_pq_[lab]].encode((q - self.centroids_[lab])[None])[0]
        return codes

    def candidate_ids(self, labels) -> np.ndarray:
        """Database ids of the lists named by ``labels`` (the candidate list of Table I's Recall)."""
        self._check_built()
        labels = check_labels(labels, self.n_lists, "labels")  # a head: integer, distinct, in range
        if labels.size == 0:
            return np.empty(0, np.int64)
        return np.concatenate([self.ids_[self.offsets_[i]:self.offsets_[i + 1]] for i in labels])

    def query_candidates(self, query: Query) -> np.ndarray:
        """Database ids this index scans for ``query`` (Table I's "Recall" is measured on them).

        Default: every item of the lists named by the head; indices that prune inside lists
        override it.
        """
        self._check_built()
        return self.candidate_ids(self._validate_query(query).labels)

    def attach_vectors(self, x) -> "InvertedPQIndex":
        """Keep a reference (no copy) to the database ``x`` (ntotal, d) for raw-feature queries.

        Needed after :func:`dscref.io.load_index`, which never stores the raw database: row
        ``i`` of ``x`` must be database item ``i`` (the ids returned by :meth:`search`).
        A memory-mapped array is kept mapped.
        """
        self._check_built()
        x = as_float_matrix(x, "x", d=self.d_, finite=False)
        if x.shape[0] != self.ntotal:
            raise ValueError(f"x has {x.shape[0]} rows, the index holds ntotal={self.ntotal} items")
        if self.ids_.size and self.ids_.max() >= x.shape[0]:
            raise ValueError(f"the index holds id {int(self.ids_.max())}, which is not a row of x "
                             f"({x.shape[0]} rows)")
        self._xb = x
        self.keep_vectors = True
        return self

    def list_sizes(self) -> np.ndarray:
        self._check_built()
        return np.diff(self.offsets_)

    # ------------------------------------------------------------------ search
    def _validate_query(self, query: Query) -> Query:
        """:func:`dscref.query.check_query` against this index; the normalised query."""
        query = check_query(query, self.n_lists, self.M, self.nbits, self.d_)
        if query.vector is not None and self._xb is None:
            raise ValueError("raw-feature search needs an index built with keep_vectors=True "
                             "(or attach_vectors(x) after loading)")
        return query

    def _raw_scores(self, query: Query, a: int, b: int, metric: str) -> np.ndarray:
        """Exact L2 / cosine between the raw query vector and stored rows ``a:b`` (raw mode)."""
        # gather_rows releases a memory-mapped database's pages: 55 queries x thousands of
        # candidates would otherwise leave most of a 1M-row file resident
        xb = gather_rows(self._xb, self.ids_[a:b])
        q = np.asarray(query.vector, dtype=np.float32)
        if metric == "l2":
            return ((xb - q) ** 2).sum(1).astype(np.float32)
        return (xb @ q / (np.linalg.norm(xb, axis=1) * np.linalg.norm(q) + 1e-30)).astype(np.float32)

    def _scan(self, query: Query, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Scores (c,) float32 and ids (c,) int64 of every candidate of a validated query.

        Default: every item of every list named by the head. Subclasses that scan only part of
        a list (IVF+G+P's pruning) override this.
        """
        scores, ids = [], []
        for j, lab in enumerate(query.labels):
            a, b = self.offsets_[lab], self.offsets_[lab + 1]
            if a == b:
                continue
            scores.append(self._score_list(query, j, int(lab), metric))
            ids.append(self.ids_[a:b])
        if not scores:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        return np.concatenate(scores), np.concatenate(ids)

    def _score_list(self, query: Query, j: int, lab: int, metric: str) -> np.ndarray:
        """Scores of every item of list ``lab`` for head entry ``j``."""
        from ..scoring import adc_cosine, adc_l2

        a, b = self.offsets_[lab], self.offsets_[lab + 1]
        if query.vector is not None:  # raw-feature mode: exact distances on stored vectors
            return self._raw_scores(query, a, b, metric)
        p = self.list_pq_[lab]
        if query.code_llr is not None:
            return self._score_list_soft(query.code_llr[j], lab, p, metric)
        e = np.asarray(query.codes[j], dtype=np.int64)
        ar = np.arange(self.M)
        sdc, gram = self._code_rows(p, e)
        if metric == "l2":
            # eq. (14): ||q_hat - d_hat||^2 = sum_m ||r_m^q - r_m^d||^2, the SDC row of e
            return adc_l2(sdc, self.codes_[a:b])
        # eq. (15): numerator ||c||^2 + sum_m <c_m, r^q_m> + sum_m (<c_m, r^d_m> + <r^d_m, r^q_m>)
        lut = self.cr_[lab] + gram
        bias = float(self.cnorm2_[lab] + self.cr_[lab][ar, e].sum())
        cq = self.centroids_[lab] + self.pqs_[p].decode(query.codes[j][None])[0]
        q_norm2 = float((cq.astype(np.float64) ** 2).sum())
        return adc_cosine(lut.astype(np.float32), self.codes_[a:b], bias, q_norm2, self.db_norm2_[a:b])

    def _score_list_soft(self, llr: np.ndarray, lab: int, p: int, metric: str) -> np.ndarray:
        """Soft-decision ADC: eqs. (14)-(15) with the query's sub-codeword replaced by its posterior.

        Both tables are linear in the query's sub-codeword once its norm is taken apart:
        ``E ||r^q_m - r_mj||^2 = E ||r^q_m||^2 + ||r_mj||^2 - 2 <E r^q_m, r_mj>`` (the expected
        distance, exact), and the cosine numerator's terms are replaced by their expectations
        (exact); the query norm by ``sqrt(E ||c + r^q||^2)`` (an approximation:
        ``E[num / ||q||] ~ E[num] / sqrt(E ||q||^2)``). With certain bits the posterior mean is
        the codeword itself and both reduce bit-exactly to the hard-decision tables. Every
        expectation is :func:`dscref.soft.expected_rows` (one fixed-order kernel, independent
        of BLAS threads).
        """
        from ..scoring import adc_cosine, adc_l2
        from ..soft import expected_rows, posteriors

        a, b = self.offsets_[lab], self.offsets_[lab + 1]
        post = posteriors(llr, self.M, self.nbits)
        mean = expected_rows(post, self.pqs_[p].codebooks_).astype(np.float32)  # E r^q_m (M, dsub)
        n2 = self.sub_norm2_[p]
        sdc, gram = self._query_rows(p, mean, expected_rows(post, n2))
        if metric == "l2":
            return adc_l2(sdc, self.codes_[a:b])
        lut = self.cr_[lab] + gram
        ecr = expected_rows(post, self.cr_[lab]).astype(np.float32)
        bias = float(self.cnorm2_[lab] + ecr.sum())
        q_norm2 = float(self.cnorm2_[lab]) + float(expected_rows(post, 2.0 * self.cr_[lab] + n2).sum())
        return adc_cosine(lut.astype(np.float32), self.codes_[a:b], bias, max(q_norm2, 0.0),
                          self.db_norm2_[a:b])

    def search(self, queries, k: int = 100, metric: str = "l2") -> SearchResult:
        """Rank the candidates of the lists named by each query's head.

        Parameters
        ----------
        queries : Query or sequence of Query
        k : int >= 1
        metric : {"l2", "cosine"}
            eq. (14) (smaller is better) or eq. (15) (larger is better).

        Returns
        -------
        SearchResult ``(D, I, n_candidates)`` with D, I of shape (nq, k).

        Every query is checked by :func:`dscref.query.check_query` (integer, distinct,
        in-range labels; codes of shape (h, M) below ``2**nbits``; LLRs without NaN) before
        anything is searched. ``k`` larger than ``ntotal`` pads the rows with -1 / inf, up to
        ``max(ntotal, 65536)`` columns (:func:`dscref._validate.check_k`).
        """
        from ..scoring import topk

        self._check_built()
        k = check_k(k, self.ntotal)
        check_choice(metric, "metric", METRICS)
        qs: Sequence[Query] = [queries] if isinstance(queries, Query) else _as_query_list(queries)
        qs = [self._validate_query(q) for q in qs]  # all of them before any work
        largest = metric == "cosine"
        D = np.full((len(qs), k), -np.inf if largest else np.inf, dtype=np.float32)
        I = np.full((len(qs), k), -1, dtype=np.int64)
        ncand = np.zeros(len(qs), dtype=np.int64)
        for r, query in enumerate(qs):
            s, idv = self._scan(query, metric)
            if s.size == 0:
                continue
            ncand[r] = s.size
            kk = min(k, s.size)  # the columns past the candidates stay padding
            Dr, pos = topk(s, kk, largest=largest)
            D[r, :kk], I[r, :kk] = Dr, np.where(pos >= 0, idv[np.maximum(pos, 0)], -1)
        return SearchResult(D, I, ncand)

    # ------------------------------------------------------------------ helpers for builders
    def _train_pq(self, residuals: np.ndarray, rng) -> ProductQuantizer:
        return ProductQuantizer(self.M, self.nbits, n_iter=self.n_iter, seed=rng).fit(residuals)

    def _train_pq_on_rows(self, x: np.ndarray, rows: np.ndarray, lists: np.ndarray, rng) -> ProductQuantizer:
        """:meth:`_train_pq` on the residuals ``x[rows] - centroids_[lists]``, gathering only the
        rows the quantizer trains on.

        ProductQuantizer.fit keeps a random ``max_points_per_centroid * ksub`` of its input; the
        same draw, made here from the same generator before the gather, selects the same rows,
        so the result is identical to ``_train_pq(x[rows] - centroids_[lists], rng)`` without a
        full-size temporary for a large list.
        """
        pq = ProductQuantizer(self.M, self.nbits, n_iter=self.n_iter, seed=rng)
        cap = None if pq.max_points_per_centroid is None else pq.max_points_per_centroid * pq.ksub
        if cap is not None and rows.size > cap:
            keep = np.sort(rng.choice(rows.size, cap, replace=False))
            rows, lists = rows[keep], lists[keep]
        return pq.fit(gather_residuals(x, rows, self.centroids_, lists))

    def _check_build_input(self, x) -> np.ndarray:
        x = as_float_matrix(x, "x")
        if x.shape[1] % self.M:
            raise ValueError(f"d={x.shape[1]} is not divisible by M={self.M}")
        return x

    def _check_fit_input(self, x, labels):
        """Validated ``(x, labels)`` for :meth:`train` / :meth:`build` (labels: DSC only)."""
        return self._check_build_input(x), None
