"""NumPy twins of the soft-decision kernels (see :mod:`dscref._kernels.soft`)."""

from __future__ import annotations

import numpy as np


def posteriors_ref(llr, M, nbits) -> np.ndarray:
    """P_m(k) proportional to prod_t P(bit_t(k) | llr), P(0 | L) = 1 / (1 + e^-L); log domain."""
    ksub = 1 << nbits
    L = np.asarray(llr, dtype=np.float64).reshape(M, nbits)
    with np.errstate(over="ignore"):
        l0 = -np.logaddexp(0.0, -L)  # log sigmoid(L)
        l1 = -np.logaddexp(0.0, L)   # log sigmoid(-L)
    k = np.arange(ksub)
    bits = (k[:, None] >> (nbits - 1 - np.arange(nbits))[None, :]) & 1  # (ksub, nbits), MSB first
    logp = np.where(bits[None] == 1, l1[:, None, :], l0[:, None, :]).sum(-1)  # (M, ksub)
    logp -= logp.max(1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(1, keepdims=True)


def expected_rows_ref(post, table) -> np.ndarray:
    """out[m, j] = sum_k post[m, k] table[m, k, j] for a (M, ksub, w) table, float64, summed over k
    in ascending order."""
    M, ksub = post.shape
    out = np.zeros((M, table.shape[2]), dtype=np.float64)
    for k in range(ksub):
        out += post[:, k:k + 1] * table[:, k, :].astype(np.float64)
    return out
