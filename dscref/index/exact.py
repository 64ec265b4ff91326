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
from .._validate import as_float_matrix, check_choice, check_finite, check_int, check_k, max_feature_abs
from ..query import SearchResult

__all__ = ["ExactSearch", "exact_search", "EXACT_METRICS"]

EXACT_METRICS = ("l2", "ip", "cosine")
EXACT_CHUNK_ROWS = 65536


class ExactSearch:
    """Exhaustive search of one database; keeps the rows' squared norms between calls.

    Parameters
    ----------
    xb : array-like or memory map (n, d) float32
        Not copied when it is a float32 array (a memory map is never read in full here); other
        real arrays are converted (and checked) once. ``n = 0`` is allowed: every result row is
        padding.
    chunk_rows : int
        Rows scored per step.

    Raises
    ------
    ValueError
        If ``xb`` is not 2-D with at least one column, or (found on the first pass over a float32
        ``xb``, e.g. by the first search) holds NaN / inf or magnitudes above
        :func:`~dscref._validate.max_feature_abs`, as :func:`~dscref._validate.as_float_matrix`
        refuses.
    """

    def __init__(self, xb, chunk_rows: int = EXACT_CHUNK_ROWS):
        xb = xb if isinstance(xb, np.ndarray) else np.asarray(xb)
        if xb.ndim != 2 or xb.dtype != np.float32 or xb.shape[1] == 0:
            xb = as_float_matrix(xb, "xb", allow_empty=True)
        self.xb = xb
        self.chunk_rows = check_int(chunk_rows, "chunk_rows", low=1)
        self._norm2 = None
        self._checked = False  # a float32 xb is checked block by block on its first full pass

    @property
    def ntotal(self) -> int:
        return int(self.xb.shape[0])

    def _chunks(self):
        check = not self._checked
        for s in range(0, self.ntotal, self.chunk_rows):
            blk = np.asarray(self.xb[s:s + self.chunk_rows], dtype=np.float32)
            if check:
                self._check_block(blk)
            yield s, blk
            release_pages(self.xb)
        self._checked = True

    def _check_block(self, blk: np.ndarray) -> None:
        """Refuse NaN / inf and magnitudes whose squares overflow float32 (as ``as_float_matrix``)."""
        limit = max_feature_abs(self.xb.shape[1])
        if blk.size:
            lo, hi = blk.min(), blk.max()  # NaN propagates into both
            if not (np.isfinite(lo) and np.isfinite(hi) and -limit <= lo and hi <= limit):
                # the culprit, named by its row in xb
                check_finite(self.xb, "xb", self.chunk_rows, max_abs=limit,
                             why=f"for d={self.xb.shape[1]} (larger values overflow float32 squared distances)")

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
        return self._scores(as_float_matrix(xq, "xq", d=self.xb.shape[1]), metric)

    def _scores(self, xq: np.ndarray, metric: str) -> np.ndarray:
        """:meth:`scores` of checked queries (C-contiguous float32 of width d) and metric."""
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

        ``D`` holds squared L2 distances (metric "l2", ascending; a rounding error below 0 is
        reported as 0, as faiss does) or similarities ("ip", "cosine", descending); ties go to
        the smaller id; rows are padded beyond ``n`` with id -1 and distance ``inf`` (L2) or
        ``-inf`` (similarities).
        """
        from ..scoring import topk

        k = check_k(k, self.ntotal)
        check_choice(metric, "metric", set(EXACT_METRICS))
        xq = as_float_matrix(xq, "xq", d=self.xb.shape[1])
        s = self._scores(xq, metric)
        D, I = topk(s, k, largest=metric != "l2")
        if metric == "l2":
            D = np.where(I >= 0, np.maximum(D + (xq ** 2).sum(1, keepdims=True), 0), D).astype(np.float32)
        return SearchResult(D, I, np.full(s.shape[0], self.ntotal, dtype=np.int64))


def exact_search(xb, xq, k: int = 100, metric: str = "l2", chunk_rows: int = EXACT_CHUNK_ROWS) -> SearchResult:
    """One-shot :meth:`ExactSearch.search` of ``xq`` against ``xb``."""
    return ExactSearch(xb, chunk_rows).search(xq, k, metric)
