"""Fixtures shared by the sharded-index tests: a Dask LocalCluster (2 worker processes, 1 thread
each), a 50k-item synthetic database and the sharded index built from it, next to the single
index it must equal.

The fixtures are package-scoped: made once for every test of this folder (in a folder without
``__init__.py`` pytest keeps them until the end of the session).
"""

from types import SimpleNamespace

import pytest

N, D, K, SEED, SAMPLE = 50_000, 256, 100, 3, 30_000
GEN = dict(d=D, n_classes=K, n_superclasses=10, top1_acc=0.7, calibration_samples=20_000, stats_pairs=200)
BUILD = dict(n_lists=K, M=8, nbits=8, n_iter=4, seed=SEED, sample_size=SAMPLE)


@pytest.fixture(scope="package")
def cfg():
    """The sizes and parameters of the shared database and build."""
    return SimpleNamespace(N=N, D=D, K=K, SEED=SEED, SAMPLE=SAMPLE, GEN=GEN, BUILD=BUILD)


@pytest.fixture(scope="package")
def client():
    # "distributed.client", not "distributed": with Dask missing, that name could resolve to this
    # folder (tests/ is on sys.path) as a namespace package
    pytest.importorskip("distributed.client")
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           memory_limit="4GiB")
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="package")
def data():
    from dscref.synthetic import make_semantic_dataset

    return make_semantic_dataset(N, seed=SEED, **GEN)


@pytest.fixture(scope="package")
def built(client, data, tmp_path_factory):
    """(directory, manifest, single index): the sharded build and its single-machine twin."""
    from dscref.distributed import build_semantic_index_dask, synthetic_database, training_sample
    from dscref.index.semantic import SemanticIndex

    out = tmp_path_factory.mktemp("sharded")
    x, y = synthetic_database(N, chunk_rows=7000, seed=SEED, **GEN)
    manifest = build_semantic_index_dask(x, y, out, n_shards=3, client=client, **BUILD)
    sample = training_sample(N, SAMPLE, SEED)
    single = SemanticIndex(K, M=8, nbits=8, n_iter=4, seed=SEED, progress=False)
    single.train(data.xb[sample], data.labels_b[sample]).add(data.xb, data.labels_b)
    return out, manifest, single


@pytest.fixture
def queries():
    """``queries(data, index, n=30)``: the first n queries of ``data`` encoded by ``index``."""
    def make(data, index, n=30):
        return [index.encode_query(data.xq[i], data.topk_q[i][:5]) for i in range(n)]
    return make
