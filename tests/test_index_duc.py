"""DUC baselines: inverted multi-index (IMIIndex) and IVF+G+P (GPIndex).

Every score is checked against the formula it implements, evaluated on decoded vectors:
``||q_hat - d_hat||²`` (eq. 14) and ``<q_hat, d_hat> / (||q_hat|| ||d_hat||)`` (eq. 15).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dscref.index.base import Query
from dscref.index.gp import GPIndex
from dscref.index.imi import IMIIndex, multi_sequence

N, D = 1500, 16
KW = dict(M=4, nbits=4, n_iter=8, seed=0, keep_vectors=True)


def _data(n=N, d=D, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def x():
    return _data()


@pytest.fixture(scope="module")
def queries(x):
    rng = np.random.default_rng(1)
    q = x[:6] + 0.1 * rng.standard_normal((6, D)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def imi(x):
    return IMIIndex(n_centroids_per_half=6, coarse_iter=8, **KW).build(x)


@pytest.fixture(scope="module")
def gp(x):
    return GPIndex(n_lists=16, n_neighbors=4, coarse_iter=8, **KW).build(x)


@pytest.fixture(scope="module")
def gp_centroid(x):
    return GPIndex(n_lists=16, n_neighbors=4, coarse_iter=8, residual="centroid", alpha="global",
                   **KW).build(x)


# ---------------------------------------------------------------- brute-force references
def _row_cell(index):
    return np.repeat(np.arange(index.n_lists), np.diff(index.offsets_))


def _reconstruct_rows(index):
    """d_hat of every stored row (n, d) float64: reference vector + decoded residual."""
    cell = _row_cell(index)
    ref = index.centroids_[cell].astype(np.float64)
    if isinstance(index, GPIndex) and index.residual == "subcentroid":
        L = index.L
        sub = np.repeat(np.arange(index.K * L) % L, np.diff(index.sub_offsets_))
        nb = index.centroids_[index.neighbors_[cell, sub]].astype(np.float64)
        ref = ref + index.alpha_[cell][:, None].astype(np.float64) * (nb - ref)
    return ref + index.pqs_[0].decode(index.codes_).astype(np.float64)


def _brute_scores(index, query, metric):
    """{id: score} over every row of the head cells, from decoded vectors."""
    dhat = _reconstruct_rows(index)
    out = {}
    for j, lab in enumerate(query.labels):
        qhat = index.centroids_[lab].astype(np.float64) + index.pqs_[0].decode(query.codes[j][None])[0]
        a, b = index.offsets_[lab], index.offsets_[lab + 1]
        for row in range(a, b):
            dv = dhat[row]
            if metric == "l2":
                s = ((qhat - dv) ** 2).sum()
            else:
                s = qhat @ dv / (np.linalg.norm(qhat) * np.linalg.norm(dv))
            out[int(index.ids_[row])] = s
    return out


def _check_scores(index, query, metric, exhaustive=True):
    ref = _brute_scores(index, query, metric)
    res = index.search(query, k=index.ntotal, metric=metric)
    got = {int(i): float(s) for i, s in zip(res.I[0], res.D[0]) if i >= 0}
    assert len(got) == res.n_candidates[0]
    if exhaustive:
        assert set(got) == set(ref)
    else:
        assert set(got) <= set(ref)
    ids = np.array(sorted(got))
    np.testing.assert_allclose([got[i] for i in ids], [ref[i] for i in ids], rtol=1e-4, atol=2e-5)


def _exact_knn(x, q, k, metric):
    if metric == "l2":
        s = ((x.astype(np.float64) - q) ** 2).sum(1)
        return np.sort(s)[:k]
    s = x.astype(np.float64) @ q / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    return -np.sort(-s)[:k]


# ---------------------------------------------------------------- multi-sequence algorithm
@given(
    d1=hnp.arrays(np.float64, st.integers(1, 9), elements=st.integers(0, 6).map(float)),
    d2=hnp.arrays(np.float64, st.integers(1, 9), elements=st.floats(0, 5, allow_nan=False)),
    n_out=st.integers(1, 90),
    mask_seed=st.integers(0, 2**16),
)
def test_multi_sequence_equals_sorting_all_sums(d1, d2, n_out, mask_seed):
    sums = (d1[:, None] + d2[None, :]).ravel()
    for accept in (None, np.random.default_rng(mask_seed).random(sums.size) < 0.5):
        cells = multi_sequence(d1, d2, n_out, accept)
        allowed = np.arange(sums.size) if accept is None else np.flatnonzero(accept)
        assert cells.dtype == np.int64
        assert cells.size == min(n_out, allowed.size)
        assert np.unique(cells).size == cells.size and np.isin(cells, allowed).all()
        # same sums as the brute-force sort (the order of tied cells may differ)
        np.testing.assert_array_equal(sums[cells], np.sort(sums[allowed], kind="stable")[:cells.size])


def test_imi_traverse_equals_brute_force(imi, queries):
    K = imi.K
    for q in queries:
        cells = imi.traverse(q, K * K)
        full = ((imi.centroids_.astype(np.float64) - q) ** 2).sum(1)
        np.testing.assert_allclose(full[cells], np.sort(full), rtol=1e-9, atol=1e-12)
        assert np.unique(cells).size == K * K
        head = imi.head(q, 7)  # skip_empty by default: the first non-empty cells, in order
        assert imi.nonempty_[head].all()
        np.testing.assert_array_equal(head, cells[imi.nonempty_[cells]][:7])
        np.testing.assert_array_equal(imi.traverse(q, 7, skip_empty=True), head)


def test_imi_structure(imi, x):
    K = imi.K
    assert imi.centroids_.shape == (K * K, D) and imi.centroids_.dtype == np.float32
    i, j = 4, 2
    np.testing.assert_array_equal(imi.centroids_[i * K + j], np.r_[imi.codebook1_[i], imi.codebook2_[j]])
    # every row sits in its nearest cell (the distance splits over the halves)
    cell = _row_cell(imi)
    full = ((x[imi.ids_][:, None, :] - imi.centroids_[None]) ** 2).sum(2)
    np.testing.assert_array_equal(full[np.arange(N), cell], full.min(1))
    assert imi.ids_.dtype == np.int64 and imi.codes_.dtype == np.uint8
    assert IMIIndex(n_centroids_per_half=32).label_bits == 10
    assert imi.head(x[0], 10 ** 6).size == imi.nonempty_.sum()


# ---------------------------------------------------------------- IVF+G+P structure
def test_gp_grouping(gp, x):
    L = gp.L
    assert gp.neighbors_.shape == (gp.K, L)
    assert not (gp.neighbors_ == np.arange(gp.K)[:, None]).any()
    np.testing.assert_array_equal(gp.sub_offsets_[::L], gp.offsets_)
    assert ((gp.alpha_ >= 0) & (gp.alpha_ < 1)).all()
    # each row sits in its nearest sub-region and is coded relative to that sub-centroid
    cell = _row_cell(gp)
    sub = np.repeat(np.arange(gp.K * L) % L, np.diff(gp.sub_offsets_))
    xs = x[gp.ids_].astype(np.float64)
    c = gp.centroids_.astype(np.float64)
    subc = c[cell][:, None] + gp.alpha_[cell][:, None, None] * (c[gp.neighbors_[cell]] - c[cell][:, None])
    dist = ((xs[:, None] - subc) ** 2).sum(2)
    np.testing.assert_allclose(dist[np.arange(N), sub], dist.min(1), rtol=1e-5, atol=1e-6)
    own = subc[np.arange(N), sub].astype(np.float32)
    np.testing.assert_array_equal(gp.codes_, gp.pqs_[0].encode(x[gp.ids_] - own))


def test_gp_subcentroid_residuals_are_smaller(gp, gp_centroid, x):
    err_sub = ((_reconstruct_rows(gp) - x[gp.ids_]) ** 2).sum()
    err_c = ((_reconstruct_rows(gp_centroid) - x[gp_centroid.ids_]) ** 2).sum()
    assert err_sub < err_c
    assert np.unique(gp_centroid.alpha_).size == 1


# ---------------------------------------------------------------- scores == brute force
@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("name", ["imi", "gp", "gp_centroid"])
def test_lut_scores_equal_decoded_formula(name, metric, request, queries):
    index = request.getfixturevalue(name)
    saved = getattr(index, "prune", None)
    try:
        if isinstance(index, GPIndex):
            index.prune = None
        for q in queries[:3]:
            _check_scores(index, index.encode_query(q, n_probe=4), metric)
        if isinstance(index, GPIndex):  # pruned: a subset, same scores
            index.prune = "mean"
            _check_scores(index, index.encode_query(queries[3], n_probe=4), metric, exhaustive=False)
    finally:
        if isinstance(index, GPIndex):
            index.prune = saved


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


@pytest.mark.parametrize("rule", ["mean", 0.5, 0.25])
def test_gp_pruning_scans_fewer(gp, queries, rule):
    queries_ = [gp.encode_query(q, n_probe=5) for q in queries]
    saved = gp.prune
    try:
        gp.prune = None
        full = gp.search(queries_, k=20).n_candidates
        gp.prune = rule
        pruned = gp.search(queries_, k=20).n_candidates
    finally:
        gp.prune = saved
    assert (pruned <= full).all() and (pruned < full).any() and (pruned > 0).all()


def test_gp_keeps_nearest_subregion_when_all_tie():
    mask = GPIndex(n_lists=4, n_neighbors=2, prune="mean")._kept(np.full(5, 0.3))
    assert mask.sum() == 1


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("make", [
    lambda: IMIIndex(n_centroids_per_half=4, M=4, nbits=4, n_iter=4, coarse_iter=4, seed=3),
    lambda: GPIndex(n_lists=8, n_neighbors=3, M=4, nbits=4, n_iter=4, coarse_iter=4, seed=3),
])
def test_seeded_build_is_deterministic(make):
    x = _data(600, seed=5)
    a, b = make().build(x), make().build(x)
    for attr in ("centroids_", "ids_", "codes_", "offsets_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    qa = [a.encode_query(v, n_probe=3) for v in x[:4]]
    qb = [b.encode_query(v, n_probe=3) for v in x[:4]]
    ra, rb = a.search(qa, 5), b.search(qb, 5)
    np.testing.assert_array_equal(ra.I, rb.I)
    np.testing.assert_array_equal(ra.D, rb.D)


# ---------------------------------------------------------------- bad input
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
        index.encode_query(np.full(D, np.nan, np.float32))
    with pytest.raises(ValueError, match=str(index.n_lists)):
        index.encode_query(x[0], top_labels=[0, index.n_lists])
    with pytest.raises(ValueError, match=str(index.n_lists + 3)):
        index.search(Query(labels=[index.n_lists + 3], codes=np.zeros((1, 4), np.uint8)))
    with pytest.raises(ValueError, match="n_probe=0"):
        index.encode_query(x[0], n_probe=0)
    with pytest.raises(TypeError, match="str"):
        index.search("not a query")


def test_bad_parameters_raise(x):
    with pytest.raises(ValueError, match="n_centroids_per_half=0"):
        IMIIndex(n_centroids_per_half=0)
    with pytest.raises(TypeError, match="skip_empty"):
        IMIIndex(skip_empty="yes")
    with pytest.raises(ValueError, match="d=15"):
        IMIIndex(n_centroids_per_half=2, M=1, nbits=2).build(x[:, :15])
    with pytest.raises(ValueError, match="n_neighbors=8 must be < n_lists=8"):
        GPIndex(n_lists=8, n_neighbors=8)
    with pytest.raises(ValueError, match="prune=1.5"):
        GPIndex(n_lists=8, n_neighbors=2, prune=1.5)
    with pytest.raises(ValueError, match="'median'"):
        GPIndex(n_lists=8, n_neighbors=2, prune="median")
    with pytest.raises(ValueError, match="'local'"):
        GPIndex(n_lists=8, n_neighbors=2, alpha="local")
    with pytest.raises(ValueError, match="n_lists=2000"):
        GPIndex(n_lists=2000, n_neighbors=2).build(x)
    with pytest.raises(ValueError, match="not built"):
        GPIndex(n_lists=8, n_neighbors=2).encode_query(x[0])
