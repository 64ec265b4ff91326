"""A sharded DSC index built and searched with Dask (optional extra: ``pip install dscref[dask]``).

The paper stops at 1M images. With 100M-1B photos the database no longer fits one machine, but
the DSC index splits naturally: a query names five partitions (its semantic head), so an index
cut **by partition** into shards lets a query touch at most five shards. This module builds
such an index with :mod:`dask.distributed` and searches it.

Build (:func:`build_semantic_index_dask`), for features ``X`` (n, d) and labels (n,) given as
dask arrays chunked by rows:

1. *Train on a sample, on one worker.* A seeded uniform sample of ``sample_size`` rows
   (:func:`training_sample`), or a stratified one of about ``per_partition`` rows of every
   partition (drawn chunk by chunk on the workers), is gathered to one worker, which runs
   :meth:`SemanticIndex.train <dscref.index.semantic.SemanticIndex.train>`: the partition
   means (eq. 3) and the per-partition residual PQs (eqs. 4-6) of the sample.
2. *Broadcast the trained model* (centroids and codebooks: ``K * d * 4`` bytes +
   2 MB per partition with its own PQ at d = 2048) to every worker, once.
3. *Encode every chunk in parallel* with the same Numba kernels
   (:meth:`SemanticIndex.encode_items`): chunk t yields, for every shard, the ids, labels and
   8-byte codes of its rows that belong to that shard.
4. *Write one index file per shard* (:func:`dscref.io.save_index`, atomic), each a complete
   :class:`SemanticIndex` holding the lists of its partitions, and a small JSON manifest (shard
   -> partitions, sizes, crc32 of each file), written last and atomically.

Partitions go to shards by greedy size balancing (largest first, to the lightest shard). The
codes are the single-machine codes: ``SemanticIndex(...).train(x[s], labels[s]).add(x, labels)``
with the same seed and sample ``s`` stores exactly the same code for every item (tested).

Search (:class:`ShardedSearcher`) routes each head entry of a query to the shard owning its
partition, ranks that partition there and merges the per-partition top-k lists with the
single index's order (score, then head position, then id), so the result equals a
single-index search exactly (tested).

Dask is imported lazily: ``import dscref`` never needs it.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ._files import atomic_open, atomic_write_text
from ._shard_manifest import FORMAT as _FORMAT
from ._shard_manifest import MANIFEST_NAME, check_shard_files, read_manifest
from ._shard_manifest import VERSION as _VERSION
from ._shard_manifest import file_crc32 as _file_crc32
from ._validate import as_float_vector, as_generator, check_int, check_k
from .errors import IndexFormatError
from .index.base import Query, SearchResult, _as_query_list
from .query import check_labels, check_query
from .index.semantic import SemanticIndex

__all__ = ["training_sample", "assign_shards", "build_semantic_index_dask", "ShardedSearcher",
           "features_from_npy", "synthetic_database", "synthetic_plan", "MANIFEST_NAME", "SAMPLE_NAME"]

log = logging.getLogger(__name__)

SAMPLE_NAME = "training_sample.npy"


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("dscref.distributed needs Dask: pip install 'dscref[dask]'") from exc
    return dask, da


def _client(client):
    """The given dask.distributed Client, or the current default one."""
    try:
        from distributed import Client, default_client
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("dscref.distributed needs dask.distributed: pip install 'dscref[dask]'") from exc
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a dask.distributed Client, got {type(client).__name__}")
        return client
    try:
        return default_client()
    except ValueError:
        raise ValueError("no dask.distributed Client: start one (Client() for a local cluster, "
                         "Client('tcp://scheduler:8786') for a real one) or pass client=") from None


# ---------------------------------------------------------------------------- building blocks
def training_sample(n: int, sample_size: int, seed=0) -> np.ndarray:
    """Sorted ids (int64) of a seeded uniform sample of ``min(sample_size, n)`` rows of ``n``.

    The sample :func:`build_semantic_index_dask` trains on; a single-machine build trained on
    ``x[training_sample(n, s, seed)]`` reproduces its codes.
    """
    n = check_int(n, "n", low=1)
    sample_size = check_int(sample_size, "sample_size", low=1)
    if sample_size >= n:
        return np.arange(n, dtype=np.int64)
    rng = as_generator(seed)
    return np.sort(rng.choice(n, sample_size, replace=False)).astype(np.int64)


def _chunk_sample(labels, start: int, probs: np.ndarray, seed: int) -> np.ndarray:
    """Worker task: ids of a chunk's rows kept by a per-partition Bernoulli draw.

    Row t of partition i is kept with probability ``probs[i]``; the uniforms of a chunk come from
    a generator seeded by ``(seed, start)``, so the sample does not depend on the scheduling.
    """
    labels = np.asarray(labels, dtype=np.int64)
    u = np.random.default_rng([seed, start]).random(labels.size)
    return start + np.flatnonzero(u < probs[labels]).astype(np.int64)


def assign_shards(sizes, n_shards: int) -> np.ndarray:
    """Owner shard (K,) int64 of each partition: greedy balancing of item counts.

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


def _train(x, labels, params: dict) -> SemanticIndex:
    """Worker task: train the DSC model on the gathered sample."""
    try:
        return SemanticIndex(**params).train(np.asarray(x), np.asarray(labels))
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

    It keeps every centroid (K x d, small) but only the quantizers its partitions use (slot 0 is
    always the shared one), and the items sorted by (partition, id) like a single index.
    """
    idx = SemanticIndex.__new__(SemanticIndex)
    for k in ("M", "nbits", "n_iter", "seed", "keep_vectors", "K", "min_partition_size", "progress"):
        setattr(idx, k, getattr(model, k))
    idx.centroids_ = model.centroids_
    own = np.zeros(model.K, dtype=bool)
    own[parts] = True
    used = np.unique(np.concatenate([[0], model.list_pq_[parts]]))
    remap = np.zeros(len(model.pqs_), dtype=np.int64)
    remap[used] = np.arange(used.size)
    idx.pqs_ = [model.pqs_[p] for p in used]
    idx.list_pq_ = np.where(own, remap[model.list_pq_], 0).astype(np.int64)
    idx.shared_pq_lists_ = model.shared_pq_lists_
    order = np.lexsort((ids, labels))
    counts = np.bincount(labels, minlength=model.K)
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
    from .io import save_index

    t0 = time.perf_counter()
    ids, labels, codes = (np.concatenate(a) for a in zip(*pieces))  # one piece per chunk (n >= 1)
    idx = _shard_index(model, np.asarray(parts, dtype=np.int64), ids, labels, codes)
    path = Path(out_dir) / f"shard_{s:05d}.dscidx"
    save_index(idx, path)
    return {"shard": s, "file": path.name, "partitions": [int(p) for p in parts],
            "n_items": int(ids.size), "n_quantizers": len(idx.pqs_), "bytes": path.stat().st_size,
            "crc32": _file_crc32(path), "seconds": time.perf_counter() - t0}


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


# ---------------------------------------------------------------------------- build
def build_semantic_index_dask(features, labels, out_dir, *, n_labels: int = 1000, M: int = 8, nbits: int = 8,
                              n_iter: int = 25, seed=0, sample_size: int = 200_000, per_partition: int | None = None,
                              n_shards: int = 8, min_partition_size: int | None = None, client=None) -> dict:
    """Build a sharded DSC index of ``features`` with Dask and write it to ``out_dir``.

    Parameters
    ----------
    features : dask.array.Array (n, d), float32
        The database, chunked by rows (any column chunking is merged). Build it from files with
        :func:`features_from_npy` or ``dask.array.from_zarr``; NumPy arrays are accepted (small
        data, tests).
    labels : dask.array.Array (n,), int
        Each item's partition (classifier top-1 label, eq. 2), in [0, n_labels).
    out_dir : path
        Created if missing; receives ``shard_XXXXX.dscidx`` files and :data:`MANIFEST_NAME`.
    n_labels, M, nbits, n_iter, min_partition_size
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

    Returns
    -------
    dict : the manifest (also written to ``out_dir / MANIFEST_NAME``), with build timings.

    Notes
    -----
    An existing manifest in ``out_dir`` is removed first and the new one written last: a build
    that fails half-way leaves a directory that :class:`ShardedSearcher` refuses to open.
    """
    dask, da = _dask()
    from distributed import wait

    client = _client(client)
    params = dict(n_labels=check_int(n_labels, "n_labels", low=1), M=check_int(M, "M", low=1),
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
    K = params["n_labels"]
    y_blocks = y.to_delayed().ravel().tolist()
    counts_d = [dask.delayed(_label_counts)(b, K) for b in y_blocks]
    sizes = np.sum(client.gather(client.compute(counts_d)), axis=0).astype(np.int64)
    owner = assign_shards(sizes, min(n_shards, K))
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
    model_f = client.compute(dask.delayed(_train)(xs, ys, params))
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
    _progress(futures)
    shards = client.gather(futures)
    timings["encode_write_s"] = time.perf_counter() - t0
    del model_f, owner_f, futures

    manifest = {"format": _FORMAT, "version": _VERSION, "n_labels": K, "M": params["M"],
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


def _label_counts(labels, K: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"labels must lie in [0, {K}), got range [{labels.min()}, {labels.max()}]")
    return np.bincount(labels.astype(np.int64), minlength=K)


def _progress(futures) -> None:
    """A tqdm bar over finishing futures (silent when logging is quiet)."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    with tqdm(total=len(futures), desc="sharded build: shards written", leave=False,
              disable=not log.isEnabledFor(logging.INFO)) as bar:
        for _ in as_completed(futures):
            bar.update(1)


# ---------------------------------------------------------------------------- search
def _search_one(index, subqueries, k: int, metric: str):
    """Search each single-partition sub-query on one shard: [(D, I, ncand)] in order."""
    if not subqueries:
        return []
    # a shard holds at most ntotal items: deeper columns would be padding, which the merge drops
    # (and k up to the whole index's size may exceed what the shard's own search accepts)
    res = index.search(subqueries, min(k, max(index.ntotal, 1)), metric)
    return [(res.D[i], res.I[i], int(res.n_candidates[i])) for i in range(len(subqueries))]


class ShardedSearcher:
    """Search a sharded DSC index written by :func:`build_semantic_index_dask`.

    Parameters
    ----------
    path : path
        The index directory (or its manifest file).
    client : dask.distributed.Client, optional
        Search on the cluster: each shard is loaded once on a worker (memory-mapped) and queries
        are sent as 47-byte-sized :class:`Query` objects. Default None: load the shards in this
        process and search them with ``threads`` threads.
    threads : int, default 1
        Local mode: shards searched concurrently (the scan kernels hold the GIL, so threads
        help mainly when pages come from disk).
    mmap, verify
        As :func:`dscref.io.load_index`. ``verify=True`` also checks each file's crc32 against
        the manifest.

    Raises :class:`~dscref.errors.IndexFormatError` when the manifest is missing or malformed
    (every field is checked, shard files must resolve inside the directory:
    :mod:`dscref._shard_manifest`) or a shard file does not match it.

    Search results equal those of one :class:`SemanticIndex` holding every item.
    """

    def __init__(self, path, client=None, threads: int = 1, mmap: bool = True, verify: bool | None = None):
        from .io import load_index

        self.threads = check_int(threads, "threads", low=1)
        # every field checked, shard files resolved inside the directory (dscref._shard_manifest)
        self.manifest, self.root, files = read_manifest(path)
        self.owner = np.asarray(self.manifest["owner"], dtype=np.int64)
        self.K, self.M, self.nbits = self.manifest["n_labels"], self.manifest["M"], self.manifest["nbits"]
        self.ntotal = self.manifest["ntotal"]
        check_shard_files(self.manifest, files, verify)
        self.client = None if client is None else _client(client)
        if self.client is None:
            self.shards = [load_index(f, mmap=mmap, verify=verify) for f in files]
            self._check_shards([_shard_summary(s) for s in self.shards])
        else:
            workers = sorted(self.client.scheduler_info()["workers"])
            self.shards = [self.client.submit(load_index, str(f), mmap=mmap, verify=verify, pure=False,
                                              workers=[workers[i % len(workers)]])
                           for i, f in enumerate(files)]
            self._check_shards(self.client.gather(
                [self.client.submit(_shard_summary, s, pure=False) for s in self.shards]))

    def _check_shards(self, summaries) -> None:
        for i, kind in enumerate(summaries):
            own = np.flatnonzero(self.owner == i)
            if kind["class"] != "SemanticIndex" or kind["K"] != self.K or kind["M"] != self.M \
                    or kind["nbits"] != self.nbits or kind["d"] != self.manifest["d"] \
                    or kind["ntotal"] != self.manifest["shards"][i]["n_items"] \
                    or not set(kind["nonempty"]) <= set(own.tolist()):
                raise IndexFormatError(f"shard {i} ({self.manifest['shards'][i]['file']}) does not match "
                                       f"the manifest")

    def encode_query(self, q, top_labels) -> Query:
        """The device's side: a :class:`Query` of feature ``q`` (d,) under head ``top_labels``.

        Each head entry's residual code comes from the shard owning that partition (its
        quantizer lives there); equal to ``SemanticIndex.encode_query`` of the single index.
        """
        lab = check_labels(top_labels, self.K, "top_labels")  # the rules of SemanticIndex.encode_query
        q = as_float_vector(q, "q", d=self.manifest.get("d"))
        rows = []
        for l in lab:
            s = int(self.owner[l])
            if self.client is None:
                rows.append(self.shards[s].encode_query(q, [l]).codes)
            else:
                rows.append(self.client.submit(_encode_on_shard, self.shards[s], q, int(l), pure=False))
        if self.client is not None:
            rows = self.client.gather(rows)
        empty = np.zeros((0, self.M), dtype=np.uint8 if self.nbits <= 8 else np.uint16)
        return Query(labels=lab, codes=np.concatenate([empty, *rows]))

    def _split(self, query: Query):
        query = check_query(query, self.K, self.M, self.nbits, raw=False)
        lab = query.labels
        subs = []
        for j, l in enumerate(lab):
            llr = None if query.code_llr is None else query.code_llr[j:j + 1]
            subs.append((int(self.owner[l]), j, Query(labels=lab[j:j + 1], codes=query.codes[j:j + 1],
                                                      code_llr=llr)))
        return subs

    def search(self, queries, k: int = 100, metric: str = "l2") -> SearchResult:
        """Same contract and same result as :meth:`InvertedPQIndex.search` on the whole database."""
        k = check_k(k, self.ntotal)
        if metric not in ("l2", "cosine"):
            raise ValueError(f"metric must be 'l2' or 'cosine', got {metric!r}")
        qs = [queries] if isinstance(queries, Query) else _as_query_list(queries)
        plan = [self._split(q) for q in qs]
        # one task per shard holding every sub-query routed to it
        per_shard: dict[int, list] = {}
        for r, subs in enumerate(plan):
            for s, j, sq in subs:
                per_shard.setdefault(s, []).append((r, j, sq))
        results = self._run(per_shard, k, metric)
        largest = metric == "cosine"
        D = np.full((len(qs), k), -np.inf if largest else np.inf, dtype=np.float32)
        I = np.full((len(qs), k), -1, dtype=np.int64)
        ncand = np.zeros(len(qs), dtype=np.int64)
        cand = [[] for _ in qs]
        for s, items in per_shard.items():
            for (r, j, _), (Ds, Is, nc) in zip(items, results[s]):
                ncand[r] += nc
                ok = Is >= 0
                cand[r].append((Ds[ok], np.full(ok.sum(), j, np.int64), Is[ok]))
        for r, parts in enumerate(cand):
            if not parts:
                continue
            sc, jj, ii = (np.concatenate(a) for a in zip(*parts))
            # the single index's order: score, then head position, then id (list order)
            order = np.lexsort((ii, jj, -sc if largest else sc))[:k]
            D[r, :order.size], I[r, :order.size] = sc[order], ii[order]
        return SearchResult(D, I, ncand)

    def _run(self, per_shard: dict, k: int, metric: str) -> dict:
        if self.client is not None:
            futs = {s: self.client.submit(_search_one, self.shards[s], [sq for _, _, sq in items],
                                          k, metric, pure=False)
                    for s, items in per_shard.items()}
            return dict(zip(futs, self.client.gather(list(futs.values()))))
        work = {s: [sq for _, _, sq in items] for s, items in per_shard.items()}
        if self.threads == 1 or len(work) == 1:
            return {s: _search_one(self.shards[s], subs, k, metric) for s, subs in work.items()}
        with ThreadPoolExecutor(self.threads) as ex:
            futs = {s: ex.submit(_search_one, self.shards[s], subs, k, metric) for s, subs in work.items()}
            return {s: f.result() for s, f in futs.items()}


def _encode_on_shard(index, q, label: int):  # runs on a worker
    return index.encode_query(q, [label]).codes


def _shard_summary(index) -> dict:
    sizes = np.diff(index.offsets_)
    return {"class": type(index).__name__, "K": getattr(index, "K", None), "M": index.M, "nbits": index.nbits,
            "d": index.d_, "ntotal": index.ntotal, "nonempty": np.flatnonzero(sizes).tolist()}


# ---------------------------------------------------------------------------- data sources
def _npy_block(block_id=None, *, path: str, chunk_rows: int, n: int):
    a = np.load(path, mmap_mode="r")
    lo = block_id[0] * chunk_rows
    return np.array(a[lo:min(lo + chunk_rows, n)])


def features_from_npy(path, chunk_rows: int = 65536):
    """A dask array over an ``.npy`` file, each chunk read (memory-mapped) by the task that needs
    it -- no data passes through the client or the scheduler."""
    _, da = _dask()
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
    from . import synthetic as syn

    key = (n_db, params)
    if key not in _PLANS:
        _PLANS.clear()
        _PLANS[key] = syn._Plan(syn._params(n_db=n_db, **dict(params)))
    return _PLANS[key]


def _synthetic_key(caller: str, seed: int, params: dict) -> tuple:
    """The generator's parameters as a hashable key of the per-process plan cache."""
    from . import synthetic as syn

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
    _, da = _dask()
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
