"""Numba kernels of the robust index assignment: assignment cost, swap deltas and the binary
switching algorithm.

Arguments are marked IN / OUT; no validation (see :mod:`dscref.assignment`). All reductions are
in float64 and in a fixed order (no fastmath), so they match :mod:`dscref._reference.assignment`.

Notation shared by the index-assignment kernels: ``S`` (n, n) float64 symmetric distances
between the n items (centroids), ``w`` (n,) float64 item weights, ``inv`` (n,) int64 the item
sitting at each transmitted index, ``pats`` (E,) int64 error patterns (XOR masks) with
probabilities ``probs`` (E,) float64. The cost of an assignment is

    D = sum_x sum_e probs[e] * w[inv[x]] * S[inv[x], inv[x ^ pats[e]]]

(receiver decodes index ``x ^ e``). Indices ``x ^ e >= n`` are impossible by construction
(n is a power of two).
"""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def assignment_cost(S, w, inv, pats, probs):
    """Expected distortion D of the assignment ``inv``.

    IN  S (n, n), w (n,), inv (n,) int64, pats (E,) int64, probs (E,) float64
    OUT returns float64
    """
    n = inv.shape[0]
    total = 0.0
    for x in range(n):
        a = inv[x]
        s = 0.0
        for t in range(pats.shape[0]):
            s += probs[t] * S[a, inv[x ^ pats[t]]]
        total += w[a] * s
    return total


@nb.njit(cache=True)
def contributions(S, w, inv, pats, probs, out):
    """Per-index share of 2D: ``out[x] = sum_e p_e (w_a + w_b) S[a, b]``, a = inv[x], b = inv[x^e].

    Every unordered pair {x, x^e} is counted from both ends, so ``out.sum() == 2 * D``.

    IN  S, w, inv, pats, probs
    OUT out (n,) float64
    """
    n = inv.shape[0]
    for x in range(n):
        a = inv[x]
        s = 0.0
        for t in range(pats.shape[0]):
            b = inv[x ^ pats[t]]
            s += probs[t] * (w[a] + w[b]) * S[a, b]
        out[x] = s


@nb.njit(cache=True)
def swap_delta(S, w, inv, pats, probs, i, j):
    """Change of D when the items at indices i and j exchange their indices; O(E).

    Only pairs touching i or j change. For a neighbour y = i ^ e (y != j) the pair cost
    ``p_e (w_a + w_y) S[a, y]`` becomes ``p_e (w_b + w_y) S[b, y]`` (a = inv[i], b = inv[j]),
    and symmetrically around j; the pair {i, j} itself is unchanged.

    IN  S, w, inv, pats, probs, i, j int
    OUT returns float64
    """
    if i == j:
        return 0.0
    a = inv[i]
    b = inv[j]
    d = 0.0
    for t in range(pats.shape[0]):
        p = probs[t]
        y = i ^ pats[t]
        if y != j:
            c = inv[y]
            d += p * ((w[b] + w[c]) * S[b, c] - (w[a] + w[c]) * S[a, c])
        y = j ^ pats[t]
        if y != i:
            c = inv[y]
            d += p * ((w[a] + w[c]) * S[a, c] - (w[b] + w[c]) * S[b, c])
    return d


@nb.njit(cache=True)
def binary_switching(S, w, inv, pats, probs, n_free, max_swaps, tol):
    """Binary switching algorithm (Zeger & Gersho 1990) on the assignment ``inv``, in place.

    Indices are visited by decreasing cost contribution; the visited index is tried against
    every other free index and the best strictly improving swap (delta < -tol) is applied, after
    which the order is recomputed and the visit restarts from the costliest index. The search
    stops when no free index has an improving swap (a local minimum w.r.t. all pairwise swaps)
    or after ``max_swaps`` swaps. Ties between equal deltas go to the smaller partner index, so
    the result is deterministic.

    IN     S, w, pats, probs; n_free int (only indices < n_free move); max_swaps int; tol float
    IN/OUT inv (n,) int64
    OUT    returns the number of swaps applied
    """
    n = inv.shape[0]
    contrib = np.empty(n, dtype=np.float64)
    n_swaps = 0
    while n_swaps < max_swaps:
        contributions(S, w, inv, pats, probs, contrib)
        # stable descending order of the free indices' contributions
        order = np.argsort(-contrib[:n_free], kind="mergesort")
        improved = False
        for r in range(n_free):
            i = order[r]
            best = -tol
            arg = -1
            for j in range(n_free):
                if j == i:
                    continue
                d = swap_delta(S, w, inv, pats, probs, i, j)
                if d < best:
                    best = d
                    arg = j
            if arg >= 0:
                t = inv[i]
                inv[i] = inv[arg]
                inv[arg] = t
                n_swaps += 1
                improved = True
                break
        if not improved:
            break
    return n_swaps
