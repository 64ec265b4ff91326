"""dscref.distributed.search: ShardedSearcher gives exactly the single index's results (locally and
on a Dask LocalCluster, hard and soft-bit queries, ties) and checks queries like it."""

import numpy as np
import pytest

from dscref import bitpack
from dscref.distributed import ShardedSearcher, build_semantic_index_dask
from dscref.index.semantic import SemanticIndex
from dscref.query import Query


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_sharded_search_equals_single_index_search(built, data, metric, queries):
    out, _, single = built
    qs = queries(data, single)
    ref = single.search(qs, 50, metric)
    for threads in (1, 3):
        got = ShardedSearcher(out, threads=threads, verify=True).search(qs, 50, metric)
        np.testing.assert_array_equal(got.I, ref.I)
        np.testing.assert_array_equal(got.D, ref.D)
        np.testing.assert_array_equal(got.n_candidates, ref.n_candidates)


def test_sharded_search_on_the_cluster_and_with_soft_bits(built, data, client, queries, cfg):
    out, _, single = built
    qs = queries(data, single, 12)
    ref = single.search(qs, 20)
    remote = ShardedSearcher(out, client=client)
    got = remote.search(qs, 20)
    np.testing.assert_array_equal(got.I, ref.I)
    np.testing.assert_array_equal(got.D, ref.D)
    # the device side: query codes from the owning shards equal the single index's
    local = ShardedSearcher(out)
    for i in range(3):
        for s in (local, remote):
            q = s.encode_query(data.xq[i], data.topk_q[i][:5])
            np.testing.assert_array_equal(q.codes, qs[i].codes)
            np.testing.assert_array_equal(q.labels, qs[i].labels)
    with pytest.raises(ValueError, match="top_labels"):
        local.encode_query(data.xq[0], [cfg.K])
    # soft-decision queries (noisy LLRs) route their LLR rows with their head entries
    rng = np.random.default_rng(0)
    soft = []
    for q in qs:
        bits = np.stack([bitpack.bytes_to_bits(bitpack.pack(c.astype(np.int64), 8)) for c in q.codes])
        soft.append(Query(q.labels, q.codes, code_llr=(1 - 2.0 * bits) * 2 + rng.normal(0, 1.5, bits.shape)))
    np.testing.assert_array_equal(ShardedSearcher(out).search(soft, 20, "cosine").I,
                                  single.search(soft, 20, "cosine").I)


def test_ties_merge_like_the_single_index(tmp_path, client):
    # duplicated rows in several partitions: equal scores must come out in head order, then id
    rng = np.random.default_rng(1)
    base = rng.standard_normal((40, 16)).astype(np.float32)
    x = np.tile(base, (50, 1))
    y = np.repeat(np.arange(10), 200)
    build_semantic_index_dask(x, y, tmp_path, n_lists=10, M=4, nbits=4, n_iter=3, seed=0,
                              sample_size=2000, n_shards=4, client=client)
    single = SemanticIndex(10, M=4, nbits=4, n_iter=3, seed=0, progress=False).build(x, y)
    qs = [single.encode_query(base[i], [(i + t) % 10 for t in range(5)]) for i in range(8)]
    np.testing.assert_array_equal(ShardedSearcher(tmp_path).search(qs, 30).I, single.search(qs, 30).I)


def test_sharded_searcher_checks_queries_like_the_single_index(built, data, client):
    out, _, single = built
    local, remote = ShardedSearcher(out), ShardedSearcher(out, client=client)
    x0, head = data.xq[0], data.topk_q[0][:5]
    q = single.encode_query(x0, head)
    dup = Query(np.repeat(q.labels[:1], 2), np.repeat(q.codes[:1], 2, axis=0))
    for searcher in (single, local, remote):
        # the sharded encode_query used to accept a repeated label that SemanticIndex refuses
        with pytest.raises(ValueError, match="duplicates"):
            searcher.encode_query(x0, np.repeat(head[:1], 2))
    for searcher in (single, local, remote):
        with pytest.raises(TypeError, match="integer dtype"):
            searcher.encode_query(x0, head.astype(np.float64))
        with pytest.raises(ValueError, match="duplicates"):  # used to return the same ids twice
            searcher.search(dup, 10)
        with pytest.raises(ValueError, match="duplicates"):
            searcher.search(Query(dup.labels, dup.codes, code_llr=np.zeros((2, 64))), 10)
        with pytest.raises(ValueError, match="k=1000000000000"):
            searcher.search(q, 10 ** 12)
    for searcher in (local, remote):
        got = searcher.encode_query(x0, head)
        np.testing.assert_array_equal(got.codes, q.codes)
        assert searcher.encode_query(x0, []).codes.shape == (0, 8)
        assert (searcher.search(Query(np.zeros(0, np.int64), np.zeros((0, 8), np.uint8)), 3).I == -1).all()
