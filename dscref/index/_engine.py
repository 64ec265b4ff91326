"""The batched search engine: one Numba call scores and ranks a whole batch of queries.

:meth:`InvertedPQIndex.search <dscref.index.base.InvertedPQIndex.search>` hands every coded
query (hard or soft, any index class, L2 or cosine) to :func:`search`, which flattens the
batch into arrays -- per query its head entries ("probes"), per probe its code and the row
ranges ("segments") to scan -- and calls :func:`dscref._kernels.engine.search`, which releases
the GIL: a large batch is cut into ``num_threads()`` ranges of queries of about equal work, run
at once by a pool of threads (one query or a small batch: on the calling thread). The kernel
computes each probe's table rows, scans its segments and keeps a reservoir of the k best per
query: no Python runs per list or per query except the soft-decision terms (posteriors) and
IVF+G+P's pruning, which the index class prepares (:meth:`_engine_segments`).

Results are bit-identical to the NumPy twin (the per-list path
:meth:`~dscref.index.base.InvertedPQIndex._search_reference`) and do not depend on the thread
count: each query is one work unit with a fixed order of operations. The threads are Python
threads running a ``nogil`` kernel, not a Numba parallel region, so the threading layer plays no
part (and a forked child starts its own pool); one compiled kernel serves one query and a batch.

Per quantizer the kernel reads a hard query's rows from a *pair table* (SDC for L2, Gram for
cosine; M x 2^nbits x 2^nbits float32, 2 MiB at M = 8, nbits = 8), made the first time a query
needs it, within the index's ``pair_table_bytes`` (2 GiB by default, faiss's
``precomputed_table_max_bytes``); beyond that budget, and for soft queries, it computes the rows
from the codebooks transposed to (M, dsub, ksub), so that a row is a vectorised loop in a fixed
order. All of it is kept beside the index (:class:`_Tables`; not in its state, never saved).
"""

from __future__ import annotations

import os
import threading
import weakref

import numpy as np

from .._threads import num_threads
from .._validate import check_int
from ..scoring import _as_words
from . import tables

__all__ = ["search"]

# Below this many candidates (summed over the batch) the batch runs on the calling thread: one
# thread scans ~1e8 candidates/s with M = 8, so 2^15 candidates take ~0.3 ms, more than handing
# a range to a pool thread costs. Above it, the batch is split into num_threads() ranges.
PARALLEL_MIN_CANDIDATES = 1 << 15

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _Tables:
    """What the kernel reads per quantizer, made on first use and kept beside the index.

    * ``stack[metric][tslot[metric][p]]`` (M, ksub, ksub) float32: quantizer ``p``'s pair table,
      SDC for L2 (:func:`~dscref._kernels.engine.pair_sdc`), Gram for cosine
      (:func:`~dscref._kernels.engine.pair_gram`), up to ``pair_table_bytes`` in all. A hard
      query's rows are then M table rows read instead of M x ksub x dsub multiply-adds over
      codebooks that are rarely in cache (DSC reads a different quantizer per probe). A table
      is made only if all its entries are finite and within the tables' bound; otherwise that
      quantizer's rows are computed (and checked) per query, as the NumPy twin does.
    * ``cbt[p]`` (M, dsub, ksub) float32: the transposed codebooks, for soft queries and for
      quantizers without a table (``cslot[p] = p`` once filled, else -1).
    * ``sn2`` (n_pq, M, ksub) float64: the codewords' squared norms (``sub_norm2_``).

    The stacks are ``np.empty``: memory is committed only for the slots filled. ``src[p]``
    remembers the arrays quantizer ``p``'s slots were made from, so a replaced quantizer (a new
    ``codebooks_`` or ``sub_norm2_`` array, as training makes) is redone; editing a codebook
    array in place after a search is not seen (as faiss's precomputed tables would not be).
    """

    def __init__(self, ix, budget: int):
        M, ksub, dsub = ix.pqs_[0].codebooks_.shape
        n = len(ix.pqs_)
        self.per_table = M * ksub * ksub * 4
        self.key = (n, (M, ksub, dsub), budget)
        cap = min(n, budget // self.per_table)
        self.stack = {m: np.empty((cap, M, ksub, ksub), dtype=np.float32) for m in ("l2", "cosine")}
        self.tslot = {m: np.full(n, -1, dtype=np.int64) for m in ("l2", "cosine")}
        self.n_tables = {"l2": 0, "cosine": 0}
        self.free = budget
        self.cbt = np.empty((n, M, dsub, ksub), dtype=np.float32)
        self.cslot = np.full(n, -1, dtype=np.int64)
        self.sn2 = np.empty((n, M, ksub), dtype=np.float64)
        self.src = [None] * n
        self.bound = tables.table_bound(M)
        self.no_soft = (np.zeros((0, M, dsub), np.float32), np.zeros((0, M), np.float64),
                        np.zeros(0, np.float32), np.zeros(0, np.float64))
        self._words = (None, None)
        self._sizes = (None, None)

    def list_sizes(self, offsets: np.ndarray) -> np.ndarray:
        """``np.diff(offsets)``, kept while ``offsets`` is the same array."""
        if self._sizes[0] is not offsets:
            self._sizes = (offsets, np.diff(offsets))
        return self._sizes[1]

    def words(self, codes: np.ndarray) -> np.ndarray:
        """``codes`` viewed as uint64 (M = 8, uint8) or an empty array: the scan's one load per code."""
        if self._words[0] is not codes:
            self._words = (codes, _as_words(codes))
        return self._words[1]

    def _fresh(self, ix, p: int) -> None:
        cb, n2 = ix.pqs_[p].codebooks_, ix.sub_norm2_[p]
        src = self.src[p]
        if src is None or src[0] is not cb or src[1] is not n2:
            self.sn2[p] = n2
            self.src[p] = (cb, n2)
            self.cslot[p] = -1
            for metric, slots in self.tslot.items():
                if slots[p] >= 0:
                    self._fill(ix, p, metric, slots[p])

    def _transposed(self, ix, p: int) -> np.ndarray:
        if self.cslot[p] < 0:
            self.cbt[p] = np.asarray(ix.pqs_[p].codebooks_).transpose(0, 2, 1)
            self.cslot[p] = p
        return self.cbt[p]

    def _fill(self, ix, p: int, metric: str, slot: int) -> bool:
        """Make quantizer p's table for ``metric`` in ``slot``; False (slot left unused) if an
        entry is not finite or beyond the bound."""
        from .._kernels import engine as kern

        cb = np.ascontiguousarray(ix.pqs_[p].codebooks_, dtype=np.float32)
        out = self.stack[metric][slot]
        G = out if metric == "cosine" else np.empty_like(out)
        cbt = self.cbt[p] if self.cslot[p] >= 0 else np.ascontiguousarray(cb.transpose(0, 2, 1))
        kern.pair_gram(cbt, cb, G)
        ok = bool((np.abs(G) <= self.bound).all())
        if ok and metric == "l2":
            kern.pair_sdc(G, self.sn2[p], out)
            ok = bool((np.abs(out) <= self.bound).all())
        self.tslot[metric][p] = slot if ok else -1
        return ok

    def ready(self, ix, metric: str, hard: list, soft: list) -> None:
        """Make the tables of the quantizers ``hard`` (hard probes) and ``soft`` (soft probes)."""
        slots = self.tslot[metric]
        for p in hard:
            self._fresh(ix, p)
            if slots[p] >= 0:
                continue
            n = self.n_tables[metric]
            if n < self.stack[metric].shape[0] and self.free >= self.per_table and self._fill(ix, p, metric, n):
                self.n_tables[metric] += 1
                self.free -= self.per_table
            else:
                self._transposed(ix, p)
        for p in soft:
            self._fresh(ix, p)
            self._transposed(ix, p)


def _tables(ix) -> _Tables:
    t = _CACHE.get(ix)
    shape = ix.pqs_[0].codebooks_.shape
    if t is None or t.key != (len(ix.pqs_), shape, ix.pair_table_bytes):
        budget = check_int(ix.pair_table_bytes, "pair_table_bytes", low=0)
        t = _CACHE[ix] = _Tables(ix, budget)
    return t


def _probes(ix, qs: list):
    """Per-query probe pointers (nq+1,), lists (P,) and hard codes (P, M) int64 of a validated batch."""
    if len(qs) == 1:  # one query: no concatenation
        q = qs[0]
        return np.array([0, q.labels.size], dtype=np.int64), q.labels, q.codes.astype(np.int64)
    qptr = np.zeros(len(qs) + 1, dtype=np.int64)
    np.cumsum([q.labels.size for q in qs], out=qptr[1:])
    if qptr[-1] == 0:
        return qptr, np.zeros(0, np.int64), np.zeros((0, ix.M), np.int64)
    return qptr, np.concatenate([q.labels for q in qs]), np.concatenate([q.codes for q in qs]).astype(np.int64)


def _soft_rows(ix, qs: list, qptr, plist, sizes):
    """Soft-decision terms of every probe of a query with LLRs whose list is not empty:
    ``psoft`` (P,) (the row of each probe, -1: hard) and the rows ``(sv, svn2, sbias, sqn2)``."""
    M, dsub = ix.M, ix.d_ // ix.M
    psoft = np.full(plist.size, -1, dtype=np.int64)
    soft = [(r, j) for r, q in enumerate(qs) if q.code_llr is not None for j in range(q.labels.size)
            if sizes[qptr[r] + j] > 0]
    sv = np.zeros((len(soft), M, dsub), dtype=np.float32)
    svn2 = np.zeros((len(soft), M), dtype=np.float64)
    sbias = np.zeros(len(soft), dtype=np.float32)
    sqn2 = np.zeros(len(soft), dtype=np.float64)
    for s, (r, j) in enumerate(soft):
        t = qptr[r] + j
        lab = int(plist[t])
        sv[s], svn2[s], sbias[s], sqn2[s] = ix._soft_terms(qs[r].code_llr[j], lab, int(ix.list_pq_[lab]))
        psoft[t] = s
    return psoft, sv, svn2, sbias, sqn2


def search(ix, qs: list, k: int, metric: str):
    """``(D, I, n_candidates)`` of the validated coded queries ``qs`` (no raw-feature query).

    IndexFormatError if a probed quantizer gives non-finite or overflowing tables (a corrupt
    index), as the NumPy twin raises it.
    """
    from .._kernels import engine as kern

    nq = len(qs)
    t = _tables(ix)
    qptr, plist, pcode = _probes(ix, qs)
    sptr, slo, shi, sadd, sizes = ix._engine_segments(qs, qptr, plist, pcode, metric)
    pq_of = ix.list_pq_[plist].tolist()
    used = (sizes > 0).tolist()
    if any(q.code_llr is not None for q in qs):
        psoft, *soft_rows = _soft_rows(ix, qs, qptr, plist, sizes)
        soft = (psoft >= 0).tolist()
    else:
        psoft, soft_rows, soft = np.full(plist.size, -1, np.int64), t.no_soft, [False] * plist.size
    t.ready(ix, metric, list(dict.fromkeys(p for p, u, s in zip(pq_of, used, soft) if u and not s)),
            list(dict.fromkeys(p for p, u, s in zip(pq_of, used, soft) if u and s)))
    D = np.empty((nq, k), dtype=np.float32)
    I = np.empty((nq, k), dtype=np.int64)  # noqa: E741 - faiss's name
    ncand = np.empty(nq, dtype=np.int64)
    bad = np.empty(nq, dtype=np.int64)
    gr = getattr(ix, "gr_", None) if metric == "l2" else None
    args = (t.stack[metric], t.tslot[metric], t.cbt, t.cslot, t.sn2, ix.list_pq_, ix.cr_, ix.cnorm2_,
            ix.codes_, t.words(ix.codes_), ix.ids_, ix.db_norm2_, _EMPTY_F32 if gr is None else gr,
            qptr, plist, pcode, psoft, *soft_rows, sptr, slo, shi, sadd, ix.offsets_,
            k, metric == "cosine", t.bound, D, I, ncand, bad)
    if nq > 1 and int(sizes.sum()) >= PARALLEL_MIN_CANDIDATES and num_threads() > 1:
        first_bad = _run(kern.search, args, _ranges(range_sums(sizes, qptr), num_threads()))
    else:
        first_bad = kern.search(0, nq, *args)
    if first_bad >= 0:
        raise tables._corrupt(pq_of[first_bad])
    return D, I, ncand


_EMPTY_F32 = np.zeros(0, np.float32)
_POOL: list = [None, 0]  # the worker threads (an Executor) and their count
_POOL_LOCK = threading.Lock()


def _ranges(work: np.ndarray, threads: int) -> list:
    """Split queries 0..nq-1 into at most ``threads`` contiguous ranges of about equal work."""
    nq = work.size
    if threads <= 1 or nq <= 1:
        return [(0, nq)]
    cum = np.cumsum(work, dtype=np.float64) + np.arange(1, nq + 1)  # + 1 per query: empty ones cost too
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, threads) / threads)
    bounds = np.unique(np.concatenate([[0], np.minimum(cuts + 1, nq), [nq]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _run(kernel, args, ranges: list):
    """Run ``kernel(r0, r1, *args)`` for every range: the first on the calling thread, the others
    on the pool's threads (the kernel releases the GIL), and wait for all; a worker's exception
    is raised here. Returns the first non-negative result in range order (a bad probe), or -1."""
    if len(ranges) == 1:
        return kernel(*ranges[0], *args)
    pool = _pool(len(ranges) - 1)
    futures = [pool.submit(kernel, a, b, *args) for a, b in ranges[1:]]
    out = [kernel(*ranges[0], *args)] + [f.result() for f in futures]
    return next((x for x in out if x is not None and x >= 0), -1)


def _pool(n: int):
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL[0] is None or _POOL[1] < n:
            if _POOL[0] is not None:
                _POOL[0].shutdown(wait=False)
            _POOL[0], _POOL[1] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="dscref-search"), n
        return _POOL[0]


def _forget_pool_in_child() -> None:
    # a forked child inherits the executor object but not its threads: start a new one when needed
    _POOL[0], _POOL[1] = None, 0


os.register_at_fork(after_in_child=_forget_pool_in_child)


def whole_lists(ix, plist: np.ndarray):
    """Segments of an index that scans every item of a probed list: empty arrays (the kernel then
    scans list ``plist[t]`` for probe ``t``) and the item count of each probe's list;
    ``(sptr, lo, hi, add, sizes)``."""
    return _NO_SEGMENTS + (_tables(ix).list_sizes(ix.offsets_)[plist],)


_NO_SEGMENTS = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))


def range_sums(values: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """``values[ptr[t]:ptr[t+1]].sum()`` for every t, empty ranges included (0): items scanned
    per probe from its segments' lengths, or per query from its probes' items."""
    cum = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(values, out=cum[1:])
    return cum[ptr[1:]] - cum[ptr[:-1]]
