"""Scoring with lookup tables (ADC) and top-k selection.

Asymmetric distance computation (Jégou et al. 2011): with a query's table
``lut[m, j] = ||q_m - r_mj||^2`` the distance to a database code ``e`` is
``sum_m lut[m, e_m]`` -- O(M) per candidate instead of O(F) (Wang & Qi, eq. 14 and the
complexity remark after eq. 15).
"""

from __future__ import annotations

import sys

import numpy as np

from ._threads import num_threads
from ._validate import F32_MAX, as_codes, check_finite, check_float, check_k

__all__ = ["adc_l2", "adc_l2_topk", "adc_cosine", "topk"]

# Below this many (query, code) pairs a scan runs on one thread. One thread scans ~3e8 pairs/s
# (M=8), so 2^22 pairs is ~12 ms; waking a sleeping worker costs a scheduler tick or several
# (4 ms each) when the machine is loaded, measured 5-20 ms on 2 busy cores.
_PARALLEL_MIN = 1 << 22


def _as_words(codes: np.ndarray) -> np.ndarray:
    """``codes`` (n, 8) uint8 viewed as (n,) uint64 (one load per code), else an empty array."""
    if codes.dtype == np.uint8 and codes.shape[1] == 8 and sys.byteorder == "little":
        return codes.view(np.uint64).reshape(-1)
    return np.empty(0, dtype=np.uint64)


def _check_lut_values(lut: np.ndarray, M: int, extra: int = 0) -> None:
    """Finite entries small enough that a sum of M of them (plus ``extra`` terms of the same
    bound) stays finite in float32."""
    check_finite(lut, "lut", max_abs=F32_MAX / (M + 1 + extra),
                 why=f"for M={M} (a score adds M entries in float32)")


def _check_luts(lut):
    lut = np.asarray(lut)
    if lut.dtype.kind != "f":
        raise TypeError(f"lut must be a float array, got dtype {lut.dtype}")
    if lut.ndim not in (2, 3):
        raise ValueError(f"lut must be (M, ksub) or (nq, M, ksub), got shape {lut.shape}")
    single = lut.ndim == 2
    _check_lut_values(lut[None] if single else lut, lut.shape[-2])
    luts = np.ascontiguousarray(lut[None] if single else lut, dtype=np.float32)
    return luts, single


def adc_l2(lut, codes) -> np.ndarray:
    """ADC distances of codes to one query or a batch of queries.

    Parameters
    ----------
    lut : ndarray (M, ksub) or (nq, M, ksub), float32
        Squared sub-distance tables (:meth:`dscref.pq.ProductQuantizer.lut_l2`).
    codes : ndarray (n, M), uint8 or uint16

    Returns
    -------
    ndarray (n,) float32, or (nq, n) for a batch of tables.
        ``sum_m lut[m, codes[i, m]]``, accumulated in float32.

    Notes
    -----
    Equals ``||q - decode(code)||^2`` to float32 rounding. Parallel over chunks of codes.
    """
    from ._kernels import scoring as kern

    luts, single = _check_luts(lut)
    codes = as_codes(codes, luts.shape[2])
    if codes.shape[1] != luts.shape[1]:
        raise ValueError(f"codes have M={codes.shape[1]} columns but the table has M={luts.shape[1]}")
    out = np.empty((luts.shape[0], codes.shape[0]), dtype=np.float32)
    if codes.shape[0] and luts.shape[0]:
        w = _as_words(codes)
        if codes.shape[0] * luts.shape[0] < _PARALLEL_MIN:
            kern.adc_l2_batch_serial(luts, codes, w, out)
        else:
            kern.adc_l2_batch(luts, codes, w, out)
    return out[0] if single else out


def _query_block(luts: np.ndarray) -> np.ndarray:
    """Tables (nqb, M, ksub) -> (M, ksub, W) with the query innermost, W = nqb rounded up to a
    multiple of 8 (zeros beyond nqb): the layout of the batched scan's vectorised query loop."""
    nqb, M, ksub = luts.shape
    lt = np.zeros((M, ksub, -(-nqb // 8) * 8), dtype=np.float32)
    lt[:, :, :nqb] = luts.transpose(1, 2, 0)
    return lt


def adc_l2_topk(lut, codes, k: int):
    """The k nearest codes by ADC distance, scan and selection fused (no (nq, n) matrix).

    Same result as ``topk(adc_l2(lut, codes), k)``, bit for bit, without writing the n
    distances of every query to memory: each thread scans its share of the codes in L1-sized
    chunks and keeps one bounded heap per query. A batch of queries is processed in blocks of
    64 (query blocking): the codes are streamed once per block, and each code's distances to
    the block's queries are summed as vectors over the queries.

    Parameters
    ----------
    lut : ndarray (M, ksub) or (nq, M, ksub), float32
    codes : ndarray (n, M), uint8 or uint16
    k : int >= 1

    Returns
    -------
    D : ndarray (k,) or (nq, k) float32, sorted ascending, padded with +inf
    I : ndarray (k,) or (nq, k) int64, row indices into ``codes``, ties by the smaller index,
        padded with -1
    """
    from ._kernels import scoring as kern

    luts, single = _check_luts(lut)
    codes = as_codes(codes, luts.shape[2])
    if codes.shape[1] != luts.shape[1]:
        raise ValueError(f"codes have M={codes.shape[1]} columns but the table has M={luts.shape[1]}")
    nq, n = luts.shape[0], codes.shape[0]
    k = check_k(k, n)
    ke = max(1, min(k, n))
    D = np.empty((nq, ke), dtype=np.float32)
    I = np.empty((nq, ke), dtype=np.int64)
    if n == 0 or nq == 0:
        D[:], I[:] = np.inf, -1
    else:
        threads = num_threads()
        n_parts = int(max(1, min(threads, n // (2 * kern.CHUNK))))
        if n * nq < _PARALLEL_MIN:  # short lists: one thread, one query at a time
            kern.adc_l2_topk_serial(luts, codes, _as_words(codes), ke, D, I)
        elif nq == 1:
            kern.adc_l2_topk(luts, codes, _as_words(codes), ke, n_parts, D, I)
        else:  # query blocks (also on one thread: a single part)
            for b0 in range(0, nq, kern.QUERY_BLOCK):
                lt = _query_block(luts[b0:b0 + kern.QUERY_BLOCK])
                nqb = min(kern.QUERY_BLOCK, nq - b0)
                kern.adc_l2_topk_blocked(lt, nqb, codes, ke, n_parts, D[b0:b0 + nqb], I[b0:b0 + nqb])
    if ke < k:
        D = np.concatenate([D, np.full((nq, k - ke), np.inf, np.float32)], 1)
        I = np.concatenate([I, np.full((nq, k - ke), -1, np.int64)], 1)
    return (D[0], I[0]) if single else (D, I)


def adc_cosine(lut, codes, bias: float, q_norm2: float, db_norm2) -> np.ndarray:
    """Cosine similarity of eq. (15) of Wang & Qi from lookup tables, O(M) per candidate.

    ``s = (bias + sum_m lut[m, e_m]) / sqrt(q_norm2 * db_norm2[i])`` where, for a list with
    centroid c and a query code e^q,

    * ``bias = ||c||^2 + sum_m <c_m, r_m^q>`` (query-side constant),
    * ``lut[m, j] = <c_m, r_mj> + <r_mj, r_m^q>`` (database-side terms of the numerator),
    * ``q_norm2 = sum_m ||c_m + r_m^q||^2`` and ``db_norm2[i] = sum_m ||c_m + r_m^{d_i}||^2``
      (precomputed at build time).

    Parameters
    ----------
    lut : ndarray (M, ksub) float32
    codes : ndarray (n, M) uint8/uint16
    bias : float, finite
    q_norm2 : float, finite, >= 0
    db_norm2 : ndarray (n,) float32, finite, >= 0

    Returns
    -------
    ndarray (n,) float32 (0 where a norm is 0).
    """
    from ._kernels import scoring as kern

    lut = np.asarray(lut)
    if lut.dtype.kind != "f":
        raise TypeError(f"lut must be a float array, got dtype {lut.dtype}")
    if lut.ndim != 2:
        raise ValueError(f"lut must be (M, ksub), got shape {lut.shape}")
    M = lut.shape[0]
    _check_lut_values(lut, M, extra=1)
    lut = np.ascontiguousarray(lut, dtype=np.float32)
    codes = as_codes(codes, lut.shape[1])
    if codes.shape[1] != M:
        raise ValueError(f"codes have M={codes.shape[1]} columns but the table has M={M}")
    bound = F32_MAX / (M + 2)
    bias = check_float(bias, "bias", low=-bound, high=bound)
    q_norm2 = check_float(q_norm2, "q_norm2", low=0.0, high=F32_MAX)
    db = np.asarray(db_norm2)
    if db.dtype.kind not in "fiu" or db.dtype == np.bool_:
        raise TypeError(f"db_norm2 must hold real numbers, got dtype {db.dtype}")
    if db.shape != (codes.shape[0],):
        raise ValueError(f"db_norm2 must have shape ({codes.shape[0]},), got {db.shape}")
    check_finite(db, "db_norm2", max_abs=F32_MAX)
    if db.size and db.min() < 0:
        raise ValueError(f"db_norm2 holds {float(db.min())!r}; squared norms are >= 0")
    db_norm2 = np.ascontiguousarray(db, dtype=np.float32)
    out = np.empty(codes.shape[0], dtype=np.float32)
    if codes.shape[0]:
        kern.adc_cosine(lut, codes, np.float32(bias), np.float32(q_norm2), db_norm2, out)
    return out


def _topk_row(s: np.ndarray, k: int, largest: bool, ids: np.ndarray | None = None):
    n = s.shape[0]
    key = -s if largest else s
    tie = np.arange(n) if ids is None else ids
    if k < n:
        part = np.argpartition(key, k - 1)[:k]
        kth = key[part].max()
        # every entry tied with the k-th value competes; the smaller ids win
        below = np.flatnonzero(key < kth)
        tied = np.flatnonzero(key == kth)
        tied = tied[np.argsort(tie[tied], kind="stable")][: k - below.size]
        cand = np.concatenate([below, tied])
    else:
        cand = np.arange(n)
    order = cand[np.lexsort((tie[cand], key[cand]))]
    pad = k - order.size
    D = np.concatenate([s[order], np.full(pad, -np.inf if largest else np.inf, dtype=s.dtype)])
    I = np.concatenate([tie[order].astype(np.int64), np.full(pad, -1, dtype=np.int64)])
    return D, I


def topk(scores, k: int, largest: bool = False, ids=None):
    """The k best scores, sorted, ties broken by the smaller id; O(n) selection per row.

    Parameters
    ----------
    scores : ndarray (n,) or (nq, n), float
    k : int >= 1
    largest : bool
        False for distances (smallest first), True for similarities.
    ids : ndarray (n,) int64, optional
        Ids of the 1-D ``scores`` (default: positions 0..n-1). Returned in ``I`` and used to
        break ties.

    Returns
    -------
    D : ndarray (k,) or (nq, k), scores.dtype -- padded with +inf (or -inf when ``largest``)
    I : ndarray (k,) or (nq, k), int64 -- ids (positions in ``scores``), padded with -1
    """
    if not isinstance(largest, (bool, np.bool_)):
        raise TypeError(f"largest must be a bool, got {largest!r}")
    largest = bool(largest)
    s = np.asarray(scores)
    if s.dtype.kind != "f":
        raise TypeError(f"scores must be floats, got dtype {s.dtype}")
    if s.ndim not in (1, 2):
        raise ValueError(f"scores must be 1-D or 2-D, got shape {s.shape}")
    k = check_k(k, s.shape[-1])
    if np.isnan(s).any():
        raise ValueError("scores hold NaN; cannot rank")
    if ids is not None:
        ids = np.asarray(ids)
        if s.ndim != 1 or ids.shape != s.shape or ids.dtype.kind not in "iu":
            raise ValueError(f"ids must be integers of the 1-D scores' shape {s.shape}, got {ids.shape}")
    if ids is not None:  # caller's ids break ties: the NumPy selection handles them
        return _topk_row(s, k, largest, ids)
    return _topk_kernel(s, k, largest)


def _topk_kernel(s: np.ndarray, k: int, largest: bool):
    """Bounded-heap selection (:func:`dscref._kernels.scoring.topk_rows`), O(n) per row."""
    from ._kernels import scoring as kern

    single = s.ndim == 1
    s2 = np.ascontiguousarray(s[None] if single else s)
    if s2.dtype not in (np.float32, np.float64):
        s2 = s2.astype(np.float64)
    nq, n = s2.shape
    ke = max(1, min(k, n))
    D = np.empty((nq, ke), dtype=s2.dtype)
    I = np.empty((nq, ke), dtype=np.int64)
    if n == 0:
        D[:], I[:] = (-np.inf if largest else np.inf), -1
    else:
        kern.topk_rows(s2, ke, largest, D, I)
    if ke < k:
        D = np.concatenate([D, np.full((nq, k - ke), -np.inf if largest else np.inf, D.dtype)], 1)
        I = np.concatenate([I, np.full((nq, k - ke), -1, np.int64)], 1)
    D = D.astype(s.dtype, copy=False)
    return (D[0], I[0]) if single else (D, I)
