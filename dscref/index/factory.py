"""One constructor for every index kind by name: what ``dscref build`` and the experiments use."""

from __future__ import annotations

import math

from .._validate import check_choice

__all__ = ["INDEX_KINDS", "INDEX_NAMES", "make_index"]

# kind -> the name the paper's Table I gives the method
INDEX_NAMES = {"dsc": "DSC", "ivf": "DUC-IVF", "imi": "DUC-IMI", "gp": "DUC-G+P", "flat": "DUC+PQ"}
INDEX_KINDS = tuple(INDEX_NAMES)


def make_index(kind: str, n_lists: int, *, M: int = 8, nbits: int = 8, seed: int = 0,
               keep_vectors: bool = True, n_iter: int = 25):
    """An unbuilt index of ``kind`` in {"dsc", "ivf", "imi", "gp", "flat"} sized like the paper's:
    ``n_lists`` lists for DSC / IVF / G+P, ``ceil(sqrt(n_lists))`` centroids per half for the
    multi-index (about ``n_lists`` cells); the flat PQ baseline ignores ``n_lists``."""
    check_choice(kind, "kind", set(INDEX_NAMES))
    common = dict(M=M, nbits=nbits, seed=seed, keep_vectors=keep_vectors, n_iter=n_iter)
    if kind == "dsc":
        from .semantic import SemanticIndex

        return SemanticIndex(n_lists=n_lists, progress=False, **common)
    if kind == "ivf":
        from .ivf import IVFIndex

        return IVFIndex(n_lists=n_lists, **common)
    if kind == "imi":
        from .imi import IMIIndex

        return IMIIndex(n_centroids_per_half=int(math.ceil(math.sqrt(n_lists))), **common)
    if kind == "gp":
        from .gp import GPIndex

        return GPIndex(n_lists=n_lists, **common)
    from .flat import FlatPQIndex

    return FlatPQIndex(**common)
