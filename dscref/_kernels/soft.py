"""Numba kernels of soft-decision decoding: sub-code posteriors from bit LLRs and expectations of
per-codeword tables under them.

Arguments are marked IN / OUT; no validation (see :mod:`dscref.soft`). All reductions are in
float64 and in a fixed order (no fastmath), so they match :mod:`dscref._reference.soft` and do
not depend on the number of BLAS threads.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _log_sigmoid(x):
    """log(1 / (1 + exp(-x))), stable for any x including +-inf."""
    if x >= 0:
        return -np.log1p(np.exp(-x))
    return x - np.log1p(np.exp(x))


@nb.njit(cache=True)
def posteriors(llr, nbits, out):
    """Posterior of every sub-code from its bit LLRs, normalised in the log domain.

    ``log P_m(k) = sum_t log sigma(+-llr[m*nbits + t]) - logsumexp``, sign + when bit t (MSB
    first, i.e. bit nbits-1-t of k) is 0. Bits are independent given the channel output.

    IN  llr (M * nbits,) float64 (LLR = log P(0)/P(1)), nbits int
    OUT out (M, 2**nbits) float64, rows summing to 1
    """
    M, ksub = out.shape
    l0 = np.empty(nbits, dtype=np.float64)
    l1 = np.empty(nbits, dtype=np.float64)
    for m in range(M):
        for t in range(nbits):
            v = llr[m * nbits + t]
            l0[t] = _log_sigmoid(v)
            l1[t] = _log_sigmoid(-v)
        mx = -np.inf
        for k in range(ksub):
            s = 0.0
            for t in range(nbits):
                if (k >> (nbits - 1 - t)) & 1:
                    s += l1[t]
                else:
                    s += l0[t]
            out[m, k] = s
            if s > mx:
                mx = s
        z = 0.0
        for k in range(ksub):
            out[m, k] = np.exp(out[m, k] - mx)
            z += out[m, k]
        for k in range(ksub):
            out[m, k] /= z


@nb.njit(cache=True)
def expected_rows(post, table, out):
    """``out[m, j] = sum_k post[m, k] * table[m, k, j]`` accumulated in float64, k ascending.

    The expectation of row ``table[m, k]`` under the posterior of sub-code m: the soft SDC rows
    (w = ksub), the posterior mean codeword (w = dsub) and the expected per-codeword norms and
    inner products (w = 1). With one-hot posteriors this is exactly the row of the certain code.

    IN  post (M, ksub) float64, table (M, ksub, w) float32 or float64
    OUT out (M, w) float64
    """
    M, ksub = post.shape
    w = table.shape[2]
    for m in range(M):
        for j in range(w):
            out[m, j] = 0.0
        for k in range(ksub):
            p = post[m, k]
            if p == 0.0:
                continue
            for j in range(w):
                out[m, j] += p * table[m, k, j]
