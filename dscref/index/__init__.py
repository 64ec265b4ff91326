"""Inverted indices: the semantic index of DSC and the unsupervised (DUC) baselines.

All share :class:`dscref.index.base.InvertedPQIndex` and its faiss-style API: ``train``,
``add`` (appends, ids continue from ``ntotal``), ``reset``, ``build`` (= reset + train + add),
``d``, ``ntotal``, ``is_trained``, ``encode_query``, ``search``. Nothing is compiled at import.
"""

from ..query import Query, SearchResult
from .base import InvertedPQIndex
from .factory import INDEX_KINDS, INDEX_NAMES, make_index
from .flat import FlatPQIndex
from .gp import GPIndex
from .imi import IMIIndex
from .ivf import IVFIndex
from .semantic import SemanticIndex

__all__ = ["InvertedPQIndex", "Query", "SearchResult", "SemanticIndex", "IVFIndex", "IMIIndex", "GPIndex",
           "FlatPQIndex", "make_index", "INDEX_KINDS", "INDEX_NAMES"]
