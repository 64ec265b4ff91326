"""Which residual quantizer each list uses: one per list with enough training rows, or one shared.

Two rules, one option (``pq_per_list``) of :class:`~dscref.index.ivf.IVFIndex` (and its subclass
:class:`~dscref.index.gp.GPIndex`) and :class:`~dscref.index.semantic.SemanticIndex`, with the
same meaning for both:

* **shared** (``pq_per_list=False``, faiss ``IndexIVFPQ``, IVF's default): one PQ trained on the
  residuals of a uniform sample of ``min(n, 256 * 2**nbits)`` training rows; every list uses it.
* **per list** (``pq_per_list=True``, DSC's default, Wang & Qi eqs. 4-6): every list with at
  least ``min_partition_size`` training rows (default ``2**nbits``: as many rows as codewords)
  gets a PQ trained on its own residuals; the smaller lists share one PQ trained on their pooled
  residuals (on a uniform sample of all rows if no list is small).

The shared quantizer is always ``pqs_[0]``: a list ``i`` has its own quantizer iff
``list_pq_[i] > 0``. A residual is taken relative to the index's
``_residual_reference`` (the list centroid; IVF+G+P's sub-centroid), through the index's
``_train_pq_on_rows``.
"""

from __future__ import annotations

import logging

import numpy as np

from .._validate import check_int

__all__ = ["check_pq_options", "sample_rows", "fit_residual_pqs", "state_pq_options"]

log = logging.getLogger(__name__)


def check_pq_options(pq_per_list, min_partition_size, nbits: int) -> tuple[bool, int | None]:
    """Validated ``(pq_per_list, min_partition_size)`` of a constructor.

    ``min_partition_size`` None means ``2**nbits`` in per-list mode; in shared mode it stays
    None, and a value there is a ValueError (a shared quantizer has no threshold to apply).
    """
    if not isinstance(pq_per_list, (bool, np.bool_)):
        raise TypeError(f"pq_per_list must be a bool, got {pq_per_list!r}")
    pq_per_list = bool(pq_per_list)
    if min_partition_size is None:
        return pq_per_list, (1 << nbits) if pq_per_list else None
    if not pq_per_list:
        raise ValueError(f"min_partition_size={min_partition_size!r} needs pq_per_list=True: with one "
                         f"shared quantizer no list is trained on its own")
    return True, check_int(min_partition_size, "min_partition_size", low=1)


def sample_rows(n: int, nbits: int, rng) -> np.ndarray:
    """The uniform training sample of a shared quantizer: ``min(n, 256 * 2**nbits)`` distinct rows
    of ``n``, drawn from ``rng`` (faiss's 256 training points per centroid)."""
    return rng.choice(n, min(n, 256 * (1 << nbits)), replace=False)


def fit_residual_pqs(ix, x: np.ndarray, assign: np.ndarray, rng, *, key=None, sample=None,
                     progress: bool = False):
    """Train the residual quantizers of index ``ix`` under its ``pq_per_list`` rule.

    Parameters
    ----------
    ix : InvertedPQIndex
        With ``pq_per_list``, ``min_partition_size``, ``nbits`` and fitted ``centroids_``
        (and whatever its ``_residual_reference`` needs).
    x : ndarray (n, d) float32
        The training rows (may be memory-mapped: rows are gathered as needed).
    assign : ndarray (n,) int64
        The list of every training row.
    rng : numpy.random.Generator
        Every draw (the sample, the quantizers' own sub-samples and k-means) comes from it.
    key : ndarray (n,) int64, optional
        The rows' groups, for ``_residual_reference`` (IVF+G+P's sub-regions).
    sample : ndarray of int64, optional
        A uniform sample of rows already drawn (:func:`sample_rows`); drawn here when needed
        and not given.
    progress : bool
        A tqdm bar over the per-list quantizers.

    Returns
    -------
    (pqs, list_pq, shared_lists): list of ProductQuantizer (``pqs[0]`` the shared one),
    ndarray (n_lists,) int64 (the quantizer of each list), ndarray int64 (the lists using
    ``pqs[0]``, ascending).
    """
    from tqdm.auto import tqdm

    n_lists = ix.centroids_.shape[0]
    if not ix.pq_per_list:
        rows = sample_rows(x.shape[0], ix.nbits, rng) if sample is None else sample
        return ([ix._train_pq_on_rows(x, rows, assign, rng, key)], np.zeros(n_lists, dtype=np.int64),
                np.arange(n_lists, dtype=np.int64))
    counts = np.bincount(assign, minlength=n_lists)
    order = np.argsort(assign, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    small = np.flatnonzero(counts < ix.min_partition_size)
    big = np.flatnonzero(counts >= ix.min_partition_size)
    # the shared quantizer (slot 0) for the small lists, trained on their pooled residuals
    pooled = order[np.isin(assign[order], small)] if small.size else np.empty(0, np.int64)
    if pooled.size == 0:  # nothing small: keep slot 0 meaningful, train it on a sample of all
        pooled = sample_rows(x.shape[0], ix.nbits, rng) if sample is None else sample
    pqs = [ix._train_pq_on_rows(x, pooled, assign, rng, key)]
    list_pq = np.zeros(n_lists, dtype=np.int64)
    name = type(ix).__name__
    for i in tqdm(big, desc=f"{name}: per-list PQ", disable=not progress or big.size < 2, leave=False):
        list_pq[i] = len(pqs)
        pqs.append(ix._train_pq_on_rows(x, order[starts[i]:starts[i + 1]], assign, rng, key))
    log.info("%s: %d lists, %d with their own PQ, %d (%.1f%% of training items) on the shared PQ",
             name, n_lists, big.size, small.size, 100.0 * counts[small].sum() / max(1, x.shape[0]))
    return pqs, list_pq, small.astype(np.int64)


def state_pq_options(ix) -> None:
    """The invariant checks of a loaded index's options (:mod:`dscref.index._state`):
    ``pq_per_list`` a bool; ``min_partition_size`` an int >= 1 in per-list mode, None in shared
    mode; a shared-mode index holds exactly one quantizer."""
    from . import _state

    per_list = _state.flag(ix, "pq_per_list")
    if per_list:
        _state.integer(ix, "min_partition_size", low=1)
    else:
        _state.need(_state.attr(ix, "min_partition_size") is None,
                    lambda: f"min_partition_size must be None with pq_per_list=False, got "
                            f"{ix.min_partition_size!r}")
        _state.single_quantizer(ix)
