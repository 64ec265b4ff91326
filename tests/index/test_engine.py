"""The batched search engine (dscref.index._engine, dscref._kernels.engine): bit-identical to the
per-list NumPy twin (``_search_reference``) for every index class, metric, hard and soft
queries; a batch equals its queries one at a time at 1 and 2 threads; pair tables or none give
the same bits; a corrupt quantizer raises as the twin raises."""

import numba
import numpy as np
import pytest

import dscref.index as di
from dscref.errors import IndexFormatError
from dscref.index import _engine
from dscref.query import Query

N, D, K = 2400, 32, 16


def _data(seed=0):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((K, D)).astype(np.float32) * 2
    y = rng.integers(0, K, N)
    x = (C[y] + rng.standard_normal((N, D))).astype(np.float32)
    return x, y, rng


def _make(kind, M=4, nbits=5):
    kw = dict(M=M, nbits=nbits, n_iter=3, seed=0)
    return {"dsc": lambda: di.SemanticIndex(K, progress=False, **kw),
            "ivf": lambda: di.IVFIndex(K, coarse_iter=3, **kw),
            "ivf_per_list": lambda: di.IVFIndex(K, coarse_iter=3, pq_per_list=True, min_partition_size=32, **kw),
            "imi": lambda: di.IMIIndex(4, coarse_iter=3, **kw),
            "gp": lambda: di.GPIndex(K, n_neighbors=3, coarse_iter=3, **kw),
            "gp_mean": lambda: di.GPIndex(K, n_neighbors=3, coarse_iter=3, prune="mean", **kw),
            "flat": lambda: di.FlatPQIndex(**kw)}[kind]()


def _queries(ix, x, y, rng, n=24, soft_every=3):
    out = []
    for i in range(n):
        q = x[i] + 0.3 * rng.standard_normal(D).astype(np.float32)
        if isinstance(ix, di.SemanticIndex):
            qq = ix.encode_query(q, top_labels=rng.choice(K, 1 + i % 5, replace=False))
        else:
            qq = ix.encode_query(q, n_probe=1 + i % 4)
        if soft_every and i % soft_every == 0:  # noisy LLRs, some certain bits
            llr = 4 * rng.standard_normal((qq.codes.shape[0], ix.M * ix.nbits))
            llr[:, ::5] = np.inf
            qq.code_llr = llr
        out.append(qq)
    return out


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b))


@pytest.fixture(scope="module", params=["dsc", "ivf", "ivf_per_list", "imi", "gp", "gp_mean", "flat"])
def built(request):
    x, y, rng = _data()
    ix = _make(request.param).build(x, y)
    return ix, _queries(ix, x, y, rng)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("k", [1, 7, 300, 5000])
def test_engine_equals_the_numpy_twin_bit_for_bit(built, metric, k):
    ix, qs = built
    got = ix.search(qs, k, metric)
    ref = ix._search_reference(qs, k, metric)
    assert _same(got, ref)
    assert got.D.dtype == np.float32 and got.I.dtype == np.int64


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_batch_equals_one_query_at_a_time_at_one_and_two_threads(built, metric, monkeypatch):
    ix, qs = built
    monkeypatch.setattr(_engine, "PARALLEL_MIN_CANDIDATES", 0)  # every batch is split over the threads
    before = numba.get_num_threads()
    try:
        res = {}
        for threads in (1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            res[threads] = ix.search(qs, 10, metric)
        one = [ix.search(q, 10, metric) for q in qs]
    finally:
        numba.set_num_threads(before)
    assert _same(res[1], res[2])
    for f in ("D", "I", "n_candidates"):
        assert np.array_equal(np.concatenate([getattr(o, f) for o in one]), getattr(res[1], f))


def test_many_ranges_on_the_pool_give_the_same_bits(built, monkeypatch):
    ix, qs = built
    ref = ix.search(qs, 10)
    monkeypatch.setattr(_engine, "PARALLEL_MIN_CANDIDATES", 0)
    monkeypatch.setattr(_engine, "num_threads", lambda: 5)  # 5 ranges: 4 on pool threads
    assert len(_engine._ranges(np.ones(len(qs)), 5)) == 5
    assert _same(ix.search(qs, 10), ref)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_ranges_cover_the_queries_in_order(threads):
    rng = np.random.default_rng(threads)
    for nq in (1, 2, 5, 40):
        work = rng.integers(0, 1000, nq) * (rng.random(nq) < 0.7)
        r = _engine._ranges(work, threads)
        assert r[0][0] == 0 and r[-1][1] == nq and all(a < b for a, b in r)
        assert all(r[i][1] == r[i + 1][0] for i in range(len(r) - 1)) and len(r) <= max(1, min(threads, nq))


def test_a_failing_range_raises_in_the_caller(monkeypatch):
    calls = []

    def kernel(a, b, *args):
        calls.append((a, b))
        if a > 0:
            raise RuntimeError("range failed")

    with pytest.raises(RuntimeError, match="range failed"):
        _engine._run(kernel, (), [(0, 2), (2, 4)])
    assert sorted(calls) == [(0, 2), (2, 4)]


def test_pair_tables_or_none_give_the_same_bits():
    x, y, rng = _data(1)
    ix = _make("dsc", M=8, nbits=8).build(x, y)  # M = 8 uint8: the one-load-per-code scan too
    qs = _queries(ix, x, y, rng, soft_every=0)
    ref = {m: ix._search_reference(qs, 20, m) for m in ("l2", "cosine")}
    for budget in (0, 3 * 8 * 256 * 256 * 4, 1 << 30):  # none, three quantizers, all
        ix.pair_table_bytes = budget
        for m in ("l2", "cosine"):
            assert _same(ix.search(qs, 20, m), ref[m]), (budget, m)
    with pytest.raises(ValueError, match="pair_table_bytes"):
        ix.pair_table_bytes = -1
        ix.search(qs, 5)


def test_uint16_codes_and_odd_shapes():
    x, y, rng = _data(2)
    ix = _make("ivf", M=2, nbits=9).build(x, y)  # ksub 512: uint16 codes, dsub 16
    qs = _queries(ix, x, y, rng)
    assert ix.codes_.dtype == np.uint16
    for m in ("l2", "cosine"):
        assert _same(ix.search(qs, 9, m), ix._search_reference(qs, 9, m))


def test_empty_heads_empty_lists_and_mixed_raw_queries():
    x, y, rng = _data(3)
    ix = di.SemanticIndex(K + 4, M=4, nbits=5, n_iter=3, seed=0, progress=False, keep_vectors=True).build(x, y)
    empty = [K, K + 1]  # lists with no items
    qs = [Query(labels=np.array([], np.int64), codes=np.zeros((0, 4), np.uint8)),
          ix.encode_query(x[0], top_labels=empty),
          ix.encode_query(x[1], top_labels=[K, int(y[1]), K + 2]),
          ix.encode_query(x[2], top_labels=[int(y[2])], raw=True)]
    for m in ("l2", "cosine"):
        got, ref = ix.search(qs, 5, m), ix._search_reference(qs, 5, m)
        assert _same(got, ref)
        assert got.n_candidates[0] == got.n_candidates[1] == 0
        assert (got.I[:2] == -1).all() and np.isinf(got.D[:2]).all()


def test_soft_query_with_certain_bits_equals_the_hard_query(built):
    ix, qs = built
    hard = [Query(labels=q.labels, codes=q.codes) for q in qs]
    certain = []
    for q in hard:
        bits = np.unpackbits(q.codes.astype(">u2").view(np.uint8), axis=1).reshape(q.codes.shape[0], ix.M, 16)
        bits = bits[:, :, 16 - ix.nbits:].reshape(q.codes.shape[0], -1)
        certain.append(Query(labels=q.labels, codes=q.codes, code_llr=np.where(bits == 0, np.inf, -np.inf)))
    assert _same(ix.search(certain, 10, "l2"), ix.search(hard, 10, "l2"))


def test_tables_follow_a_retrained_index():
    x, y, rng = _data(4)
    ix = _make("ivf").build(x, y)
    qs = _queries(ix, x, y, rng, soft_every=0)
    ix.search(qs, 5)  # tables made for the first quantizer
    ix.seed = 7
    ix.build(x[::-1].copy(), y[::-1].copy())
    qs = _queries(ix, x, y, rng, soft_every=0)
    assert _same(ix.search(qs, 5), ix._search_reference(qs, 5))


@pytest.mark.parametrize("budget", [0, 1 << 30])
def test_corrupt_codebook_raises_like_the_twin(budget):
    x, y, rng = _data(5)
    ix = _make("dsc").build(x, y)
    ix.pair_table_bytes = budget
    q = ix.encode_query(x[0], top_labels=[int(y[0])])
    ix.pqs_[ix.list_pq_[int(y[0])]].codebooks_[0, 0, 0] = np.nan
    for search in (ix.search, ix._search_reference):
        with pytest.raises(IndexFormatError, match="non-finite lookup tables"):
            search(q, 5)
