import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref._kernels import kmeans as kern
from dscref._reference.kmeans import (assign_ref, kmeanspp_ref, lloyd_ref, relocate_ref, subspace_kmeans_ref,
                                      update_ref)
from dscref.kmeans import KMeans, relocate_empty_clusters, subspace_kmeans
from dscref.nearest import nearest

seeds = st.integers(0, 2**31 - 1)


def _data(seed, n, d, k):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.5, 3)).astype(np.float32), \
        rng.standard_normal((k, d)).astype(np.float32)


@given(seeds, st.integers(1, 20000), st.integers(1, 16), st.integers(1, 30), st.integers(1, 8))
def test_accumulate_matches_reference(seed, n, d, k, chunks):
    x, _ = _data(seed, n, d, 1)
    labels = np.random.default_rng(seed).integers(0, k, n)
    sums, counts = kern.accumulate_parallel(x, labels, k, chunks)
    rs, rc = update_ref(x, labels, k)
    np.testing.assert_array_equal(counts, rc)
    np.testing.assert_allclose(sums, rs, rtol=1e-10, atol=1e-9)


@given(seeds, st.integers(2, 400), st.integers(1, 12), st.integers(1, 20))
def test_kmeanspp_matches_reference(seed, n, d, k):
    k = min(k, n)
    x, _ = _data(seed, n, d, 1)
    rng = np.random.default_rng(seed)
    first, uniforms = int(rng.integers(n)), rng.random(k)
    chosen = np.empty(k, np.int64)
    kern.kmeanspp_init(x, first, uniforms, chosen)
    np.testing.assert_array_equal(chosen, kmeanspp_ref(x, first, uniforms))
    assert len(set(chosen.tolist())) == k  # distinct points give distinct seeds


@given(seeds, st.integers(20, 600), st.integers(1, 10), st.integers(1, 12), st.integers(1, 12))
def test_lloyd_matches_reference_and_is_monotone(seed, n, d, k, n_iter):
    x, _ = _data(seed, n, d, 1)
    km = KMeans(k, n_iter=n_iter, tol=0.0, init="random", seed=seed, max_points_per_centroid=None).fit(x)
    init = x[np.sort(np.random.default_rng(seed).choice(n, k, replace=False))]
    c_ref, hist_ref = lloyd_ref(x, init, n_iter, 0.0)
    np.testing.assert_allclose(km.inertia_history_, hist_ref, rtol=2e-4)
    np.testing.assert_allclose(km.centroids_, c_ref, atol=2e-3 * (1 + np.abs(x).max()))
    h = np.asarray(km.inertia_history_)
    assert np.all(np.diff(h) <= 1e-5 * h[:-1] + 1e-6), h
    assert km.n_iter_ == len(h) and km.inertia_ == h[-1]
    assert km.centroids_.dtype == np.float32 and np.isfinite(km.centroids_).all()


@given(seeds)
def test_recovers_well_separated_blobs(seed):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((6, 8)).astype(np.float32) * 50
    truth = rng.integers(0, 6, 1200)
    truth[:6] = np.arange(6)
    x = centers[truth] + rng.standard_normal((1200, 8)).astype(np.float32)
    # k-means++ can still merge two blobs and split another (a local minimum); the best of 5
    # seeded runs recovers them in every case hypothesis has found
    km = KMeans(6, n_iter=30, n_init=5, seed=seed).fit(x)
    pred = km.predict(x)
    # the partition is the same up to a relabelling
    pairs = set(zip(truth.tolist(), pred.tolist()))
    assert len(pairs) == 6
    err = np.abs(np.sort(km.centroids_, axis=0) - np.sort(centers, axis=0)).max()
    assert err < 0.5


@given(seeds, st.integers(1, 60), st.integers(1, 12), st.integers(0, 3))
def test_relocation_matches_reference(seed, n, k, ties):
    """The public relocation equals the twin (the twin imports nothing from dscref.kmeans)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    labels = rng.integers(0, k, n).astype(np.int64)
    dists = rng.integers(0, 1 + 3 * ties, n).astype(np.float32) if ties else rng.random(n).astype(np.float32)
    counts = np.bincount(labels, minlength=k).astype(np.int64)
    c = rng.standard_normal((k, 3)).astype(np.float32)
    c_ref, counts_ref = c.copy(), counts.copy()
    assert relocate_empty_clusters(c, counts, x, labels, dists) == relocate_ref(c_ref, counts_ref, x, labels, dists)
    np.testing.assert_array_equal(c, c_ref)
    np.testing.assert_array_equal(counts, counts_ref)


def test_reference_twin_imports_no_public_code():
    import ast
    import inspect

    import dscref._reference.kmeans as twin

    tree = ast.parse(inspect.getsource(twin))
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if "kmeans" in m or m.startswith("dscref")], modules


def test_empty_clusters_are_relocated_never_nan():
    # 3 distinct points repeated: k=5 leaves clusters empty at some step
    x = np.repeat(np.array([[0, 0], [10, 0], [0, 10]], np.float32), 50, axis=0)
    x = np.concatenate([x, np.array([[5, 5], [6, 6]], np.float32)])
    km = KMeans(5, n_iter=10, init="random", seed=3, max_points_per_centroid=None).fit(x)
    assert np.isfinite(km.centroids_).all()
    # a far cluster split: many identical points plus outliers, random init inside the blob
    rng = np.random.default_rng(0)
    x2 = np.concatenate([np.zeros((500, 4), np.float32), rng.standard_normal((20, 4)).astype(np.float32) * 100])
    km2 = KMeans(8, n_iter=15, init="random", seed=1, max_points_per_centroid=None).fit(x2)
    assert np.isfinite(km2.centroids_).all()
    assert km2.n_relocated_ > 0
    h = np.asarray(km2.inertia_history_)
    assert np.all(np.diff(h) <= 1e-5 * h[:-1] + 1e-6)


def test_subsampling_is_seeded():
    x = np.random.default_rng(0).standard_normal((5000, 4)).astype(np.float32)
    a = KMeans(4, seed=7, max_points_per_centroid=100).fit(x)
    b = KMeans(4, seed=7, max_points_per_centroid=100).fit(x)
    c = KMeans(4, seed=8, max_points_per_centroid=100).fit(x)
    np.testing.assert_array_equal(a.centroids_, b.centroids_)
    assert not np.array_equal(a.centroids_, c.centroids_)
    # inertia is measured on the 400-point training sample, so it is far below the full-set value
    full = KMeans(4, seed=7, max_points_per_centroid=None).fit(x)
    assert a.inertia_ < 0.2 * full.inertia_


def test_n_init_keeps_best():
    x = np.random.default_rng(1).standard_normal((800, 3)).astype(np.float32)
    one = KMeans(12, n_init=1, n_iter=5, seed=4, init="random").fit(x)
    many = KMeans(12, n_init=5, n_iter=5, seed=4, init="random").fit(x)
    assert many.inertia_ <= one.inertia_ + 1e-6


def test_predict_matches_training_assignment():
    x = np.random.default_rng(2).standard_normal((300, 5)).astype(np.float32)
    km = KMeans(7, seed=0, max_points_per_centroid=None).fit(x)
    labels, d = km.predict(x, return_distances=True)
    ref_labels, ref_d, _ = assign_ref(x, km.centroids_)
    np.testing.assert_allclose(d, ref_d, rtol=1e-4, atol=1e-4)
    assert labels.dtype == np.int64
    assert km.predict(np.empty((0, 5), np.float32)).shape == (0,)


@pytest.mark.parametrize("bad, err, match", [
    (np.array([[1.0, np.nan]] * 10, np.float32), ValueError, "non-finite"),
    (np.array([[1.0, np.inf]] * 10, np.float32), ValueError, "non-finite"),
    (np.empty((0, 3), np.float32), ValueError, "empty"),
    (np.ones(10, np.float32), ValueError, "2-D"),
    (np.ones((10, 2), dtype=bool), TypeError, "bool"),
    (np.ones((3, 2), np.float32), ValueError, "n_clusters=4 must be <= n_samples=3"),
])
def test_fit_rejects_bad_input(bad, err, match):
    with pytest.raises(err, match=match):
        KMeans(4).fit(bad)


def test_bad_parameters_and_unfitted():
    with pytest.raises(ValueError, match="n_clusters=0"):
        KMeans(0)
    with pytest.raises(TypeError, match="n_clusters"):
        KMeans(2.5)
    with pytest.raises(ValueError, match="init"):
        KMeans(2, init="kmeans||")
    with pytest.raises(ValueError, match="tol"):
        KMeans(2, tol=-1)
    with pytest.raises(ValueError, match="not fitted"):
        KMeans(2).predict(np.ones((1, 2), np.float32))
    km = KMeans(2, seed=0).fit(np.random.default_rng(0).standard_normal((20, 3)))
    with pytest.raises(ValueError, match="d=3"):
        km.predict(np.ones((1, 4), np.float32))


@given(seeds, st.integers(20, 1500), st.integers(1, 6), st.integers(1, 9), st.integers(1, 40),
       st.integers(1, 12), st.booleans())
def test_subspace_kmeans_equals_twin_bit_for_bit(seed, n, M, dsub, k, n_iter, clumped):
    """PQ training (direct path): codebooks identical to the NumPy loop, relocation included."""
    rng = np.random.default_rng(seed)
    k = min(k, n)
    xs = rng.standard_normal((M, n, dsub)).astype(np.float32)
    if clumped:  # few distinct points: empty clusters appear and get relocated
        xs = np.ascontiguousarray(xs[:, rng.integers(0, max(1, k // 2), n)])
    init = np.stack([xs[m, np.sort(rng.choice(n, k, replace=False))] for m in range(M)])
    cb, relocated, rounds = subspace_kmeans(xs, init, n_iter)
    ref, ref_rounds = subspace_kmeans_ref(xs, init, n_iter)
    np.testing.assert_array_equal(cb, ref)
    assert rounds == ref_rounds
    assert np.isfinite(cb).all() and relocated >= 0


def test_subspace_kmeans_objective_never_increases_and_rejects_bad_shapes():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3000, 128)) * np.linspace(0.2, 3, 128)).astype(np.float32)
    xs = np.ascontiguousarray(x.reshape(3000, 2, 64).transpose(1, 0, 2))  # dsub 64: GEMM path
    init = np.ascontiguousarray(xs[:, :64])
    objs = []
    for r in range(1, 6):
        cb, _, _ = subspace_kmeans(xs, init, r)
        labels, dists = np.empty((3000, 2), np.int32), np.empty((3000, 2), np.float32)
        nearest(x, cb, labels, dists)
        objs.append(dists.sum(0, dtype=np.float64))
    objs = np.array(objs)
    assert np.all(np.diff(objs, axis=0) <= 1e-5 * objs[:-1])
    with pytest.raises(ValueError, match="does not fit"):
        subspace_kmeans(xs, init[:, :, :32], 3)
    with pytest.raises(ValueError, match="does not fit"):
        subspace_kmeans(xs[:, :10], init, 3)
    with pytest.raises(ValueError, match="n_iter"):
        subspace_kmeans(xs, init, 0)
