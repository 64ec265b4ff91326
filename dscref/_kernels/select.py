"""Numba kernels of top-k selection over (key, position) pairs: a reservoir, quickselect and sort.

Arguments are marked IN / OUT; no validation. A pair ranks before another when its key is
smaller, or the keys are equal and its position is smaller; positions are distinct, so the
k best pairs are unique and every routine here returns them whatever the input order.

The engine (:mod:`dscref._kernels.engine`) offers every candidate of a query to a reservoir
(faiss's ``ReservoirTopN`` scheme): candidates below the threshold are appended; when the
reservoir of ``2k`` slots is full, a quickselect keeps the k best and the threshold becomes the
worst kept key. Most candidates cost one predictable comparison, and nothing is sifted through
a heap (a heap's unpredictable branches cost more than the scan for short lists).
"""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _less(ka, ia, kb, ib):
    # bitwise, not short-circuit: no branch to mispredict
    return (ka < kb) | ((ka == kb) & (ia < ib))


@nb.njit(cache=True)
def _swap(rk, ri, a, b):
    rk[a], rk[b] = rk[b], rk[a]
    ri[a], ri[b] = ri[b], ri[a]


@nb.njit(cache=True)
def _partition(rk, ri, lo, hi):
    """Lomuto partition of [lo, hi] around the median of lo, mid, hi; returns the pivot's place."""
    mid = (lo + hi) // 2
    if _less(rk[mid], ri[mid], rk[lo], ri[lo]):
        _swap(rk, ri, lo, mid)
    if _less(rk[hi], ri[hi], rk[lo], ri[lo]):
        _swap(rk, ri, lo, hi)
    if _less(rk[mid], ri[mid], rk[hi], ri[hi]):
        _swap(rk, ri, mid, hi)
    pk, pi = rk[hi], ri[hi]
    store = lo
    for j in range(lo, hi):
        # branchless Lomuto: always swap, advance only past a pair below the pivot (an unequal
        # swap moves two pairs that are both >= the pivot, so the invariant holds)
        kj, ij = rk[j], ri[j]
        rk[j], ri[j] = rk[store], ri[store]
        rk[store], ri[store] = kj, ij
        store += _less(kj, ij, pk, pi)
    _swap(rk, ri, store, hi)
    return store


@nb.njit(cache=True)
def select(rk, ri, n, k):
    """Rearrange the first n pairs so that the k best are in [0, k) (in no order); 1 <= k < n."""
    lo, hi = 0, n - 1
    while lo < hi:
        p = _partition(rk, ri, lo, hi)
        if p == k - 1:
            return
        if p < k - 1:
            lo = p + 1
        else:
            hi = p - 1


@nb.njit(cache=True)
def sort(rk, ri, n):
    """Sort the first n pairs, best first (quicksort, insertion sort below 16 pairs)."""
    stack = np.empty(128, dtype=np.int64)
    top = 0
    stack[0], stack[1] = 0, n - 1
    top = 2
    while top > 0:
        top -= 2
        lo, hi = stack[top], stack[top + 1]
        while hi - lo >= 16:
            p = _partition(rk, ri, lo, hi)
            if p - lo < hi - p:  # recurse into the smaller side: the stack stays O(log n)
                stack[top], stack[top + 1] = p + 1, hi
                hi = p - 1
            else:
                stack[top], stack[top + 1] = lo, p - 1
                lo = p + 1
            top += 2
        for a in range(lo + 1, hi + 1):
            ka, ia = rk[a], ri[a]
            b = a - 1
            while b >= lo and _less(ka, ia, rk[b], ri[b]):
                rk[b + 1] = rk[b]
                ri[b + 1] = ri[b]
                b -= 1
            rk[b + 1] = ka
            ri[b + 1] = ia


@nb.njit(cache=True)
def shrink(rk, ri, n, k):
    """Keep the k best of the n pairs in [0, k); return the new threshold (the worst kept key)."""
    select(rk, ri, n, k)
    thr = rk[0]
    for u in range(1, k):
        if rk[u] > thr:
            thr = rk[u]
    return thr


@nb.njit(cache=True)
def finish(rk, ri, n, k, sign, D_r, P_r):
    """Sort the reservoir's best min(n, k) pairs and write them: ``D_r[u] = sign * key`` (the
    score, exactly), ``P_r[u]`` = position; padding ``sign * inf`` / -1 past them."""
    if n > k:
        select(rk, ri, n, k)
        n = k
    if n > 1:
        sort(rk, ri, n)
    for u in range(n):
        D_r[u] = sign * rk[u]
        P_r[u] = ri[u]
    for u in range(n, k):
        D_r[u] = sign * np.inf
        P_r[u] = -1
