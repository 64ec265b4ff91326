"""The faiss-style index life cycle (issue 18, dscref.index._lifecycle): ``d``, ``ntotal``,
``is_trained``, ``repr``; ``train`` / ``add`` (appends, ids continue from ``ntotal``) /
``reset`` / ``build`` (= reset + train + add) on every class; seeded builds. Files saved before
this API: tests/index/test_legacy_files.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref.errors import ReadOnlyIndexError
from dscref.index import FlatPQIndex, GPIndex, IMIIndex, IVFIndex, SemanticIndex
from dscref.index._lifecycle import merge_groups
from dscref.io import load_index, save_index, verify_index
from index_data import sphere_data

KINDS = ["dsc", "ivf", "imi", "gp", "flat"]


def _data(n=2000, d=16, K=8, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((K, d)).astype(np.float32)
    labels = rng.integers(0, K, n)
    labels[:30] = 5  # a small partition -> DSC's shared PQ
    x = C[labels] + 0.7 * rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)


def _new(kind, **kw):
    common = dict(M=4, nbits=5, n_iter=4, seed=0, **kw)
    if kind == "dsc":
        return SemanticIndex(8, progress=False, min_partition_size=100, **common)
    if kind == "ivf":
        return IVFIndex(8, coarse_iter=4, **common)
    if kind == "imi":
        return IMIIndex(4, coarse_iter=4, **common)
    if kind == "gp":
        return GPIndex(8, n_neighbors=3, coarse_iter=4, **common)
    return FlatPQIndex(**common)


def _queries(ix, x, labels, n=10):
    if isinstance(ix, SemanticIndex):
        return [ix.encode_query(x[i], top_labels=[labels[i], (labels[i] + 1) % 8, (labels[i] + 3) % 8])
                for i in range(n)]
    return [ix.encode_query(x[i], n_probe=3) for i in range(n)]


ITEM_STATE = ("offsets_", "ids_", "codes_", "db_norm2_", "gr_", "sub_offsets_", "nonempty_")


def _same_items(a, b):
    assert a.ntotal == b.ntotal and a.d == b.d
    for name in ITEM_STATE:
        if name in vars(a) or name in vars(b):
            u, v = getattr(a, name), getattr(b, name)
            assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v), name


def _same_search(a, b, x, labels, metric, k=25):
    qa, qb = _queries(a, x, labels), _queries(b, x, labels)
    for u, v in zip(qa, qb):
        assert np.array_equal(u.labels, v.labels) and np.array_equal(u.codes, v.codes)
    ra, rb = a.search(qa, k=k, metric=metric), b.search(qb, k=k, metric=metric)
    assert np.array_equal(ra.I, rb.I)
    assert np.array_equal(ra.D, rb.D)
    assert np.array_equal(ra.n_candidates, rb.n_candidates)
    return ra


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def built(data):
    x, labels = data
    return {kind: _new(kind).build(x, labels) for kind in KINDS}


# ---------------------------------------------------------------------------------- state
@pytest.mark.parametrize("kind", KINDS)
def test_d_ntotal_is_trained_and_repr(kind, data):
    x, labels = data
    ix = _new(kind)
    lists = {"dsc": 8, "ivf": 8, "imi": 16, "gp": 8, "flat": 1}[kind]
    name = type(ix).__name__
    assert ix.d is None and ix.ntotal == 0 and not ix.is_trained
    assert repr(ix) == f"{name}(n_lists={lists}, M=4, nbits=5, ntotal=0, not trained)"
    ix.train(x, labels)
    assert ix.is_trained and ix.d == 16 and ix.ntotal == 0
    assert repr(ix) == f"{name}(n_lists={lists}, M=4, nbits=5, d=16, ntotal=0, trained)"
    ix.add(x[:300], labels[:300])
    assert ix.ntotal == 300
    assert repr(ix) == f"{name}(n_lists={lists}, M=4, nbits=5, d=16, ntotal=300, trained)"


# ---------------------------------------------------------------------------------- add appends
@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("kind", KINDS)
def test_train_then_split_adds_equal_build(kind, metric, data, built):
    """The key property: train(x) + add(x[:a]) + add(x[a:b]) + add(x[b:]) stores the arrays
    build(x) stores and searches identically (same ids, same D), for both metrics."""
    x, labels = data
    ix = _new(kind).train(x, labels)
    for s, e in ((0, 777), (777, 1500), (1500, x.shape[0])):  # split points off the 1024-row blocks
        ix.add(x[s:e], labels[s:e])
    _same_items(ix, built[kind])
    res = _same_search(ix, built[kind], x, labels, metric)
    assert (res.I[:, 0] >= 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_add_appends_with_ids_from_ntotal(kind, data):
    x, labels = data
    a = 1200
    ix = _new(kind).build(x[:a], labels[:a])
    before = ix.ids_.copy()
    ix.add(x[a:], labels[a:])
    assert ix.ntotal == x.shape[0]
    assert np.array_equal(np.sort(ix.ids_), np.arange(x.shape[0]))
    # the old items keep their ids, each list (G+P: sub-region) keeps its old rows first, then
    # the new ones
    old = ix.ids_ < a
    assert np.array_equal(ix.ids_[old], before)
    groups = ix.sub_offsets_ if kind == "gp" else ix.offsets_
    for i in range(groups.size - 1):
        lst = ix.ids_[groups[i]:groups[i + 1]]
        assert np.all(np.diff((lst >= a).astype(int)) >= 0)
    # an added row is found under its new id
    q = ix.encode_query(x[a + 5], top_labels=[labels[a + 5]]) if kind == "dsc" else \
        ix.encode_query(x[a + 5], n_probe=3)
    assert a + 5 in ix.search(q, k=50).I[0]


@pytest.mark.parametrize("kind", KINDS)
def test_reset_empties_and_keeps_training(kind, data, built):
    x, labels = data
    ix = _new(kind).build(x, labels)
    ix.reset()
    assert ix.ntotal == 0 and ix.is_trained and ix.d == 16
    assert ix.ids_.size == 0 and ix.codes_.shape == (0, 4) and not ix.offsets_.any()
    res = ix.search(_queries(built[kind], x, labels, n=2), k=5)
    assert (res.I == -1).all() and (res.n_candidates == 0).all()
    ix.add(x, labels)
    _same_items(ix, built[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_train_refuses_an_index_holding_items(kind, data):
    x, labels = data
    ix = _new(kind).build(x[:600], labels[:600])
    with pytest.raises(ValueError, match="ntotal=600.*reset"):
        ix.train(x, labels)
    assert ix.ntotal == 600  # untouched
    ix.reset().train(x, labels)  # allowed once empty
    assert ix.is_trained and ix.ntotal == 0
    ix.build(x[:700], labels[:700])  # build resets itself
    assert ix.ntotal == 700


@pytest.mark.parametrize("kind", KINDS)
def test_add_checks_training_and_dimension(kind, data):
    x, labels = data
    with pytest.raises(ValueError, match="not trained"):
        _new(kind).add(x, labels)
    ix = _new(kind).train(x, labels)
    other = np.ones((5, 8), np.float32)
    with pytest.raises(ValueError, match=r"d=8.*d=16"):
        ix.add(other, labels[:5])
    ix.add(x[:0], labels[:0])  # empty: nothing happens
    assert ix.ntotal == 0
    if kind == "dsc":
        with pytest.raises(TypeError, match="labels"):
            ix.add(x[:5])
        with pytest.raises(ValueError, match="labels has 4 entries"):
            ix.add(x[:5], labels[:4])


def test_add_refuses_an_index_with_ids_beyond_ntotal(data):
    """A shard of a sharded build holds global ids: sequential new ids would collide."""
    x, labels = data
    ix = _new("dsc").build(x[:500], labels[:500])
    ix.ids_ = ix.ids_ * 3  # as a shard holding every third item
    with pytest.raises(ValueError, match="ids up to 1497 >= ntotal=500"):
        ix.add(x[500:600], labels[500:600])
    assert ix.ntotal == 500


def test_failed_training_leaves_the_index_untrained(data, monkeypatch):
    x, labels = data
    ix = _new("ivf")

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(IVFIndex, "_train_pq_on_rows", boom)
    with pytest.raises(RuntimeError):
        ix.train(x)
    assert not ix.is_trained and ix.d is None and not [k for k in vars(ix) if k.endswith("_")]


@pytest.mark.parametrize("kind", ["dsc", "gp"])
def test_keep_vectors_follow_appends(kind, data):
    x, labels = data
    ref = _new(kind, keep_vectors=True).build(x, labels)
    ix = _new(kind, keep_vectors=True).train(x, labels)
    ix.add(x[:900], labels[:900]).add(x[900:], labels[900:])
    raw = [ref.encode_query(x[i], top_labels=[labels[i]], raw=True) if kind == "dsc"
           else ref.encode_query(x[i], n_probe=2, raw=True) for i in range(5)]
    a, b = ref.search(raw, k=10), ix.search(raw, k=10)
    assert np.array_equal(a.I, b.I) and np.array_equal(a.D, b.D)


# ---------------------------------------------------------------------------------- files
@pytest.mark.parametrize("kind", KINDS)
def test_memory_mapped_index_appends_in_memory_and_refuses_train(kind, data, built, tmp_path):
    x, labels = data
    a = 1300
    path = tmp_path / f"{kind}.dscidx"
    save_index(_new(kind).build(x[:a], labels[:a]), path)
    ix = load_index(path, mmap=True)
    assert repr(ix).endswith("trained, memory-mapped)")
    with pytest.raises(ReadOnlyIndexError, match="memory-mapped"):
        ix.train(x, labels)
    with pytest.raises(ValueError, match="memory-mapped"):
        ix.build(x, labels)
    assert ix.ntotal == a
    ix.add(x[a:], labels[a:])
    assert ix.ntotal == x.shape[0] and ix.codes_.flags.writeable
    ref = _new(kind).build(x[:a], labels[:a]).add(x[a:], labels[a:])
    _same_items(ix, ref)
    _same_search(ix, ref, x, labels, "l2")
    verify_index(path)  # the file is untouched
    ix.reset()
    with pytest.raises(ValueError, match="memory-mapped"):
        ix.train(x, labels)


@pytest.mark.parametrize("kind", KINDS)
def test_trained_empty_index_round_trips_and_accepts_adds(kind, data, built, tmp_path):
    x, labels = data
    path = tmp_path / "trained.dscidx"
    save_index(_new(kind).train(x, labels), path)
    ix = load_index(path, mmap=False)
    assert ix.is_trained and ix.ntotal == 0
    ix.add(x[:1000], labels[:1000]).add(x[1000:], labels[1000:])
    _same_items(ix, built[kind])
    save_index(ix, path)
    _same_search(load_index(path), built[kind], x, labels, "cosine")


# ---------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("make", [
    lambda: IMIIndex(n_centroids_per_half=4, M=4, nbits=4, n_iter=4, coarse_iter=4, seed=3),
    lambda: GPIndex(n_lists=8, n_neighbors=3, M=4, nbits=4, n_iter=4, coarse_iter=4, seed=3),
])
def test_seeded_build_is_deterministic(make):
    x = sphere_data(600, seed=5)
    a, b = make().build(x), make().build(x)
    for attr in ("centroids_", "ids_", "codes_", "offsets_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    qa = [a.encode_query(v, n_probe=3) for v in x[:4]]
    qb = [b.encode_query(v, n_probe=3) for v in x[:4]]
    ra, rb = a.search(qa, 5), b.search(qb, 5)
    np.testing.assert_array_equal(ra.I, rb.I)
    np.testing.assert_array_equal(ra.D, rb.D)


# ---------------------------------------------------------------------------------- merge
@given(st.integers(1, 6), st.lists(st.integers(0, 5), max_size=40), st.lists(st.integers(0, 5), max_size=40))
def test_merge_groups_is_a_stable_sort_of_old_then_new(n_groups, old_keys, new_keys):
    old_keys = np.sort(np.asarray(old_keys, dtype=np.int64) % n_groups)
    new_keys = np.asarray(new_keys, dtype=np.int64) % n_groups
    order = np.argsort(new_keys, kind="stable")
    old_off = np.concatenate([[0], np.cumsum(np.bincount(old_keys, minlength=n_groups))])
    old_ids = np.arange(old_keys.size, dtype=np.int64)
    new_ids = old_keys.size + order
    off, items = merge_groups(old_off, np.bincount(new_keys, minlength=n_groups),
                              {"ids_": old_ids, "k": old_keys[:, None].repeat(2, 1)},
                              {"ids_": new_ids, "k": new_keys[order][:, None].repeat(2, 1)})
    keys = np.concatenate([old_keys, new_keys])
    expect = np.argsort(keys, kind="stable")
    assert np.array_equal(items["ids_"], expect)
    assert np.array_equal(items["k"][:, 0], keys[expect])
    assert np.array_equal(off, np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n_groups))]))
