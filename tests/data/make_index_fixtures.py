"""Write ``tests/data/v2_<kind>.dscidx`` and ``tests/data/v2_results.npz``: tiny index files of
every index class in format version 2, saved by the code *before* the index redesign (issue 19),
and the search results that code gave on them.

Made from the tree of commit 21c5f2c (tag ``pre-redesign``), from the repository root::

    PYTHONPATH=/path/to/checkout-of-21c5f2c python tests/data/make_index_fixtures.py

``tests/index/test_legacy_files.py`` loads every file with today's code and checks that it
passes its state checks, encodes the stored queries to the same bytes and searches with the
same results, and that a build with today's code from the same data and seeds stores the same
arrays (the redesign changed no number). The file names say the format version, not the
commit: the point is that version-2 files keep loading.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

N, D, K = 300, 16, 6
COMMON = dict(M=4, nbits=4, n_iter=4)
# kind -> (class name, constructor keywords); ``seed`` "gen" means np.random.default_rng(7)
SPECS = {
    "dsc": ("SemanticIndex", dict(n_labels=K, seed=0, progress=False, min_partition_size=40, **COMMON)),
    "ivf": ("IVFIndex", dict(n_lists=K, seed="gen", coarse_iter=4, **COMMON)),
    "imi": ("IMIIndex", dict(n_centroids_per_half=3, seed=0, coarse_iter=4, **COMMON)),
    "gp": ("GPIndex", dict(n_lists=K, n_neighbors=2, seed=0, coarse_iter=4, **COMMON)),
    "gp_centroid": ("GPIndex", dict(n_lists=K, n_neighbors=3, seed=1, coarse_iter=4, residual="centroid",
                                    alpha="global", prune=0.5, **COMMON)),
    "flat": ("FlatPQIndex", dict(seed=0, **COMMON)),
    "dsc_robust": ("SemanticIndex", dict(n_labels=K, seed=0, progress=False, min_partition_size=40, **COMMON)),
}
NQ, TOPK = 4, 10


def data():
    """(x (N, D) float32 L2-normalised, labels (N,) int64, queries (NQ, D) float32)."""
    rng = np.random.default_rng(19)
    C = rng.standard_normal((K, D)).astype(np.float32)
    labels = rng.integers(0, K, N)
    labels[:25] = 2  # a small partition: DSC's shared quantizer
    x = C[labels] + 0.6 * rng.standard_normal((N, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:NQ] + 0.05 * rng.standard_normal((NQ, D)).astype(np.float32)
    return x.astype(np.float32), labels.astype(np.int64), q.astype(np.float32)


def heads(labels):
    """The DSC heads of the stored queries: (NQ, 3) int64."""
    return np.stack([labels[:NQ], (labels[:NQ] + 1) % K, (labels[:NQ] + 3) % K], 1).astype(np.int64)


def make(kind, index_module):
    """An unbuilt index of ``kind`` from the classes of ``index_module`` (dscref.index)."""
    name, kw = SPECS[kind]
    kw = dict(kw)
    if kw["seed"] == "gen":
        kw["seed"] = np.random.default_rng(7)
    return getattr(index_module, name)(**kw)


def encode(ix, kind, q, labels):
    hd = heads(labels)
    if kind.startswith("dsc"):
        return [ix.encode_query(q[i], top_labels=hd[i]) for i in range(NQ)]
    return [ix.encode_query(q[i], n_probe=3) for i in range(NQ)]


def main() -> None:
    import dscref.index as dindex
    from dscref.io import FORMAT_VERSION, save_index

    assert FORMAT_VERSION == 2, FORMAT_VERSION
    x, labels, q = data()
    out = {"x": x, "labels": labels, "queries": q}
    for kind in SPECS:
        ix = make(kind, dindex).build(x, labels)
        if kind == "dsc_robust":
            from dscref.robust import make_index_robust

            ix = make_index_robust(ix, p=0.05, n_iter=10)
        save_index(ix, os.path.join(HERE, f"v2_{kind}.dscidx"))
        qs = encode(ix, kind, q, labels)
        out[f"{kind}/labels"] = np.stack([u.labels for u in qs])
        out[f"{kind}/codes"] = np.stack([u.codes for u in qs])
        for metric in ("l2", "cosine"):
            r = ix.search(qs, k=TOPK, metric=metric)
            out[f"{kind}/{metric}/D"], out[f"{kind}/{metric}/I"] = r.D, r.I
            out[f"{kind}/{metric}/n"] = r.n_candidates
    out["specs"] = np.array(json.dumps({k: [c, {a: v for a, v in kw.items()}] for k, (c, kw) in SPECS.items()}))
    np.savez_compressed(os.path.join(HERE, "v2_results.npz"), **out)
    print("wrote", len(SPECS), "index files and v2_results.npz with", sys.modules["dscref"].__file__)


if __name__ == "__main__":
    main()
