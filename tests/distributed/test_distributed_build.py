"""dscref.distributed.build (and .sources): a sharded DSC index built with Dask on a LocalCluster
(2 worker processes, 1 thread each) stores the single-machine codes; its inputs are checked; the
number of lists is called n_lists (n_labels a deprecated alias)."""

import json
import os
import shutil
import stat
import warnings

import numpy as np
import pytest

from dscref.distributed import (MANIFEST_NAME, SAMPLE_NAME, ShardedSearcher, assign_shards,
                                build_semantic_index_dask, features_from_npy, synthetic_database,
                                synthetic_plan, training_sample)
from dscref.index.semantic import SemanticIndex
from dscref.io import load_index
from dscref.query import Query


def test_synthetic_database_equals_the_generator(client, data, cfg):
    N, SEED, GEN = cfg.N, cfg.SEED, cfg.GEN
    x, y = synthetic_database(N, chunk_rows=9999, seed=SEED, **GEN)
    np.testing.assert_array_equal(y.compute(), data.labels_b)
    np.testing.assert_array_equal(x[12_000:25_000].compute(), data.xb[12_000:25_000])
    plan = synthetic_plan(N, seed=SEED, **GEN)  # the metadata side, as the benchmark uses it
    np.testing.assert_array_equal(plan.labels_b, data.labels_b)
    np.testing.assert_array_equal(plan.topk_q, data.topk_q)
    with pytest.raises(TypeError, match="unexpected parameters"):
        synthetic_database(N, colour=3)


def test_sharded_build_has_the_single_machine_codes(built, data, cfg):
    out, manifest, single = built
    N, K = cfg.N, cfg.K
    assert manifest["n_shards"] == 3 and manifest["ntotal"] == N
    by_id = np.empty_like(single.codes_)
    by_id[single.ids_] = single.codes_
    seen = []
    for s, meta in enumerate(manifest["shards"]):
        shard = load_index(out / meta["file"])
        assert shard.ntotal == meta["n_items"] > 0
        np.testing.assert_array_equal(shard.codes_, by_id[shard.ids_])
        # items sit in their own partition's list, in id order, and only partitions of this shard
        lab = np.repeat(np.arange(K), np.diff(shard.offsets_))
        np.testing.assert_array_equal(data.labels_b[shard.ids_], lab)
        assert set(np.unique(lab)) <= set(meta["partitions"])
        np.testing.assert_array_equal(np.asarray(manifest["owner"])[meta["partitions"]], s)
        seen.append(shard.ids_)
        np.testing.assert_array_equal(shard.centroids_, single.centroids_)
        for lst in np.unique(lab):
            np.testing.assert_array_equal(shard.pqs_[shard.list_pq_[lst]].codebooks_,
                                          single.pqs_[single.list_pq_[lst]].codebooks_)
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(N))
    # own quantizers were trained (not everything on the shared one)
    assert len(single.pqs_) > 10
    # every file honours the umask (the workers inherit this process's), no temporary file is left
    mask = os.umask(0o022)
    os.umask(mask)
    files = sorted(os.listdir(out))
    assert files == sorted([MANIFEST_NAME, SAMPLE_NAME] + [m["file"] for m in manifest["shards"]])
    assert {f: stat.S_IMODE(os.stat(out / f).st_mode) for f in files} == {f: 0o666 & ~mask for f in files}


def test_stratified_sample_gives_every_partition_its_quantizer(client, data, tmp_path, cfg):
    N, K, SEED, GEN = cfg.N, cfg.K, cfg.SEED, cfg.GEN
    x, y = synthetic_database(N, chunk_rows=7000, seed=SEED, **GEN)
    m = build_semantic_index_dask(x, y, tmp_path, n_lists=K, M=8, nbits=8, n_iter=2, seed=SEED,
                                  per_partition=400, n_shards=2, client=client)
    sample = np.load(tmp_path / SAMPLE_NAME)
    assert m["sampling"] == "per_partition=400" and m["sample_size"] == sample.size
    sizes = np.bincount(data.labels_b, minlength=K)
    got = np.bincount(data.labels_b[sample], minlength=K)
    want = np.minimum(sizes, 400)
    # Bernoulli(min(1, 400 / n_i)) per row: within 5 binomial standard deviations
    sd = np.sqrt(want * (1 - want / np.maximum(sizes, 1)))
    assert np.all(np.abs(got - want) <= 5 * sd + 1e-9)
    assert np.all(got[sizes <= 400] == sizes[sizes <= 400])
    # the single-machine model trained on the saved sample has the same codes
    single = SemanticIndex(K, M=8, nbits=8, n_iter=2, seed=SEED, progress=False)
    single.train(data.xb[sample], data.labels_b[sample]).add(data.xb, data.labels_b)
    by_id = np.empty_like(single.codes_)
    by_id[single.ids_] = single.codes_
    for meta in m["shards"]:
        shard = load_index(tmp_path / meta["file"])
        np.testing.assert_array_equal(shard.codes_, by_id[shard.ids_])
    # every partition with >= 256 sampled rows has its own quantizer: more of them than a
    # uniform sample of the same size gives
    uniform = np.bincount(data.labels_b[training_sample(N, sample.size, SEED)], minlength=K)
    assert len(single.pqs_) - 1 == int((got >= 256).sum()) > int((uniform >= 256).sum()) + 10


def test_features_from_npy_and_numpy_inputs(tmp_path, client):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    y = rng.integers(0, 6, 3000)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    fx, fy = features_from_npy(tmp_path / "x.npy", 700), features_from_npy(tmp_path / "y.npy", 700)
    np.testing.assert_array_equal(fx.compute(), x)
    m1 = build_semantic_index_dask(fx, fy, tmp_path / "a", n_lists=6, M=4, n_iter=3, sample_size=1000,
                                   n_shards=2, client=client)
    m2 = build_semantic_index_dask(x, y, tmp_path / "b", n_lists=6, M=4, n_iter=3, sample_size=1000,
                                   n_shards=2, client=client)
    assert [s["crc32"] for s in m1["shards"]] == [s["crc32"] for s in m2["shards"]]
    zarr = pytest.importorskip("zarr")  # noqa: F841 - chunked features in a zarr store
    import dask.array as da

    da.from_array(x, chunks=(500, 32)).to_zarr(str(tmp_path / "x.zarr"))
    m3 = build_semantic_index_dask(da.from_zarr(str(tmp_path / "x.zarr")), y, tmp_path / "c", n_lists=6, M=4,
                                   n_iter=3, sample_size=1000, n_shards=2, client=client)
    assert [s["crc32"] for s in m3["shards"]] == [s["crc32"] for s in m2["shards"]]


def test_assign_shards_balances_and_is_deterministic():
    rng = np.random.default_rng(0)
    sizes = rng.integers(0, 1000, 300)
    owner = assign_shards(sizes, 7)
    load = np.bincount(owner, weights=sizes, minlength=7)
    assert load.max() - load.min() <= sizes.max()
    np.testing.assert_array_equal(owner, assign_shards(sizes, 7))
    with pytest.raises(ValueError, match="sizes"):
        assign_shards(np.array([-1, 2]), 2)
    with pytest.raises(ValueError, match="n_shards"):
        assign_shards(sizes, 0)
    np.testing.assert_array_equal(training_sample(10, 50, 0), np.arange(10))
    s = training_sample(1000, 100, 5)
    assert s.size == 100 and np.all(np.diff(s) > 0)


def test_bad_inputs(tmp_path, client, built, data, cfg):
    K = cfg.K
    x = np.zeros((100, 16), np.float32)
    with pytest.raises(ValueError, match="labels has 99"):
        build_semantic_index_dask(x, np.zeros(99, np.int64), tmp_path / "a", n_lists=4, M=4, client=client)
    with pytest.raises(TypeError, match="features"):
        build_semantic_index_dask([[1.0]], np.zeros(1, np.int64), tmp_path / "a", client=client)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        build_semantic_index_dask(x, np.full(100, 7), tmp_path / "a", n_lists=4, M=4, client=client)
    with pytest.raises(ValueError, match="not divisible"):
        build_semantic_index_dask(x, np.zeros(100, np.int64), tmp_path / "a", n_lists=4, M=3, client=client)
    bad = x.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match=r"rows 0..99 .*non-finite value .* at index \(5, 3\)"):
        build_semantic_index_dask(bad, np.zeros(100, np.int64), tmp_path / "a", n_lists=4, M=4, n_iter=2,
                                  sample_size=50, client=client)
    with pytest.raises(ValueError, match="seed"):
        build_semantic_index_dask(x, np.zeros(100, np.int64), tmp_path / "a", n_lists=4, M=4, seed=-1,
                                  client=client)
    # searcher: damaged directories and bad queries
    out, manifest, single = built
    # a rebuild that fails half-way leaves no manifest, so old and new shards are never mixed
    redo = tmp_path / "redo"
    shutil.copytree(out, redo)
    ShardedSearcher(redo)
    with pytest.raises(ValueError, match="non-finite"):
        build_semantic_index_dask(bad, np.zeros(100, np.int64), redo, n_lists=4, M=4, n_iter=2,
                                  sample_size=50, client=client)
    with pytest.raises(ValueError, match="no sharded index manifest"):
        ShardedSearcher(redo)
    with pytest.raises(ValueError, match="no sharded index manifest"):
        ShardedSearcher(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ShardedSearcher(broken)
    m = dict(manifest)
    m["owner"] = [0] * K
    (broken / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(ValueError, match="inconsistent"):
        ShardedSearcher(broken)
    (broken / MANIFEST_NAME).write_text(json.dumps(manifest))
    f = broken / manifest["shards"][1]["file"]
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ValueError, match="bytes"):
        ShardedSearcher(broken)
    f.unlink()
    with pytest.raises(ValueError, match="missing"):
        ShardedSearcher(broken)
    s = ShardedSearcher(out)
    q = single.encode_query(data.xq[0], data.topk_q[0][:5])
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        s.search(Query(np.array([3, 199]), q.codes[:2]))
    with pytest.raises(ValueError, match="raw vectors"):
        s.search(Query(q.labels, None, vector=data.xq[0]))
    with pytest.raises(ValueError, match="codes must have shape"):
        s.search(Query(q.labels, q.codes[:2]))
    with pytest.raises(TypeError, match="Query"):
        s.search([np.zeros(3)])


# ------------------------------------------------------------------ one name for the number of lists
def test_n_lists_keyword_and_its_deprecated_alias(client, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((600, 16)).astype(np.float32)
    y = rng.integers(0, 6, 600)
    kw = dict(M=4, nbits=4, n_iter=2, seed=0, sample_size=400, n_shards=2, client=client)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # n_lists: no warning
        m = build_semantic_index_dask(x, y, tmp_path / "new", n_lists=6, **kw)
    assert m["n_lists"] == 6 and "n_labels" not in m and m["version"] == 2
    with pytest.warns(DeprecationWarning, match=r"n_labels= is deprecated, use n_lists="):
        old = build_semantic_index_dask(x, y, tmp_path / "old", n_labels=6, **kw)
    assert old["n_lists"] == 6
    assert [s["crc32"] for s in old["shards"]] == [s["crc32"] for s in m["shards"]]
    with pytest.raises(TypeError, match="both n_lists= and its deprecated alias n_labels="):
        build_semantic_index_dask(x, y, tmp_path / "both", n_lists=6, n_labels=6, **kw)
    with pytest.raises(ValueError, match="n_lists"):
        build_semantic_index_dask(x, y, tmp_path / "zero", n_lists=0, **kw)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="n_lists"):
        build_semantic_index_dask(x, y, tmp_path / "zero", n_labels=0, **kw)
    s = ShardedSearcher(tmp_path / "new")
    assert s.n_lists == s.K == 6
    with pytest.raises(AttributeError):
        s.K = 7
