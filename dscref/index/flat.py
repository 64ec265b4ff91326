"""DUC+PQ without an inverted index: exhaustive ADC over plain PQ codes.

Jégou, Douze & Schmid, "Product quantization for nearest neighbor search", TPAMI 2011. The
query sends only its M-byte PQ code (no head); the server scans every database code. This is
Table I's "DUC+PQ [15]" row (40 bytes there: M=40). Implemented as an inverted index with a
single list whose centroid is the zero vector, so search, scoring and the codec are shared.
"""

from __future__ import annotations

import numpy as np

from .._validate import as_generator
from . import _state
from .base import InvertedPQIndex

__all__ = ["FlatPQIndex"]


class FlatPQIndex(InvertedPQIndex):
    """Plain PQ, one list holding the whole database, no head (``label_bits = 0``)."""

    kind = "flat"
    label_bits = 0

    @property
    def default_head_size(self) -> int:
        return 1

    def _fit(self, x, labels):
        """``train(x)``: a PQ on ``x`` (n, d); ``labels`` is ignored."""
        rng = as_generator(self.seed)
        self.centroids_ = np.zeros((1, x.shape[1]), dtype=np.float32)
        self.pqs_ = [self._train_pq(x, rng)]
        self.list_pq_ = np.zeros(1, dtype=np.int64)
        return self._prepare_rows(x, labels)

    def _codebook_arrays(self) -> list:
        """The PQ codebooks (the one centroid is the zero vector, not trained)."""
        return [pq.codebooks_ for pq in self.pqs_]

    def _prepare_rows(self, x, labels):
        lists = np.zeros(x.shape[0], dtype=np.int64)
        return lists, lists

    def _check_state(self) -> None:
        """Base checks, then: one list with a zero centroid, one quantizer."""
        super()._check_state()
        _state.need(self.n_lists == 1 and not self.centroids_.any(),
                    f"a FlatPQIndex has one list with a zero centroid, got centroids_ of shape "
                    f"{self.centroids_.shape}")
        _state.single_quantizer(self)

    def head(self, q, n_probe):
        return np.zeros(1, dtype=np.int64)
