"""InvertedPQIndex (dscref.index.base): raw-feature mode, batched search, query validation --
the search machinery every index class shares."""

import numpy as np
import pytest

from index_data import N
from dscref.index.base import Query
from dscref.index.gp import GPIndex


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_raw_mode_returns_exact_neighbours_when_all_lists_probed(lut_index, lut, metric):
    kind, index = lut_index
    x, labels, rng = lut
    everything = np.arange(index.n_lists)
    for qi in rng.choice(len(x), 3, replace=False):
        q = x[qi] + 0.1 * rng.standard_normal(x.shape[1]).astype(np.float32)
        query = index.encode_query(q, top_labels=everything if kind != "flat" else [0], raw=True)
        D, I, _ = index.search(query, k=10, metric=metric)
        if metric == "l2":
            truth = np.argsort(((x - q) ** 2).sum(1), kind="stable")[:10]
        else:
            truth = np.argsort(-(x @ q) / np.linalg.norm(x, axis=1), kind="stable")[:10]
        np.testing.assert_array_equal(I[0], truth)


def _exact_knn(x, q, k, metric):
    if metric == "l2":
        s = ((x.astype(np.float64) - q) ** 2).sum(1)
        return np.sort(s)[:k]
    s = x.astype(np.float64) @ q / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    return -np.sort(-s)[:k]


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("name", ["imi", "gp"])
def test_raw_mode_probing_everything_is_exact(name, metric, request, x, queries):
    index = request.getfixturevalue(name)
    saved = getattr(index, "prune", None)
    try:
        if isinstance(index, GPIndex):
            index.prune = None
        for q in queries:
            query = index.encode_query(q, n_probe=index.n_lists, raw=True)
            res = index.search(query, k=10, metric=metric)
            assert res.n_candidates[0] == N
            np.testing.assert_allclose(res.D[0], _exact_knn(x, q, 10, metric), rtol=1e-5, atol=1e-6)
            s = ((x[res.I[0]] - q) ** 2).sum(1) if metric == "l2" else x[res.I[0]] @ q
            np.testing.assert_allclose(s, res.D[0], rtol=1e-5, atol=1e-6)
    finally:
        if isinstance(index, GPIndex):
            index.prune = saved


@pytest.mark.parametrize("name", ["imi", "gp"])
def test_bad_queries_raise(name, request, x):
    index = request.getfixturevalue(name)
    q = index.encode_query(x[0], n_probe=3)
    with pytest.raises(ValueError, match="17"):
        index.encode_query(np.zeros(17, np.float32))
    with pytest.raises(ValueError, match="k=0"):
        index.search(q, k=0)
    with pytest.raises(ValueError, match="'hamming'"):
        index.search(q, metric="hamming")
    with pytest.raises(ValueError, match="(?i)nan"):
        index.encode_query(np.full(16, np.nan, np.float32))
    with pytest.raises(ValueError, match=str(index.n_lists)):
        index.encode_query(x[0], top_labels=[0, index.n_lists])
    with pytest.raises(ValueError, match=str(index.n_lists + 3)):
        index.search(Query(labels=[index.n_lists + 3], codes=np.zeros((1, 4), np.uint8)))
    with pytest.raises(ValueError, match="n_probe=0"):
        index.encode_query(x[0], n_probe=0)
    with pytest.raises(TypeError, match="str"):
        index.search("not a query")
