"""Sharded DSC index built with Dask on a LocalCluster (2 worker processes, 1 thread each)."""

import json
import os
import shutil
import stat

import numpy as np
import pytest

pytest.importorskip("distributed")

from dscref import bitpack  # noqa: E402
from dscref.distributed import (MANIFEST_NAME, SAMPLE_NAME, ShardedSearcher, assign_shards,  # noqa: E402
                                build_semantic_index_dask, features_from_npy, synthetic_database,
                                synthetic_plan, training_sample)
from dscref.errors import IndexFormatError  # noqa: E402
from dscref.index.semantic import SemanticIndex  # noqa: E402
from dscref.index.base import Query  # noqa: E402
from dscref.io import load_index  # noqa: E402
from dscref.synthetic import make_semantic_dataset  # noqa: E402

N, D, K, SEED, SAMPLE = 50_000, 256, 100, 3, 30_000
GEN = dict(d=D, n_classes=K, n_superclasses=10, top1_acc=0.7, calibration_samples=20_000, stats_pairs=200)
BUILD = dict(n_labels=K, M=8, nbits=8, n_iter=4, seed=SEED, sample_size=SAMPLE)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           memory_limit="4GiB")
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def data():
    return make_semantic_dataset(N, seed=SEED, **GEN)


@pytest.fixture(scope="module")
def built(client, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded")
    x, y = synthetic_database(N, chunk_rows=7000, seed=SEED, **GEN)
    manifest = build_semantic_index_dask(x, y, out, n_shards=3, client=client, **BUILD)
    sample = training_sample(N, SAMPLE, SEED)
    single = SemanticIndex(n_labels=K, M=8, nbits=8, n_iter=4, seed=SEED, progress=False)
    single.train(data.xb[sample], data.labels_b[sample]).add(data.xb, data.labels_b)
    return out, manifest, single


def _queries(data, index, n=30):
    return [index.encode_query(data.xq[i], data.topk_q[i][:5]) for i in range(n)]


def test_synthetic_database_equals_the_generator(client, data):
    x, y = synthetic_database(N, chunk_rows=9999, seed=SEED, **GEN)
    np.testing.assert_array_equal(y.compute(), data.labels_b)
    np.testing.assert_array_equal(x[12_000:25_000].compute(), data.xb[12_000:25_000])
    plan = synthetic_plan(N, seed=SEED, **GEN)  # the metadata side, as the benchmark uses it
    np.testing.assert_array_equal(plan.labels_b, data.labels_b)
    np.testing.assert_array_equal(plan.topk_q, data.topk_q)
    with pytest.raises(TypeError, match="unexpected parameters"):
        synthetic_database(N, colour=3)


def test_sharded_build_has_the_single_machine_codes(built, data):
    out, manifest, single = built
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


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_sharded_search_equals_single_index_search(built, data, metric):
    out, _, single = built
    qs = _queries(data, single)
    ref = single.search(qs, 50, metric)
    for threads in (1, 3):
        got = ShardedSearcher(out, threads=threads, verify=True).search(qs, 50, metric)
        np.testing.assert_array_equal(got.I, ref.I)
        np.testing.assert_array_equal(got.D, ref.D)
        np.testing.assert_array_equal(got.n_candidates, ref.n_candidates)


def test_sharded_search_on_the_cluster_and_with_soft_bits(built, data, client):
    out, _, single = built
    qs = _queries(data, single, 12)
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
        local.encode_query(data.xq[0], [K])
    # soft-decision queries (noisy LLRs) route their LLR rows with their head entries
    rng = np.random.default_rng(0)
    soft = []
    for q in qs:
        bits = np.stack([bitpack.bytes_to_bits(bitpack.pack(c.astype(np.int64), 8)) for c in q.codes])
        soft.append(Query(q.labels, q.codes, code_llr=(1 - 2.0 * bits) * 2 + rng.normal(0, 1.5, bits.shape)))
    np.testing.assert_array_equal(ShardedSearcher(out).search(soft, 20, "cosine").I,
                                  single.search(soft, 20, "cosine").I)


def test_stratified_sample_gives_every_partition_its_quantizer(client, data, tmp_path):
    x, y = synthetic_database(N, chunk_rows=7000, seed=SEED, **GEN)
    m = build_semantic_index_dask(x, y, tmp_path, n_labels=K, M=8, nbits=8, n_iter=2, seed=SEED,
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
    single = SemanticIndex(n_labels=K, M=8, nbits=8, n_iter=2, seed=SEED, progress=False)
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


def test_ties_merge_like_the_single_index(tmp_path, client):
    # duplicated rows in several partitions: equal scores must come out in head order, then id
    rng = np.random.default_rng(1)
    base = rng.standard_normal((40, 16)).astype(np.float32)
    x = np.tile(base, (50, 1))
    y = np.repeat(np.arange(10), 200)
    build_semantic_index_dask(x, y, tmp_path, n_labels=10, M=4, nbits=4, n_iter=3, seed=0,
                              sample_size=2000, n_shards=4, client=client)
    single = SemanticIndex(n_labels=10, M=4, nbits=4, n_iter=3, seed=0, progress=False).build(x, y)
    qs = [single.encode_query(base[i], [(i + t) % 10 for t in range(5)]) for i in range(8)]
    np.testing.assert_array_equal(ShardedSearcher(tmp_path).search(qs, 30).I, single.search(qs, 30).I)


def test_features_from_npy_and_numpy_inputs(tmp_path, client):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    y = rng.integers(0, 6, 3000)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    fx, fy = features_from_npy(tmp_path / "x.npy", 700), features_from_npy(tmp_path / "y.npy", 700)
    np.testing.assert_array_equal(fx.compute(), x)
    m1 = build_semantic_index_dask(fx, fy, tmp_path / "a", n_labels=6, M=4, n_iter=3, sample_size=1000,
                                   n_shards=2, client=client)
    m2 = build_semantic_index_dask(x, y, tmp_path / "b", n_labels=6, M=4, n_iter=3, sample_size=1000,
                                   n_shards=2, client=client)
    assert [s["crc32"] for s in m1["shards"]] == [s["crc32"] for s in m2["shards"]]
    zarr = pytest.importorskip("zarr")  # noqa: F841 - chunked features in a zarr store
    import dask.array as da

    da.from_array(x, chunks=(500, 32)).to_zarr(str(tmp_path / "x.zarr"))
    m3 = build_semantic_index_dask(da.from_zarr(str(tmp_path / "x.zarr")), y, tmp_path / "c", n_labels=6, M=4,
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


def test_bad_inputs(tmp_path, client, built, data):
    x = np.zeros((100, 16), np.float32)
    with pytest.raises(ValueError, match="labels has 99"):
        build_semantic_index_dask(x, np.zeros(99, np.int64), tmp_path / "a", n_labels=4, M=4, client=client)
    with pytest.raises(TypeError, match="features"):
        build_semantic_index_dask([[1.0]], np.zeros(1, np.int64), tmp_path / "a", client=client)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        build_semantic_index_dask(x, np.full(100, 7), tmp_path / "a", n_labels=4, M=4, client=client)
    with pytest.raises(ValueError, match="not divisible"):
        build_semantic_index_dask(x, np.zeros(100, np.int64), tmp_path / "a", n_labels=4, M=3, client=client)
    bad = x.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match=r"rows 0..99 .*non-finite value .* at index \(5, 3\)"):
        build_semantic_index_dask(bad, np.zeros(100, np.int64), tmp_path / "a", n_labels=4, M=4, n_iter=2,
                                  sample_size=50, client=client)
    with pytest.raises(ValueError, match="seed"):
        build_semantic_index_dask(x, np.zeros(100, np.int64), tmp_path / "a", n_labels=4, M=4, seed=-1,
                                  client=client)
    # searcher: damaged directories and bad queries
    out, manifest, single = built
    # a rebuild that fails half-way leaves no manifest, so old and new shards are never mixed
    redo = tmp_path / "redo"
    shutil.copytree(out, redo)
    ShardedSearcher(redo)
    with pytest.raises(ValueError, match="non-finite"):
        build_semantic_index_dask(bad, np.zeros(100, np.int64), redo, n_labels=4, M=4, n_iter=2,
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


# ------------------------------------------------------------------ crafted manifests
@pytest.fixture(scope="module")
def sharded_copy(built, tmp_path_factory):
    """A private copy of the built index (its manifest is rewritten by the tests) and a valid
    shard file outside it."""
    out, manifest, _ = built
    root = tmp_path_factory.mktemp("crafted") / "index"
    shutil.copytree(out, root)
    outside = root.parent / "outside"
    outside.mkdir()
    shutil.copy(out / manifest["shards"][0]["file"], outside / manifest["shards"][0]["file"])
    (root / "escape.dscidx").symlink_to(outside / manifest["shards"][0]["file"])
    (root / "loop.dscidx").symlink_to(root / "loop.dscidx")
    return root, manifest


def _shard(i, **kw):
    return lambda m: m["shards"][i].update(kw)


def _drop(*path):
    def f(m):
        node = m
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    return f


SHARD_MANIFEST_DEFECTS = {
    **{f"missing {k}": _drop(k) for k in ("format", "version", "n_labels", "M", "nbits", "d", "ntotal",
                                            "n_shards", "owner", "shards")},
    **{f"missing shards[1].{k}": _drop("shards", 1, k) for k in ("shard", "file", "partitions", "n_items",
                                                               "bytes", "crc32")},
    "version a string": lambda m: m.update(version="1"),
    "n_labels a string": lambda m: m.update(n_labels="100"),
    "n_labels bool": lambda m: m.update(n_labels=True),
    "M a float": lambda m: m.update(M=8.0),
    "nbits 17": lambda m: m.update(nbits=17),
    "d not divisible by M": lambda m: m.update(d=250),
    "d of another index": lambda m: m.update(d=128),
    "ntotal off by one": lambda m: m.update(ntotal=m["ntotal"] + 1),
    "n_shards 0": lambda m: m.update(n_shards=0),
    "owner a dict": lambda m: m.update(owner={"0": 1}),
    "owner with a string": lambda m: m["owner"].__setitem__(3, "1"),
    "owner out of range": lambda m: m["owner"].__setitem__(3, 9),
    "owner one short": lambda m: m["owner"].pop(),
    "shards not a list": lambda m: m.update(shards={"0": m["shards"][0]}),
    "shards[0] not an object": lambda m: m["shards"].__setitem__(0, [1]),
    "shards[0].shard wrong": _shard(0, shard=2),
    "partitions with a string": lambda m: m["shards"][0]["partitions"].__setitem__(0, "0"),
    "partitions duplicated": lambda m: m["shards"][0]["partitions"].append(m["shards"][0]["partitions"][0]),
    "n_items negative": _shard(0, n_items=-1),
    "bytes a string": _shard(0, bytes="12"),
    "crc32 >= 2**32": _shard(0, crc32=2**32),
    "n_quantizers 0": _shard(0, n_quantizers=0),
    "seconds a string": _shard(0, seconds="fast"),
    "seed negative": lambda m: m.update(seed=-1),
    "timings a list": lambda m: m.update(timings=[]),
    "file an int": _shard(0, file=5),
    "file empty": _shard(0, file=""),
    "file '..'": _shard(0, file="../outside/shard_00000.dscidx"),
    "file with a '..' component": _shard(0, file="sub/../shard_00000.dscidx"),
    "file /etc/passwd": _shard(0, file="/etc/passwd"),
    "file: symlink out of the directory": _shard(0, file="escape.dscidx"),
    "file: symlink loop": _shard(0, file="loop.dscidx"),
    "file: the directory itself": _shard(0, file="."),
    "two shards, one file": lambda m: m["shards"][1].update(file=m["shards"][0]["file"]),
    "sample_file '..'": lambda m: m.update(sample_file="../x.npy"),
}


@pytest.mark.parametrize("defect", list(SHARD_MANIFEST_DEFECTS))
def test_crafted_sharded_manifest(sharded_copy, defect):
    root, manifest = sharded_copy
    m = json.loads(json.dumps(manifest))
    SHARD_MANIFEST_DEFECTS[defect](m)
    (root / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(IndexFormatError):
        ShardedSearcher(root)


def test_shard_path_absolute_even_inside_and_manifest_not_a_file(sharded_copy, tmp_path):
    root, manifest = sharded_copy
    m = json.loads(json.dumps(manifest))
    m["shards"][0]["file"] = str(root / manifest["shards"][0]["file"])  # absolute: refused
    (root / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="inside the index directory"):
        ShardedSearcher(root)
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert ShardedSearcher(root).ntotal == N  # the intact manifest still opens
    (tmp_path / MANIFEST_NAME).mkdir()
    with pytest.raises(IndexFormatError, match="not a regular file"):
        ShardedSearcher(tmp_path)
