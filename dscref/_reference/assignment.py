"""NumPy twins of the bit-error-robust kernels (see :mod:`dscref._kernels.robust`)."""

from __future__ import annotations

import numpy as np


def assignment_cost_ref(S, w, inv, pats, probs) -> float:
    """D = sum_x sum_e p_e w[inv x] S[inv x, inv(x ^ e)], by fancy indexing (float64)."""
    x = np.arange(inv.size)
    a = inv[x]
    total = 0.0
    for x0 in range(inv.size):
        nb = inv[x0 ^ pats]
        total += w[a[x0]] * float(np.sum(probs * S[a[x0], nb]))
    return total


def exact_distortion_ref(codebook, w, perm, p) -> float:
    """Expected distortion by brute-force enumeration of all error patterns.

    ``D = sum_k w_k sum_e P(e) ||r_k - r_{b^-1(b(k) ^ e)}||^2`` with ``b = perm`` (centroid k sent
    as index perm[k]), ``P(e) = p^|e| (1-p)^(nbits-|e|)``; independent of the kernels.
    """
    cb = np.asarray(codebook, dtype=np.float64)
    ksub = cb.shape[0]
    nbits = ksub.bit_length() - 1
    inv = np.empty(ksub, dtype=np.int64)
    inv[perm] = np.arange(ksub)
    total = 0.0
    for k in range(ksub):
        for e in range(ksub):
            h = bin(e).count("1")
            pe = p ** h * (1 - p) ** (nbits - h)
            j = inv[perm[k] ^ e]
            total += w[k] * pe * float(((cb[k] - cb[j]) ** 2).sum())
    return total


def swap_delta_ref(S, w, inv, pats, probs, i, j) -> float:
    """Delta of D for exchanging the items at indices i and j: cost after minus cost before."""
    after = inv.copy()
    after[i], after[j] = inv[j], inv[i]
    return assignment_cost_ref(S, w, after, pats, probs) - assignment_cost_ref(S, w, inv, pats, probs)


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
    """out[m, j] = sum_k post[m, k] table[m, k, j], float64, summed over k in ascending order."""
    M, ksub = post.shape
    out = np.zeros((M, ksub), dtype=np.float64)
    for k in range(ksub):
        out += post[:, k:k + 1] * table[:, k, :].astype(np.float64)
    return out
