"""NumPy twin of the Viterbi kernels (see :mod:`dscref._kernels.convcode`), written for clarity.

The trellis is rebuilt here from the generator polynomials (not taken from the public module),
every codeword of the batch advances together, and each step does the kernel's additions in the
kernel's order with the kernel's tie rule (the even predecessor wins), so the decoded bits and
path metrics equal the kernel's exactly.
"""

from __future__ import annotations

import numpy as np


def branch_table_ref(generators=(0o133, 0o171), K: int = 7) -> np.ndarray:
    """``btype[s, b] = 2 c0 + c1``: the coded pair on the branch into state s from predecessor
    ``p = ((s mod 2**(K-2)) << 1) | b`` with input ``u = s >> (K-2)``; the shift register is
    ``(u << (K-1)) | p`` (newest bit most significant, as the octal generators are written)."""
    S, half = 1 << (K - 1), 1 << (K - 2)
    out = np.empty((S, 2), dtype=np.int64)
    for s in range(S):
        for b in range(2):
            reg = ((s >> (K - 2)) << (K - 1)) | ((s % half) << 1) | b
            c0 = bin(reg & generators[0]).count("1") & 1
            c1 = bin(reg & generators[1]).count("1") & 1
            out[s, b] = 2 * c0 + c1
    return out


def viterbi_ref(llr, n_info: int, generators=(0o133, 0o171), K: int = 7):
    """Max-log Viterbi on a batch of depunctured, zero-terminated blocks.

    Parameters
    ----------
    llr : ndarray (n, 2T) float64
    n_info : int

    Returns
    -------
    bits : ndarray (n, n_info) uint8
    metric : ndarray (n,) float64
        Final metric of state 0: ``max over paths of sum_t (+-llr[2t]) + (+-llr[2t+1])``.
    """
    llr = np.asarray(llr, dtype=np.float64)
    n, T = llr.shape[0], llr.shape[1] // 2
    btype = branch_table_ref(generators, K)
    S, half = btype.shape[0], btype.shape[0] // 2
    pred0 = (np.arange(S) % half) * 2  # even predecessor of each state; the odd one is pred0 + 1
    pm = np.full((n, S), -np.inf)
    pm[:, 0] = 0.0
    dec = np.empty((T, n, S), dtype=np.uint8)
    for t in range(T):
        l0, l1 = llr[:, 2 * t], llr[:, 2 * t + 1]
        bm = np.stack([l0 + l1, l0 - l1, -l0 + l1, -l0 - l1], axis=1)  # (n, 4), index 2 c0 + c1
        m0 = pm[:, pred0] + bm[:, btype[:, 0]]
        m1 = pm[:, pred0 + 1] + bm[:, btype[:, 1]]
        take1 = m1 > m0
        dec[t] = take1
        pm = np.where(take1, m1, m0)
    bits = np.zeros((n, n_info), dtype=np.uint8)
    rows = np.arange(n)
    s = np.zeros(n, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        if t < n_info:
            bits[:, t] = s // half
        s = (s % half) * 2 + dec[t, rows, s]
    return bits, pm[:, 0].copy()
