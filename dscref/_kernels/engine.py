"""Numba kernels of the batched search engine: table rows, fused scan and top-k per query.

Arguments are marked IN / OUT; no validation (see :mod:`dscref.index._engine`, which builds
every array from validated queries and a checked index).

One query is one work unit (:func:`_search_query`): its head entries ("probes") are taken in
order; for each, the SDC (L2) or Gram (cosine) rows of eqs. (14)-(15) are read from the
quantizer's pair table (:func:`pair_sdc`, :func:`pair_gram`) or computed from its transposed
codebooks (:func:`rows`), then the probe's row ranges ("segments": the whole list, or IVF+G+P's
kept sub-regions) are scanned with the table, a block of codes at a time, and offered to the
query's reservoir of the k best (score, position in the query's scan order)
(:mod:`dscref._kernels.select`). :func:`search` runs a range of queries without the GIL; a
batch is split into ranges run by threads at once (:mod:`dscref.index._engine`). Each query's
arithmetic is the same sequence of float operations whatever range or thread runs it, so the
results do not depend on the thread count, and no Numba threading layer is involved.

Fixed orders (the NumPy twins in :mod:`dscref.index.tables` follow them operation by operation):

* Gram row: ``g[m, j] = sum_t cb[m, j, t] * v[m, t]`` in float32, ``t = 0..dsub-1`` in order,
  from +0.0 -- with the codebooks transposed to (M, dsub, ksub) the loop over ``j`` is a
  vectorised AXPY, so the fixed order costs nothing;
* SDC row: ``max((vn2[m] + sn2[m, j]) - float64(2 g[m, j]), 0)`` in float64, then float32;
* cosine bias: ``cnorm2 + cr[m=0, e_0] + ... + cr[M-1, e_{M-1}]`` in float32, in order;
* query norm: ``||c + r^q||^2 = cnorm2 + sum_m (2 cr[m, e_m] + ||r_{m,e_m}||^2)`` in float64,
  ``m`` in order, clipped at 0 (the soft query's formula with certain bits);
* a score: ``0 (or the bias) + tab[0, e_0] + ... + tab[M-1, e_{M-1}]`` in float32, in order.
"""

import numba as nb
import numpy as np

from .prefetch import prefetch
from .select import finish, shrink


@nb.njit(cache=True)
def _gram_row(cbt_m, v_m, g):
    """``g[j] = sum_t cbt_m[t, j] * v_m[t]`` in float32, t in order from +0.0: one sub-space's
    inner products, a vectorised AXPY over j per t (the transposed layout)."""
    for j in range(g.shape[0]):
        g[j] = np.float32(0.0)
    for t in range(cbt_m.shape[0]):
        vt = v_m[t]
        row = cbt_m[t]
        for j in range(g.shape[0]):
            g[j] += row[j] * vt


@nb.njit(cache=True)
def _sdc_row(vn2, sn2_m, g, out):
    """``out[j] = float32(max((vn2 + sn2_m[j]) - float64(2 g[j]), 0))``: an SDC row from its Gram row."""
    two = np.float32(2.0)
    for j in range(g.shape[0]):
        s = (vn2 + sn2_m[j]) - np.float64(two * g[j])
        out[j] = np.float32(s if s > 0.0 else 0.0)


@nb.njit(cache=True)
def pair_gram(cbt, cb, out):
    """The Gram table of one quantizer's codewords: ``out[m, e] = `` the Gram row :func:`rows`
    makes for ``v = r_me`` (the same routine, so a row of the table *is* that row).

    IN  cbt (M, dsub, ksub) float32 (transposed codebooks), cb (M, ksub, dsub) float32
    OUT out (M, ksub, ksub) float32
    """
    for m in range(cbt.shape[0]):
        for e in range(cbt.shape[2]):
            _gram_row(cbt[m], cb[m, e], out[m, e])


@nb.njit(cache=True)
def pair_sdc(G, sn2, out):
    """The SDC table of one quantizer from its Gram table: ``out[m, e]`` = the SDC row of code
    ``e`` as :func:`rows` makes it (``vn2 = sn2[m, e]``).

    IN  G (M, ksub, ksub) float32 (:func:`pair_gram`), sn2 (M, ksub) float64
    OUT out (M, ksub, ksub) float32
    """
    for m in range(sn2.shape[0]):
        for e in range(sn2.shape[1]):
            _sdc_row(sn2[m, e], sn2[m], G[m, e], out[m, e])


@nb.njit(cache=True)
def rows(cbt, sn2, v, vn2, gram, sdc):
    """Gram and SDC rows of one query sub-vector set against one quantizer.

    IN  cbt (M, dsub, ksub) float32 (codebooks transposed), sn2 (M, ksub) float64 (their squared
        norms), v (M, dsub) float32, vn2 (M,) float64
    OUT gram (M, ksub) float32 = <v_m, r_mj>, sdc (M, ksub) float32 = max(vn2 + sn2 - 2 gram, 0)
    """
    for m in range(cbt.shape[0]):
        _gram_row(cbt[m], v[m], gram[m])
        _sdc_row(vn2[m], sn2[m], gram[m], sdc[m])


@nb.njit(cache=True)
def _within(tab, bound):
    """Every entry of ``tab`` finite and of magnitude <= bound (no early exit: vectorised)."""
    ok = True
    for m in range(tab.shape[0]):
        for j in range(tab.shape[1]):
            ok &= abs(tab[m, j]) <= bound  # False for NaN too
    return ok


@nb.njit(cache=True)
def _adc_block(tab, codes, w, lo, hi, s0, out):
    """``out[i - lo] = s0 + tab[0, e_0] + ... + tab[M-1, e_{M-1}]`` in float32, in order, for the
    codes ``lo:hi``. ``w``: the codes viewed as uint64 when M = 8 and uint8 (one load per code),
    else empty. The branch is taken once per block, outside the loops (inside, it costs 4x)."""
    if w.shape[0] > 0:
        t0, t1, t2, t3 = tab[0], tab[1], tab[2], tab[3]
        t4, t5, t6, t7 = tab[4], tab[5], tab[6], tab[7]
        for i in range(lo, hi):
            x = w[i]
            s = s0
            s += t0[x & 255]
            s += t1[(x >> 8) & 255]
            s += t2[(x >> 16) & 255]
            s += t3[(x >> 24) & 255]
            s += t4[(x >> 32) & 255]
            s += t5[(x >> 40) & 255]
            s += t6[(x >> 48) & 255]
            s += t7[x >> 56]
            out[i - lo] = s
    else:
        for i in range(lo, hi):
            s = s0
            for m in range(codes.shape[1]):
                s += tab[m, codes[i, m]]
            out[i - lo] = s


BLOCK = 256  # codes scored per block into an L1 buffer before the selection pass


@nb.njit(cache=True)
def _offer_block(buf, n, sign, p0, k, rk, ri, n_r, thr):
    """Offer the pairs (sign * buf[u], p0 + u), u < n, to the reservoir ``rk, ri`` of ``n_r`` pairs
    below the threshold ``thr``; returns (n_r, thr).

    Branchless: each pair is written to the next slot and kept (``n_r`` advanced) only if it
    beats the threshold -- about a third of a query's candidates do, in no predictable order, and
    a branch there cost more than the scan. When the reservoir is full it is shrunk to the k best
    (:func:`dscref._kernels.select.shrink`). Called once per block of codes, so the call costs
    nothing per candidate.
    """
    for u in range(n):
        key = sign * np.float64(buf[u])
        rk[n_r] = key
        ri[n_r] = p0 + u
        n_r += key < thr
        if n_r == rk.shape[0]:
            thr = shrink(rk, ri, n_r, k)
            n_r = k
    return n_r, thr


@nb.njit(cache=True)
def _scan_l2(tab, codes, w, lo, hi, gr, cst, pos, k, rk, ri, n_r, thr, buf):
    """Eq. (14) for rows lo:hi, a block of BLOCK codes at a time (``(s + gr) + cst`` with G+P's
    terms), offered to the reservoir (:func:`_offer_block`); returns (n_r, thr)."""
    add = gr.shape[0] > 0
    for b0 in range(lo, hi, BLOCK):
        b1 = min(b0 + BLOCK, hi)
        _adc_block(tab, codes, w, b0, b1, np.float32(0.0), buf)
        if add:
            for i in range(b0, b1):
                buf[i - b0] = (buf[i - b0] + gr[i]) + cst
        n_r, thr = _offer_block(buf, b1 - b0, 1.0, pos + b0 - lo, k, rk, ri, n_r, thr)
    return n_r, thr


@nb.njit(cache=True)
def _scan_cosine(tab, codes, w, lo, hi, bias, qn, db_norm2, pos, k, rk, ri, n_r, thr, buf):
    """Eq. (15) for rows lo:hi, a block at a time, offered as ``-score`` (largest first)."""
    for b0 in range(lo, hi, BLOCK):
        b1 = min(b0 + BLOCK, hi)
        _adc_block(tab, codes, w, b0, b1, bias, buf)
        for i in range(b0, b1):
            den = qn * np.sqrt(db_norm2[i])
            buf[i - b0] = buf[i - b0] / den if den > 0 else np.float32(0.0)
        n_r, thr = _offer_block(buf, b1 - b0, -1.0, pos + b0 - lo, k, rk, ri, n_r, thr)
    return n_r, thr


AHEAD = 2  # probes prefetched ahead of the one being scanned


@nb.njit(cache=True)
def _gstart(sptr, t):
    """Index of probe ``t``'s first segment: ``sptr[t]``, or ``t`` when ``sptr`` is empty (whole
    lists: one segment per probe)."""
    return sptr[t] if sptr.shape[0] > 0 else t


@nb.njit(cache=True)
def _segment(slo, shi, sadd, offsets, plist, g):
    """Rows ``lo:hi`` and constant of segment ``g``; with empty ``slo``, probe g's whole list."""
    if slo.shape[0] > 0:
        return slo[g], shi[g], sadd[g]
    lab = plist[g]
    return offsets[lab], offsets[lab + 1], 0.0


@nb.njit(cache=True)
def _prefetch_probe(tstack, tslot, list_pq, plist, pcode, psoft, sptr, slo, shi, sadd, offsets, codes, t):
    """Ask for probe ``t``'s table rows and the first codes of its first segment (no effect on
    results): they arrive while the probes before it are scanned."""
    p = list_pq[plist[t]]
    if psoft[t] < 0 and tslot[p] >= 0:
        T = tstack[tslot[p]]
        for m in range(T.shape[0]):
            row = T[m, pcode[t, m]]
            for j in range(0, row.shape[0], 16):  # one float32 cache line in 16
                prefetch(row, j)
    g = _gstart(sptr, t)
    if _gstart(sptr, t + 1) > g:
        w = codes.reshape(-1)
        a = _segment(slo, shi, sadd, offsets, plist, g)[0] * codes.shape[1]
        for j in range(a, min(a + 8192, w.shape[0]), 64):  # up to 8 KiB of codes
            prefetch(w, j)


@nb.njit(cache=True)
def _table_rows(T, e, out):
    """out[m] = T[m, e_m]: a hard code's rows read from a pair table (M, ksub, ksub). Explicit
    loops: Numba's slice assignment costs ~0.4 us per row here."""
    M, ksub = out.shape
    for m in range(M):
        row = T[m, e[m]]
        o = out[m]
        for j in range(ksub):
            o[j] = row[j]


@nb.njit(cache=True)
def _search_query(r, tstack, tslot, cbt, cslot, sn2, list_pq, cr, cnorm2, codes, w, ids, db_norm2, gr,
                  qptr, plist, pcode, psoft, sv, svn2, sbias, sqn2, sptr, slo, shi, sadd, offsets,
                  k, cosine, bound, D, I, ncand, bad):
    """Query ``r`` of the batch: rows, scan and top-k of its probes (see the module notes)."""
    M, ksub = sn2.shape[1], sn2.shape[2]
    dsub = cbt.shape[2]
    buf = np.empty(BLOCK, dtype=np.float32)
    rk = np.empty(2 * k, dtype=np.float64)  # the reservoir (see dscref._kernels.select)
    ri = np.empty(2 * k, dtype=np.int64)
    n_r = 0
    thr = np.inf
    gram = np.empty((M, ksub), dtype=np.float32)
    sdc = np.empty((M, ksub), dtype=np.float32)
    lut = np.empty((M, ksub), dtype=np.float32)
    v = np.empty((M, dsub), dtype=np.float32)
    vn2 = np.empty(M, dtype=np.float64)
    f32max = np.float64(np.finfo(np.float32).max)
    pos = 0
    bias0 = np.float32(0.0)
    qn = np.float32(0.0)
    bad[r] = -1
    g0, g1 = _gstart(sptr, qptr[r]), _gstart(sptr, qptr[r + 1])
    P = plist.shape[0]
    for t in range(qptr[r], min(qptr[r] + AHEAD, P)):  # this query's first probes (a range's start)
        _prefetch_probe(tstack, tslot, list_pq, plist, pcode, psoft, sptr, slo, shi, sadd, offsets, codes, t)
    for t in range(qptr[r], qptr[r + 1]):
        if t + AHEAD < P:  # AHEAD probes ahead, into the next query's when near the end
            _prefetch_probe(tstack, tslot, list_pq, plist, pcode, psoft, sptr, slo, shi, sadd, offsets,
                            codes, t + AHEAD)
        n_t = 0
        for g in range(_gstart(sptr, t), _gstart(sptr, t + 1)):
            lo, hi, _ = _segment(slo, shi, sadd, offsets, plist, g)
            n_t += hi - lo
        if n_t == 0:
            continue  # an empty list (or every sub-region pruned): no rows computed
        lab = plist[t]
        p = list_pq[lab]
        s_row = psoft[t]
        if s_row < 0 and tslot[p] >= 0:
            # the quantizer's pair table (SDC for L2, Gram for cosine), checked when it was made
            _table_rows(tstack[tslot[p]], pcode[t], gram if cosine else sdc)
        else:
            c = cbt[cslot[p]]
            if s_row >= 0:
                rows(c, sn2[p], sv[s_row], svn2[s_row], gram, sdc)
            else:
                for m in range(M):
                    e = pcode[t, m]
                    for u in range(dsub):
                        v[m, u] = c[m, u, e]
                    vn2[m] = sn2[p, m, e]
                rows(c, sn2[p], v, vn2, gram, sdc)
            if not (_within(gram, bound) and _within(sdc, bound)):
                bad[r] = t
                return
        if cosine:
            if s_row < 0:
                bias0 = cnorm2[lab]
                for m in range(M):
                    bias0 += cr[lab, m, pcode[t, m]]
                qn2 = np.float64(cnorm2[lab])
                for m in range(M):
                    e = pcode[t, m]
                    qn2 += 2.0 * np.float64(cr[lab, m, e]) + sn2[p, m, e]
                qn2 = qn2 if qn2 > 0.0 else 0.0
            else:
                bias0 = sbias[s_row]
                qn2 = sqn2[s_row]
            for m in range(M):
                for j in range(ksub):
                    lut[m, j] = cr[lab, m, j] + gram[m, j]
            if not (_within(lut, bound) and qn2 <= f32max):
                bad[r] = t
                return
            qn = np.sqrt(np.float32(qn2))
        for g in range(_gstart(sptr, t), _gstart(sptr, t + 1)):
            lo, hi, add = _segment(slo, shi, sadd, offsets, plist, g)
            if cosine:
                bias = np.float32(np.float64(bias0) + add)
                if not (abs(np.float64(bias)) <= bound):
                    bad[r] = t
                    return
                n_r, thr = _scan_cosine(lut, codes, w, lo, hi, bias, qn, db_norm2, pos, k, rk, ri, n_r, thr, buf)
            else:
                n_r, thr = _scan_l2(sdc, codes, w, lo, hi, gr, np.float32(add), pos, k, rk, ri, n_r, thr, buf)
            pos += hi - lo
    ncand[r] = pos
    finish(rk, ri, n_r, k, -1.0 if cosine else 1.0, D[r], I[r])
    # positions -> database ids: walk the query's segments in scan order; first the rows, with a
    # prefetch of each id (k scattered reads overlap instead of waiting one after another)
    n_out = min(n_r, k)
    for u in range(n_out):
        want = I[r, u]
        start = 0
        for g in range(g0, g1):
            lo, hi, _ = _segment(slo, shi, sadd, offsets, plist, g)
            if want < start + hi - lo:
                I[r, u] = lo + want - start
                prefetch(ids, lo + want - start)
                break
            start += hi - lo
    for u in range(n_out):
        I[r, u] = ids[I[r, u]]


@nb.njit(cache=True, nogil=True)
def search(r0, r1, tstack, tslot, cbt, cslot, sn2, list_pq, cr, cnorm2, codes, w, ids, db_norm2, gr,
           qptr, plist, pcode, psoft, sv, svn2, sbias, sqn2, sptr, slo, shi, sadd, offsets,
           k, cosine, bound, D, I, ncand, bad):
    """Queries ``r0:r1`` of the batch, in order, one reservoir each; the GIL is released, so
    threads run disjoint query ranges at once (:mod:`dscref.index._engine`).

    IN  index: per quantizer p, either its pair table ``tstack[tslot[p]]`` (M, ksub, ksub)
        float32 -- SDC (:func:`pair_sdc`) for L2, Gram (:func:`pair_gram`) for cosine -- or
        (tslot[p] = -1) its transposed codebooks ``cbt[cslot[p]]`` (M, dsub, ksub) float32, which
        soft probes always use;
        sn2 (n_pq, M, ksub) float64 codeword norms, list_pq (L,), cr (L, M, ksub) float32,
        cnorm2 (L,) float32, codes (n, M) uint8/uint16, w (n,) uint64 view of the codes (M = 8,
        uint8) or (0,), ids (n,) int64, db_norm2 (n,) float32, gr (n,) float32 or (0,).
        batch: qptr (nq+1,) probes of query r = qptr[r]:qptr[r+1]; per probe plist (P,) list,
        pcode (P, M) int64 hard code, psoft (P,) row of the soft arrays or -1 (hard); soft rows
        sv (S, M, dsub) float32, svn2 (S, M) float64, sbias (S,) float32, sqn2 (S,) float64;
        segments of probe t = sptr[t]:sptr[t+1], rows slo[g]:shi[g], constant sadd[g] float64
        (L2: added after the per-item term gr; cosine: added to the bias) -- or all four empty:
        one segment per probe, its whole list ``offsets[l]:offsets[l+1]`` (offsets (L+1,) int64);
        k >= 1, cosine bool,
        bound float64 (largest table magnitude allowed)
    OUT rows r0:r1 of D (nq, k) float32 padded with +inf (-inf for cosine), I (nq, k) int64 ids
        padded with -1, ncand (nq,) int64 items scanned, bad (nq,) int64: -1, or the probe whose
        tables were not finite or out of bound (that query's D / I are then undefined)
    Returns the first such probe of the range, or -1.
    """
    first_bad = -1
    for r in range(r0, r1):
        _search_query(r, tstack, tslot, cbt, cslot, sn2, list_pq, cr, cnorm2, codes, w, ids, db_norm2, gr,
                      qptr, plist, pcode, psoft, sv, svn2, sbias, sqn2, sptr, slo, shi, sadd, offsets,
                      k, cosine, bound, D, I, ncand, bad)
        if first_bad < 0 and bad[r] >= 0:
            first_bad = bad[r]
    return first_bad
