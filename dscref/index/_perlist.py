"""The per-list search path: one query and one list at a time, in NumPy and the scoring kernels.

It is the NumPy twin of the batched engine (:mod:`dscref.index._engine`): the same tables in the
same order of operations, list by list (:meth:`PerListSearch._score_list`), so the engine can be
tested against it bit for bit; and it is the path of raw-feature queries (``Query.vector``,
Table I's "M = 2048" rows), which the engine does not serve. A mixin of
:class:`~dscref.index.base.InvertedPQIndex`.
"""

from __future__ import annotations

import numpy as np

from .._chunks import gather_rows
from .._validate import F32_MAX
from ..query import Query, SearchResult
from . import tables

__all__ = ["PerListSearch"]


class PerListSearch:
    """Mixin: :meth:`_search_reference` and the per-list scoring it runs."""

    def _raw_scores(self, query: Query, a: int, b: int, metric: str) -> np.ndarray:
        """Exact L2 / cosine between the raw query vector and stored rows ``a:b`` (raw mode)."""
        # gather_rows releases a memory-mapped database's pages: 55 queries x thousands of
        # candidates would otherwise leave most of a 1M-row file resident
        xb = gather_rows(self._xb, self.ids_[a:b])
        q = np.asarray(query.vector, dtype=np.float32)
        if metric == "l2":
            return ((xb - q) ** 2).sum(1).astype(np.float32)
        return (xb @ q / (np.linalg.norm(xb, axis=1) * np.linalg.norm(q) + 1e-30)).astype(np.float32)

    def _scan(self, query: Query, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Scores (c,) float32 and ids (c,) int64 of every candidate of a validated query.

        Default: every item of every list named by the head. Subclasses that scan only part of
        a list (IVF+G+P's pruning) override this.
        """
        scores, ids = [], []
        for j, lab in enumerate(query.labels):
            a, b = self.offsets_[lab], self.offsets_[lab + 1]
            if a == b:
                continue
            scores.append(self._score_list(query, j, int(lab), metric))
            ids.append(self.ids_[a:b])
        if not scores:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        return np.concatenate(scores), np.concatenate(ids)

    def _score_list(self, query: Query, j: int, lab: int, metric: str) -> np.ndarray:
        """Scores of every item of list ``lab`` for head entry ``j``: eq. (14) or (15)
        (:mod:`dscref.index.tables`) with the probe's tables (:meth:`_probe_tables`), or exact
        raw distances. The NumPy twin of one probe of the engine (:mod:`dscref.index._engine`)."""
        a, b = self.offsets_[lab], self.offsets_[lab + 1]
        if query.vector is not None:  # raw-feature mode: exact distances on stored vectors
            return self._raw_scores(query, a, b, metric)
        sdc, lut, bias, q_norm2 = self._probe_tables(query, j, lab)
        if metric == "l2":
            return tables.l2_scores(sdc, self.codes_[a:b])
        return self._cosine(lut, bias + 0.0, q_norm2, a, b, self.list_pq_[lab])

    def _probe_tables(self, query: Query, j: int, lab: int):
        """The tables of head entry ``j`` (list ``lab``) of a coded query, as the engine makes
        them: ``(sdc, lut, bias, q_norm2)`` -- the SDC rows of eq. (14), the cosine table
        ``cr[lab] + gram`` of eq. (15), its query-side constant and ``||q_hat||^2``.

        Hard code ``e``: the rows of its codewords (:meth:`_code_rows`), the bias
        ``||c||^2 + sum_m <c_m, r_{m,e_m}>`` and the norm from the stored terms
        (:func:`~dscref.index.tables.code_norm2`).

        Soft decision (``query.code_llr``): the query's sub-codeword replaced by its posterior
        (:meth:`_soft_terms`). Both tables are linear in the sub-codeword once its norm is taken
        apart: ``E ||r^q_m - r_mj||^2 = E ||r^q_m||^2 + ||r_mj||^2 - 2 <E r^q_m, r_mj>`` (the
        expected distance, exact), and the cosine numerator's terms are replaced by their
        expectations (exact); the query norm by ``sqrt(E ||c + r^q||^2)`` (an approximation:
        ``E[num / ||q||] ~ E[num] / sqrt(E ||q||^2)``). With certain bits the posterior mean is
        the codeword itself and the tables reduce bit-exactly to the hard-decision ones. Every
        expectation is :func:`dscref.soft.expected_rows` (one fixed-order kernel, independent of
        BLAS threads).
        """
        p = self.list_pq_[lab]
        if query.code_llr is not None:
            mean, vn2, bias, q_norm2 = self._soft_terms(query.code_llr[j], lab, p)
            sdc, gram = self._query_rows(p, mean, vn2)
            return sdc, (self.cr_[lab] + gram).astype(np.float32), bias, q_norm2
        e = np.asarray(query.codes[j], dtype=np.int64)
        sdc, gram = self._code_rows(p, e)
        lut, bias = tables.cosine_table(self.cr_[lab], self.cnorm2_[lab], gram, e)
        return sdc, lut, bias, tables.code_norm2(self.cnorm2_[lab], self.cr_[lab], self.sub_norm2_[p], e)

    def _cosine(self, lut, bias: float, q_norm2: float, a: int, b: int, p: int) -> np.ndarray:
        """Eq. (15) for rows ``a:b`` (:func:`dscref.index.tables.cosine_scores`), the bias and
        query norm checked as the engine checks them (IndexFormatError)."""
        tables.check_tables(p, lut)
        if not (abs(np.float32(bias)) <= tables.table_bound(lut.shape[0]) and q_norm2 <= F32_MAX):
            raise tables._corrupt(p)
        return tables.cosine_scores(lut, bias, q_norm2, self.codes_[a:b], self.db_norm2_[a:b])

    def _soft_terms(self, llr: np.ndarray, lab: int, p: int):
        """The soft-decision query of head entry ``llr`` for list ``lab`` (quantizer ``p``):
        ``(v, v_norm2, bias, q_norm2)``, what a hard code's codewords, norms, bias and query norm
        are to the tables (see :meth:`_probe_tables`)."""
        from ..soft import expected_rows, posteriors

        post = posteriors(llr, self.M, self.nbits)
        mean = expected_rows(post, self.pqs_[p].codebooks_).astype(np.float32)  # E r^q_m (M, dsub)
        n2 = self.sub_norm2_[p]
        bias = tables.bias_sum(self.cnorm2_[lab], expected_rows(post, self.cr_[lab]).astype(np.float32))
        q_norm2 = tables.norm_sum(self.cnorm2_[lab], expected_rows(post, 2.0 * self.cr_[lab] + n2))
        return mean, expected_rows(post, n2), bias, q_norm2

    def _search_reference(self, queries, k: int = 100, metric: str = "l2", validated: bool = False) -> SearchResult:
        """:meth:`search` by the per-list NumPy path (:meth:`_scan`, :meth:`_score_list`): the
        engine's twin, one query and one list at a time, and the path of raw-feature queries."""
        from ..scoring import topk

        if validated:
            qs = queries
        else:
            qs, k = self._search_args(queries, k, metric)
        largest = metric == "cosine"
        D = np.full((len(qs), k), -np.inf if largest else np.inf, dtype=np.float32)
        I = np.full((len(qs), k), -1, dtype=np.int64)
        ncand = np.zeros(len(qs), dtype=np.int64)
        for r, query in enumerate(qs):
            s, idv = self._scan(query, metric)
            if s.size == 0:
                continue
            ncand[r] = s.size
            kk = min(k, s.size)  # the columns past the candidates stay padding
            Dr, pos = topk(s, kk, largest=largest)
            D[r, :kk], I[r, :kk] = Dr, np.where(pos >= 0, idv[np.maximum(pos, 0)], -1)
        return SearchResult(D, I, ncand)
