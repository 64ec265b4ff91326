"""Where the rows of a sharded build come from: ``.npy`` files and the synthetic generator as
lazy dask arrays (each task reads or generates its own chunk, so no data passes through the
client or the scheduler), and the seeded uniform training sample of a build.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validate import as_generator, check_int
from ._dask import import_dask

__all__ = ["training_sample", "features_from_npy", "synthetic_database", "synthetic_plan"]


def training_sample(n: int, sample_size: int, seed=0) -> np.ndarray:
    """Sorted ids (int64) of a seeded uniform sample of ``min(sample_size, n)`` rows of ``n``.

    The sample :func:`~dscref.distributed.build.build_semantic_index_dask` trains on; a single-machine build trained on
    ``x[training_sample(n, s, seed)]`` reproduces its codes.
    """
    n = check_int(n, "n", low=1)
    sample_size = check_int(sample_size, "sample_size", low=1)
    if sample_size >= n:
        return np.arange(n, dtype=np.int64)
    rng = as_generator(seed)
    return np.sort(rng.choice(n, sample_size, replace=False)).astype(np.int64)


def _npy_block(block_id=None, *, path: str, chunk_rows: int, n: int):
    a = np.load(path, mmap_mode="r")
    lo = block_id[0] * chunk_rows
    return np.array(a[lo:min(lo + chunk_rows, n)])


def features_from_npy(path, chunk_rows: int = 65536):
    """A dask array over an ``.npy`` file, each chunk read (memory-mapped) by the task that needs
    it -- no data passes through the client or the scheduler."""
    _, da = import_dask()
    path = str(Path(path).resolve())
    a = np.load(path, mmap_mode="r")
    if a.ndim not in (1, 2):
        raise ValueError(f"{path!r} holds a {a.ndim}-D array; expected features (n, d) or labels (n,)")
    chunk_rows = check_int(chunk_rows, "chunk_rows", low=1)
    n = a.shape[0]
    chunks = (tuple(min(chunk_rows, n - s) for s in range(0, n, chunk_rows)),) + tuple((c,) for c in a.shape[1:])
    return da.map_blocks(_npy_block, dtype=a.dtype, chunks=chunks, meta=np.empty((0,) * a.ndim, a.dtype),
                         path=path, chunk_rows=chunk_rows, n=n)


_PLANS: dict = {}


def _plan(n_db: int, params: tuple):
    """The synthetic generator's plan, built once per process (cheap next to the features)."""
    from .. import synthetic as syn

    key = (n_db, params)
    if key not in _PLANS:
        _PLANS.clear()
        _PLANS[key] = syn._Plan(syn._params(n_db=n_db, **dict(params)))
    return _PLANS[key]


def _synthetic_key(caller: str, seed: int, params: dict) -> tuple:
    """The generator's parameters as a hashable key of the per-process plan cache."""
    from .. import synthetic as syn

    return tuple(sorted(syn._stream_params(caller, dict(params, seed=seed)).items()))


def synthetic_plan(n_db: int, seed: int = 0, **params):
    """The generator's plan of :func:`synthetic_database` (labels, queries, ground truth; no
    features), from the same per-process cache the chunk tasks use."""
    return _plan(check_int(n_db, "n_db", low=1), _synthetic_key("synthetic_plan", seed, params))


def _synthetic_block(block_id=None, *, n_db, params, chunk_rows, what):
    plan = _plan(n_db, params)
    lo = block_id[0] * chunk_rows
    hi = min(lo + chunk_rows, n_db)
    return plan.rows(lo, hi) if what == "x" else plan.labels_b[lo:hi].astype(np.int64)


def synthetic_database(n_db: int, chunk_rows: int = 65536, seed: int = 0, **params):
    """The database of :func:`dscref.synthetic.make_semantic_dataset` as lazy dask arrays.

    Returns ``(features, labels)``: (n_db, d) float32 and (n_db,) int64, chunked by
    ``chunk_rows``; every task generates its own chunk (each worker builds the generator's plan
    once), so a 10M x 2048 database (82 GB) is never held anywhere. Equal to
    ``make_semantic_dataset(n_db, seed=seed, **params)`` row for row.
    """
    _, da = import_dask()
    n_db = check_int(n_db, "n_db", low=1)
    chunk_rows = check_int(chunk_rows, "chunk_rows", low=1)
    key = _synthetic_key("synthetic_database", seed, params)
    d = dict(key)["d"]
    rows = tuple(min(chunk_rows, n_db - s) for s in range(0, n_db, chunk_rows))
    common = dict(n_db=n_db, params=key, chunk_rows=chunk_rows)
    x = da.map_blocks(_synthetic_block, dtype=np.float32, chunks=(rows, (d,)), meta=np.empty((0, 0), np.float32),
                      what="x", **common)
    y = da.map_blocks(_synthetic_block, dtype=np.int64, chunks=(rows,), meta=np.empty((0,), np.int64),
                      what="y", **common)
    return x, y
