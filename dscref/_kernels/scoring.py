"""Numba kernels for asymmetric distance computation (ADC) with lookup tables.

Arguments are marked IN / OUT; no validation (see :mod:`dscref.scoring`).
"""

import numba as nb
import numpy as np

# Codes per work unit: 4096 x 8 bytes = 32 KiB of codes, read once for every query of a batch.
CHUNK = 4096


@nb.njit(cache=True)
def _adc_l2_range(luts, codes, lo, hi, out):
    """out[q, i] = sum_m luts[q, m, codes[i, m]] for i in [lo, hi), float32, m = 0..M-1 in order."""
    nq, M, _ = luts.shape
    for q in range(nq):
        lut = luts[q]
        for i in range(lo, hi):
            s = np.float32(0.0)
            for m in range(M):
                s += lut[m, codes[i, m]]
            out[q, i] = s


@nb.njit(cache=True, parallel=True)
def adc_l2_batch(luts, codes, out):
    """out[q, i] = sum_m luts[q, m, codes[i, m]], float32, summed in order m = 0..M-1.

    Chunks of codes are independent work units (``prange``); inside a chunk every query's table
    is applied, so a batch of queries shares one pass over the codes.

    IN  luts (nq, M, ksub) float32, codes (n, M) uint8/uint16
    OUT out (nq, n) float32
    """
    n = codes.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in nb.prange(n_chunks):
        _adc_l2_range(luts, codes, c * CHUNK, min(c * CHUNK + CHUNK, n), out)


@nb.njit(cache=True)
def adc_l2_batch_serial(luts, codes, out):
    """:func:`adc_l2_batch` without a parallel region: for short lists, where starting threads
    costs more than the scan."""
    _adc_l2_range(luts, codes, 0, codes.shape[0], out)


@nb.njit(cache=True, parallel=True)
def adc_cosine(lut, codes, bias, q_norm2, db_norm2, out):
    """out[i] = (bias + sum_m lut[m, codes[i, m]]) / sqrt(q_norm2 * db_norm2[i]) (eq. 15).

    IN  lut (M, ksub) float32, codes (n, M), bias float32, q_norm2 float32, db_norm2 (n,) float32
    OUT out (n,) float32; 0 where the denominator is 0
    """
    M = lut.shape[0]
    n = codes.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in nb.prange(n_chunks):
        lo = c * CHUNK
        hi = min(lo + CHUNK, n)
        for i in range(lo, hi):
            s = bias
            for m in range(M):
                s += lut[m, codes[i, m]]
            den = np.sqrt(q_norm2 * db_norm2[i])
            out[i] = s / den if den > 0 else np.float32(0.0)
