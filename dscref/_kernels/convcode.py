"""Numba kernels of the soft-decision Viterbi decoder (add-compare-select and traceback).

Arguments are marked IN / OUT; no validation (see :mod:`dscref.convcode`, which builds the
branch table, depunctures the LLRs and checks every array). The NumPy twin is
:mod:`dscref._reference.convcode`; both do the same float64 additions in the same order and
break ties the same way (the even predecessor wins), so decoded bits and path metrics agree
exactly. No ``fastmath``.

Trellis convention (rate 1/2, memory m, ``2**m`` states): the state is the last m input bits,
the newest in the most significant place. A step with input u from state p goes to
``s = (u << (m - 1)) | (p >> 1)``; the two predecessors of s are ``p = ((s mod 2**(m-1)) << 1) | b``
for b in {0, 1}, and its input bit is ``u = s >> (m - 1)``.
"""

import numba as nb
import numpy as np

from .._threads import parallel_kernel


@nb.njit(cache=True)
def viterbi_block(llr, btype, n_info, bits_out, dec, pm, new):
    """Max-log Viterbi decoding of one zero-terminated block; returns the final path metric.

    Branch metric of coded pair (c0, c1) at step t: ``(+-llr[2t]) + (+-llr[2t+1])``, sign +
    for a 0 bit (``LLR = log P(0)/P(1)``); maximising the summed correlation is max-log ML
    sequence decoding (hard decisions: LLR = +-1, i.e. minimum Hamming distance).
    The path starts and ends in state 0 (full traceback from state 0).

    IN  llr (2T,) float64, depunctured (punctured positions hold 0)
    IN  btype (S, 2) int64: ``2 c0 + c1`` of the branch into state s from its predecessor b
    IN  n_info int <= T: info bits to write (the tail bits follow them)
    OUT bits_out (n_info,) uint8
    scratch dec (T, S) uint8 (survivor decisions), pm (S,) float64, new (S,) float64
    """
    T = llr.shape[0] // 2
    S = btype.shape[0]
    half = S // 2
    for s in range(S):
        pm[s] = -np.inf
    pm[0] = 0.0
    bm = np.empty(4)
    for t in range(T):
        l0 = llr[2 * t]
        l1 = llr[2 * t + 1]
        bm[0] = l0 + l1          # (c0, c1) = (0, 0)
        bm[1] = l0 - l1          # (0, 1)
        bm[2] = -l0 + l1         # (1, 0)
        bm[3] = -l0 - l1         # (1, 1)
        for s in range(S):
            p = (s % half) * 2
            m0 = pm[p] + bm[btype[s, 0]]
            m1 = pm[p + 1] + bm[btype[s, 1]]
            if m1 > m0:          # add-compare-select; ties keep the even predecessor
                new[s] = m1
                dec[t, s] = 1
            else:
                new[s] = m0
                dec[t, s] = 0
        for s in range(S):
            pm[s] = new[s]
    metric = pm[0]
    s = 0
    for t in range(T - 1, -1, -1):
        if t < n_info:
            bits_out[t] = s // half
        s = (s % half) * 2 + dec[t, s]
    return metric


@nb.njit(cache=True)
def viterbi_batch(llr, btype, n_info, bits_out, metric_out):
    """:func:`viterbi_block` on every row, serially.

    IN  llr (n, 2T) float64, btype (S, 2) int64, n_info int
    OUT bits_out (n, n_info) uint8, metric_out (n,) float64
    """
    T = llr.shape[1] // 2
    S = btype.shape[0]
    dec = np.empty((T, S), dtype=np.uint8)
    pm = np.empty(S)
    new = np.empty(S)
    for r in range(llr.shape[0]):
        metric_out[r] = viterbi_block(llr[r], btype, n_info, bits_out[r], dec, pm, new)


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def viterbi_batch_parallel(llr, btype, n_info, bits_out, metric_out):
    """:func:`viterbi_batch` with the rows (independent codewords) spread over threads; each
    row's arithmetic is that of :func:`viterbi_block`, so results do not depend on the threads."""
    T = llr.shape[1] // 2
    S = btype.shape[0]
    for r in nb.prange(llr.shape[0]):
        dec = np.empty((T, S), dtype=np.uint8)
        pm = np.empty(S)
        new = np.empty(S)
        metric_out[r] = viterbi_block(llr[r], btype, n_info, bits_out[r], dec, pm, new)
