"""Exhaustive search (dscref.index.exact): ExactSearch against NumPy brute force."""

import numpy as np
import pytest

from dscref.index.exact import EXACT_CHUNK_ROWS, ExactSearch, exact_search


def _data(n=257, nq=9, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((nq, d)).astype(np.float32)


def _brute(xb, xq, k, metric):
    """float64 scores, stable sort: ties (none with continuous data) would go to the smaller id."""
    xb64, xq64 = xb.astype(np.float64), xq.astype(np.float64)
    if metric == "l2":
        s = ((xq64[:, None, :] - xb64[None]) ** 2).sum(-1)
        order = np.argsort(s, axis=1, kind="stable")
    else:
        s = xq64 @ xb64.T
        if metric == "cosine":
            s /= np.linalg.norm(xq64, axis=1)[:, None] * np.linalg.norm(xb64, axis=1)[None, :]
        order = np.argsort(-s, axis=1, kind="stable")
    I = order[:, :k]
    return np.take_along_axis(s, I, 1), I


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 256, 257, EXACT_CHUNK_ROWS])
def test_matches_brute_force(metric, chunk_rows):
    xb, xq = _data()
    res = ExactSearch(xb, chunk_rows=chunk_rows).search(xq, 20, metric)
    D, I = _brute(xb, xq, 20, metric)
    np.testing.assert_array_equal(res.I, I)
    np.testing.assert_allclose(res.D, D, rtol=1e-4, atol=1e-4)
    assert res.D.dtype == np.float32 and res.I.dtype == np.int64
    np.testing.assert_array_equal(res.n_candidates, np.full(len(xq), len(xb)))


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_chunking_changes_no_ranking(metric):
    """The chunk size only changes the shapes BLAS multiplies (so, possibly, scores' last bits)."""
    xb, xq = _data(n=1000, d=32)
    whole = ExactSearch(xb).search(xq, 50, metric)
    for rows in (1, 3, 100, 999):
        part = ExactSearch(xb, chunk_rows=rows).search(xq, 50, metric)
        np.testing.assert_array_equal(part.I, whole.I)
        np.testing.assert_allclose(part.D, whole.D, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ExactSearch(xb, 7).scores(xq, metric), ExactSearch(xb).scores(xq, metric),
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("metric, pad", [("l2", np.inf), ("ip", -np.inf), ("cosine", -np.inf)])
def test_k_beyond_n_is_padded(metric, pad):
    xb, xq = _data(n=5, nq=3)
    res = ExactSearch(xb, chunk_rows=2).search(xq, 8, metric)
    assert res.I.shape == res.D.shape == (3, 8)
    np.testing.assert_array_equal(np.sort(res.I[:, :5], axis=1), np.tile(np.arange(5), (3, 1)))
    assert (res.I[:, 5:] == -1).all() and (res.D[:, 5:] == pad).all()
    np.testing.assert_array_equal(res.I[:, :5], _brute(xb, xq, 5, metric)[1])
    empty = ExactSearch(np.zeros((0, xb.shape[1]), np.float32)).search(xq, 3)
    assert (empty.I == -1).all() and np.isinf(empty.D).all()


def test_memory_mapped_database(tmp_path):
    xb, xq = _data(n=300)
    path = tmp_path / "xb.npy"
    np.save(path, xb)
    mm = np.load(path, mmap_mode="r")
    es = ExactSearch(mm, chunk_rows=64)
    assert es.xb is mm  # not copied
    got, want = es.search(xq, 10), ExactSearch(xb, chunk_rows=64).search(xq, 10)
    np.testing.assert_array_equal(got.I, want.I)
    np.testing.assert_array_equal(got.D, want.D)
    np.testing.assert_array_equal(exact_search(mm, xq, 10, "ip", 64).I, _brute(xb, xq, 10, "ip")[1])


def test_l2_distances_are_never_negative():
    xb, _ = _data(n=50, d=64)
    xb *= 1000  # large norms: ||x||^2 - 2<x,x> + ||x||^2 rounds around 0
    res = ExactSearch(xb).search(xb, 1)
    np.testing.assert_array_equal(res.I[:, 0], np.arange(50))
    assert (res.D >= 0).all()


def test_norms_are_kept_between_searches():
    xb, xq = _data()
    es = ExactSearch(xb, chunk_rows=10)
    n2 = es.norm2()
    assert es.norm2() is n2
    np.testing.assert_allclose(n2, (xb.astype(np.float64) ** 2).sum(1), rtol=1e-5)


def test_bad_input_is_refused():
    xb, xq = _data()
    with pytest.raises(ValueError, match="metric"):
        ExactSearch(xb).search(xq, 3, "hamming")
    with pytest.raises(ValueError, match="d=12 columns"):
        ExactSearch(xb).search(xq[:, :5], 3)
    with pytest.raises(ValueError, match="k"):
        ExactSearch(xb).search(xq, 0)
    with pytest.raises(ValueError, match="chunk_rows"):
        ExactSearch(xb, chunk_rows=0)
    with pytest.raises(ValueError, match="2-D"):
        ExactSearch(xb[0])
    with pytest.raises(ValueError, match="column"):
        ExactSearch(np.zeros((3, 0), np.float32))
    with pytest.raises(TypeError, match="real numbers"):
        ExactSearch(xb.astype(complex))
    assert ExactSearch(xb.astype(np.float64)).xb.dtype == np.float32  # converted once
    bad = xb.copy()
    bad[130, 4] = np.nan
    with pytest.raises(ValueError, match=r"xb holds a non-finite value .*nan.* at index \(130, 4\)"):
        ExactSearch(bad, chunk_rows=50).search(xq, 3)
    bad[130, 4] = 1e30
    with pytest.raises(ValueError, match=r"at index \(130, 4\)"):
        ExactSearch(bad, chunk_rows=50).search(xq, 3, "ip")
    bad = xq.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="xq"):
        ExactSearch(xb).search(bad, 3)
