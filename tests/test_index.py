"""SemanticIndex (DSC), IVFIndex and FlatPQIndex: LUT scores vs brute force, exact mode, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dscref._reference.pq import adc_cosine_ref
from dscref.index.base import Query
from dscref.index.flat import FlatPQIndex
from dscref.index.ivf import IVFIndex
from dscref.index.semantic import SemanticIndex
from dscref.scoring import adc_cosine


def _data(seed=0, n=3000, d=32, K=20):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((K, d)).astype(np.float32)
    labels = rng.integers(0, K, n)
    labels[labels == 3] = 4  # partition 3 stays empty
    x = C[labels] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64), rng


def _build(kind, x, labels, **kw):
    if kind == "dsc":
        return SemanticIndex(20, M=4, nbits=6, n_iter=8, seed=0, progress=False, **kw).build(x, labels)
    if kind == "ivf":
        return IVFIndex(20, M=4, nbits=6, n_iter=8, seed=0, **kw).build(x)
    return FlatPQIndex(M=4, nbits=6, n_iter=8, seed=0, **kw).build(x)


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module", params=["dsc", "ivf", "flat"])
def built(request, data):
    x, labels, _ = data
    return request.param, _build(request.param, x, labels, keep_vectors=True)


def _decoded(index, lab, codes):
    pq = index.pqs_[index.list_pq_[lab]]
    return index.centroids_[lab] + pq.decode(codes)


def _head(kind, index, labels_q):
    return labels_q if kind == "dsc" else None


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_lut_scores_equal_brute_force_on_decoded_vectors(built, data, metric):
    kind, index = built
    x, labels, rng = data
    for qi in rng.choice(len(x), 5, replace=False):
        q = x[qi] + 0.05 * rng.standard_normal(x.shape[1]).astype(np.float32)
        head = [labels[qi], (labels[qi] + 1) % 20, 3] if kind == "dsc" else None
        query = index.encode_query(q, top_labels=head, n_probe=3)
        D, I, nc = index.search(query, k=len(x), metric=metric)
        valid = I[0] >= 0
        assert nc[0] == valid.sum() == sum(index.list_sizes()[lab] for lab in query.labels)
        # brute force: q_hat^i = c^i + r^q (eq. 13), d_hat = c^i + r^d, eq. (14) / (15)
        expect = {}
        for j, lab in enumerate(query.labels):
            a, b = index.offsets_[lab], index.offsets_[lab + 1]
            qh = _decoded(index, lab, query.codes[j][None])[0].astype(np.float64)
            dh = _decoded(index, lab, index.codes_[a:b]).astype(np.float64)
            if metric == "l2":
                s = ((dh - qh) ** 2).sum(1)
            else:
                s = dh @ qh / (np.linalg.norm(dh, axis=1) * np.linalg.norm(qh))
            expect.update(zip(index.ids_[a:b].tolist(), s.tolist()))
        got = dict(zip(I[0][valid].tolist(), D[0][valid].tolist()))
        assert set(got) == set(expect)
        np.testing.assert_allclose([got[i] for i in expect], list(expect.values()), rtol=2e-4, atol=2e-4)
        # ranking order
        assert np.all(np.diff(D[0][valid]) >= 0) if metric == "l2" else np.all(np.diff(D[0][valid]) <= 0)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_raw_mode_returns_exact_neighbours_when_all_lists_probed(built, data, metric):
    kind, index = built
    x, labels, rng = data
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


def test_dsc_partitions_and_shared_pq(data):
    x, labels, _ = data
    idx = SemanticIndex(20, M=4, nbits=6, n_iter=5, seed=0, progress=False, min_partition_size=160).build(x, labels)
    sizes = np.bincount(labels, minlength=20)
    np.testing.assert_array_equal(idx.list_sizes(), sizes)
    # eq. (3): centroid = partition mean
    for i in (0, 5):
        np.testing.assert_allclose(idx.centroids_[i], x[labels == i].mean(0), atol=1e-5)
    small = np.flatnonzero(sizes < 160)
    np.testing.assert_array_equal(idx.shared_pq_lists_, small)
    assert 3 in small and all(idx.list_pq_[s] == 0 for s in small)
    big = np.flatnonzero(sizes >= 160)
    assert len({int(idx.list_pq_[b]) for b in big}) == big.size  # one PQ each
    # candidates of a head = union of its partitions
    np.testing.assert_array_equal(np.sort(idx.candidate_ids([0, 3])), np.flatnonzero(labels == 0))
    # an empty partition in the head scans nothing, and search still pads
    q = idx.encode_query(x[0], top_labels=[3])
    D, I, nc = idx.search(q, k=4)
    assert nc[0] == 0 and np.all(I == -1) and np.all(np.isinf(D))


def test_search_is_seeded_and_batched(data):
    x, labels, _ = data
    a = _build("ivf", x, labels)
    b = _build("ivf", x, labels)
    qs = [a.encode_query(x[i]) for i in range(5)]
    ra, rb = a.search(qs, 7), b.search(qs, 7)
    np.testing.assert_array_equal(ra.I, rb.I)
    one = [a.search(q, 7) for q in qs]
    np.testing.assert_array_equal(ra.I, np.vstack([o.I for o in one]))
    assert ra.D.dtype == np.float32 and ra.I.dtype == np.int64 and ra.n_candidates.shape == (5,)


@given(st.integers(0, 2**31 - 1), st.integers(1, 8), st.integers(0, 3000))
@settings(max_examples=25)
def test_adc_cosine_kernel_matches_reference(seed, M, n):
    rng = np.random.default_rng(seed)
    lut = rng.standard_normal((M, 64)).astype(np.float32)
    codes = rng.integers(0, 64, (n, M)).astype(np.uint8)
    norms = rng.random(n).astype(np.float32) * 3
    norms[: n // 10] = 0
    got = adc_cosine(lut, codes, 0.5, 2.0, norms)
    # float32 sums of M terms in another order: the error bound scales with the sum of the terms'
    # magnitudes, not with the (possibly cancelled) result
    mag = 0.5 + np.abs(lut)[np.arange(M), codes].sum(axis=1)
    den = np.sqrt(np.float32(2.0) * norms)
    tol = 4 * M * np.finfo(np.float32).eps * mag / np.where(den > 0, den, 1)
    ref = adc_cosine_ref(lut, codes, 0.5, 2.0, norms)
    assert np.all(np.abs(got - ref) <= tol + 1e-5 * np.abs(ref)), np.max(np.abs(got - ref) - tol)


def test_bad_input(data):
    x, labels, _ = data
    idx = _build("dsc", x, labels)
    with pytest.raises(ValueError, match="not built"):
        SemanticIndex(20).search(Query(labels=[0], codes=np.zeros((1, 8), np.uint8)))
    with pytest.raises(ValueError, match="d=32"):
        idx.encode_query(np.ones(31, np.float32), top_labels=[0])
    with pytest.raises(ValueError, match="non-finite"):
        idx.encode_query(np.full(32, np.nan, np.float32), top_labels=[0])
    with pytest.raises(ValueError, match="20"):
        idx.encode_query(x[0], top_labels=[20])
    with pytest.raises(ValueError, match="duplicates"):
        idx.encode_query(x[0], top_labels=[1, 1])
    with pytest.raises(ValueError, match="top_labels"):
        idx.encode_query(x[0])
    q = idx.encode_query(x[0], top_labels=[1])
    with pytest.raises(ValueError, match="k=0"):
        idx.search(q, k=0)
    with pytest.raises(ValueError, match="metric"):
        idx.search(q, k=3, metric="hamming")
    with pytest.raises(ValueError, match="outside"):
        idx.search(Query(labels=[25], codes=np.zeros((1, 4), np.uint8)), k=3)
    with pytest.raises(ValueError, match="shape"):
        idx.search(Query(labels=[1, 2], codes=np.zeros((1, 4), np.uint8)), k=3)
    with pytest.raises(ValueError, match="keep_vectors"):
        idx.search(idx.encode_query(x[0], top_labels=[1], raw=True))
    with pytest.raises(TypeError, match="Query"):
        idx.search([np.zeros(4)], k=3)
    with pytest.raises(ValueError, match="labels has 10 entries"):
        SemanticIndex(20).build(x, labels[:10])
    with pytest.raises(ValueError, match="must be < 20"):
        SemanticIndex(20).build(x, labels + 1)
    with pytest.raises(ValueError, match="divisible"):
        SemanticIndex(20, M=5).build(x, labels)
    with pytest.raises(ValueError, match="n_lists=20 must be <= n_samples=10"):
        IVFIndex(20).build(x[:10])
