"""Shared machinery of every inverted index: inverted lists, residual PQ, query encoding, search.

An inverted index splits the database into lists (DSC: classifier partitions; DUC: k-means cells,
multi-index cells, ...). Every list ``i`` has a centroid ``c^i`` and a residual product quantizer
``R^i`` (Wang & Qi, eqs. 3-6). A database vector ``d`` in list ``i`` is stored as the PQ code of
``d - c^i``; the edge device sends a *head* naming ``h`` lists and, for each, the PQ code of
``q - c^i`` under that list's quantizer (eqs. 11-12). The server reconstructs
``q_hat^i = c^i + [r_1^{i,q} .. r_M^{i,q}]`` (eq. 13) and ranks the candidates of the named lists
by eq. (14) (L2) or eq. (15) (cosine), using lookup tables only (:mod:`dscref.index.tables`).

Subclasses decide how vectors are assigned to lists and how a query's head is chosen
(:meth:`_prepare_rows`, :meth:`head`), and which quantizer each list uses. The life cycle
(train / add / reset / build) is :mod:`dscref.index._lifecycle`, the invariant checks of a
loaded index :mod:`dscref.index._state`.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from .._validate import as_float_matrix, as_float_vector, check_choice, check_int, check_k
from ..query import Query, SearchResult, as_query_list, check_labels, check_query
from . import _engine, _state, tables
from ._lifecycle import IndexLifecycle
from ._perlist import PerListSearch

__all__ = ["Query", "SearchResult", "InvertedPQIndex"]

log = logging.getLogger(__name__)


METRICS = {"l2", "cosine"}


class InvertedPQIndex(PerListSearch, IndexLifecycle):
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
    n_lists : int, number of lists (the rows of ``centroids_``; the constructor's count is
        stored as ``_n_lists``, IMI: ``n_centroids_per_half``)
    centroids_ : ndarray (n_lists, d) float32
    pqs_ : list of ProductQuantizer
    list_pq_ : ndarray (n_lists,) int64, which quantizer of ``pqs_`` each list uses
    offsets_ : ndarray (n_lists + 1,) int64; list i holds rows offsets_[i]:offsets_[i+1]
    ids_ : ndarray (n,) int64, database ids in list order
    codes_ : ndarray (n, M) uint8, residual codes in list order
    """

    kind = "base"
    #: memory (bytes) the search engine may fill with the quantizers' pair tables (SDC for L2,
    #: Gram for cosine; 2 MiB each at M = 8, nbits = 8), made on first use
    #: (:mod:`dscref.index._engine`); beyond it a query's rows are computed from the codebooks.
    #: Results are identical either way; 0 disables the tables. The default, 2 GiB, is faiss's
    #: ``precomputed_table_max_bytes`` for IndexIVFPQ, and holds DSC's 1000 partitions' tables.
    pair_table_bytes: int = 1 << 31
    #: attributes a format-version-2 file stores under another name (old -> new), applied by
    #: :meth:`_upgrade_state` when :func:`dscref.io.load_index` reads such a file
    _v2_renames: dict = {}
    #: attributes added after files were written (name -> the value that reproduces what the
    #: code of those files did), given to a loaded state that lacks them
    _state_defaults: dict = {}

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
        """Number of lists of the trained index (AttributeError before :meth:`train`, so that
        nothing is sized from an index without lists)."""
        return self.centroids_.shape[0]

    @property
    def K(self) -> int:
        """The paper's K, the list count the index was constructed with (``_n_lists``): an alias
        kept for code written before the name was unified (:class:`~dscref.index.imi.IMIIndex`:
        ``n_centroids_per_half``). Setting it sets that count, as assigning the plain attribute
        ``K`` did before."""
        return self._n_lists

    @K.setter
    def K(self, value) -> None:
        self._n_lists = value

    @classmethod
    def _upgrade_state(cls, state: dict, version: int) -> dict:
        """The saved ``state`` (name -> encoded value) of a file of format ``version`` under
        today's attribute names (:attr:`_v2_renames` for version 2), with the attributes added
        since (:attr:`_state_defaults`) where it lacks them. ValueError if it holds an old name
        and its new name both."""
        if version <= 2 and cls._v2_renames:
            both = [old for old, new in cls._v2_renames.items() if old in state and new in state]
            if both:
                raise ValueError(f"a version-2 {cls.__name__} state holds both {both[0]!r} and "
                                 f"{cls._v2_renames[both[0]]!r}")
            state = {cls._v2_renames.get(k, k): v for k, v in state.items()}
        return {**cls._state_defaults, **state}

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
        per-list and per-item tables (:func:`dscref.index._state.inverted_lists`; O(n),
        vectorised, each array read once). Subclasses extend it with ``super()._check_state()``.
        Called by :func:`dscref.io.load_index` on every load; the codebooks are checked
        separately (:meth:`_check_codebooks`)."""
        _state.inverted_lists(self)

    def _check_codebooks(self) -> None:
        """Raise ValueError if a quantizer's codebooks hold NaN / inf (one pass over them all)."""
        _state.check_codebooks(self)

    def _prepare_rows(self, x: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """``(lists, groups)``: the list of every row of ``x`` and its group (the list itself,
        or a finer key that orders rows inside a list, as IVF+G+P's sub-regions). Rows are
        stored sorted by group; the residual of row ``t`` is ``x[t] - ref`` with ``ref`` given
        by :meth:`_residual_reference` (default: the list centroid ``c^i``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ eqs. (13)-(15)
    def _prepare_list_tables(self) -> None:
        """Per-quantizer and per-list terms of eqs. (14)-(15), computed once at training time:
        ``sub_norm2_``, ``cr_``, ``cnorm2_`` (:func:`dscref.index.tables.list_tables`)."""
        self.sub_norm2_, self.cr_, self.cnorm2_ = tables.list_tables(self.pqs_, self.centroids_, self.list_pq_)

    def _item_tables(self, codes: np.ndarray, offsets: np.ndarray) -> dict:
        """Per-item tables of rows ``codes`` sorted by list (list i: ``offsets[i]:offsets[i+1]``):
        ``db_norm2_`` = ||c^i + r^d||^2 (:func:`dscref.index.tables.item_norms`)."""
        return {"db_norm2_": tables.item_norms(self.cr_, self.sub_norm2_, self.cnorm2_, self.list_pq_,
                                               codes, offsets)}

    def _query_rows(self, p: int, v: np.ndarray, v_norm2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SDC and Gram rows ``(sdc, gram)`` (M, ksub) float32 of the query sub-vectors ``v``
        (M, dsub) against quantizer ``p`` (:func:`dscref.index.tables.query_rows`)."""
        return tables.query_rows(self.pqs_[p].codebooks_, self.sub_norm2_[p], v, v_norm2, p)

    def _code_rows(self, p: int, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_query_rows` of the hard code ``e`` (M,) int64 under quantizer ``p``."""
        return tables.code_rows(self.pqs_[p].codebooks_, self.sub_norm2_[p], e, p)

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

    def _engine_segments(self, qs: list, qptr, plist, pcode, metric: str):
        """The row ranges the engine scans for each probe of a batch (:mod:`dscref.index._engine`):
        ``(sptr, lo, hi, add, sizes)``, probe ``t``'s segments ``sptr[t]:sptr[t+1]`` and its
        item count. Default: the whole list of every probe, no constant."""
        return _engine.whole_lists(self, plist)

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
        ``max(ntotal, 65536)`` columns (:func:`dscref._validate.check_k`). Ties are broken by
        the scan order (head order, then list order).

        Coded queries (hard or soft) run in one call of the batched engine
        (:mod:`dscref.index._engine`: parallel over queries, no Python per list); raw-feature
        queries (``Query.vector``) take the per-list path. The engine's results equal the
        per-list NumPy twin's (:meth:`_search_reference`) bit for bit, at any thread count.
        """
        qs, k = self._search_args(queries, k, metric)
        coded = [r for r, q in enumerate(qs) if q.vector is None]
        if len(coded) == len(qs):
            return SearchResult(*_engine.search(self, qs, k, metric))
        raw = [r for r, q in enumerate(qs) if q.vector is not None]
        D = np.empty((len(qs), k), np.float32)
        I = np.empty((len(qs), k), np.int64)  # noqa: E741 - faiss's name
        ncand = np.empty(len(qs), np.int64)
        D[raw], I[raw], ncand[raw] = self._search_reference([qs[r] for r in raw], k, metric, validated=True)
        if coded:
            D[coded], I[coded], ncand[coded] = _engine.search(self, [qs[r] for r in coded], k, metric)
        return SearchResult(D, I, ncand)

    def _search_args(self, queries, k, metric):
        self._check_built()
        k = check_k(k, self.ntotal)
        check_choice(metric, "metric", METRICS)
        qs: Sequence[Query] = [queries] if isinstance(queries, Query) else as_query_list(queries)
        return [self._validate_query(q) for q in qs], k  # all of them before any work
