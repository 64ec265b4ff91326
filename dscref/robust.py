"""Bit-error-robust codes: index assignment, soft-decision ADC, head protection and soft head decoding.

Wang & Qi send the payload ``x = [h, e_1..e_5]`` (eq. 12) as raw bits; one flipped bit of a PQ
sub-code moves the query to an arbitrary other sub-codeword and one flipped bit of a 10-bit head
label sends the search to an unrelated partition. This module makes those errors cheaper
without changing error-free results:

1. **Robust index assignment** (pseudo-Gray coding, Zeger & Gersho 1990; the polysemous codes
   of Douze, Jégou & Perronnin 2016 use the same idea). Codeword indices are permuted so that
   indices at small Hamming distance carry nearby codewords. No extra bits; error-free search is
   bit-exact unchanged (:func:`make_index_robust`). The same optimiser orders the head labels
   so that Hamming-close label codes name semantically close partitions
   (:func:`robust_label_order`).
2. **Soft-decision ADC**: from the bit LLRs of a received code, the posterior of every
   sub-codeword (:func:`posteriors`) and the expected-distance lookup table
   (:func:`soft_lut_l2`), used by the index through ``Query.code_llr``.
3. **Head protection** (unequal error protection of the 50 head bits: repetition x3 or the
   extended Hamming (8,4) SECDED code) and **soft head decoding** (:func:`soft_decode_head`):
   every valid label of a slot is scored by its log-likelihood, so invalid labels never occur.

:func:`encode_robust_payload` / :func:`decode_robust_payload` tie these together on the bit
level; :mod:`dscref.experiments_robust` compares the variants by mAP over a noisy channel.

Conventions: ``LLR = log P(b=0 | y) / P(b=1 | y)`` (positive means bit 0), as in
:mod:`dscref.channel`; codes are packed MSB first (:mod:`dscref.bitpack`), so bit t (t = 0 first
on the wire) of a sub-code k is bit ``nbits - 1 - t`` of k.

References
----------
K. Zeger, A. Gersho, "Pseudo-Gray coding", IEEE Trans. Commun. 38(12), 1990.
N. Farvardin, "A study of vector quantization for noisy channels", IEEE Trans. Inf. Theory
36(4), 1990.
M. Douze, H. Jégou, F. Perronnin, "Polysemous codes", ECCV 2016.
"""

from __future__ import annotations

import copy
import logging
from math import comb
from typing import NamedTuple

import numpy as np

from . import bitpack
from ._validate import as_bits, as_generator, as_int_array, check_choice, check_float, check_int
from .errors import ReadOnlyIndexError
from .index.base import InvertedPQIndex, Query, SearchResult
from .pq import MAX_TABLE_NBITS, ProductQuantizer
from .query import check_labels

__all__ = [
    "error_patterns",
    "robust_permutation",
    "assignment_distortion",
    "apply_permutation",
    "permute_codes",
    "make_index_robust",
    "LabelOrder",
    "robust_label_order",
    "posteriors",
    "soft_lut_l2",
    "hard_codes",
    "soft_search",
    "HEAD_SCHEMES",
    "protected_head_bits",
    "encode_head_bits",
    "decode_head_hard",
    "decode_head_soft",
    "soft_decode_head",
    "RobustLayout",
    "encode_robust_payload",
    "decode_robust_payload",
]

log = logging.getLogger(__name__)


# =========================================================================== 1. index assignment
def _check_p(p) -> float:
    """A bit-error probability in (0, 0.5): a Python or NumPy real scalar."""
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
    p = _check_p(p)
    if order is not None:
        order = check_int(order, "order", low=1)
    e = np.arange(1, 1 << nbits, dtype=np.int64)
    w = np.array([bin(int(v)).count("1") for v in e], dtype=np.int64)
    if order is not None:
        keep = w <= order
        e, w = e[keep], w[keep]
    probs = p ** w * (1.0 - p) ** (nbits - w)
    return np.ascontiguousarray(e), probs.astype(np.float64)


def _sdc_sub(codebook: np.ndarray) -> np.ndarray:
    """||r_i - r_j||^2 in float64 by direct differences, (ksub, ksub)."""
    c = codebook.astype(np.float64)
    n2 = (c ** 2).sum(1)
    S = n2[:, None] + n2[None, :] - 2.0 * (c @ c.T)
    np.fill_diagonal(S, 0.0)
    return np.maximum(S, 0.0)


def _optimise(S, w, pats, probs, n_free, n_iter, n_restarts, rng):
    """Binary switching from the identity, then from ``n_restarts - 1`` random starts; the best."""
    from ._kernels import robust as kern

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
    p = _check_p(p)
    n_restarts = check_int(n_restarts, "n_restarts", low=1)
    ksub = pq.ksub
    n_iter = 10 * ksub if n_iter is None else check_int(n_iter, "n_iter", low=0)
    w = _pq_weights(weights, pq.M, ksub)
    pats, probs = error_patterns(pq.nbits, p, order)
    rng = as_generator(seed)
    perm = np.empty((pq.M, ksub), dtype=np.int64)
    for m in range(pq.M):
        S = _sdc_sub(pq.codebooks_[m])
        inv, _ = _optimise(S, np.ascontiguousarray(w[m]), pats, probs, ksub, n_iter, n_restarts, rng)
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
    from ._kernels import robust as kern

    pq = _check_pq(pq, pair_table=True)
    ksub = pq.ksub
    perm = np.tile(np.arange(ksub), (pq.M, 1)) if perm is None else _check_perm(perm, pq.M, ksub)
    w = _pq_weights(weights, pq.M, ksub)
    pats, probs = error_patterns(pq.nbits, p, order)
    out = np.empty(pq.M)
    for m in range(pq.M):
        inv = np.empty(ksub, dtype=np.int64)
        inv[perm[m]] = np.arange(ksub)
        out[m] = kern.assignment_cost(_sdc_sub(pq.codebooks_[m]), np.ascontiguousarray(w[m]), inv, pats, probs)
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
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (n, M), got shape {codes.shape}")
    if codes.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"codes must be uint8 or uint16, got dtype {codes.dtype}")
    perm = np.asarray(perm)
    if perm.ndim != 2 or perm.shape[0] != codes.shape[1]:
        raise ValueError(f"perm must have shape (M={codes.shape[1]}, ksub), got {perm.shape}")
    perm = _check_perm(perm, perm.shape[0], perm.shape[1])
    if codes.size and codes.max() >= perm.shape[1]:
        raise ValueError(f"codes hold {int(codes.max())}, outside the permutation's {perm.shape[1]} entries")
    out = np.empty_like(codes)
    for m in range(codes.shape[1]):
        out[:, m] = perm[m][codes[:, m]]
    return out


def _check_index(index) -> InvertedPQIndex:
    if not isinstance(index, InvertedPQIndex):
        raise TypeError(f"expected a dscref InvertedPQIndex, got {type(index).__name__}")
    index._check_built()
    return index


def make_index_robust(index, p: float = 0.01, order: int | None = 2, n_iter: int | None = None,
                      seed=0, n_restarts: int = 1, inplace: bool = False):
    """Apply a robust index assignment to every product quantizer of an inverted index.

    For each quantizer of ``index.pqs_`` the permutation of :func:`robust_permutation` is
    computed with the centroid usage frequencies of the stored codes as weights; the codebooks
    are reordered, the stored codes remapped and the lookup tables permuted.

    Parameters
    ----------
    index : InvertedPQIndex, built
    p, order, n_iter, seed, n_restarts
        See :func:`robust_permutation`.
    inplace : bool, default False
        Modify ``index`` itself instead of a deep copy. Refused up front with
        :class:`~dscref.errors.ReadOnlyIndexError` when an array it modifies in place
        (``codes_``, ``cr_``) is read-only, as every array of a memory-mapped
        :func:`~dscref.io.load_index` is; ``inplace=False`` works on any index. Either way the
        conversion is all or nothing: everything is computed before the index is touched.

    Returns
    -------
    InvertedPQIndex with ``robust_perms_`` (list of (M, ksub) int64, one per quantizer) and
    ``robust_p_``.

    Notes
    -----
    Error-free search is bit-exact unchanged: the per-codeword tables of ``_prepare_tables``
    (``sub_norm2_``, ``cr_``) are permuted exactly instead of recomputed (BLAS could round a
    moved entry differently); ``cnorm2_`` and ``db_norm2_`` do not depend on indices. A query's
    rows are computed from the permuted codebooks, one dot product per codeword whose value
    does not depend on the codeword's position (tested).
    """
    index = _check_index(index)
    robust_p = _check_p(p)
    if inplace:
        # the two arrays changed in place (quantizers and sub_norm2_ tables are replaced)
        frozen = [name for name in ("codes_", "cr_") if not getattr(index, name).flags.writeable]
        if frozen:
            raise ReadOnlyIndexError(
                f"make_index_robust(inplace=True) would modify {', '.join(frozen)} of this "
                f"{type(index).__name__}, which are read-only (a memory-mapped load_index?); nothing "
                f"was changed. Use inplace=False (a converted in-memory copy), or load_index(path, "
                f"mmap=False) and save_index the result")
    else:
        index = copy.deepcopy(index)
    # compute everything first, assign only at the end: an exception midway leaves index unchanged
    sizes = np.diff(index.offsets_)
    row_pq = np.repeat(index.list_pq_, sizes)
    ar = np.arange(index.M)[:, None]
    new_pqs, new_sub, perms, code_blocks, cr_blocks = [], [], [], [], []
    for pid, pq in enumerate(index.pqs_):
        rows = np.flatnonzero(row_pq == pid)
        ksub = pq.ksub
        w = np.zeros((index.M, ksub))
        for m in range(index.M):
            w[m] = np.bincount(index.codes_[rows, m], minlength=ksub)
        perm = robust_permutation(pq, p, weights=w, seed=seed, n_iter=n_iter, order=order,
                                  n_restarts=n_restarts)
        inv = np.argsort(perm, axis=1)
        new_pqs.append(apply_permutation(pq, perm))
        if rows.size:
            code_blocks.append((rows, permute_codes(index.codes_[rows], perm)))
        new_sub.append(np.ascontiguousarray(index.sub_norm2_[pid][ar, inv]))
        lists = np.flatnonzero(index.list_pq_ == pid)
        if lists.size:
            cr_blocks.append((lists, index.cr_[lists][:, ar, inv]))
        perms.append(perm)
    for rows, block in code_blocks:  # writable (checked above) and precomputed: cannot fail
        index.codes_[rows] = block
    for lists, block in cr_blocks:
        index.cr_[lists] = block
    index.pqs_[:] = new_pqs
    index.sub_norm2_[:] = new_sub
    index.robust_perms_ = perms
    index.robust_p_ = robust_p
    return index


class LabelOrder(NamedTuple):
    """A robust assignment of head labels to transmitted label codes.

    ``forward[label]`` is the code sent for ``label``; ``inverse[code]`` the label of a received
    code. Both are permutations of ``0..K-1``, so transmitted codes stay valid labels (< K) and
    the codec's policies for invalid (>= K) and repeated labels apply unchanged.

    Use with the codec::

        order = robust_label_order(index)
        buf = encode_payload(order.encode_query(query), layout)   # before the channel
        q, report = decode_payload(buf_received, layout)            # after the channel
        q = order.decode_query(q)                                   # then index.search(q)
    """

    forward: np.ndarray
    inverse: np.ndarray

    def _checked(self) -> tuple[np.ndarray, np.ndarray]:
        """(forward, inverse), or raise if they are not inverse permutations of 0..K-1."""
        f, i = self.forward, self.inverse
        for name, a in (("forward", f), ("inverse", i)):
            if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != 1 or a.size == 0:
                raise TypeError(f"LabelOrder.{name} must be a non-empty 1-D integer array, got "
                                f"{a.dtype if isinstance(a, np.ndarray) else type(a).__name__}")
        K = f.size
        if i.size != K or f.min() < 0 or f.max() >= K or i.min() < 0 or i.max() >= K \
                or not np.array_equal(i[f], np.arange(K)):
            raise ValueError("LabelOrder.forward and .inverse must be inverse permutations of 0..K-1")
        return f, i

    def to_codes(self, labels) -> np.ndarray:
        """Transmitted codes of ``labels`` (any shape, values in [0, K))."""
        f, _ = self._checked()
        return f[as_int_array(labels, "labels", ndim=np.ndim(labels), low=0, high=f.size)]

    def to_labels(self, codes) -> np.ndarray:
        """Labels of received codes (values in [0, K))."""
        _, i = self._checked()
        return i[as_int_array(codes, "codes", ndim=np.ndim(codes), low=0, high=i.size)]

    def encode_query(self, query: Query) -> Query:
        """The query with its head labels replaced by their transmitted codes (apply before
        :func:`dscref.codec.encode_payload`)."""
        return _replace_labels(query, self.to_codes(_as_query(query).labels))

    def decode_query(self, query: Query) -> Query:
        """Invert :meth:`encode_query` on a decoded query (apply after
        :func:`dscref.codec.decode_payload`)."""
        return _replace_labels(query, self.to_labels(_as_query(query).labels))


def _as_query(query) -> Query:
    if not isinstance(query, Query):
        raise TypeError(f"expected a dscref Query, got {type(query).__name__}")
    return query


def _replace_labels(query: Query, labels) -> Query:
    return Query(labels=labels, codes=query.codes, vector=query.vector, info=dict(query.info),
                 code_llr=query.code_llr)


def robust_label_order(index, p: float = 0.01, weights=None, order: int | None = 2,
                       n_iter: int | None = None, seed=0, n_restarts: int = 1) -> LabelOrder:
    """Order the K head labels so that Hamming-close label codes name nearby partitions.

    Parameters
    ----------
    index : InvertedPQIndex with a head (``label_bits >= 1``), built
    p, order, n_iter, seed, n_restarts
        See :func:`robust_permutation` (``n_iter`` default ``10 * K``).
    weights : ndarray (K,), optional
        Label frequencies; default the partition sizes (all ones if the index is empty).

    Returns
    -------
    LabelOrder ``(forward, inverse)``, int64 arrays of shape (K,).

    Notes
    -----
    Same objective and optimiser as :func:`robust_permutation` with the K partition centroids
    as codewords and distances ``S[i, j] = ||c^i - c^j||^2`` on ``label_bits``-bit codes. Codes
    ``K .. 2**label_bits - 1`` are invalid labels (dropped by the codec); they stay in place and
    only the K valid codes are permuted. An error landing on an invalid code costs the
    weighted mean distance between partitions (a lost partition is as bad as a random one).
    """
    index = _check_index(index)
    bits = int(getattr(index, "label_bits", 0))
    if bits < 1:
        raise ValueError(f"{type(index).__name__} has no head (label_bits={bits}); nothing to order")
    if bits > MAX_TABLE_NBITS:
        raise ValueError(f"ordering {1 << bits} label codes needs a ({1 << bits}, {1 << bits}) distance table; "
                         f"label_bits={bits} is above the supported {MAX_TABLE_NBITS}")
    p = _check_p(p)
    K = index.n_lists
    n = 1 << bits
    if weights is None:
        w = np.diff(index.offsets_).astype(np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (K,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weights must be ({K},) finite and non-negative, got shape {w.shape}")
    w = w / w.sum() if w.sum() > 0 else np.full(K, 1.0 / K)
    c = index.centroids_.astype(np.float64)
    n2 = (c ** 2).sum(1)
    Sk = np.maximum(n2[:, None] + n2[None, :] - 2.0 * (c @ c.T), 0.0)
    np.fill_diagonal(Sk, 0.0)
    S = np.zeros((n, n))
    S[:K, :K] = Sk
    S[:K, K:] = S[K:, :K] = float(w @ Sk @ w) / max(float(1.0 - (w ** 2).sum()), 1e-300)
    wf = np.zeros(n)
    wf[:K] = w
    pats, probs = error_patterns(bits, p, order)
    n_iter = 10 * K if n_iter is None else check_int(n_iter, "n_iter", low=0)
    inv, _ = _optimise(S, wf, pats, probs, K, n_iter, check_int(n_restarts, "n_restarts", low=1),
                       as_generator(seed))
    inverse = inv[:K].copy()
    forward = np.empty(K, dtype=np.int64)
    forward[inverse] = np.arange(K)
    return LabelOrder(forward=forward, inverse=inverse)


# =========================================================================== 2. soft-decision ADC
def _as_llr(llr, name: str, n: int | None = None, ndim: int = 1) -> np.ndarray:
    a = np.asarray(llr)
    if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
        raise TypeError(f"{name} must be real LLRs, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.ndim != ndim or (n is not None and a.shape[-1] != n):
        want = f"(..., {n})" if n is not None else f"{ndim}-D"
        raise ValueError(f"{name} must have shape {want} with ndim={ndim}, got {a.shape}")
    if np.isnan(a).any():
        raise ValueError(f"{name} holds NaN")
    return a


def posteriors(llr, M: int, nbits: int) -> np.ndarray:
    """Posterior probability of every sub-codeword index from the bit LLRs of one PQ code.

    Parameters
    ----------
    llr : ndarray (M * nbits,) float
        Bit LLRs of the code as sent (sub-code m's bits at ``m*nbits .. m*nbits + nbits - 1``,
        MSB first); ``+-inf`` means a certain bit.
    M, nbits : int

    Returns
    -------
    ndarray (M, 2**nbits) float64, rows summing to 1.

    Notes
    -----
    With independent bits, ``P_m(k) = prod_t P(bit_t(k) | LLR_t)`` and
    ``P(bit = 0 | L) = sigmoid(L)``, ``P(bit = 1 | L) = sigmoid(-L)``; evaluated in the log
    domain (``log sigmoid`` stable for any L) and normalised by log-sum-exp.
    """
    from ._kernels import robust as kern

    M = check_int(M, "M", low=1)
    nbits = check_int(nbits, "nbits", low=1, high=16)
    llr = _as_llr(llr, "llr", M * nbits)
    out = np.empty((M, 1 << nbits), dtype=np.float64)
    kern.posteriors(llr, nbits, out)
    return out


def _check_table(table, name: str) -> np.ndarray:
    t = np.asarray(table)
    if t.ndim != 3 or t.shape[1] != t.shape[2]:
        raise ValueError(f"{name} must have shape (M, ksub, ksub), got {t.shape}")
    if t.dtype.kind != "f":
        raise TypeError(f"{name} must be float, got dtype {t.dtype}")
    ksub = t.shape[1]
    if ksub & (ksub - 1):
        raise ValueError(f"{name} has ksub={ksub} entries, not a power of two")
    t = np.ascontiguousarray(t, dtype=np.float32)
    if not np.isfinite(t).all():
        raise ValueError(f"{name} holds NaN/inf")
    return t


def _expected_rows(post: np.ndarray, table: np.ndarray) -> np.ndarray:
    from ._kernels import robust as kern

    out = np.empty(post.shape, dtype=np.float64)
    kern.expected_rows(post, table, out)
    return out


def soft_lut_l2(sdc, llr_bits, nbits: int) -> np.ndarray:
    """Expected-distance ADC table of a received code from its bit LLRs.

    Parameters
    ----------
    sdc : ndarray (M, ksub, ksub) float32
        Sub-codeword distances ``||r_mk - r_mj||^2`` (:meth:`ProductQuantizer.sdc_table`).
    llr_bits : ndarray (M * nbits,) float
    nbits : int, ``ksub = 2**nbits``

    Returns
    -------
    lut : ndarray (M, ksub) float32
        ``lut[m, j] = sum_k P_m(k) sdc[m, k, j] = E ||r_m^q - r_mj||^2`` under the posterior of
        :func:`posteriors`; accumulated in float64, rounded once. The hard ADC table of eq. (14)
        (the SDC row of the received code) is the special case of certain bits: with infinite
        LLRs the result equals ``sdc[m, e_m]`` exactly.

    Notes
    -----
    ``E||r^q - r_j||^2 = ||E r^q - r_j||^2 + tr Cov(r^q)``: the ranking within one list is the
    one of the posterior-mean (MMSE) reconstruction, and the variance term penalises uncertain
    head entries when the candidates of several lists are merged. Cost per query and head
    entry: M products of a (ksub,) vector with a (ksub, ksub) matrix, then the usual O(M) scan.
    Soft-decision VQ decoding: Farvardin 1990 and REFERENCES.md.
    """
    sdc = _check_table(sdc, "sdc")
    nbits = check_int(nbits, "nbits", low=1, high=16)
    if sdc.shape[1] != 1 << nbits:
        raise ValueError(f"sdc has {sdc.shape[1]} entries per row, expected 2**nbits={1 << nbits}")
    post = posteriors(llr_bits, sdc.shape[0], nbits)
    return _expected_rows(post, sdc).astype(np.float32)


def hard_codes(llr, M: int, nbits: int) -> np.ndarray:
    """Hard decisions of code LLRs: (..., M * nbits) -> (..., M) uint8/uint16 (``llr < 0`` is 1)."""
    M = check_int(M, "M", low=1)
    nbits = check_int(nbits, "nbits", low=1, high=16)
    a = np.asarray(llr)
    a = _as_llr(a, "llr", M * nbits, ndim=max(a.ndim, 1))
    bits = (a < 0).astype(np.int64).reshape(a.shape[:-1] + (M, nbits))
    vals = (bits << (nbits - 1 - np.arange(nbits))).sum(-1)
    return vals.astype(np.uint8 if nbits <= 8 else np.uint16)


def soft_search(index, head_labels, code_llrs, k: int = 100, metric: str = "l2") -> SearchResult:
    """Search one query from its head labels and the LLRs of its codes (soft-decision ADC).

    Parameters
    ----------
    index : InvertedPQIndex
    head_labels : array (h,) int
    code_llrs : ndarray (h, M * nbits) float
        Bit LLRs of each head entry's code, in payload order.
    k : int
    metric : {"l2", "cosine"}

    Returns
    -------
    SearchResult, as :meth:`InvertedPQIndex.search`. See ``Query.code_llr``.
    """
    index = _check_index(index)
    labels = check_labels(head_labels, index.n_lists, "head_labels")
    llr = _as_llr(code_llrs, "code_llrs", index.M * index.nbits, ndim=2)
    if llr.shape[0] != labels.size:
        raise ValueError(f"code_llrs has {llr.shape[0]} rows for {labels.size} head labels")
    q = Query(labels=labels, codes=hard_codes(llr, index.M, index.nbits), code_llr=llr)
    return index.search(q, k=k, metric=metric)


# =========================================================================== 3. head protection
HEAD_SCHEMES = {"none", "rep3", "hamming84"}

# Extended Hamming (8,4), positions 0..7 = [p0, p1, p2, d1, p3, d2, d3, d4]: p1/p2/p3 cover the
# positions whose index has bit 0/1/2 set (classical Hamming(7,4)), p0 is the overall parity.
_H84_DATA_POS = np.array([3, 5, 6, 7])


def _h84_encode_block(d) -> np.ndarray:
    c = np.zeros(8, dtype=np.uint8)
    c[_H84_DATA_POS] = d
    for r in range(3):
        pos = [i for i in range(1, 8) if (i >> r) & 1 and i != (1 << r)]
        c[1 << r] = np.bitwise_xor.reduce(c[pos])
    c[0] = np.bitwise_xor.reduce(c[1:])
    return c


_H84_CODEBOOK = np.array([_h84_encode_block([(v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1])
                          for v in range(16)], dtype=np.uint8)  # (16, 8), row v = data bits of v MSB first


def protected_head_bits(n_bits: int, scheme: str) -> int:
    """Encoded length in bits of ``n_bits`` head bits under ``scheme``.

    ``"none"``: n; ``"rep3"``: 3n; ``"hamming84"``: 8 * ceil(n / 4) (zero-padded to whole
    4-bit blocks). For the default head (50 bits): 50, 150, 104 bits -- with QPSK (2 bits per
    channel use) 25, 75 and 52 channel uses.
    """
    n_bits = check_int(n_bits, "n_bits", low=0)
    check_choice(scheme, "scheme", HEAD_SCHEMES)
    if scheme == "none":
        return n_bits
    if scheme == "rep3":
        return 3 * n_bits
    return 8 * ((n_bits + 3) // 4)


def _as_bit_vector(bits, name: str) -> np.ndarray:
    return as_bits(bits, name)


def encode_head_bits(bits, scheme: str) -> np.ndarray:
    """Channel-code the head bits: (n,) 0/1 -> (protected_head_bits(n, scheme),) uint8.

    ``"rep3"`` sends the whole block three times ``[b, b, b]`` (the copies are far apart, which
    also helps against block fading); ``"hamming84"`` encodes blocks of 4 bits (the last one
    zero-padded) with the extended Hamming (8,4) code, which corrects one error and detects two
    per block.
    """
    b = _as_bit_vector(bits, "bits")
    check_choice(scheme, "scheme", HEAD_SCHEMES)
    if scheme == "none":
        return b.copy()
    if scheme == "rep3":
        return np.tile(b, 3)
    nb = (b.size + 3) // 4
    d = np.zeros(4 * nb, dtype=np.int64)
    d[:b.size] = b
    v = (d.reshape(nb, 4) << np.array([3, 2, 1, 0])).sum(1)
    return _H84_CODEBOOK[v].reshape(-1).copy()


def _check_received(x, n_bits: int, scheme: str, name: str) -> np.ndarray:
    n_bits = check_int(n_bits, "n_bits", low=0)
    check_choice(scheme, "scheme", HEAD_SCHEMES)
    need = protected_head_bits(n_bits, scheme)
    if np.asarray(x).shape != (need,):
        raise ValueError(f"{name} must have shape ({need},) for {n_bits} bits with scheme={scheme!r}, "
                         f"got {np.asarray(x).shape}")
    return x


def decode_head_hard(bits, n_bits: int, scheme: str):
    """Hard-decision decoding of a protected head.

    Parameters
    ----------
    bits : ndarray (protected_head_bits(n_bits, scheme),) 0/1
    n_bits : int
    scheme : {"none", "rep3", "hamming84"}

    Returns
    -------
    bits : ndarray (n_bits,) uint8
    n_detected : int
        Blocks with a detected but uncorrectable error (Hamming: syndrome != 0 with even overall
        parity, i.e. a double error; left as received). Always 0 for "none" and "rep3".

    Notes
    -----
    rep3: majority of the three copies. Extended Hamming (8,4): syndrome
    ``s = XOR of the positions (1..7) holding a 1`` and overall parity P; P = 1 means one error at
    position s (s = 0: the parity bit itself), P = 0 and s != 0 a detected double error.
    """
    b = _as_bit_vector(_check_received(bits, n_bits, scheme, "bits"), "bits")
    if scheme == "none":
        return b.copy(), 0
    if scheme == "rep3":
        return (b.reshape(3, n_bits).sum(0) >= 2).astype(np.uint8), 0
    blocks = b.reshape(-1, 8).copy()
    pos = np.arange(8)
    s = np.bitwise_xor.reduce(np.where(blocks == 1, pos, 0), axis=1)
    parity = blocks.sum(1) & 1
    single = parity == 1
    rows = np.flatnonzero(single)
    blocks[rows, s[rows]] ^= 1
    n_detected = int(np.count_nonzero((parity == 0) & (s != 0)))
    data = blocks[:, _H84_DATA_POS].reshape(-1)[:n_bits]
    return data.astype(np.uint8), n_detected


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def decode_head_soft(llr, n_bits: int, scheme: str) -> np.ndarray:
    """Soft-in soft-out decoding of a protected head: channel LLRs -> LLRs of the n_bits info bits.

    rep3: the LLRs of the three copies add (exact for independent noise; copies that are
    certain (+-inf) and contradict each other are added clipped to +-500, i.e. the majority
    wins with a finite confidence, instead of inf - inf = NaN). Extended Hamming
    (8,4): exact a-posteriori LLR of every data bit by enumerating the 16 codewords,
    ``L(d) = logsumexp_{c: d=0} ll(c) - logsumexp_{c: d=1} ll(c)`` with
    ``ll(c) = sum_i log P(c_i | L_i)``; channel LLRs are clipped to +-500 so that contradictory
    certain bits cannot produce NaN. "none" returns the LLRs unchanged.

    Returns
    -------
    ndarray (n_bits,) float64
    """
    L = _as_llr(_check_received(llr, n_bits, scheme, "llr"), "llr")
    if scheme == "none":
        return L.copy()
    if scheme == "rep3":
        with np.errstate(invalid="ignore"):
            out = L.reshape(3, n_bits).sum(0)
        clash = np.isnan(out)  # +inf and -inf copies: certain and contradictory
        if clash.any():
            out[clash] = np.clip(L, -500.0, 500.0).reshape(3, n_bits).sum(0)[clash]
        return out
    L = np.clip(L, -500.0, 500.0).reshape(-1, 8)
    l0, l1 = _log_sigmoid(L), _log_sigmoid(-L)  # (nb, 8)
    cw = _H84_CODEBOOK.astype(bool)  # (16, 8)
    ll = np.where(cw[None], l1[:, None, :], l0[:, None, :]).sum(-1)  # (nb, 16)
    data = cw[:, _H84_DATA_POS]  # (16, 4)
    out = np.empty((L.shape[0], 4))
    for t in range(4):
        a = np.where(~data[None, :, t], ll, -np.inf)
        c = np.where(data[None, :, t], ll, -np.inf)
        out[:, t] = np.logaddexp.reduce(a, axis=1) - np.logaddexp.reduce(c, axis=1)
    return out.reshape(-1)[:n_bits]


def soft_decode_head(head_llr, n_labels: int, label_bits: int, K: int, per_slot: int = 1):
    """Maximum-likelihood head labels from bit LLRs, restricted to the K valid labels.

    Parameters
    ----------
    head_llr : ndarray (n_labels * label_bits,) float
        LLRs of the head bits (slot s at ``s*label_bits ..``, MSB first); pad bits excluded.
    n_labels : int
        Head slots (5).
    label_bits : int
        Bits per label (10).
    K : int
        Valid labels ``0..K-1`` (K <= 2**label_bits, ``n_labels * per_slot <= K``).
    per_slot : int, default 1
        Candidates returned per slot.

    Returns
    -------
    labels : ndarray (n_labels, per_slot) int64
        Valid labels, all distinct; row s lists slot s's candidates, best first.
    scores : ndarray (n_labels, per_slot) float64
        ``log P(label | LLRs)`` among the K valid labels (<= 0).

    Notes
    -----
    Slot s scores every valid label l by ``ll(l) = sum_b log P(bit_b(l) | LLR_b)`` with
    ``P(0 | L) = sigmoid(L)``, normalised over the K labels. A label can only be used once
    (the transmitted head never repeats one). **Collision rule**: slots are served in order of
    decreasing confidence (the normalised log-posterior of their best label; ties by slot
    index); each takes its ``per_slot`` best labels not already taken. A corrupted slot thus
    loses a contested label to the slot that is surer of it and falls back to its next best.
    """
    n_labels = check_int(n_labels, "n_labels", low=1)
    label_bits = check_int(label_bits, "label_bits", low=1, high=16)
    K = check_int(K, "K", low=1, high=1 << label_bits)
    per_slot = check_int(per_slot, "per_slot", low=1)
    if n_labels * per_slot > K:
        raise ValueError(f"n_labels * per_slot = {n_labels * per_slot} distinct labels exceed K={K}")
    L = _as_llr(head_llr, "head_llr", n_labels * label_bits).reshape(n_labels, label_bits)
    lab = np.arange(K)
    bits = ((lab[:, None] >> (label_bits - 1 - np.arange(label_bits))[None, :]) & 1).astype(bool)
    l0, l1 = _log_sigmoid(L), _log_sigmoid(-L)  # (n_labels, label_bits)
    ll = np.where(bits[None], l1[:, None, :], l0[:, None, :]).sum(-1)  # (n_labels, K)
    with np.errstate(invalid="ignore"):
        ll = ll - np.logaddexp.reduce(ll, axis=1, keepdims=True)
    ll = np.where(np.isnan(ll), -np.inf, ll)  # every valid label impossible: all tie at -inf
    conf = ll.max(1)
    labels = np.empty((n_labels, per_slot), dtype=np.int64)
    scores = np.empty((n_labels, per_slot), dtype=np.float64)
    taken = np.zeros(K, dtype=bool)
    for s in np.lexsort((np.arange(n_labels), -conf)):
        order = np.lexsort((lab, -ll[s]))  # best first, ties: smaller label
        pick = order[~taken[order]][:per_slot]
        taken[pick] = True
        labels[s], scores[s] = pick, ll[s, pick]
    return labels, scores


# =========================================================================== bit-level payload
class RobustLayout(NamedTuple):
    """Bit layout of a payload with an optionally protected head.

    ``[head region | e_1 .. e_h]``: the head's ``n_labels * label_bits`` info bits channel-coded
    with ``scheme`` and zero-padded to whole bytes, then the codes exactly as in
    :class:`dscref.codec.PayloadLayout`. With ``scheme="none"`` the bits are exactly those of
    ``bytes_to_bits(encode_payload(query, layout))``.
    """

    layout: object  # dscref.codec.PayloadLayout
    scheme: str = "none"

    @property
    def head_info_bits(self) -> int:
        return self.layout.n_labels * self.layout.label_bits

    @property
    def head_coded_bits(self) -> int:
        return protected_head_bits(self.head_info_bits, self.scheme)

    @property
    def head_region_bits(self) -> int:
        return 8 * ((self.head_coded_bits + 7) // 8)

    @property
    def code_bits(self) -> int:
        return 8 * self.layout.code_bytes

    @property
    def n_bits(self) -> int:
        """Total payload bits (376 for the default layout and no protection; 424 with hamming84)."""
        return self.head_region_bits + self.layout.n_codes * self.code_bits


def _robust_layout(rl) -> RobustLayout:
    from .codec import PayloadLayout

    if not isinstance(rl, RobustLayout):
        raise TypeError(f"expected a RobustLayout, got {type(rl).__name__}")
    if not isinstance(rl.layout, PayloadLayout):
        raise TypeError(f"RobustLayout.layout must be a PayloadLayout, got {type(rl.layout).__name__}")
    if not isinstance(rl.scheme, str):
        raise TypeError(f"RobustLayout.scheme must be a str, got {rl.scheme!r}")
    check_choice(rl.scheme, "scheme", HEAD_SCHEMES)
    return rl


def encode_robust_payload(query: Query, rlayout: RobustLayout, label_order: LabelOrder | None = None) -> np.ndarray:
    """Query -> payload bits (rlayout.n_bits,) uint8: head (mapped by ``label_order``, channel
    coded), then the codes packed as by :func:`dscref.codec.encode_payload`."""
    from .codec import encode_payload

    rl = _robust_layout(rlayout)
    if label_order is not None:
        query = label_order.encode_query(query)
    bits = bitpack.bytes_to_bits(encode_payload(query, rl.layout))
    hb = 8 * rl.layout.head_bytes
    head = encode_head_bits(bits[:rl.head_info_bits], rl.scheme)
    region = np.zeros(rl.head_region_bits, dtype=np.uint8)
    region[:head.size] = head
    return np.concatenate([region, bits[hb:]]).astype(np.uint8)


def decode_robust_payload(received, rlayout: RobustLayout, *, head: str = "hard", codes: str = "hard",
                          policy: str = "drop", label_order: LabelOrder | None = None):
    """Received payload bits or LLRs -> searchable :class:`Query` and a report.

    Parameters
    ----------
    received : ndarray (rlayout.n_bits,)
        LLRs (float; NaN is refused whatever the mode, +-inf is a certain bit) -- or hard bits
        (uint8 0/1) when ``head == codes == "hard"``.
    rlayout : RobustLayout
    head : {"hard", "soft"}
        "hard": channel decoding by hard decisions (majority / syndrome), then the codec's
        ``policy`` for invalid or repeated labels. "soft": soft-in channel decoding
        (:func:`decode_head_soft`) then :func:`soft_decode_head` (always valid, distinct labels,
        no slot dropped).
    codes : {"hard", "soft"}
        "soft" attaches the code LLRs (``Query.code_llr``) so the index uses soft-decision ADC.
    policy : {"drop", "nearest_valid"}
        For ``head="hard"``, see :func:`dscref.codec.decode_payload`.
    label_order : LabelOrder, optional
        Undo a robust label order after decoding.

    Returns
    -------
    (Query, DecodeReport)
    """
    from .codec import DecodeReport, decode_payload

    rl = _robust_layout(rlayout)
    check_choice(head, "head", {"hard", "soft"})
    check_choice(codes, "codes", {"hard", "soft"})
    x = np.asarray(received)
    if x.shape != (rl.n_bits,):
        raise ValueError(f"received must have shape ({rl.n_bits},), got {x.shape}")
    soft_in = x.dtype.kind == "f"
    if not soft_in and (head == "soft" or codes == "soft"):
        raise ValueError("soft head or code decoding needs LLRs (a float array), got hard bits")
    if soft_in:  # NaN is refused in every mode (the hard path would read it as bit 0)
        x = _as_llr(x, "received")
    lay = rl.layout
    hard = (x < 0).astype(np.uint8) if soft_in else _as_bit_vector(x, "received")
    code_part = slice(rl.head_region_bits, rl.n_bits)
    hc = rl.head_coded_bits
    if head == "hard" or lay.n_labels == 0:
        info, n_det = decode_head_hard(hard[:hc], rl.head_info_bits, rl.scheme)
        head_bits = np.zeros(8 * lay.head_bytes, dtype=np.uint8)
        head_bits[:info.size] = info
        buf = bitpack.bits_to_bytes(np.concatenate([head_bits, hard[code_part]]))
        q, report = decode_payload(buf, lay, policy=policy)
        report.detected_head_errors = n_det
        kept = [s for s in range(lay.n_codes) if s not in set(report.dropped)]
    else:
        info_llr = decode_head_soft(x[:hc].astype(np.float64), rl.head_info_bits, rl.scheme)
        labels, _ = soft_decode_head(info_llr, lay.n_labels, lay.label_bits, lay.valid_labels)
        code_bits = hard[code_part].reshape(lay.n_codes, -1)
        cvals = bitpack.unpack(bitpack.bits_to_bytes(code_bits.reshape(-1)).reshape(lay.n_codes, -1),
                               lay.nbits, lay.M)
        q = Query(labels=labels[:, 0], codes=cvals.astype(np.uint8 if lay.nbits <= 8 else np.uint16))
        report = DecodeReport(received_labels=labels[:, 0].tolist())
        kept = list(range(lay.n_codes))
    if codes == "soft":
        L = x[code_part].astype(np.float64).reshape(lay.n_codes, -1)[:, :lay.M * lay.nbits]
        q.code_llr = np.ascontiguousarray(L[kept]).reshape(len(kept), lay.M * lay.nbits)
    if label_order is not None and lay.n_labels:
        q = label_order.decode_query(q)
    return q, report
