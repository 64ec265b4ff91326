"""Building a sharded DSC index with Dask: :func:`build_semantic_index_dask`.

For features ``X`` (n, d) and labels (n,) given as dask arrays chunked by rows:

1. *Train on a sample, on one worker.* A seeded uniform sample of ``sample_size`` rows
   (:func:`~dscref.distributed.sources.training_sample`), or a stratified one of about
   ``per_partition`` rows of every partition (drawn chunk by chunk on the workers), is gathered
   to one worker, which runs :meth:`SemanticIndex.train
   <dscref.index.semantic.SemanticIndex.train>`: the partition means (eq. 3) and the
   per-partition residual PQs (eqs. 4-6) of the sample.
2. *Broadcast the trained model* (centroids and codebooks: ``n_lists * d * 4`` bytes +
   2 MB per partition with its own PQ at d = 2048) to every worker, once.
3. *Encode every chunk in parallel* with the same Numba kernels
   (:meth:`SemanticIndex.encode_items`): chunk t yields, for every shard, the ids, labels and
   8-byte codes of its rows that belong to that shard.
4. *Write one index file per shard* (:func:`dscref.io.save_index`, atomic), each a complete
   :class:`SemanticIndex` holding the lists of its partitions, and a small JSON manifest
   (:mod:`dscref.distributed.manifest`: shard -> partitions, sizes, crc32 of each file), written
   last and atomically.

Partitions go to shards by greedy size balancing (:func:`assign_shards`: largest first, to the
lightest shard). The codes are the single-machine codes:
``SemanticIndex(...).train(x[s], labels[s]).add(x, labels)`` with the same seed and sample ``s``
stores exactly the same code for every item (tested).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from .._files import atomic_open, atomic_write_text
from .._validate import check_int, renamed_keyword
from ..index.semantic import SemanticIndex
from ._dask import get_client, import_dask, progress
from .manifest import FORMAT, MANIFEST_NAME, VERSION, file_crc32
from .sources import training_sample

__all__ = ["build_semantic_index_dask", "assign_shards", "SAMPLE_NAME"]

log = logging.getLogger(__name__)

#: The file of the training sample's row ids, next to the shards (``sample_file`` in the manifest).
SAMPLE_NAME = "training_sample.npy"


def _chunk_sample(labels, start: int, probs: np.ndarray, seed: int) -> np.ndarray:
    """Worker task: ids of a chunk's rows kept by a per-partition Bernoulli draw.

    Row t of partition i is kept with probability ``probs[i]``; the uniforms of a chunk come from
    a generator seeded by ``(seed, start)``, so the sample does not depend on the scheduling.
    """
    labels = np.asarray(labels, dtype=np.int64)
    u = np.random.default_rng([seed, start]).random(labels.size)
    return start + np.flatnonzero(u < probs[labels]).astype(np.int64)


def assign_shards(sizes, n_shards: int) -> np.ndarray:
    """Owner shard (n_lists,) int64 of each partition: greedy balancing of item counts.

    Partitions are taken largest first (ties by partition id) and each goes to the shard with
    the fewest items so far (ties to the lower shard id); deterministic.
    """
    sizes = np.asarray(sizes)
    if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu" or (sizes < 0).any():
        raise ValueError(f"sizes must be a non-empty 1-D array of non-negative counts, got {sizes!r}")
    n_shards = check_int(n_shards, "n_shards", low=1)
    owner = np.empty(sizes.size, dtype=np.int64)
    load = np.zeros(n_shards, dtype=np.int64)
    for i in np.lexsort((np.arange(sizes.size), -sizes.astype(np.int64))):
        s = int(np.argmin(load))
        owner[i] = s
        load[s] += sizes[i]
    return owner


def _train(x, labels, n_lists: int, params: dict) -> SemanticIndex:
    """Worker task: train the DSC model on the gathered sample."""
    try:
        return SemanticIndex(n_lists, **params).train(np.asarray(x), np.asarray(labels))
    except ValueError as exc:
        raise ValueError(f"training sample (row r is database row training_sample(...)[r]): {exc}") from None


def _encode_block(x, labels, start: int, model: SemanticIndex, owner: np.ndarray, n_shards: int):
    """Worker task: encode one row chunk, split by owner shard -> tuple of (ids, labels, codes)."""
    labels = np.asarray(labels, dtype=np.int64)
    try:
        codes = model.encode_items(np.asarray(x), labels)
    except ValueError as exc:  # name the database rows, not the chunk's
        raise ValueError(f"features rows {start}..{start + labels.size - 1} (chunk starting at row "
                         f"{start}): {exc}") from None
    ids = np.arange(start, start + labels.size, dtype=np.int64)
    shard = owner[labels]
    out = []
    for s in range(n_shards):
        m = shard == s
        out.append((ids[m], labels[m], codes[m]))
    return tuple(out)


def _shard_index(model: SemanticIndex, parts: np.ndarray, ids, labels, codes) -> SemanticIndex:
    """A complete SemanticIndex holding only the lists of partitions ``parts``.

    It keeps every centroid (n_lists x d, small) but only the quantizers its partitions use (slot
    0 is always the shared one), and the items sorted by (partition, id) like a single index.
    The model's parameters (its attributes other than the fitted ``*_`` ones, ``ntotal`` and
    ``_xb``) are copied in the model's order, so the saved state is the same whatever the
    parameters are called.
    """
    idx = SemanticIndex.__new__(SemanticIndex)
    for k in [k for k in vars(model) if not k.endswith("_") and k not in ("ntotal", "_xb")]:
        setattr(idx, k, getattr(model, k))
    idx.centroids_ = model.centroids_
    n_lists = model.n_lists
    own = np.zeros(n_lists, dtype=bool)
    own[parts] = True
    used = np.unique(np.concatenate([[0], model.list_pq_[parts]]))
    remap = np.zeros(len(model.pqs_), dtype=np.int64)
    remap[used] = np.arange(used.size)
    idx.pqs_ = [model.pqs_[p] for p in used]
    idx.list_pq_ = np.where(own, remap[model.list_pq_], 0).astype(np.int64)
    idx.shared_pq_lists_ = model.shared_pq_lists_
    order = np.lexsort((ids, labels))
    counts = np.bincount(labels, minlength=n_lists)
    idx.offsets_ = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    idx.ids_ = np.ascontiguousarray(ids[order], dtype=np.int64)
    idx.codes_ = np.ascontiguousarray(codes[order])
    idx._prepare_tables()
    idx._xb = None
    idx.d_ = int(model.centroids_.shape[1])
    idx.ntotal = int(ids.size)
    return idx


def _write_shard(s: int, parts: np.ndarray, model: SemanticIndex, out_dir: str, *pieces) -> dict:
    """Worker task: build and save shard ``s`` from its ``(ids, labels, codes)`` of every chunk."""
    from ..io import save_index

    t0 = time.perf_counter()
    ids, labels, codes = (np.concatenate(a) for a in zip(*pieces))  # one piece per chunk (n >= 1)
    idx = _shard_index(model, np.asarray(parts, dtype=np.int64), ids, labels, codes)
    path = Path(out_dir) / f"shard_{s:05d}.dscidx"
    save_index(idx, path)
    return {"shard": s, "file": path.name, "partitions": [int(p) for p in parts],
            "n_items": int(ids.size), "n_quantizers": len(idx.pqs_), "bytes": path.stat().st_size,
            "crc32": file_crc32(path), "seconds": time.perf_counter() - t0}


def _as_dask_rows(da, a, name: str, ndim: int):
    if isinstance(a, da.Array):
        arr = a
    elif isinstance(a, np.ndarray):
        arr = da.from_array(a, chunks=(min(65536, max(1, a.shape[0])),) + (-1,) * (a.ndim - 1))
    else:
        raise TypeError(f"{name} must be a dask array (or a NumPy array), got {type(a).__name__}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if any(np.isnan(c) for c in arr.shape):
        raise ValueError(f"{name} has unknown chunk sizes {arr.chunks}: call compute_chunk_sizes() first")
    return arr


@renamed_keyword("n_labels", "n_lists")
def build_semantic_index_dask(features, labels, out_dir, *, n_lists: int = 1000, M: int = 8, nbits: int = 8,
                              n_iter: int = 25, seed=0, sample_size: int = 200_000, per_partition: int | None = None,
                              n_shards: int = 8, min_partition_size: int | None = None, client=None) -> dict:
    """Build a sharded DSC index of ``features`` with Dask and write it to ``out_dir``.

    Parameters
    ----------
    features : dask.array.Array (n, d), float32
        The database, chunked by rows (any column chunking is merged). Build it from files with
        :func:`~dscref.distributed.sources.features_from_npy` or ``dask.array.from_zarr``; NumPy
        arrays are accepted (small data, tests).
    labels : dask.array.Array (n,), int
        Each item's partition (classifier top-1 label, eq. 2), in [0, n_lists).
    out_dir : path
        Created if missing; receives ``shard_XXXXX.dscidx`` files and :data:`MANIFEST_NAME`.
    n_lists : int, default 1000
        The number of lists: partitions, classifier labels (K in the paper).
    M, nbits, n_iter, min_partition_size
        As :class:`~dscref.index.semantic.SemanticIndex`.
    seed : int
        Seeds the training sample and the training (an int: it is recorded in the manifest).
    sample_size : int
        Training rows gathered to one worker (at d = 2048: 8 KiB each, 200 000 rows = 1.6 GB).
        Partitions with fewer than ``min_partition_size`` sampled rows share one quantizer.
    per_partition : int, optional
        Stratified sampling instead: keep each row of partition i with probability
        ``min(1, per_partition / n_i)`` (about ``per_partition`` rows of every partition, all
        rows of the smaller ones; ``sample_size`` is then ignored). Every partition with at least
        ``min_partition_size`` rows then gets its own quantizer, where a uniform sample leaves the
        small partitions on the shared one. The ids drawn are saved as ``training_sample.npy``.
    n_shards : int
        Index files; each holds whole partitions, balanced by item count.
    client : dask.distributed.Client, optional
        Default: the current client.
    n_labels : int, optional
        Deprecated name of ``n_lists`` (a DeprecationWarning; giving both is a TypeError).

    Returns
    -------
    dict : the manifest (also written to ``out_dir / MANIFEST_NAME``), with build timings.

    Notes
    -----
    An existing manifest in ``out_dir`` is removed first and the new one written last: a build
    that fails half-way leaves a directory that :class:`~dscref.distributed.search.ShardedSearcher`
    refuses to open.
    """
    dask, da = import_dask()
    from distributed import wait

    client = get_client(client)
    n_lists = check_int(n_lists, "n_lists", low=1)
    params = dict(M=check_int(M, "M", low=1),
                  nbits=check_int(nbits, "nbits", low=1, high=16), n_iter=check_int(n_iter, "n_iter", low=1),
                  seed=check_int(seed, "seed", low=0), min_partition_size=min_partition_size, progress=False)
    sample_size = check_int(sample_size, "sample_size", low=1)
    n_shards = check_int(n_shards, "n_shards", low=1)
    x = _as_dask_rows(da, features, "features", 2)
    y = _as_dask_rows(da, labels, "labels", 1)
    n, d = x.shape
    if n == 0:
        raise ValueError("features is empty (0 rows)")
    if y.shape[0] != n:
        raise ValueError(f"labels has {y.shape[0]} entries but features has {n} rows")
    if x.dtype.kind != "f":
        raise TypeError(f"features must hold floats, got dtype {x.dtype}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must hold integers, got dtype {y.dtype}")
    if d % params["M"]:
        raise ValueError(f"d={d} is not divisible by M={params['M']}")
    x = x.astype(np.float32).rechunk({1: -1})
    y = y.rechunk((x.chunks[0],))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # no manifest until the new shards are all written: a failed rebuild leaves no index that
    # would mix old and new shard files
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    timings = {}

    # 0. partition sizes: one pass over the labels
    t0 = time.perf_counter()
    y_blocks = y.to_delayed().ravel().tolist()
    counts_d = [dask.delayed(_label_counts)(b, n_lists) for b in y_blocks]
    sizes = np.sum(client.gather(client.compute(counts_d)), axis=0).astype(np.int64)
    owner = assign_shards(sizes, min(n_shards, n_lists))
    n_shards = int(owner.max()) + 1
    timings["label_pass_s"] = time.perf_counter() - t0

    # 1. gather the training sample to one worker and train there
    t0 = time.perf_counter()
    starts = np.concatenate([[0], np.cumsum(x.chunks[0])[:-1]]).astype(np.int64)
    if per_partition is None:
        sample = training_sample(n, sample_size, seed)
    else:
        per_partition = check_int(per_partition, "per_partition", low=1)
        probs = np.minimum(1.0, per_partition / np.maximum(sizes, 1))
        picked = client.compute([dask.delayed(_chunk_sample)(yb, int(s0), probs, params["seed"])
                                 for yb, s0 in zip(y_blocks, starts)])
        sample = np.concatenate(client.gather(picked)).astype(np.int64)
        if sample.size == 0:
            raise ValueError(f"per_partition={per_partition} drew no training rows")
    _save_npy(out / SAMPLE_NAME, sample)
    xs, ys = x[sample], y[sample]
    model_f = client.compute(dask.delayed(_train)(xs, ys, n_lists, params))
    wait([model_f])  # the model stays on its worker; result() would pull it to the client
    if model_f.status != "finished":
        model_f.result()  # re-raises the worker's exception
    timings["train_s"] = time.perf_counter() - t0
    # 2. broadcast the model once to every worker
    t0 = time.perf_counter()
    client.replicate([model_f])
    timings["broadcast_s"] = time.perf_counter() - t0

    # 3-4. encode every chunk, then gather each shard's rows and write its file
    t0 = time.perf_counter()
    x_blocks = x.to_delayed().ravel().tolist()
    owner_f = client.scatter(owner, broadcast=True)
    # nout: chunk t's output is n_shards separate keys, so a shard's writer receives only its rows
    pieces = [dask.delayed(_encode_block, pure=True, nout=n_shards)(xb, yb, int(s0), model_f, owner_f, n_shards)
              for xb, yb, s0 in zip(x_blocks, y_blocks, starts)]
    parts = [np.flatnonzero(owner == s) for s in range(n_shards)]
    writes = [dask.delayed(_write_shard, pure=True)(s, parts[s], model_f, str(out), *[p[s] for p in pieces])
              for s in range(n_shards)]
    futures = client.compute(writes)
    progress(futures)
    shards = client.gather(futures)
    timings["encode_write_s"] = time.perf_counter() - t0
    del model_f, owner_f, futures

    manifest = {"format": FORMAT, "version": VERSION, "n_lists": n_lists, "M": params["M"],
                "nbits": params["nbits"], "d": int(d), "ntotal": int(n), "seed": seed,
                "sample_size": int(sample.size), "sampling": "uniform" if per_partition is None else
                f"per_partition={per_partition}", "sample_file": SAMPLE_NAME, "n_shards": n_shards,
                "owner": owner.tolist(), "shards": sorted(shards, key=lambda r: r["shard"]),
                "timings": timings}
    atomic_write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=1))
    log.info("sharded DSC index: %d items in %d shards under %s (%s)", n, n_shards, out,
             ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    return manifest


def _save_npy(path: Path, a: np.ndarray) -> None:
    """``np.save`` of ``a``, written atomically."""
    with atomic_open(path) as f:
        np.save(f, a, allow_pickle=False)


def _label_counts(labels, n_lists: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_lists):
        raise ValueError(f"labels must lie in [0, {n_lists}), got range [{labels.min()}, {labels.max()}]")
    return np.bincount(labels.astype(np.int64), minlength=n_lists)
