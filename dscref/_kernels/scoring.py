"""Numba kernels for asymmetric distance computation (ADC) with lookup tables, and top-k.

Arguments are marked IN / OUT; no validation (see :mod:`dscref.scoring`).

Layout notes (why the loops look the way they do):

* a table is (M, ksub) float32: one 1 KiB row per sub-space, all in L1 for M = 8.
* codes are (n, M) contiguous. For the common M = 8, uint8 case the caller also passes the same
  memory viewed as (n,) uint64 (little-endian: byte m is sub-code m): one load per code
  instead of eight, then shifts (measured 1.4 ms vs 2.5 ms per 1M codes on one core).
* a batch of queries walks the codes chunk by chunk (CHUNK codes = 32 KiB, L1/L2 resident) and
  applies every query's table to the chunk before moving on: one pass over the codes.
* the batched top-k (:func:`adc_l2_topk_blocked`) transposes the tables of a block of up to
  QUERY_BLOCK queries to (M, ksub, W), query innermost: one code's entry for all W queries is
  one contiguous row, so the loop over queries is vectorised (64 queries = 4 AVX-512 vectors)
  and the codes are read once per block. Numba leaves LLVM's SLP vectoriser off, and a loop of
  constant length 16 is unrolled into scalars before the loop vectoriser sees it, hence a
  runtime block width. For M = 8 (the paper's) one code's eight rows are summed in registers
  (:func:`_blocked_part8`) instead of M passes over a buffer.
* every sum runs over m = 0..M-1 in order in float32, so results equal the NumPy reference bit
  for bit (no ``fastmath``).
"""

import numba as nb
import numpy as np

from .._threads import parallel_kernel

# Codes per work unit: 4096 x 8 bytes = 32 KiB of codes, read once for every query of a batch.
CHUNK = 4096


@nb.njit(cache=True)
def _adc_row(lut, codes, w, lo, hi, out, o0):
    """out[o0 + i - lo] = sum_m lut[m, codes[i, m]] for i in [lo, hi), float32, m in order.

    ``w`` is ``codes`` viewed as uint64 when M == 8 and codes are uint8, else empty.
    """
    M = lut.shape[0]
    if w.shape[0] > 0:
        l0, l1, l2, l3 = lut[0], lut[1], lut[2], lut[3]
        l4, l5, l6, l7 = lut[4], lut[5], lut[6], lut[7]
        for i in range(lo, hi):
            x = w[i]
            s = np.float32(0.0)
            s += l0[x & 255]
            s += l1[(x >> 8) & 255]
            s += l2[(x >> 16) & 255]
            s += l3[(x >> 24) & 255]
            s += l4[(x >> 32) & 255]
            s += l5[(x >> 40) & 255]
            s += l6[(x >> 48) & 255]
            s += l7[x >> 56]
            out[o0 + i - lo] = s
    else:
        for i in range(lo, hi):
            s = np.float32(0.0)
            for m in range(M):
                s += lut[m, codes[i, m]]
            out[o0 + i - lo] = s


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def adc_l2_batch(luts, codes, w, out):
    """out[q, i] = sum_m luts[q, m, codes[i, m]], float32, summed in order m = 0..M-1.

    Chunks of codes are independent work units (``prange``); inside a chunk every query's table
    is applied, so a batch of queries shares one pass over the codes.

    IN  luts (nq, M, ksub) float32, codes (n, M) uint8/uint16, w (n,) uint64 view of codes or (0,)
    OUT out (nq, n) float32
    """
    nq = luts.shape[0]
    n = codes.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in nb.prange(n_chunks):
        lo = c * CHUNK
        hi = min(lo + CHUNK, n)
        for q in range(nq):
            _adc_row(luts[q], codes, w, lo, hi, out[q], lo)


@nb.njit(cache=True)
def adc_l2_batch_serial(luts, codes, w, out):
    """:func:`adc_l2_batch` without a parallel region: for short lists, where starting threads
    costs more than the scan."""
    n = codes.shape[0]
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        for q in range(luts.shape[0]):
            _adc_row(luts[q], codes, w, lo, hi, out[q], lo)


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def adc_cosine(lut, codes, bias, q_norm2, db_norm2, out):
    """out[i] = (bias + sum_m lut[m, codes[i, m]]) / (sqrt(q_norm2) sqrt(db_norm2[i])) (eq. 15).

    IN  lut (M, ksub) float32, codes (n, M), bias float32, q_norm2 float32 >= 0, db_norm2 (n,)
    float32 >= 0. OUT out (n,) float32; 0 where the denominator is 0. The two square roots are
    taken apart: their product cannot overflow where ``q_norm2 * db_norm2`` would (norms above
    ~1.8e19 are possible for large-magnitude features).
    """
    M = lut.shape[0]
    n = codes.shape[0]
    q_norm = np.sqrt(q_norm2)
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in nb.prange(n_chunks):
        lo = c * CHUNK
        hi = min(lo + CHUNK, n)
        for i in range(lo, hi):
            s = bias
            for m in range(M):
                s += lut[m, codes[i, m]]
            den = q_norm * np.sqrt(db_norm2[i])
            out[i] = s / den if den > 0 else np.float32(0.0)


# ---------------------------------------------------------------------------------- top-k
@nb.njit(cache=True)
def _worse(ka, ia, kb, ib):
    """(ka, ia) ranks after (kb, ib): larger key, ties broken by the larger id."""
    return ka > kb or (ka == kb and ia > ib)


@nb.njit(cache=True)
def _heap_insert(hk, hid, size, key, i):
    """Append (key, i) to the max-heap of ``size`` entries (worst on top) and sift it up;
    returns the new size (IN/OUT hk, hid)."""
    pos = size
    hk[pos] = key
    hid[pos] = i
    while pos > 0:
        parent = (pos - 1) // 2
        if _worse(hk[pos], hid[pos], hk[parent], hid[parent]):
            hk[pos], hk[parent] = hk[parent], hk[pos]
            hid[pos], hid[parent] = hid[parent], hid[pos]
            pos = parent
        else:
            break
    return size + 1


@nb.njit(cache=True)
def _sift_down(hk, hi, size, pos):
    """Restore the max-heap (worst on top) below ``pos``; keys ``hk``, ids ``hi``."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        if child + 1 < size and _worse(hk[child + 1], hi[child + 1], hk[child], hi[child]):
            child += 1
        if _worse(hk[child], hi[child], hk[pos], hi[pos]):
            hk[pos], hk[child] = hk[child], hk[pos]
            hi[pos], hi[child] = hi[child], hi[pos]
            pos = child
        else:
            return


@nb.njit(cache=True)
def _heap_push(vals, lo, hi, id0, sign, k, hk, hid, size):
    """Offer (key = sign * vals[j], id = id0 + j - lo) for j in [lo, hi) to a bounded max-heap
    of the k best (``hk`` keys float64, ``hid`` ids, ``size`` entries in use). Returns the size."""
    for j in range(lo, hi):
        key = sign * np.float64(vals[j])
        i = id0 + j - lo
        if size < k:
            size = _heap_insert(hk, hid, size, key, i)
        elif key < hk[0] or (key == hk[0] and i < hid[0]):
            # this threshold test is the whole cost for most entries: O(n) per row
            hk[0] = key
            hid[0] = i
            _sift_down(hk, hid, size, 0)
    return size


@nb.njit(cache=True)
def _merge_row(sign, k, hk, hid, sizes, D_r, I_r):
    """Merge the parts' heaps of one row into one bounded heap, heap-sort it by (key, id) and
    write k results with padding.

    D_r gets ``sign * key``: the original score, exactly (negation and float32 -> float64 are
    exact). A heap sort instead of ``np.argsort`` keeps the compile time down (Numba compiles
    its sorts from Python source: seconds per signature).
    """
    mk = np.empty(k, dtype=np.float64)
    mi = np.empty(k, dtype=np.int64)
    size = 0
    for p in range(sizes.shape[0]):
        for u in range(sizes[p]):
            key = hk[p, u]
            i = hid[p, u]
            if size < k:
                size = _heap_insert(mk, mi, size, key, i)
            elif _worse(mk[0], mi[0], key, i):
                mk[0] = key
                mi[0] = i
                _sift_down(mk, mi, size, 0)
    # heap sort: move the worst to the end, shrink, repeat -> ascending (key, id)
    for end in range(size - 1, 0, -1):
        mk[0], mk[end] = mk[end], mk[0]
        mi[0], mi[end] = mi[end], mi[0]
        _sift_down(mk, mi, end, 0)
    for u in range(size):
        I_r[u] = mi[u]
        D_r[u] = sign * mk[u]
    for u in range(size, k):
        I_r[u] = -1
        D_r[u] = sign * np.inf  # +inf for distances, -inf when largest


@nb.njit(cache=True)
def topk_rows(scores, k, largest, D, I):
    """The k best of every row, sorted by (score, id); one bounded max-heap per row.

    Once the heap is full an entry costs one comparison with its top: O(n + k log k) per row,
    0.7 ms for 1M float32 scores on one core -- less than waking a second thread costs on a
    loaded machine, so there is no parallel variant.

    IN  scores (nq, n) float32/float64 without NaN, k >= 1, largest bool
    OUT D (nq, k) scores.dtype padded with +inf (-inf when largest), I (nq, k) int64 padded with -1
    """
    nq, n = scores.shape
    sign = -1.0 if largest else 1.0
    hk = np.empty((1, k), dtype=np.float64)
    hid = np.empty((1, k), dtype=np.int64)
    sizes = np.zeros(1, dtype=np.int64)
    for r in range(nq):
        sizes[0] = _heap_push(scores[r], 0, n, 0, sign, k, hk[0], hid[0], 0)
        _merge_row(sign, k, hk, hid, sizes, D[r], I[r])


# ------------------------------------------------------------------- fused ADC scan + top-k
@nb.njit(cache=True)
def _adc_topk_part(luts, codes, w, lo_p, hi_p, k, hk, hid, sizes, p, n_parts):
    """Scan codes [lo_p, hi_p) for every query into an L1-sized buffer and offer it to the
    query's heap ``q * n_parts + p``: the (nq, n) distance matrix is never written."""
    buf = np.empty(CHUNK, dtype=np.float32)
    for lo in range(lo_p, hi_p, CHUNK):
        hi = min(lo + CHUNK, hi_p)
        for q in range(luts.shape[0]):
            _adc_row(luts[q], codes, w, lo, hi, buf, 0)
            t = q * n_parts + p
            sizes[t] = _heap_push(buf, 0, hi - lo, lo, 1.0, k, hk[t], hid[t], sizes[t])


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def adc_l2_topk(luts, codes, w, k, n_parts, D, I):
    """k smallest ADC distances per query, sorted by (distance, id), fused with the scan.

    The codes are split into ``n_parts`` ranges scanned in parallel; each keeps one bounded
    heap per query, then the heaps of a query are merged. Distances are bit-identical to
    :func:`adc_l2_batch`.

    IN  luts (nq, M, ksub) float32, codes (n, M), w (n,) uint64 view or (0,), k >= 1, n_parts
    OUT D (nq, k) float32 padded with +inf, I (nq, k) int64 padded with -1
    """
    nq = luts.shape[0]
    n = codes.shape[0]
    hk = np.empty((nq * n_parts, k), dtype=np.float64)
    hid = np.empty((nq * n_parts, k), dtype=np.int64)
    sizes = np.zeros(nq * n_parts, dtype=np.int64)
    step = ((n + n_parts - 1) // n_parts + CHUNK - 1) // CHUNK * CHUNK
    for p in nb.prange(n_parts):
        _adc_topk_part(luts, codes, w, min(p * step, n), min(p * step + step, n), k, hk, hid, sizes, p, n_parts)
    for q in range(nq):  # serial merge: see topk_rows
        a = q * n_parts
        _merge_row(1.0, k, hk[a:a + n_parts], hid[a:a + n_parts], sizes[a:a + n_parts], D[q], I[q])


@nb.njit(cache=True)
def adc_l2_topk_serial(luts, codes, w, k, D, I):
    """:func:`adc_l2_topk` on one thread (short lists)."""
    nq = luts.shape[0]
    hk = np.empty((nq, k), dtype=np.float64)
    hid = np.empty((nq, k), dtype=np.int64)
    sizes = np.zeros(nq, dtype=np.int64)
    _adc_topk_part(luts, codes, w, 0, codes.shape[0], k, hk, hid, sizes, 0, 1)
    for q in range(nq):
        _merge_row(1.0, k, hk[q:q + 1], hid[q:q + 1], sizes[q:q + 1], D[q], I[q])


# ------------------------------------------------------------- batched scan + top-k (query blocks)
# Queries per block of the batched scan: 64 float32 fill LLVM's vectorised loop (16 lanes x 4).
QUERY_BLOCK = 64


@nb.njit(cache=True)
def _blocked_part(lt, nqb, codes, lo, hi, k, hk, hid, sizes, h0, hstep):
    """Scan codes [lo, hi) for the nqb queries of ``lt`` (M, ksub, W) and offer each distance to
    the query's heap ``h0 + q * hstep``. Per pass of C codes: ``buf[i, :]`` (the W queries'
    distances of code i) is built sub-space by sub-space; the last sub-space's pass also
    compares the row with the heaps' thresholds (one vector compare per code), which skips
    the codes no heap takes (nearly all, once the heaps are full)."""
    M, ksub, W = lt.shape
    C = max(16, 8192 // W)  # buf of 32 KiB stays in L1 with one sub-space's table rows
    buf = np.empty((C, W), dtype=np.float32)
    thr = np.empty(W, dtype=np.float32)
    for q in range(W):  # +inf: heap not full yet; -inf: padding lane, never offered
        thr[q] = np.inf if q < nqb else -np.inf
    for c0 in range(lo, hi, C):
        b = min(C, hi - c0)
        t0 = lt[0]
        for i in range(b):
            row = t0[codes[c0 + i, 0]]
            for q in range(W):
                buf[i, q] = np.float32(0.0) + row[q]  # 0 + a: +0.0 for -0.0, as the reference
        for m in range(1, M - 1):
            tm = lt[m]
            for i in range(b):
                row = tm[codes[c0 + i, m]]
                for q in range(W):
                    buf[i, q] += row[q]
        tm = lt[M - 1]
        for i in range(b):
            hit = False
            if M > 1:
                row = tm[codes[c0 + i, M - 1]]
                for q in range(W):
                    v = buf[i, q] + row[q]
                    buf[i, q] = v
                    hit |= v < thr[q]
            else:
                for q in range(W):
                    hit |= buf[i, q] < thr[q]
            if not hit:
                continue
            for q in range(nqb):
                if buf[i, q] < thr[q]:  # ids grow within a part: an equal key never wins
                    h = h0 + q * hstep
                    sizes[h] = _heap_push(buf[i], q, q + 1, c0 + i, 1.0, k, hk[h], hid[h], sizes[h])
                    if sizes[h] == k:
                        thr[q] = hk[h, 0]


@nb.njit(cache=True)
def _blocked_part8(lt, nqb, codes, lo, hi, k, hk, hid, sizes, h0, hstep):
    """:func:`_blocked_part` for M = 8: a code's eight table rows summed in registers, in the
    same order (``0 + r0 + r1 + ... + r7``, float32), one pass per code (about 15 % faster)."""
    W = lt.shape[2]
    thr = np.empty(W, dtype=np.float32)
    v = np.empty(W, dtype=np.float32)
    for q in range(W):
        thr[q] = np.inf if q < nqb else -np.inf
    t0, t1, t2, t3, t4, t5, t6, t7 = lt[0], lt[1], lt[2], lt[3], lt[4], lt[5], lt[6], lt[7]
    for i in range(lo, hi):
        r0, r1, r2, r3 = t0[codes[i, 0]], t1[codes[i, 1]], t2[codes[i, 2]], t3[codes[i, 3]]
        r4, r5, r6, r7 = t4[codes[i, 4]], t5[codes[i, 5]], t6[codes[i, 6]], t7[codes[i, 7]]
        hit = False
        for q in range(W):
            x = (np.float32(0.0) + r0[q]) + r1[q] + r2[q] + r3[q] + r4[q] + r5[q] + r6[q] + r7[q]
            v[q] = x
            hit |= x < thr[q]
        if hit:
            for q in range(nqb):
                if v[q] < thr[q]:
                    h = h0 + q * hstep
                    sizes[h] = _heap_push(v, q, q + 1, i, 1.0, k, hk[h], hid[h], sizes[h])
                    if sizes[h] == k:
                        thr[q] = hk[h, 0]


@nb.njit(cache=True)
def _blocked_merge(nqb, k, n_parts, hk, hid, sizes, D, I):
    for q in range(nqb):
        a = q * n_parts
        _merge_row(1.0, k, hk[a:a + n_parts], hid[a:a + n_parts], sizes[a:a + n_parts], D[q], I[q])


@parallel_kernel
@nb.njit(cache=True, parallel=True)
def adc_l2_topk_blocked(lt, nqb, codes, k, n_parts, D, I):
    """k smallest ADC distances for a block of queries, scan and selection fused.

    The codes are split into ``n_parts`` ranges scanned in parallel, each read once for the
    whole block; each range keeps one bounded heap per query, merged at the end by (distance,
    id), so the result does not depend on ``n_parts``. Distances are those of
    :func:`adc_l2_batch`, bit for bit (float32, m = 0..M-1 in order).

    IN  lt (M, ksub, W) float32: lt[m, j, q] = table of query q (< nqb; zeros beyond),
        codes (n, M) uint8/uint16, k >= 1, n_parts >= 1
    OUT D (nqb, k) float32 padded with +inf, I (nqb, k) int64 padded with -1
    """
    n = codes.shape[0]
    hk = np.empty((nqb * n_parts, k), dtype=np.float64)
    hid = np.empty((nqb * n_parts, k), dtype=np.int64)
    sizes = np.zeros(nqb * n_parts, dtype=np.int64)
    step = ((n + n_parts - 1) // n_parts + CHUNK - 1) // CHUNK * CHUNK
    for p in nb.prange(n_parts):
        lo, hi = min(p * step, n), min(p * step + step, n)
        if lt.shape[0] == 8:
            _blocked_part8(lt, nqb, codes, lo, hi, k, hk, hid, sizes, p, n_parts)
        else:
            _blocked_part(lt, nqb, codes, lo, hi, k, hk, hid, sizes, p, n_parts)
    _blocked_merge(nqb, k, n_parts, hk, hid, sizes, D, I)
