"""The kernels' sanity check behind ``dscref selftest``: a product quantizer on seeded clustered
data, ADC search, and recall against exact brute-force search.

:func:`selftest` trains a PQ (M sub-quantizers of 8 bits) on ``n`` points drawn around 1000
Gaussian centres, encodes them, ranks the database for ``nq`` queries by asymmetric distance
(eq. 14 of Wang & Qi, :func:`dscref.scoring.adc_l2`) and compares the ADC top-10 with the exact
top-10 of :class:`dscref.index.exact.ExactSearch`. It returns a :class:`SelftestResult`; the
command prints it.

>>> from dscref.selftest import selftest
>>> res = selftest(n=2000, d=16, M=4, nq=20)            # doctest: +SKIP
>>> res.recall, res.nn_recall, res.passed               # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._validate import check_int

__all__ = ["selftest", "selftest_data", "SelftestResult", "SELFTEST_K", "SELFTEST_CENTERS"]

SELFTEST_K = 10          # recall@10
SELFTEST_CENTERS = 1000  # Gaussian blobs of the data
_NBITS = 8


@dataclass(frozen=True)
class SelftestResult:
    """What :func:`selftest` measured.

    Attributes
    ----------
    n, d, M, nbits, nq, seed : int
        The run's sizes.
    fit_seconds, search_seconds : float
        PQ training + encoding (includes Numba compilation on a first run); ADC search.
    mse : float
        Mean squared reconstruction error ``||x - decode(encode(x))||^2`` over the database.
    mean_sq_norm : float
        Mean squared norm of the database rows (the scale of ``mse``).
    recall : float
        recall@10: share of the exact top-10 found in the ADC top-10, averaged over queries.
    nn_recall : float
        1-recall@10 (faiss's R@10): share of queries whose exact nearest neighbour is in the
        ADC top-10.
    """

    n: int
    d: int
    M: int
    nbits: int
    nq: int
    seed: int
    fit_seconds: float
    search_seconds: float
    mse: float
    mean_sq_norm: float
    recall: float
    nn_recall: float

    @property
    def passed(self) -> bool:
        """The check passes when the exact nearest neighbour is in the ADC top-10 for most queries."""
        return self.nn_recall > 0.5


def selftest_data(n: int, nq: int, d: int, seed: int = 0) -> tuple:
    """The self-test's data: ``(xb (n, d), xq (nq, d))`` float32 around 1000 shared Gaussian
    centres (noise std 0.5), drawn from ``numpy.random.default_rng(seed)``.

    Isotropic noise alone has no near neighbours worth finding, which would make recall
    meaningless."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((SELFTEST_CENTERS, d)).astype(np.float32)
    xb = (centers[rng.integers(0, SELFTEST_CENTERS, n)] + 0.5 * rng.standard_normal((n, d))).astype(np.float32)
    xq = (centers[rng.integers(0, SELFTEST_CENTERS, nq)] + 0.5 * rng.standard_normal((nq, d))).astype(np.float32)
    return xb, xq


def selftest(n: int = 20000, d: int = 64, M: int = 8, nq: int = 100, seed: int = 0) -> SelftestResult:
    """Train a PQ on seeded clustered data, search by ADC, measure recall against exact search.

    Parameters
    ----------
    n : int >= 256
        Database size (a PQ of 8 bits needs 256 training points per sub-space).
    d : int >= 1
        Dimension, divisible by ``M``.
    M : int >= 1
        PQ sub-quantizers (8 bits each).
    nq : int >= 1
        Queries.
    seed : int >= 0
        Seed of the data and of the PQ's training.

    Returns
    -------
    SelftestResult

    Raises
    ------
    ValueError
        A size out of range, or ``d`` not divisible by ``M``.
    """
    from .index.exact import ExactSearch
    from .pq import ProductQuantizer
    from .scoring import adc_l2, topk

    n = check_int(n, "n", low=256)
    d, M, nq = check_int(d, "d", low=1), check_int(M, "M", low=1), check_int(nq, "nq", low=1)
    seed = check_int(seed, "seed", low=0)
    if d % M:
        raise ValueError(f"d={d} is not divisible by M={M}")
    k = SELFTEST_K
    xb, xq = selftest_data(n, nq, d, seed)
    t0 = time.perf_counter()
    pq = ProductQuantizer(M=M, nbits=_NBITS, seed=seed).fit(xb)
    codes = pq.encode(xb)
    t_fit = time.perf_counter() - t0
    luts = np.stack([pq.lut_l2(q) for q in xq])
    t0 = time.perf_counter()
    _, approx = topk(adc_l2(luts, codes), k)
    t_search = time.perf_counter() - t0
    truth = ExactSearch(xb).search(xq, k, metric="l2").I
    recall = float(np.mean([len(set(a) & set(t)) / k for a, t in zip(approx, truth)]))
    nn_recall = float(np.mean([t[0] in set(a) for a, t in zip(approx, truth)]))
    mse = float(((pq.decode(codes) - xb) ** 2).sum(1).mean())
    return SelftestResult(n=n, d=d, M=M, nbits=_NBITS, nq=nq, seed=seed, fit_seconds=t_fit,
                          search_seconds=t_search, mse=mse, mean_sq_norm=float((xb ** 2).sum(1).mean()),
                          recall=recall, nn_recall=nn_recall)
