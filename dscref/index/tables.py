"""Eqs. (13)-(15) of Wang & Qi as lookup tables: scoring a list's items against a query rebuilt
from one head entry without decoding a database vector.

Head entry ``j`` names list ``i`` (centroid ``c^i``, quantizer ``R^i`` with codewords ``r_mk``)
and carries the code ``e`` of ``q - c^i``; the server's query is ``q_hat = c^i + r^q`` with
``r^q = [r_{1,e_1} .. r_{M,e_M}]`` (eq. 13). A database item of the list is
``d_hat = c^i + r^d``. Split over the M sub-spaces:

* eq. (14), L2: ``||q_hat - d_hat||^2 = sum_m ||r^q_m - r^d_m||^2``, one row per sub-space of
  the symmetric (SDC) table ``||r^q_m - r_mj||^2``, summed over the item's sub-codes;
* eq. (15), cosine: ``<q_hat, d_hat> = ||c||^2 + sum_m <c_m, r^q_m>``
  ``+ sum_m (<c_m, r^d_m> + <r^q_m, r^d_m>)`` over ``||q_hat|| ||d_hat||``.

What is stored and when: per quantizer ``sub_norm2`` = ``||r_mk||^2`` and per list ``cr`` =
``<c^i_m, r_mk>`` and ``cnorm2`` = ``||c^i||^2`` (:func:`list_tables`, at training time); per
item ``db_norm2`` = ``||d_hat||^2`` (:func:`item_norms`, when items are added). A query computes
only the rows of its own sub-codes (:func:`query_rows`, summed in a fixed order without BLAS);
the search engine (:mod:`dscref.index._engine`) reads the same rows from per-quantizer pair
tables made on first use by the same arithmetic.

IVF+G+P (:mod:`dscref.index.gp`) stores item ``d`` of sub-region ``l`` relative to the
sub-centroid ``c^i + g_l``; its terms (:func:`subregion_item_terms`, :func:`subregion_l2_const`,
:func:`subregion_l2_scores`) add the ``g_l`` parts to the same tables. The ADC sums themselves
run in the kernels behind :mod:`dscref.scoring`.

These are the index classes' own helpers, not a public API (``dscref.index`` does not export
them): they trust their inputs -- shapes, dtypes and ranges were checked when the index was
built or loaded (``_check_state``) and the query by :func:`dscref.query.check_query` -- except
that a non-finite table (a corrupt codebook not scanned at load) raises IndexFormatError.
"""

from __future__ import annotations

import numpy as np

from .._validate import F32_MAX
from ..errors import IndexFormatError
from ..scoring import adc_cosine, adc_l2

__all__ = ["list_tables", "item_norms", "table_bound", "check_tables", "query_rows", "code_rows",
           "l2_scores", "cosine_table", "bias_sum", "cosine_scores", "norm_sum", "code_norm2", "subregion_item_terms", "subregion_l2_const",
           "subregion_l2_scores"]


def list_tables(pqs: list, centroids: np.ndarray, list_pq: np.ndarray):
    """Per-quantizer and per-list terms of eqs. (14)-(15), computed once at training time.

    Parameters
    ----------
    pqs : list of fitted ProductQuantizer (same M, nbits, d)
    centroids : ndarray (L, d) float32, the list centroids ``c^i``
    list_pq : ndarray (L,) int64, the quantizer of each list

    Returns
    -------
    sub_norm2 : list of ndarray (M, ksub) float64, ``||r_mk||^2`` per quantizer
    cr : ndarray (L, M, ksub) float32, ``<c^i_m, r_mk>`` under the list's quantizer
    cnorm2 : ndarray (L,) float32, ``||c^i||^2`` (summed in float64)

    Notes
    -----
    The codeword-pair tables ``||r_mi - r_mj||^2`` and ``<r_mi, r_mj>`` (M * ksub^2 per
    quantizer, 2 MiB each at M = 8, nbits = 8) are not part of the index: the search engine
    makes them per quantizer on first use, within ``pair_table_bytes``
    (:mod:`dscref.index._engine`), and computes the rows of the others per query.
    """
    sub_norm2 = [np.einsum("mkd,mkd->mk", cb, cb) for cb in (pq.codebooks_.astype(np.float64) for pq in pqs)]
    M, ksub = pqs[0].codebooks_.shape[:2]
    n_lists = centroids.shape[0]
    c = centroids.reshape(n_lists, M, centroids.shape[1] // M)
    cr = np.empty((n_lists, M, ksub), dtype=np.float32)
    for p, pq in enumerate(pqs):
        lists = np.flatnonzero(list_pq == p)
        if lists.size:
            cr[lists] = np.einsum("lmd,mkd->lmk", c[lists], pq.codebooks_)
    cnorm2 = (centroids.astype(np.float64) ** 2).sum(1).astype(np.float32)
    return sub_norm2, cr, cnorm2


def item_norms(cr: np.ndarray, sub_norm2: list, cnorm2: np.ndarray, list_pq: np.ndarray,
               codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``||d_hat||^2`` of every item: the denominator term of eq. (15), stored at add time.

    ``codes`` (n, M) are sorted by list (list ``i``: rows ``offsets[i]:offsets[i+1]``); item
    ``d`` of list ``i`` gets ``||c^i + r^d||^2 = ||c^i||^2 + sum_m (2 <c_m, r^d_m> + ||r^d_m||^2)``,
    an ADC sum over the table ``2 cr[i] + sub_norm2[p]``. Returns (n,) float32.
    """
    db_norm2 = np.empty(codes.shape[0], dtype=np.float32)
    for i in np.flatnonzero(np.diff(offsets)):
        a, b = offsets[i], offsets[i + 1]
        lut = 2 * cr[i] + sub_norm2[list_pq[i]]
        db_norm2[a:b] = adc_l2(lut.astype(np.float32), codes[a:b]) + cnorm2[i]
    return db_norm2


def table_bound(M: int) -> float:
    """Largest table entry magnitude a search accepts for codes of M sub-spaces: a score adds M
    entries, a bias and a per-item term in float32 and must stay finite."""
    return F32_MAX / (M + 2)


def _corrupt(p: int) -> IndexFormatError:
    # codebooks of a large memory-mapped index are not scanned at load (dscref.io)
    return IndexFormatError(f"quantizer pqs_[{p}] gives non-finite lookup tables: its codebooks "
                            f"hold NaN / inf or overflowing values (corrupt index?)")


def check_tables(p: int, *tabs) -> None:
    """IndexFormatError unless every table in ``tabs`` is finite and within :func:`table_bound`."""
    for t in tabs:
        if not (np.abs(t) <= table_bound(t.shape[0])).all():
            raise _corrupt(p)


def query_rows(codebooks: np.ndarray, sub_norm2: np.ndarray, v: np.ndarray, v_norm2: np.ndarray,
               p: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lookup-table rows of a query sub-vector ``v`` against one quantizer's codewords.

    Parameters
    ----------
    codebooks : ndarray (M, ksub, dsub) float32, the quantizer's codewords ``r_mj``
    sub_norm2 : ndarray (M, ksub) float64, their ``||r_mj||^2`` (:func:`list_tables`)
    v : ndarray (M, dsub) float32
        The query's reconstructed residual split in sub-vectors (the codewords ``r_{m, e_m}``
        of its code, or their posterior mean for soft decoding).
    v_norm2 : ndarray (M,) float64
        The matching ``||r^q_m||^2`` term (its expectation for soft decoding).
    p : int
        The quantizer's position in ``pqs_``, for the error message.

    Returns
    -------
    sdc : ndarray (M, ksub) float32
        ``||r^q_m||^2 + ||r_mj||^2 - 2 <r^q_m, r_mj>``, clipped at 0 -- for a hard code the SDC
        row ``||r_{m,e_m} - r_mj||^2`` of eq. (14).
    gram : ndarray (M, ksub) float32
        ``<r^q_m, r_mj>``, the query-dependent term of eq. (15).

    Notes
    -----
    The NumPy twin of :func:`dscref._kernels.engine.rows`, operation for operation: the inner
    products are summed in float32 over ``t = 0..dsub-1`` in order (one element-wise multiply
    and add per ``t``), the norms come from ``sub_norm2`` in float64. No BLAS: the rows do not
    depend on the BLAS library or its thread count. The same arithmetic serves hard and soft
    queries, so a soft query with certain bits gives bit-identical rows. IndexFormatError if a
    row is not finite or beyond :func:`table_bound`.
    """
    M, ksub, dsub = codebooks.shape
    v = np.asarray(v, dtype=np.float32)
    gram = np.zeros((M, ksub), dtype=np.float32)
    for t in range(dsub):
        gram += codebooks[:, :, t] * v[:, t, None]
    s = (np.asarray(v_norm2, dtype=np.float64)[:, None] + sub_norm2) - (np.float32(2.0) * gram).astype(np.float64)
    sdc = np.where(s > 0.0, s, 0.0).astype(np.float32)
    check_tables(p, gram, sdc)
    return sdc, gram


def code_rows(codebooks: np.ndarray, sub_norm2: np.ndarray, e: np.ndarray, p: int = 0):
    """:func:`query_rows` of the hard code ``e`` (M,) int64: ``v`` = its codewords (eq. 13)."""
    ar = np.arange(codebooks.shape[0])
    return query_rows(codebooks, sub_norm2, codebooks[ar, e], sub_norm2[ar, e], p)


def l2_scores(sdc: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Eq. (14): ``||q_hat - d_hat||^2 = sum_m sdc[m, e^d_m]`` for items ``codes`` (n, M) of the
    list the SDC rows were made for; (n,) float32."""
    return adc_l2(sdc, codes)


def cosine_table(cr: np.ndarray, cnorm2, gram: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, float]:
    """The numerator of eq. (15) for list ``i`` and hard query code ``e`` (M,) int64.

    Returns ``lut`` (M, ksub) float32 = ``<c_m, r_mj> + <r^q_m, r_mj>`` (``cr[i] + gram``, the
    item-dependent terms) and ``bias`` = ``||c||^2 + sum_m <c_m, r^q_m>`` (the query-side
    constant: :func:`bias_sum` of the chosen ``cr`` entries).
    """
    return (cr + gram).astype(np.float32), bias_sum(cnorm2, cr[np.arange(e.shape[0]), e])


def bias_sum(cnorm2, terms: np.ndarray) -> float:
    """``cnorm2 + terms[0] + ... + terms[M-1]`` in float32, in order (the engine's order)."""
    b = np.float32(cnorm2)
    for x in np.asarray(terms, dtype=np.float32):
        b = np.float32(b + x)
    return float(b)


def cosine_scores(lut: np.ndarray, bias: float, q_norm2: float, codes: np.ndarray,
                  db_norm2: np.ndarray) -> np.ndarray:
    """Eq. (15): ``(bias + sum_m lut[m, e^d_m]) / sqrt(q_norm2 * db_norm2)``; (n,) float32."""
    return adc_cosine(lut, codes, bias, q_norm2, db_norm2)


def norm_sum(cnorm2, terms: np.ndarray) -> float:
    """``||q_hat||^2`` of eq. (15) from per-sub-space terms: ``cnorm2 + terms[0] + ... +
    terms[M-1]`` in float64, in order, clipped at 0 (the engine's order)."""
    s = np.float64(cnorm2)
    for x in np.asarray(terms, dtype=np.float64):
        s = s + x
    return float(s if s > 0.0 else 0.0)


def code_norm2(cnorm2, cr: np.ndarray, sub_norm2: np.ndarray, e: np.ndarray) -> float:
    """``||q_hat||^2 = ||c + r^q||^2 = ||c||^2 + sum_m (2 <c_m, r_{m,e_m}> + ||r_{m,e_m}||^2)``
    for hard code ``e`` (eq. 13) from the stored terms: no vector is rebuilt (:func:`norm_sum`)."""
    ar = np.arange(e.shape[0])
    return norm_sum(cnorm2, 2.0 * cr[ar, e].astype(np.float64) + sub_norm2[ar, e])


# ---------------------------------------------------------------------------- IVF+G+P terms
def subregion_item_terms(centroid: np.ndarray, g: np.ndarray, rd: np.ndarray):
    """Per-item terms of items stored relative to a sub-centroid ``c + g_l``.

    ``g`` (n, d) float32 holds each item's ``g_l`` and ``rd`` (n, d) float32 its decoded
    residual ``r^d``. Returns ``(gr, dhat_norm2)``, both (n,) float32: ``2 <r^d, g_l>`` (the
    per-item term of eq. (14)) and ``||c + g_l + r^d||^2`` (the denominator of eq. (15)).
    """
    gr = 2 * np.einsum("nd,nd->n", rd, g)
    dhat = centroid + g + rd
    return gr, np.einsum("nd,nd->n", dhat, dhat)


def subregion_l2_const(g: np.ndarray, rq: np.ndarray) -> float:
    """Eq. (14)'s constant of sub-region ``l`` (offset ``g`` = ``g_l``, (d,) float32) for a
    query residual ``rq``: ``||g_l||^2 - 2 <r^q, g_l>`` in float64."""
    return float((g.astype(np.float64) ** 2).sum() - 2 * np.dot(rq, g))


def subregion_l2_scores(sdc: np.ndarray, codes: np.ndarray, gr: np.ndarray, const: float) -> np.ndarray:
    """Eq. (14) for items of a sub-region: ``||q_hat - d_hat||^2 = ||r^q - r^d||^2 +
    (||g_l||^2 - 2 <r^q, g_l>) + 2 <r^d, g_l>``: the SDC sum, plus the stored per-item term
    ``gr``, plus the sub-region's ``const`` (:func:`subregion_l2_const`) in float32. (n,) float32.
    """
    return adc_l2(sdc, codes) + gr + np.float32(const)
