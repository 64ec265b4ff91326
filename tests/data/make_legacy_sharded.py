"""Make tests/data/legacy_sharded/: a tiny sharded DSC index written by the code before the
number of lists got one name (manifest key ``"n_labels"``, format version 1).

Made from commit 21c5f2c (tag ``pre-redesign``) with::

    PYTHONPATH=/path/to/a/checkout/of/pre-redesign python tests/data/make_legacy_sharded.py

It writes the index (manifest.json, two shard files, training_sample.npy) and expected.npz: the
data it was built from (x, y), the queries (labels, codes) and the old code's search results
(I_l2, D_l2, I_cos, D_cos at k=10), which tests/distributed/test_shard_manifest.py compares with.
"""

import shutil
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "legacy_sharded"


def main() -> None:
    from distributed import Client

    from dscref.distributed import ShardedSearcher, build_semantic_index_dask
    from dscref.index.semantic import SemanticIndex

    rng = np.random.default_rng(19)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    y = rng.integers(0, 6, 400).astype(np.int64)
    shutil.rmtree(OUT, ignore_errors=True)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
        build_semantic_index_dask(x, y, OUT, n_labels=6, M=4, nbits=4, n_iter=3, seed=0, sample_size=300,
                                  n_shards=2, client=client)
    single = SemanticIndex(6, M=4, nbits=4, n_iter=3, seed=0, progress=False)
    sample = np.load(OUT / "training_sample.npy")
    single.train(x[sample], y[sample]).add(x, y)
    heads = np.array([[(i + t) % 6 for t in range(5)] for i in range(8)])
    queries = [single.encode_query(x[i], heads[i]) for i in range(8)]
    searcher = ShardedSearcher(OUT, verify=True)
    got = {}
    for metric, tag in (("l2", "l2"), ("cosine", "cos")):
        res = searcher.search(queries, 10, metric)
        ref = single.search(queries, 10, metric)
        assert np.array_equal(res.I, ref.I) and np.array_equal(res.D, ref.D)
        got[f"I_{tag}"], got[f"D_{tag}"] = res.I, res.D
    np.savez(OUT / "expected.npz", x=x, y=y, labels=np.stack([q.labels for q in queries]),
             codes=np.stack([q.codes for q in queries]), **got)
    print(f"wrote {OUT} ({sum(f.stat().st_size for f in OUT.iterdir())} bytes) with {sys.modules['dscref'].__file__}")


if __name__ == "__main__":
    main()
