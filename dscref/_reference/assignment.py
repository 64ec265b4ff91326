"""NumPy twins of the index-assignment kernels (see :mod:`dscref._kernels.assignment`)."""

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
