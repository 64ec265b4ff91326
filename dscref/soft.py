"""Soft-decision decoding of PQ codes: sub-code posteriors from bit LLRs and expected tables.

A received PQ code need not be cut to hard bits: from the bit LLRs of its ``M * nbits`` bits,
:func:`posteriors` gives the probability of every sub-codeword index, and every per-codeword
table the search uses (the SDC rows of eq. (14), the codewords themselves, their norms and
inner products for eqs. (14)-(15)) is replaced by its expectation under that posterior
(:func:`expected_rows`). This module is the only implementation of that expectation: the
index's soft path (``Query.code_llr``, :meth:`dscref.index.base.InvertedPQIndex._probe_tables`)
and :func:`soft_lut_l2` both go through it. With certain bits (``+-inf`` LLRs) every expectation
is exactly the hard-decision value.

Conventions: ``LLR = log P(b=0 | y) / P(b=1 | y)`` (positive means bit 0), as in
:mod:`dscref.channel`; codes are packed MSB first (:mod:`dscref.bitpack`), so bit t (t = 0 first
on the wire) of a sub-code k is bit ``nbits - 1 - t`` of k.

References
----------
N. Farvardin, "A study of vector quantization for noisy channels", IEEE Trans. Inf. Theory
36(4), 1990 (soft-decision VQ decoding; see also REFERENCES.md).
"""

from __future__ import annotations

import numpy as np

from ._validate import as_llr, check_int

__all__ = ["posteriors", "expected_rows", "soft_lut_l2", "hard_codes"]


def posteriors(llr, M: int, nbits: int) -> np.ndarray:
    """Posterior probability of every sub-codeword index from the bit LLRs of one PQ code.

    Parameters
    ----------
    llr : ndarray (M * nbits,) float
        Bit LLRs of the code as sent (sub-code m's bits at ``m*nbits .. m*nbits + nbits - 1``,
        MSB first); ``+-inf`` means a certain bit.
    M, nbits : int

    Returns
    -------
    ndarray (M, 2**nbits) float64, rows summing to 1.

    Notes
    -----
    With independent bits, ``P_m(k) = prod_t P(bit_t(k) | LLR_t)`` and
    ``P(bit = 0 | L) = sigmoid(L)``, ``P(bit = 1 | L) = sigmoid(-L)``; evaluated in the log
    domain (``log sigmoid`` stable for any L) and normalised by log-sum-exp.
    """
    from ._kernels import soft as kern

    M = check_int(M, "M", low=1)
    nbits = check_int(nbits, "nbits", low=1, high=16)
    llr = as_llr(llr, "llr", M * nbits)
    out = np.empty((M, 1 << nbits), dtype=np.float64)
    kern.posteriors(llr, nbits, out)
    return out


def expected_rows(post: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Expectation of a per-codeword table under sub-code posteriors (prior validation assumed).

    Parameters
    ----------
    post : ndarray (M, ksub) float64
        Posteriors of the M sub-codes (:func:`posteriors`).
    table : ndarray (M, ksub, w) or (M, ksub), float32 or float64
        One row (or one value) per codeword of each sub-space: SDC rows (w = ksub), codewords
        (w = dsub), norms or inner products (2-D).

    Returns
    -------
    ndarray (M, w) float64 -- or (M,) for a 2-D table: ``sum_k post[m, k] * table[m, k]``.

    Notes
    -----
    One fixed-order kernel (k ascending, float64 accumulation, zero posteriors skipped): the
    result does not depend on BLAS or its threads, and with a one-hot posterior it is exactly
    the certain codeword's row.
    """
    from ._kernels import soft as kern

    flat = table.ndim == 2
    t = np.ascontiguousarray(table[:, :, None] if flat else table)
    out = np.empty((post.shape[0], t.shape[2]), dtype=np.float64)
    kern.expected_rows(np.ascontiguousarray(post, dtype=np.float64), t, out)
    return out[:, 0] if flat else out


def _check_table(table, name: str) -> np.ndarray:
    t = np.asarray(table)
    if t.ndim != 3 or t.shape[1] != t.shape[2]:
        raise ValueError(f"{name} must have shape (M, ksub, ksub), got {t.shape}")
    if t.dtype.kind != "f":
        raise TypeError(f"{name} must be float, got dtype {t.dtype}")
    ksub = t.shape[1]
    if ksub & (ksub - 1):
        raise ValueError(f"{name} has ksub={ksub} entries, not a power of two")
    t = np.ascontiguousarray(t, dtype=np.float32)
    if not np.isfinite(t).all():
        raise ValueError(f"{name} holds NaN/inf")
    return t


def soft_lut_l2(sdc, llr_bits, nbits: int) -> np.ndarray:
    """Expected-distance ADC table of a received code from its bit LLRs.

    Parameters
    ----------
    sdc : ndarray (M, ksub, ksub) float32
        Sub-codeword distances ``||r_mk - r_mj||^2`` (:meth:`ProductQuantizer.sdc_table`).
    llr_bits : ndarray (M * nbits,) float
    nbits : int, ``ksub = 2**nbits``

    Returns
    -------
    lut : ndarray (M, ksub) float32
        ``lut[m, j] = sum_k P_m(k) sdc[m, k, j] = E ||r_m^q - r_mj||^2`` under the posterior of
        :func:`posteriors`; accumulated in float64 (:func:`expected_rows`), rounded once. The
        hard ADC table of eq. (14) (the SDC row of the received code) is the special case of
        certain bits: with infinite LLRs the result equals ``sdc[m, e_m]`` exactly.

    Notes
    -----
    ``E||r^q - r_j||^2 = ||E r^q - r_j||^2 + tr Cov(r^q)``: the ranking within one list is the
    one of the posterior-mean (MMSE) reconstruction, and the variance term penalises uncertain
    head entries when the candidates of several lists are merged. Cost per query and head
    entry: M products of a (ksub,) vector with a (ksub, ksub) matrix, then the usual O(M) scan.
    Soft-decision VQ decoding: Farvardin 1990 and REFERENCES.md.
    """
    sdc = _check_table(sdc, "sdc")
    nbits = check_int(nbits, "nbits", low=1, high=16)
    if sdc.shape[1] != 1 << nbits:
        raise ValueError(f"sdc has {sdc.shape[1]} entries per row, expected 2**nbits={1 << nbits}")
    post = posteriors(llr_bits, sdc.shape[0], nbits)
    return expected_rows(post, sdc).astype(np.float32)


def hard_codes(llr, M: int, nbits: int) -> np.ndarray:
    """Hard decisions of code LLRs: (..., M * nbits) -> (..., M) uint8/uint16 (``llr < 0`` is 1)."""
    M = check_int(M, "M", low=1)
    nbits = check_int(nbits, "nbits", low=1, high=16)
    a = np.asarray(llr)
    a = as_llr(a, "llr", M * nbits, ndim=max(a.ndim, 1))
    bits = (a < 0).astype(np.int64).reshape(a.shape[:-1] + (M, nbits))
    vals = (bits << (nbits - 1 - np.arange(nbits))).sum(-1)
    return vals.astype(np.uint8 if nbits <= 8 else np.uint16)
