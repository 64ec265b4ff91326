"""One constructor for every index kind by name: what ``dscref build`` and the experiments use."""

from __future__ import annotations

import math

from .._validate import check_choice

__all__ = ["INDEX_KINDS", "INDEX_NAMES", "make_index"]

# kind -> the name the paper's Table I gives the method
INDEX_NAMES = {"dsc": "DSC", "ivf": "DUC-IVF", "imi": "DUC-IMI", "gp": "DUC-G+P", "flat": "DUC+PQ"}
INDEX_KINDS = tuple(INDEX_NAMES)


def make_index(kind: str, n_lists: int, *, M: int = 8, nbits: int = 8, seed: int = 0,
               keep_vectors: bool = True, n_iter: int = 25, pq_per_list: bool | None = None,
               min_partition_size: int | None = None):
    """An unbuilt index of ``kind`` in {"dsc", "ivf", "imi", "gp", "flat"} sized like the paper's:
    ``n_lists`` lists for DSC / IVF / G+P, ``ceil(sqrt(n_lists))`` centroids per half for the
    multi-index (about ``n_lists`` cells); the flat PQ baseline ignores ``n_lists``.

    ``pq_per_list`` and ``min_partition_size`` (DSC, IVF and G+P only; None: the class's
    default, per list for DSC, shared for the DUC indices) choose one residual PQ per list or
    one shared (:mod:`dscref.index._quantizers`); the multi-index and the flat PQ have one
    quantizer, and a value for them is a ValueError.
    """
    check_choice(kind, "kind", set(INDEX_NAMES))
    common = dict(M=M, nbits=nbits, seed=seed, keep_vectors=keep_vectors, n_iter=n_iter)
    options = {k: v for k, v in (("pq_per_list", pq_per_list), ("min_partition_size", min_partition_size))
               if v is not None}
    if options and kind in ("imi", "flat"):
        name, value = next(iter(options.items()))
        raise ValueError(f"{name}={value!r}: the {INDEX_NAMES[kind]} index has one residual quantizer "
                         f"(the option applies to kinds dsc, ivf, gp)")
    if kind == "dsc":
        from .semantic import SemanticIndex

        return SemanticIndex(n_lists=n_lists, progress=False, **common, **options)
    if kind == "ivf":
        from .ivf import IVFIndex

        return IVFIndex(n_lists=n_lists, **common, **options)
    if kind == "imi":
        from .imi import IMIIndex

        return IMIIndex(n_centroids_per_half=int(math.ceil(math.sqrt(n_lists))), **common)
    if kind == "gp":
        from .gp import GPIndex

        return GPIndex(n_lists=n_lists, **common, **options)
    from .flat import FlatPQIndex

    return FlatPQIndex(**common)
