"""Exhaustive (exact) search over raw features, chunk by chunk: the reference every index is
measured against (the raw-feature rows of Table I, Fig. 3's analog baseline, the demo's and
``dscref selftest``'s ground truth).

``ExactSearch(xb).search(xq, k)`` scores every database row, reading ``xb`` (an array or a
memory map) in chunks of ``chunk_rows`` rows whose pages are released after use, so a 1M-row
memory-mapped database is never resident at once. Like faiss's ``IndexFlatL2`` / ``IndexFlatIP``
the scores are float32 products computed by BLAS (``xq @ xb.T``): their last bits may depend on
the BLAS build and thread count, so two rows whose scores differ by a rounding error can swap
places between machines; nothing else depends on them.
"""

from __future__ import annotations

import numpy as np

from .._chunks import release_pages
from .._validate import as_float_matrix, check_choice, check_int, check_k
from ..query import SearchResult

__all__ = ["ExactSearch", "exact_search", "EXACT_METRICS"]

EXACT_METRICS = ("l2", "ip", "cosine")
EXACT_CHUNK_ROWS = 65536


class ExactSearch:
    """Exhaustive search of one database; keeps the rows' squared norms between calls.

    Parameters
    ----------
    xb : array-like or memory map (n, d) float32
        Not copied.
    chunk_rows : int
        Rows scored per step.
    """

    def __init__(self, xb, chunk_rows: int = EXACT_CHUNK_ROWS):
        xb = xb if isinstance(xb, np.ndarray) else np.asarray(xb)
        if xb.ndim != 2 or xb.dtype != np.float32:
            xb = as_float_matrix(xb, "xb")
        self.xb = xb
        self.chunk_rows = check_int(chunk_rows, "chunk_rows", low=1)
        self._norm2 = None

    @property
    def ntotal(self) -> int:
        return int(self.xb.shape[0])

    def _chunks(self):
        for s in range(0, self.ntotal, self.chunk_rows):
            blk = np.asarray(self.xb[s:s + self.chunk_rows], dtype=np.float32)
            yield s, blk
            release_pages(self.xb)

    def norm2(self) -> np.ndarray:
        """Squared norms of the database rows (n,) float32, computed once."""
        if self._norm2 is None:
            out = np.empty(self.ntotal, dtype=np.float32)
            for s, blk in self._chunks():
                out[s:s + blk.shape[0]] = (blk ** 2).sum(1)
            self._norm2 = out
        return self._norm2

    def scores(self, xq, metric: str = "l2") -> np.ndarray:
        """(nq, n) float32: ``||x||^2 - 2 <q, x>`` (L2 up to the per-row constant ``||q||^2``,
        smaller is better), ``<q, x>`` ("ip") or the cosine (larger is better)."""
        check_choice(metric, "metric", set(EXACT_METRICS))
        xq = as_float_matrix(xq, "xq", d=self.xb.shape[1])
        out = np.empty((xq.shape[0], self.ntotal), dtype=np.float32)
        if metric == "l2":
            n2 = self.norm2()
            for s, blk in self._chunks():
                out[:, s:s + blk.shape[0]] = n2[s:s + blk.shape[0]] - 2 * xq @ blk.T
        else:
            for s, blk in self._chunks():
                out[:, s:s + blk.shape[0]] = xq @ blk.T
            if metric == "cosine":
                qn = np.sqrt((xq.astype(np.float64) ** 2).sum(1))[:, None]
                out /= np.maximum(qn * np.sqrt(self.norm2().astype(np.float64))[None, :], 1e-30).astype(np.float32)
        return out

    def search(self, xq, k: int = 100, metric: str = "l2") -> SearchResult:
        """The ``k`` nearest rows of every query: ``SearchResult(D, I, n_candidates)``.

        ``D`` holds squared L2 distances (metric "l2", ascending) or similarities ("ip",
        "cosine", descending); ties go to the smaller id; rows are padded with -1 beyond ``n``.
        """
        from ..scoring import topk

        k = check_k(k, self.ntotal)
        s = self.scores(xq, metric)
        D, I = topk(s, k, largest=metric != "l2")
        if metric == "l2":
            xq = as_float_matrix(xq, "xq", d=self.xb.shape[1])
            D = np.where(I >= 0, D + (xq ** 2).sum(1, keepdims=True), D).astype(np.float32)
        return SearchResult(D, I, np.full(s.shape[0], self.ntotal, dtype=np.int64))


def exact_search(xb, xq, k: int = 100, metric: str = "l2", chunk_rows: int = EXACT_CHUNK_ROWS) -> SearchResult:
    """One-shot :meth:`ExactSearch.search` of ``xq`` against ``xb``."""
    return ExactSearch(xb, chunk_rows).search(xq, k, metric)
