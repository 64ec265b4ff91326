"""The self-test (dscref.selftest): its recall is the one a NumPy brute-force ground truth gives,
and its sizes are checked."""

import numpy as np
import pytest

from dscref.pq import ProductQuantizer
from dscref.selftest import SELFTEST_K, SelftestResult, selftest, selftest_data


@pytest.mark.parametrize("n, d, M, nq, seed", [(2000, 16, 4, 30, 1), (600, 8, 8, 12, 0)])
def test_selftest_recall_is_the_brute_force_recall(n, d, M, nq, seed):
    res = selftest(n=n, d=d, M=M, nq=nq, seed=seed)
    assert isinstance(res, SelftestResult) and (res.n, res.d, res.M, res.nbits, res.nq) == (n, d, M, 8, nq)
    xb, xq = selftest_data(n, nq, d, seed)
    pq = ProductQuantizer(M=M, nbits=8, seed=seed).fit(xb)
    codes = pq.encode(xb)
    # ADC: the distance of each query to each reconstructed item; exact: to each item (float64)
    rec = pq.decode(codes).astype(np.float64)
    q64 = xq.astype(np.float64)
    adc = ((q64[:, None, :] - rec[None]) ** 2).sum(-1)
    exact = ((q64[:, None, :] - xb.astype(np.float64)[None]) ** 2).sum(-1)
    approx = np.argsort(adc, axis=1, kind="stable")[:, :SELFTEST_K]
    truth = np.argsort(exact, axis=1, kind="stable")[:, :SELFTEST_K]
    recall = np.mean([len(set(a) & set(t)) / SELFTEST_K for a, t in zip(approx, truth)])
    nn_recall = np.mean([t[0] in set(a) for a, t in zip(approx, truth)])
    # float32 ADC tables may swap two near-equal candidates at the 10th place: one item per query at most
    assert res.recall == pytest.approx(recall, abs=1.0 / (SELFTEST_K * nq) + 1e-12)
    assert res.nn_recall == pytest.approx(nn_recall, abs=1.0 / nq + 1e-12)
    assert res.mse == pytest.approx(float(((rec - xb) ** 2).sum(1).mean()), rel=1e-4)
    assert res.mean_sq_norm == pytest.approx(float((xb.astype(np.float64) ** 2).sum(1).mean()), rel=1e-5)
    assert res.passed == (res.nn_recall > 0.5) and res.passed
    assert res.fit_seconds >= 0 and res.search_seconds >= 0


def test_selftest_is_reproducible():
    a, b = selftest(n=400, d=8, M=2, nq=5, seed=7), selftest(n=400, d=8, M=2, nq=5, seed=7)
    assert (a.recall, a.nn_recall, a.mse) == (b.recall, b.nn_recall, b.mse)


@pytest.mark.parametrize("kw, match", [({"d": 10, "M": 4}, "not divisible"), ({"n": 100}, "n"),
                                       ({"nq": 0}, "nq"), ({"seed": -1}, "seed"), ({"M": 1.5}, "M")])
def test_selftest_refuses_bad_sizes(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        selftest(**{"n": 400, "d": 8, "M": 2, "nq": 5, **kw})
