"""Inverted indices: the semantic index of DSC and the unsupervised (DUC) baselines.

All share :class:`dscref.index.base.InvertedPQIndex`: ``build``, ``encode_query``, ``search``.
Import the concrete classes from their modules (nothing is compiled at import).
"""

from .base import InvertedPQIndex, Query, SearchResult

__all__ = ["InvertedPQIndex", "Query", "SearchResult"]
