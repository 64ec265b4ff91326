"""Robust index assignment of PQ codewords (pseudo-Gray coding): which index each codeword is sent as.

Wang & Qi send the PQ sub-codes ``e_1..e_5`` of the payload (eq. 12) as raw bits; one flipped
bit moves the query to an arbitrary other sub-codeword. Permuting the codeword indices so that
indices at small Hamming distance carry nearby codewords makes those errors cheaper, with no
extra bits and no change to error-free results: :func:`robust_permutation` (the binary switching
algorithm of Zeger & Gersho 1990; the polysemous codes of Douze, Jégou & Perronnin 2016 use the
same idea), :func:`assignment_distortion` (its objective), :func:`apply_permutation` and
:func:`permute_codes`. An index is converted by :func:`dscref.index.robust.make_index_robust`;
its head labels are ordered the same way by :func:`dscref.index.robust.robust_label_order`.

References
----------
K. Zeger, A. Gersho, "Pseudo-Gray coding", IEEE Trans. Commun. 38(12), 1990.
M. Douze, H. Jégou, F. Perronnin, "Polysemous codes", ECCV 2016.
"""

from __future__ import annotations

import copy

import numpy as np

from ._validate import as_codes, as_generator, as_int_array, check_float, check_int
from .pq import MAX_TABLE_NBITS, ProductQuantizer

__all__ = [
    "error_patterns",
    "robust_permutation",
    "assignment_distortion",
    "apply_permutation",
    "permute_codes",
    "check_flip_probability",
    "distance_table",
    "optimise_assignment",
]


def check_flip_probability(p) -> float:
    """A bit-error probability in (0, 0.5): a Python or NumPy real scalar, as a float."""
    return check_float(p, "p", low=0.0, high=0.5, low_open=True, high_open=True)


def error_patterns(nbits: int, p: float, order: int | None = 2):
    """Error patterns (XOR masks) of up to ``order`` flipped bits and their probabilities.

    Parameters
    ----------
    nbits : int
        Bits per index.
    p : float in (0, 0.5)
        Independent bit-flip probability.
    order : int or None, default 2
        Largest Hamming weight kept. ``None`` keeps all ``2**nbits - 1`` non-zero patterns, which
        makes the distortion exact; 1 is the classical pseudo-Gray (first order in p) objective;
        2 adds the O(p^2) terms that matter for p up to about 0.1.

    Returns
    -------
    pats : ndarray (E,) int64
    probs : ndarray (E,) float64, ``P(e) = p^|e| (1 - p)^(nbits - |e|)``
    """
    nbits = check_int(nbits, "nbits", low=1, high=16)
    p = check_flip_probability(p)
    if order is not None:
        order = check_int(order, "order", low=1)
    e = np.arange(1, 1 << nbits, dtype=np.int64)
    w = np.array([bin(int(v)).count("1") for v in e], dtype=np.int64)
    if order is not None:
        keep = w <= order
        e, w = e[keep], w[keep]
    probs = p ** w * (1.0 - p) ** (nbits - w)
    return np.ascontiguousarray(e), probs.astype(np.float64)


def distance_table(codewords: np.ndarray) -> np.ndarray:
    """``S[i, j] = ||r_i - r_j||^2`` of n codewords (n, d), as an (n, n) float64 table: zero
    diagonal, clipped at 0 (the objective's distances, for PQ sub-codebooks and for the
    partition centroids of :func:`dscref.index.robust.robust_label_order`)."""
    c = codewords.astype(np.float64)
    n2 = (c ** 2).sum(1)
    S = n2[:, None] + n2[None, :] - 2.0 * (c @ c.T)
    np.fill_diagonal(S, 0.0)
    return np.maximum(S, 0.0)


def optimise_assignment(S, w, pats, probs, n_free, n_iter, n_restarts, rng):
    """Binary switching from the identity, then from ``n_restarts - 1`` random starts; the best.

    Prior validation is assumed: ``S`` (n, n) and ``w`` (n,) float64 C-contiguous, ``pats`` /
    ``probs`` from :func:`error_patterns`, only indices ``< n_free`` move. Returns
    ``(inv, cost)``: the item at each transmitted index (n,) int64 and the objective D.
    """
    from ._kernels import assignment as kern

    n = S.shape[0]
    best_inv, best_cost = None, np.inf
    for r in range(n_restarts):
        inv = np.arange(n, dtype=np.int64)
        if r:
            inv[:n_free] = rng.permutation(n_free)
        kern.binary_switching(S, w, inv, pats, probs, n_free, n_iter, 1e-12 * max(S.max(), 1e-300))
        cost = kern.assignment_cost(S, w, inv, pats, probs)
        if cost < best_cost:
            best_inv, best_cost = inv.copy(), cost
    return best_inv, best_cost


def _check_pq(pq, pair_table: bool = False) -> ProductQuantizer:
    if not isinstance(pq, ProductQuantizer):
        raise TypeError(f"expected a dscref ProductQuantizer, got {type(pq).__name__}")
    pq._check_fitted()
    if pair_table and pq.nbits > MAX_TABLE_NBITS:
        raise ValueError(f"the index assignment needs a (2**nbits, 2**nbits) distance table per sub-space; "
                         f"nbits={pq.nbits} is above the supported {MAX_TABLE_NBITS}")
    return pq


def _pq_weights(weights, M: int, ksub: int) -> np.ndarray:
    if weights is None:
        return np.full((M, ksub), 1.0 / ksub)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape == (ksub,):
        w = np.broadcast_to(w, (M, ksub))
    if w.shape != (M, ksub):
        raise ValueError(f"weights must have shape ({ksub},) or ({M}, {ksub}), got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    s = w.sum(1, keepdims=True)
    # a sub-space without any usage: every centroid equally likely
    return np.ascontiguousarray(np.where(s > 0, w / np.where(s > 0, s, 1), 1.0 / ksub))


def robust_permutation(pq, p: float = 0.01, weights=None, seed=0, n_iter: int | None = None,
                       order: int | None = 2, n_restarts: int = 1) -> np.ndarray:
    """Index assignment of every sub-codebook minimising the expected distortion under bit flips.

    Parameters
    ----------
    pq : ProductQuantizer, fitted
    p : float in (0, 0.5), default 0.01
        Design bit-error probability (independent flips).
    weights : ndarray (ksub,) or (M, ksub), optional
        Centroid usage frequencies w_k (normalised per sub-space); default uniform.
    seed : int, Generator or None
        Random starts after the first (only used when ``n_restarts > 1``).
    n_iter : int, optional
        Maximum number of swaps per sub-codebook (default ``10 * ksub``).
    order : int or None, default 2
        Error patterns kept in the objective (see :func:`error_patterns`); None = exact.
    n_restarts : int, default 1
        Runs per sub-codebook: the first from the identity assignment, the others from random
        permutations; the lowest cost wins.

    Returns
    -------
    perm : ndarray (M, ksub) int64
        ``perm[m, k]`` = the index transmitted for centroid k of sub-space m.

    Notes
    -----
    With index assignment b (``b(k) = perm[m, k]``) the receiver of a corrupted index decodes
    centroid ``b^-1(b(k) XOR e)``; the objective is

    .. math:: D(b) = \\sum_k w_k \\sum_{e \\ne 0} P(e)\\,\\|r_k - r_{b^{-1}(b(k) \\oplus e)}\\|^2,
              \\quad P(e) = p^{|e|}(1-p)^{n-|e|},

    restricted to ``|e| <= order``. It is minimised by the binary switching algorithm of Zeger &
    Gersho (1990): visit codewords by decreasing cost contribution, apply the best improving
    swap of two indices, repeat until no swap improves. Each swap delta costs O(E) (E error
    patterns: nbits for order 1, nbits + C(nbits, 2) for order 2). Starting from the identity,
    the result never has a larger objective than the identity (a descent method). Deterministic
    for a given seed.
    """
    pq = _check_pq(pq, pair_table=True)
    p = check_flip_probability(p)
    n_restarts = check_int(n_restarts, "n_restarts", low=1)
    ksub = pq.ksub
    n_iter = 10 * ksub if n_iter is None else check_int(n_iter, "n_iter", low=0)
    w = _pq_weights(weights, pq.M, ksub)
    pats, probs = error_patterns(pq.nbits, p, order)
    rng = as_generator(seed)
    perm = np.empty((pq.M, ksub), dtype=np.int64)
    for m in range(pq.M):
        S = distance_table(pq.codebooks_[m])
        inv, _ = optimise_assignment(S, np.ascontiguousarray(w[m]), pats, probs, ksub, n_iter, n_restarts, rng)
        perm[m, inv] = np.arange(ksub)
    return perm


def _check_perm(perm, M: int, ksub: int) -> np.ndarray:
    perm = as_int_array(perm, "perm", ndim=2, low=0, high=ksub)
    if perm.shape != (M, ksub):
        raise ValueError(f"perm must have shape ({M}, {ksub}), got {perm.shape}")
    for m in range(M):
        if np.unique(perm[m]).size != ksub:
            raise ValueError(f"perm[{m}] is not a permutation of 0..{ksub - 1}")
    return perm


def assignment_distortion(pq, perm, p: float, weights=None, order: int | None = None) -> np.ndarray:
    """Expected distortion D(b) of each sub-space under assignment ``perm`` (default: exact).

    Parameters
    ----------
    pq : ProductQuantizer
    perm : ndarray (M, ksub) or None (identity)
    p : float in (0, 0.5)
    weights : see :func:`robust_permutation`
    order : int or None, default None (all error patterns: exact)

    Returns
    -------
    ndarray (M,) float64 -- expected squared error of a received sub-vector, per sub-space.
    """
    from ._kernels import assignment as kern

    pq = _check_pq(pq, pair_table=True)
    ksub = pq.ksub
    perm = np.tile(np.arange(ksub), (pq.M, 1)) if perm is None else _check_perm(perm, pq.M, ksub)
    w = _pq_weights(weights, pq.M, ksub)
    pats, probs = error_patterns(pq.nbits, p, order)
    out = np.empty(pq.M)
    for m in range(pq.M):
        inv = np.empty(ksub, dtype=np.int64)
        inv[perm[m]] = np.arange(ksub)
        out[m] = kern.assignment_cost(distance_table(pq.codebooks_[m]), np.ascontiguousarray(w[m]), inv, pats, probs)
    return out


def apply_permutation(pq, perm) -> ProductQuantizer:
    """A copy of ``pq`` whose codebooks are reordered: new centroid ``perm[m, k]`` = old centroid k.

    Encoding with the new quantizer gives ``permute_codes(old_codes, perm)`` and decoding is
    unchanged: ``new.decode(permute_codes(c, perm)) == old.decode(c)`` exactly.
    """
    pq = _check_pq(pq)
    perm = _check_perm(perm, pq.M, pq.ksub)
    new = copy.copy(pq)
    cb = np.empty_like(pq.codebooks_)
    for m in range(pq.M):
        cb[m, perm[m]] = pq.codebooks_[m]
    new.codebooks_ = cb
    return new


def permute_codes(codes, perm) -> np.ndarray:
    """``out[i, m] = perm[m, codes[i, m]]``: codes under the permuted codebooks, same dtype."""
    codes = as_codes(codes)
    perm = np.asarray(perm)
    if perm.ndim != 2 or perm.shape[0] != codes.shape[1]:
        raise ValueError(f"perm must have shape (M={codes.shape[1]}, ksub), got {perm.shape}")
    perm = _check_perm(perm, perm.shape[0], perm.shape[1])
    as_codes(codes, perm.shape[1], of="permutation")
    out = np.empty_like(codes)
    for m in range(codes.shape[1]):
        out[:, m] = perm[m][codes[:, m]]
    return out
