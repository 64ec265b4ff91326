"""The query an edge device sends, and the one validation every searcher applies to it.

A :class:`Query` is what crosses the channel: the head (list ids, in priority order) and one
residual PQ code per head entry, or the raw feature (Table I's "M = 2048" rows), optionally
with the received bit LLRs of the codes (soft-decision ADC). :func:`check_query` is the single
check of a query against an index's sizes; :class:`~dscref.index.base.InvertedPQIndex` (and
every subclass), :class:`~dscref.distributed.ShardedSearcher`,
:func:`~dscref.index.robust.soft_search` and :func:`~dscref.codec.encode_payload` all call it, so a
query is accepted or refused the same way everywhere. :func:`check_labels` is the part that
applies to a head alone (``encode_query``'s ``top_labels``).

Rules (strict on purpose: a malformed query is a caller's bug, never something to round):

* **labels**: an integer dtype -- bool, float (even holding whole numbers: a float label is
  never truncated), complex, object and string arrays are refused with ``TypeError`` --; 0-D
  or 1-D; distinct (a repeated head entry would return the same ids twice); ``0 <= l < n_lists``.
* **codes**: an integer dtype, shape ``(h, M)``, values in ``[0, 2**nbits)``; returned as
  uint8 (``nbits <= 8``) or uint16.
* **code_llr**: real numbers of shape ``(h, M * nbits)``; NaN is refused, ``+-inf`` is a
  certain bit (what the demodulator returns at SNR = +inf).
* **vector** (raw-feature mode): shape ``(d,)``, finite, within the feature magnitude bound
  (:func:`dscref._validate.max_feature_abs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from ._validate import INT64_MAX, as_float_vector, check_int

__all__ = ["Query", "SearchResult", "as_query_list", "check_labels", "check_codes", "check_query"]



def _as_label_array(labels, name: str) -> np.ndarray:
    """``labels`` as a 1-D int64 array: integer dtype, 0-D or 1-D (no range check)."""
    arr = labels if isinstance(labels, np.ndarray) else np.asarray(labels)
    if arr.size == 0 and arr.dtype.kind in "iuf":  # [] is a float64 array: nothing to truncate
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {arr.dtype} ({_short(arr)}); "
                        "labels are never rounded: convert whole numbers with .astype(np.int64)")
    if arr.ndim > 1:
        raise ValueError(f"{name} must be 1-D (h,), got shape {arr.shape}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > INT64_MAX:
        raise ValueError(f"{name} holds {int(arr.max())}, beyond the int64 range of list ids")
    return np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)


def _short(a: np.ndarray) -> str:
    flat = a.reshape(-1)
    head = flat[:6].tolist()
    return f"{head}{' ...' if flat.size > 6 else ''}"


def _as_llr_array(llr, name: str) -> np.ndarray:
    arr = llr if isinstance(llr, np.ndarray) else np.asarray(llr)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must hold real LLRs, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


@dataclass
class Query:
    """What the edge device sends: a head of list ids and one PQ code per head entry.

    Attributes
    ----------
    labels : ndarray (h,) int64
        Head entries: list ids (DSC: classifier labels; DUC: cell ids), in priority order.
        Empty for an index without a head (plain PQ). Must have an integer dtype (a float
        label raises ``TypeError`` instead of being truncated); a scalar becomes one entry.
    codes : ndarray (h, M) uint8/uint16, or None
        ``codes[j]`` = PQ code of ``q - c^{labels[j]}`` under list ``labels[j]``'s quantizer
        (for plain PQ: one row, the code of ``q``). None in raw-feature mode.
    vector : ndarray (d,) float32, or None
        The raw feature, for the un-quantized "M=2048" mode of Table I (sent instead of codes).
    info : dict
        Free-form annotations (never read by the search).
    code_llr : ndarray (h, M * nbits) float64, or None
        Received bit LLRs (``log P(0)/P(1)``, payload order, MSB first) of each code. When
        present the index scores with *soft-decision ADC* (:mod:`dscref.soft`): every table
        row of the hard code is replaced by its posterior expectation. ``codes`` must
        still hold the hard decisions. None (default): the plain hard-decision search.

    The constructor checks only dtypes; sizes and ranges depend on the index and are checked
    by :func:`check_query` when the query is searched.
    """

    labels: np.ndarray
    codes: np.ndarray | None = None
    vector: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    code_llr: np.ndarray | None = None

    def __post_init__(self):
        self.labels = _as_label_array(self.labels, "query labels")
        if self.code_llr is not None:
            self.code_llr = _as_llr_array(self.code_llr, "query code_llr")


def check_labels(labels, n_lists: int, name: str = "labels") -> np.ndarray:
    """A head as a 1-D int64 array of distinct list ids in ``[0, n_lists)``, or raise.

    Raises
    ------
    TypeError
        If ``labels`` does not have an integer dtype (floats are refused, never truncated).
    ValueError
        If it is more than 1-D, repeats a label, or holds one outside ``[0, n_lists)``.
    """
    lab = _as_label_array(labels, name)
    if lab.size:
        if lab.size <= 64:  # a head: Python's min / max / set cost less than NumPy's reductions
            vals = lab.tolist()
            lo, hi, distinct = min(vals), max(vals), len(set(vals)) == len(vals)
        else:
            lo, hi, distinct = int(lab.min()), int(lab.max()), None
        if lo < 0 or hi >= n_lists:
            raise ValueError(f"{name} {_short(lab)} outside [0, {n_lists}): holds {lo if lo < 0 else hi}")
        if not distinct:
            uniq, counts = np.unique(lab, return_counts=True)
            if uniq.size != lab.size:
                raise ValueError(f"{name} hold duplicates ({_short(lab)}: {int(uniq[counts > 1][0])} "
                                 "repeats); a head names each list once")
    return lab


def check_codes(codes, h: int, M: int, nbits: int) -> np.ndarray:
    """``h`` PQ codes as a (h, M) uint8 (``nbits <= 8``) or uint16 array, or raise.

    Integer dtypes only (``TypeError`` otherwise); ``ValueError`` for another shape or a value
    outside ``[0, 2**nbits)``.
    """
    if codes is None:
        raise ValueError("query has neither codes nor a raw vector")
    arr = codes if isinstance(codes, np.ndarray) else np.asarray(codes)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"query codes must have an integer dtype (uint8/uint16), got {arr.dtype}")
    if arr.shape != (h, M):
        raise ValueError(f"query codes must have shape ({h}, {M}) for {h} head entries and M={M}, "
                         f"got {arr.shape}")
    full = arr.dtype.kind == "u" and arr.dtype.itemsize * 8 <= nbits  # every value is in range
    if arr.size and not full:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= 1 << nbits:
            raise ValueError(f"query codes must be integers in [0, {1 << nbits}) for nbits={nbits}, "
                             f"got {lo if lo < 0 else hi}")
    return np.ascontiguousarray(arr, dtype=np.uint8 if nbits <= 8 else np.uint16)


def _check_code_llr(llr, h: int, M: int, nbits: int) -> np.ndarray:
    llr = _as_llr_array(llr, "query code_llr")
    if llr.shape != (h, M * nbits):
        raise ValueError(f"query code_llr has shape {llr.shape}, expected ({h}, {M * nbits}) "
                         f"(M * nbits bit LLRs per head entry)")
    if np.isnan(llr).any():
        r, c = np.argwhere(np.isnan(llr))[0]
        raise ValueError(f"query code_llr holds NaN at index ({int(r)}, {int(c)}); +-inf (a certain "
                         "bit) is the only non-finite LLR")
    return llr


def check_query(query, n_lists: int, M: int, nbits: int, d: int | None = None, *,
                raw: bool = True) -> Query:
    """Validate ``query`` against an index with ``n_lists`` lists and ``M x nbits`` codes.

    Parameters
    ----------
    query : Query
    n_lists, M, nbits : int
        The index's list count and code shape.
    d : int, optional
        The feature dimension (needed for a raw-feature query).
    raw : bool, default True
        Whether the searcher accepts raw-feature queries (``Query.vector``).

    Returns
    -------
    Query
        A normalised copy: labels int64, codes uint8/uint16, code_llr float64, vector float32;
        ``info`` is shared. In raw mode the codes are not looked at.

    Raises
    ------
    TypeError
        If ``query`` is not a :class:`Query`, or a field has the wrong dtype.
    ValueError
        On a repeated or out-of-range label, a wrongly shaped or out-of-range code, NaN LLRs,
        or a wrongly sized or non-finite raw vector. See the module notes for the rules.
    """
    if not isinstance(query, Query):
        raise TypeError(f"expected a dscref Query, got {type(query).__name__}")
    n_lists = check_int(n_lists, "n_lists", low=1)
    labels = check_labels(query.labels, n_lists, "query labels")
    if query.vector is not None:
        if not raw:
            raise ValueError("this searcher stores no raw vectors: the raw-feature mode (Query.vector) "
                             "is not available")
        if d is None:
            raise ValueError("a raw-feature query needs the index's dimension d")
        vec = as_float_vector(query.vector, "query vector", d=d)
        return replace(query, labels=labels, vector=vec)
    h = labels.size
    codes = check_codes(query.codes, h, M, nbits)
    llr = None if query.code_llr is None else _check_code_llr(query.code_llr, h, M, nbits)
    return _normalised(query, labels, codes, llr)


def _normalised(query: Query, labels: np.ndarray, codes: np.ndarray, llr) -> Query:
    """``replace(query, labels=..., codes=..., code_llr=...)`` for fields already checked, without
    re-running ``__post_init__`` (a search validates every query: this is on its hot path)."""
    q = object.__new__(Query)
    q.labels, q.codes, q.vector, q.info, q.code_llr = labels, codes, query.vector, query.info, llr
    return q


def as_query_list(queries) -> list:
    """A Query or a sequence of queries as a list (what every ``search`` takes); anything else is
    a TypeError naming it."""
    if isinstance(queries, Query):
        return [queries]
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
