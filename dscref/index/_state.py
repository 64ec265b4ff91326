"""Invariant checks of a fitted index's attributes, behind every class's ``_check_state``.

:func:`dscref.io.load_index` restores an index's attributes from a file without calling
``__init__`` or ``build``; a crafted or damaged file whose checksums still pass (or are skipped)
could then hold ids, offsets or tables that make ``search`` index out of range. Each index class
checks, in ``_check_state``, every attribute its ``search`` / ``encode_query`` / ``head`` paths
index with (:meth:`InvertedPQIndex._check_state` the shared ones, subclasses their own), with the
helpers below. Every failure is a ``ValueError`` naming the attribute.

Cost: each helper is one vectorised reduction (``min`` / ``max``, or an elementwise comparison
of small per-list arrays), never a Python loop over items, and reads an array once. The only
O(n) arrays are ``ids_``, ``db_norm2_``, ``gr_`` (G+P) and ``codes_`` (its values are checked
only when ``nbits`` is not 8 or 16: otherwise the dtype already bounds them). The quantizer
codebooks (2 MiB each at d = 2048, 2 GB for DSC's 1000 partitions) are not scanned by
``_check_state`` but by :func:`check_codebooks`, which :mod:`dscref.io` calls only when the data
is in memory anyway or small.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validate import max_feature_abs

__all__ = ["need", "attr", "integer", "real", "flag", "choice", "array", "check_array", "finite",
           "bounded", "offsets", "inverted_lists", "list_count", "single_quantizer", "kmeans", "quantizers",
           "check_codebooks", "robust_permutations"]

_MISSING = object()


def need(cond, msg) -> None:
    """ValueError(msg) unless ``cond``; ``msg`` may be a callable building the message (so a
    check on the hot path of a 1000-quantizer load formats nothing when it passes)."""
    if not cond:
        raise ValueError(msg() if callable(msg) else msg)


def _describe(v) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape} and dtype {v.dtype}"
    return f"{type(v).__name__} {str(v)[:40]}"


def attr(obj, name: str, where: str = ""):
    """The instance attribute ``name`` (never a class-level default), or ValueError."""
    v = vars(obj).get(name, _MISSING)
    if v is _MISSING:
        raise ValueError(f"attribute {where}{name} is missing")
    return v


def integer(obj, name: str, low: int | None = None, high: int | None = None, where: str = "") -> int:
    v = attr(obj, name, where)
    if not isinstance(v, numbers.Integral) or isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{where}{name} must be an int, got {_describe(v)}")
    v = int(v)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{where}{name}={v} must lie in [{low}, {high}]")
    return v


def real(obj, name: str) -> float:
    v = attr(obj, name)
    need(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and np.isfinite(v),
         lambda: f"{name} must be a finite real number, got {_describe(v)}")
    return float(v)


def flag(obj, name: str) -> bool:
    v = attr(obj, name)
    need(isinstance(v, (bool, np.bool_)), lambda: f"{name} must be a bool, got {_describe(v)}")
    return bool(v)


def choice(obj, name: str, choices) -> str:
    v = attr(obj, name)
    need(isinstance(v, str) and v in choices, lambda: f"{name} must be one of {sorted(choices)}, got {_describe(v)}")
    return v


def check_array(a, name: str, dtype, shape: tuple) -> np.ndarray:
    """``a`` must be an ndarray of exactly ``dtype`` and ``shape`` (None: any length there)."""
    if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == len(shape)
            and all(w is None or w == s for w, s in zip(shape, a.shape))):
        want = "(" + ", ".join("*" if w is None else str(w) for w in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must be a {np.dtype(dtype)} array of shape {want}, got {_describe(a)}")
    return a


def array(obj, name: str, dtype, shape: tuple, where: str = "") -> np.ndarray:
    return check_array(attr(obj, name, where), where + name, dtype, shape)


def finite(a: np.ndarray, name: str, low: float | None = None, max_abs: float | None = None) -> None:
    """No NaN / inf in float array ``a`` (nothing below ``low``, no magnitude above ``max_abs``):
    one min and one max reduction (both propagate NaN), no temporary array."""
    if a.size == 0:
        return
    lo, hi = a.min(), a.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name} holds non-finite values (NaN or inf)")
    if low is not None and lo < low:
        raise ValueError(f"{name} holds {lo}, below {low}")
    if max_abs is not None and max(-float(lo), float(hi)) > max_abs:
        raise ValueError(f"{name} holds {lo if -lo > hi else hi:.3g}: magnitudes above {max_abs:.3g} "
                         f"overflow float32 distances")


def bounded(a: np.ndarray, name: str, low: int | None = None, high: int | None = None) -> None:
    """``low <= a < high`` for an integer array (only the reductions needed)."""
    if a.size == 0:
        return
    if low is not None and not (a.dtype.kind == "u" and low <= 0):
        lo = a.min()
        if lo < low:
            raise ValueError(f"{name} holds {int(lo)}, below {low}")
    if high is not None:
        hi = a.max()
        if hi >= high:
            raise ValueError(f"{name} holds {int(hi)}, must be < {high}")


def offsets(a: np.ndarray, name: str, stop: int) -> None:
    """CSR offsets: ``a[0] == 0``, ``a[-1] == stop``, non-decreasing."""
    need(a[0] == 0 and a[-1] == stop, lambda: f"{name} must run from 0 to {stop}, got {int(a[0])} .. {int(a[-1])}")
    need(bool((a[1:] >= a[:-1]).all()), f"{name} must be non-decreasing")


def inverted_lists(ix) -> None:
    """The attributes every :class:`~dscref.index.base.InvertedPQIndex` shares: parameters,
    centroids, quantizers, list offsets, ids, codes and the tables of eqs. (14)-(15)."""
    M = integer(ix, "M", low=1)
    nbits = integer(ix, "nbits", low=1, high=16)
    integer(ix, "n_iter", low=1)
    flag(ix, "keep_vectors")
    d = integer(ix, "d_", low=1)
    need(d % M == 0, f"d_={d} is not divisible by M={M}")
    n = integer(ix, "ntotal", low=0)
    c = array(ix, "centroids_", np.float32, (None, d))
    L = c.shape[0]
    need(L >= 1, "centroids_ has no rows (no lists)")
    finite(c, "centroids_", max_abs=max_feature_abs(d))  # as a feature may hold
    n_pq = quantizers(ix, M, nbits, d)
    ksub = 1 << nbits
    bounded(array(ix, "list_pq_", np.int64, (L,)), "list_pq_", 0, n_pq)
    offsets(array(ix, "offsets_", np.int64, (L + 1,)), "offsets_", n)
    # ids: non-negative (-1 pads results); duplicates are allowed, as faiss's add_with_ids
    bounded(array(ix, "ids_", np.int64, (n,)), "ids_", 0)
    codes = array(ix, "codes_", np.uint8 if nbits <= 8 else np.uint16, (n, M))
    if nbits not in (8, 16):
        bounded(codes, "codes_", high=ksub)
    finite(array(ix, "cr_", np.float32, (L, M, ksub)), "cr_")
    finite(array(ix, "cnorm2_", np.float32, (L,)), "cnorm2_", low=0.0)
    finite(array(ix, "db_norm2_", np.float32, (n,)), "db_norm2_", low=0.0)
    robust_permutations(ix, M, nbits, n_pq)


def list_count(ix, low: int = 1, what: str = "") -> int:
    """``_n_lists`` (the constructor's list count): an int >= ``low`` equal to the rows of
    ``centroids_`` (checked by :func:`inverted_lists` first)."""
    n = integer(ix, "_n_lists", low=low)
    rows = ix.centroids_.shape[0]
    need(n == rows, lambda: f"n_lists={n} but centroids_ has {rows} rows{what}")
    return n


def single_quantizer(ix) -> None:
    """Indices with one residual PQ shared by every list (IMI, flat; IVF, G+P and DSC with
    ``pq_per_list=False``)."""
    need(len(ix.pqs_) == 1, f"pqs_ must hold exactly one quantizer, got {len(ix.pqs_)}")


def kmeans(ix, name: str, n_clusters: int, d: int) -> None:
    """A fitted coarse quantizer kept for ``predict`` (IVF, G+P): ``n_clusters`` x ``d`` float32."""
    from ..kmeans import KMeans

    km = attr(ix, name)
    need(type(km) is KMeans, lambda: f"{name} must be a KMeans, got {_describe(km)}")
    integer(km, "n_clusters", low=n_clusters, high=n_clusters, where=f"{name}.")
    c = array(km, "centroids_", np.float32, (n_clusters, d), where=f"{name}.")
    if c is not vars(ix).get("centroids_"):
        finite(c, f"{name}.centroids_")


def quantizers(ix, M: int, nbits: int, d: int) -> int:
    """``pqs_``: a non-empty list of ProductQuantizer with the index's M / nbits / d and
    codebooks of shape (M, 2**nbits, d/M); ``sub_norm2_``: one finite (M, 2**nbits) float64
    table each. Returns the number of quantizers."""
    from ..pq import ProductQuantizer

    pqs = attr(ix, "pqs_")
    need(isinstance(pqs, list) and len(pqs) >= 1, lambda: f"pqs_ must be a non-empty list, got {_describe(pqs)}")
    ksub = 1 << nbits
    for p, pq in enumerate(pqs):
        where = f"pqs_[{p}]."
        need(type(pq) is ProductQuantizer, lambda: f"pqs_[{p}] must be a ProductQuantizer, got {_describe(pq)}")
        for key, want in (("M", M), ("nbits", nbits), ("d_", d)):
            integer(pq, key, low=want, high=want, where=where)
        array(pq, "codebooks_", np.float32, (M, ksub, d // M), where=where)
        # training parameters: a loaded quantizer may be refitted
        integer(pq, "n_iter", low=1, where=where)
        need(attr(pq, "init", where) in ("random", "k-means++"), lambda: f"{where}init must be 'random' or 'k-means++'")
        if attr(pq, "max_points_per_centroid", where) is not None:
            integer(pq, "max_points_per_centroid", low=1, where=where)
    norms = attr(ix, "sub_norm2_")
    need(isinstance(norms, list) and len(norms) == len(pqs),
         lambda: f"sub_norm2_ must be a list of {len(pqs)} tables (one per quantizer), got {_describe(norms)}")
    for p, t in enumerate(norms):
        finite(check_array(t, f"sub_norm2_[{p}]", np.float64, (M, ksub)), f"sub_norm2_[{p}]", low=0.0)
    return len(pqs)


def check_codebooks(ix) -> None:
    """No NaN / inf in any quantizer's codebooks: one pass over all of them (2 MiB per
    quantizer at d = 2048, nbits = 8)."""
    bound = max_feature_abs(ix.d_)  # what a feature may hold: codewords live in the same space
    for p, pq in enumerate(ix.pqs_):
        finite(pq.codebooks_, f"pqs_[{p}].codebooks_", max_abs=bound)


def robust_permutations(ix, M: int, nbits: int, n_quantizers: int) -> None:
    """``robust_perms_`` (:func:`dscref.robust.make_index_robust`), when present: one
    (M, 2**nbits) int64 array per quantizer, each row a permutation; ``robust_p_`` in (0, 0.5)."""
    if "robust_perms_" not in vars(ix) and "robust_p_" not in vars(ix):
        return
    perms = attr(ix, "robust_perms_")
    ksub = 1 << nbits
    need(isinstance(perms, list) and len(perms) == n_quantizers,
         f"robust_perms_ must be a list of {n_quantizers} arrays, got {_describe(perms)}")
    for p, a in enumerate(perms):
        bounded(check_array(a, f"robust_perms_[{p}]", np.int64, (M, ksub)), f"robust_perms_[{p}]", 0, ksub)
    # every row a permutation: each (row, value) pair exactly once, one bincount for all
    rows = np.stack(perms).reshape(-1, ksub)
    hits = np.bincount((rows + ksub * np.arange(rows.shape[0])[:, None]).ravel(), minlength=rows.size)
    need(bool((hits == 1).all()), f"robust_perms_ rows must be permutations of 0..{ksub - 1}")
    p = real(ix, "robust_p_")
    need(0.0 < p < 0.5, f"robust_p_={p} must lie in (0, 0.5)")
