"""Searching a sharded DSC index: :class:`ShardedSearcher`.

A query names at most five partitions (its semantic head), and the index is cut by partition,
so each head entry goes to the one shard owning its partition. That shard ranks the partition;
the per-partition top-k lists are merged with the single index's order (score, then head
position, then id), so the result equals a single-index search exactly (tested). Shards live in
this process (searched by a thread pool) or on the workers of a Dask cluster.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._validate import as_float_vector, check_int, check_k
from ..errors import IndexFormatError
from ..query import Query, SearchResult, as_query_list, check_labels, check_query
from ._dask import get_client
from .manifest import check_shard_files, read_manifest

__all__ = ["ShardedSearcher"]


def _search_one(index, subqueries, k: int, metric: str):
    """Search each single-partition sub-query on one shard: [(D, I, ncand)] in order."""
    if not subqueries:
        return []
    # a shard holds at most ntotal items: deeper columns would be padding, which the merge drops
    # (and k up to the whole index's size may exceed what the shard's own search accepts)
    res = index.search(subqueries, min(k, max(index.ntotal, 1)), metric)
    return [(res.D[i], res.I[i], int(res.n_candidates[i])) for i in range(len(subqueries))]


class ShardedSearcher:
    """Search a sharded DSC index written by :func:`~dscref.distributed.build.build_semantic_index_dask`.

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
    :mod:`dscref.distributed.manifest`) or a shard file does not match it. Indexes written before
    the number of lists got one name (manifest version 1, key ``"n_labels"``) still open.

    Attributes
    ----------
    n_lists : int
        The number of lists (partitions, classifier labels) of the index; ``K`` is a read-only
        alias.
    M, nbits, ntotal : int
        As the single index's.

    Search results equal those of one :class:`SemanticIndex` holding every item.
    """

    def __init__(self, path, client=None, threads: int = 1, mmap: bool = True, verify: bool | None = None):
        from ..io import load_index

        self.threads = check_int(threads, "threads", low=1)
        # every field checked, shard files resolved inside the directory (distributed.manifest)
        self.manifest, self.root, files = read_manifest(path)
        self.owner = np.asarray(self.manifest["owner"], dtype=np.int64)
        self.n_lists, self.M, self.nbits = self.manifest["n_lists"], self.manifest["M"], self.manifest["nbits"]
        self.ntotal = self.manifest["ntotal"]
        check_shard_files(self.manifest, files, verify)
        self.client = None if client is None else get_client(client)
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

    @property
    def K(self) -> int:
        """Alias of :attr:`n_lists` (the name this attribute had before), read-only."""
        return self.n_lists

    def _check_shards(self, summaries) -> None:
        for i, kind in enumerate(summaries):
            own = np.flatnonzero(self.owner == i)
            if kind["class"] != "SemanticIndex" or kind["n_lists"] != self.n_lists or kind["M"] != self.M \
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
        lab = check_labels(top_labels, self.n_lists, "top_labels")  # the rules of SemanticIndex.encode_query
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
        query = check_query(query, self.n_lists, self.M, self.nbits, raw=False)
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
        qs = [queries] if isinstance(queries, Query) else as_query_list(queries)
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
    return {"class": type(index).__name__, "n_lists": getattr(index, "n_lists", None), "M": index.M,
            "nbits": index.nbits, "d": index.d_, "ntotal": index.ntotal,
            "nonempty": np.flatnonzero(sizes).tolist()}
