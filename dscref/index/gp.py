"""DUC-G+P: the inverted file with grouping and pruning (IVF+G+P).

Baranchuk, Babenko & Malkov, "Revisiting the inverted indices for billion-scale approximate
nearest neighbors", ECCV 2018 (ref. [11] of Wang & Qi; reference code ``dbaranchuk/ivf-hnsw``).

*Grouping.* Every k-means cell ``i`` (centroid ``c_i``) is split into L sub-regions, one per
neighbouring centroid ``s_il`` (the L nearest other centroids), with sub-centroids
``c_il = c_i + alpha_i (s_il - c_i)``. A database vector of cell ``i`` goes to its nearest
sub-centroid and its residual to that sub-centroid is PQ-encoded (one PQ shared by all cells;
``pq_per_list=True``: one per cell, as :class:`~dscref.index.ivf.IVFIndex`).

*Pruning.* At query time the server knows, for every head cell, a reconstruction of the query
and therefore its distances to the cell's sub-centroids; sub-regions far from the query are not
scanned, so fewer candidates are scored.

The device side is unchanged: the head holds the nearest coarse centroids and each head entry
carries the PQ code of ``q - c_i`` (the same codec as every other index). The coarse quantizer,
the head and the training sequence are :class:`~dscref.index.ivf.IVFIndex`'s; this class adds
the sub-regions (:meth:`GPIndex._fit_groups`, :meth:`GPIndex._groups`) and their terms in the
scores (:mod:`dscref.index.tables`).
"""

from __future__ import annotations

import logging
import numbers

import numpy as np

from .._chunks import gather_rows
from .._validate import check_choice, check_int
from ..scoring import topk
from . import _engine, _state, tables
from .base import Query
from .ivf import IVFIndex

__all__ = ["GPIndex"]

log = logging.getLogger(__name__)

_CHUNK = 65536


def _check_prune(prune):
    if prune is None or prune == "mean":
        return prune
    if isinstance(prune, numbers.Real) and not isinstance(prune, bool) and 0.0 < float(prune) <= 1.0:
        return float(prune)
    raise ValueError(f"prune={prune!r} must be None, 'mean' or a fraction in (0, 1]")


class GPIndex(IVFIndex):
    """IVF + grouping + pruning, with one shared residual PQ (or one per cell: ``pq_per_list``).

    Parameters
    ----------
    n_lists : int, default 1000
        K coarse centroids (cells); head entries take ``ceil(log2 K)`` bits.
    n_neighbors : int, default 8
        L, sub-regions per cell (the L nearest neighbouring centroids); needs ``K > L``.
        The ECCV paper uses L = 64 with K = 2^20 cells; with K = 1000 cells of a small database
        a few sub-regions per cell is what the data supports.
    M, nbits, n_iter, seed, keep_vectors
        See :class:`dscref.index.base.InvertedPQIndex`.
    coarse_iter : int, default 20
        k-means iterations of the coarse quantizer.
    alpha : {"cell", "global"}, default "cell"
        ``"cell"``: one alpha per cell, as the reference code (``compute_alpha``) does;
        ``"global"``: one alpha for all cells, pooled least squares. A cell without training
        points uses the global value.
    residual : {"subcentroid", "centroid"}, default "subcentroid"
        What a database vector is encoded relative to: its sub-centroid (as in the paper: the
        residual is smaller, so the PQ is more accurate) or its cell centroid (sub-regions then
        serve only for pruning).
    pq_per_list, min_partition_size
        As :class:`~dscref.index.ivf.IVFIndex`: one residual PQ per cell with enough training
        rows (trained on the cell's residuals to their sub-centroids) instead of one shared.
    prune : None, "mean" or float in (0, 1], default "mean"
        Which sub-regions of the head cells are scanned (may be changed after build):
        ``"mean"`` -- the reference code's rule: those whose distance to the query is below
        the mean distance over all non-empty sub-regions of the head (plus always the nearest);
        a float ``f`` -- the ``ceil(f * S)`` nearest of the S non-empty sub-regions of the
        head; ``None`` -- all of them (grouping without pruning).

    Attributes
    ----------
    L : int, sub-regions per cell (``n_neighbors``)
    centroids_ : ndarray (K, d) float32, coarse centroids
    neighbors_ : ndarray (K, L) int64, ``neighbors_[i, l]`` = index of ``s_il``, nearest first
    alpha_ : ndarray (K,) float32, per-cell alpha (all equal with ``alpha="global"``)
    alpha_global_ : float
    sub_offsets_ : ndarray (K*L + 1,) int64; sub-region l of cell i holds rows
        ``sub_offsets_[i*L + l] : sub_offsets_[i*L + l + 1]`` (inside the cell's rows)

    Notes
    -----
    Let ``u_il = s_il - c_i``. For a training point ``x`` of cell ``i`` with ``r = x - c_i`` the
    best position along direction ``l`` is ``a_l = max(0, <r, u_il>) / ||u_il||²``; the point
    picks the direction with the smallest ``||r - a_l u_il||²``. alpha then minimises
    ``sum_x ||r_x - alpha u_{i l(x)}||²`` over the points of the cell (or of all cells):
    ``alpha = sum_x <r_x, u_{l(x)}>^+ / sum_x ||u_{l(x)}||²`` (Baranchuk et al., sec. 3).

    Scores. Head entry j names cell i and carries the code of ``q - c_i``; the server rebuilds
    ``q_hat = c_i + r_q`` (eq. 13 of Wang & Qi). A database item of sub-region l is
    ``d_hat = c_i + g_l + r_d`` with ``g_l = alpha_i u_il`` (``g_l = 0`` for
    ``residual="centroid"``). Then

    * L2 (eq. 14): ``||q_hat - d_hat||² = ||r_q - r_d||² + (||g_l||² - 2 <r_q, g_l>) + 2 <r_d, g_l>``:
      the SDC table of eq. (14), a per-sub-region constant and a per-item constant stored at
      build time;
    * cosine (eq. 15): ``<q_hat, d_hat> = <q_hat, c_i + r_d> + <q_hat, g_l>``: the numerator of
      the base index plus a per-sub-region constant, over ``||q_hat|| ||d_hat||`` with
      ``||d_hat||²`` stored at build time.

    Pruning ranks sub-regions by ``||q_hat - c_il||² = ||r_q - alpha_i u_il||²`` for both
    metrics (features are L2-normalised, so L2 and cosine order agree).
    """

    kind = "gp"
    _min_lists = 2

    def __init__(self, n_lists: int = 1000, n_neighbors: int = 8, M: int = 8, nbits: int = 8, n_iter: int = 25,
                 seed=None, keep_vectors: bool = False, coarse_iter: int = 20, alpha: str = "cell",
                 residual: str = "subcentroid", prune="mean", pq_per_list: bool = False,
                 min_partition_size: int | None = None):
        super().__init__(n_lists=n_lists, M=M, nbits=nbits, n_iter=n_iter, seed=seed, keep_vectors=keep_vectors,
                         coarse_iter=coarse_iter, pq_per_list=pq_per_list, min_partition_size=min_partition_size)
        self.L = check_int(n_neighbors, "n_neighbors", low=1)
        if self.L >= self._n_lists:
            raise ValueError(f"n_neighbors={self.L} must be < n_lists={self._n_lists}")
        self.alpha_mode = check_choice(alpha, "alpha", {"cell", "global"})
        self.residual = check_choice(residual, "residual", {"subcentroid", "centroid"})
        self.prune = prune

    @property
    def prune(self):
        return self._prune

    @prune.setter
    def prune(self, value):
        self._prune = _check_prune(value)

    # ------------------------------------------------------------------ build
    def _directions(self, i: int) -> np.ndarray:
        """``u_il = s_il - c_i`` for cell ``i``: (L, d) float32."""
        return self.centroids_[self.neighbors_[i]] - self.centroids_[i]

    def _nearest_centroids(self) -> np.ndarray:
        c = self.centroids_.astype(np.float64)
        n2 = (c ** 2).sum(1)
        K = self.n_lists
        nbrs = np.empty((K, self.L), dtype=np.int64)
        for s in range(0, K, 1024):
            dist = n2[s:s + 1024, None] - 2 * c[s:s + 1024] @ c.T + n2[None]
            dist[np.arange(dist.shape[0]), np.arange(s, s + dist.shape[0])] = np.inf  # not itself
            nbrs[s:s + 1024] = topk(dist.astype(np.float32), self.L)[1]
        return nbrs

    def _cells(self, assign: np.ndarray):
        """Yield ``(cell, row indices)`` for every non-empty cell of an assignment."""
        K = self.n_lists
        order = np.argsort(assign, kind="stable")
        bounds = np.searchsorted(assign[order], np.arange(K + 1))
        for i in range(K):
            if bounds[i + 1] > bounds[i]:
                yield i, order[bounds[i]:bounds[i + 1]]

    def _fit_alpha(self, x: np.ndarray, assign: np.ndarray) -> None:
        """Least-squares alpha per cell and pooled, from the training points ``x``."""
        num = np.zeros(self.n_lists)
        den = np.zeros(self.n_lists)
        for i, rows in self._cells(assign):
            u = self._directions(i).astype(np.float64)
            unorm = (u ** 2).sum(1)
            ip = np.maximum((x[rows] - self.centroids_[i]).astype(np.float64) @ u.T, 0.0)  # (n_i, L)
            # ||r - a_l u_l||^2 = ||r||^2 - <r,u_l>^2/||u_l||^2 at the best a_l: pick the largest gain
            best = np.argmax(ip ** 2 / np.maximum(unorm, 1e-30), axis=1)
            num[i] = ip[np.arange(rows.size), best].sum()
            den[i] = unorm[best].sum()
        self.alpha_global_ = float(num.sum() / den.sum()) if den.sum() > 0 else 0.0
        if self.alpha_mode == "global":
            self.alpha_ = np.full(self.n_lists, self.alpha_global_, dtype=np.float32)
        else:
            self.alpha_ = np.where(den > 0, num / np.maximum(den, 1e-30), self.alpha_global_).astype(np.float32)

    def _subregions(self, x: np.ndarray, assign: np.ndarray) -> np.ndarray:
        """Nearest sub-centroid ``argmin_l ||x - c_i - alpha_i u_il||²`` of every row: (n,) int64."""
        sub = np.zeros(x.shape[0], dtype=np.int64)
        for i, rows in self._cells(assign):
            g = self.alpha_[i] * self._directions(i)  # (L, d)
            for s in range(0, rows.size, _CHUNK):
                r = rows[s:s + _CHUNK]
                # ||r - g_l||^2 minus the constant ||r||^2
                # gather_rows: a memory-mapped x would otherwise stay resident, cell after cell
                dist = (g ** 2).sum(1)[None] - 2 * (gather_rows(x, r) - self.centroids_[i]) @ g.T
                sub[r] = np.argmin(dist, axis=1)
        return sub

    def _offset_vectors(self, i: int) -> np.ndarray:
        """``g_l`` of cell i, what residuals are taken relative to beyond ``c_i``: (L, d) float32."""
        if self.residual == "centroid":
            return np.zeros((self.L, self.centroids_.shape[1]), dtype=np.float32)
        return (self.alpha_[i] * self._directions(i)).astype(np.float32)

    def _residual_reference(self, ids, assign, key=None):
        """``c_i + g_l`` of rows ``ids`` (``key``: their groups ``cell * L + l``); ``c_i`` with
        ``residual="centroid"``."""
        ref = self.centroids_[assign[ids]].copy()
        if self.residual == "subcentroid":
            a = assign[ids]
            u = self.centroids_[self.neighbors_[a, key[ids] - a * self.L]] - ref
            ref += self.alpha_[a][:, None] * u
        return ref

    def _fit(self, x, labels):
        """``train(x)``: :meth:`IVFIndex._fit <dscref.index.ivf.IVFIndex._fit>` -- cluster ``x``
        (n, d) float32 into K cells, draw the training sample -- with the grouping learnt on the
        sample (:meth:`_fit_groups`) and the residual quantizers trained on residuals to the
        sub-centroids (:meth:`_gather_residuals`). ``labels`` is ignored (DUC is unsupervised).

        Everything learnt (centroids, neighbours, ``alpha_``, the PQ) comes from the training
        rows; the sub-region of an item is a function of the trained model and the item alone,
        so :meth:`add` computes it for the new rows only.
        """
        out = super()._fit(x, labels)
        log.info("G+P: %d cells x %d sub-regions, alpha mean %.3f (global %.3f)",
                 self.n_lists, self.L, float(self.alpha_.mean()), self.alpha_global_)
        return out

    def _fit_groups(self, x, assign, sample):
        """The neighbour table of the centroids and alpha, least squares on the drawn rows."""
        self.neighbors_ = self._nearest_centroids()
        self._fit_alpha(gather_rows(x, sample), assign[sample])

    def _groups(self, x, assign):
        """Cell and sub-region key ``cell * L + l`` of every row."""
        return assign * self.L + self._subregions(x, assign)

    def _codebook_arrays(self) -> list:
        """IVF's (centroids, residual codebooks), the neighbour table and the alphas."""
        return super()._codebook_arrays() + [self.neighbors_, self.alpha_]

    def _gather_residuals(self, x, rows, assign, key=None):
        """Residuals of rows ``rows`` to their sub-centroids (:meth:`_residual_reference`)."""
        return gather_rows(x, rows) - self._residual_reference(rows, assign, key)

    # groups are the sub-regions: rows sorted by (cell, sub-region, id)
    _item_arrays = ("ids_", "codes_", "db_norm2_", "gr_")

    def _n_groups(self) -> int:
        return self.n_lists * self.L

    def _group_offsets(self) -> np.ndarray:
        return self.sub_offsets_

    def _store_groups(self, offsets, items):
        self.sub_offsets_ = offsets
        super()._store_groups(np.ascontiguousarray(offsets[::self.L]), items)

    def _item_tables(self, codes, offsets):
        """Base tables, then the per-item terms of the grouping: ``2 <r_d, g_l>`` (L2) and
        ``||d_hat||²`` (cosine), from the decoded residuals
        (:func:`dscref.index.tables.subregion_item_terms`). ``offsets`` (K*L + 1,) are the
        sub-region offsets of ``codes``."""
        L = self.L
        cells = np.ascontiguousarray(offsets[::L])
        out = super()._item_tables(codes, cells)
        out["gr_"] = gr = np.zeros(codes.shape[0], dtype=np.float32)
        if self.residual == "centroid":
            return out  # g_l = 0: the base tables are already exact
        db_norm2 = out["db_norm2_"]
        for i in range(self.n_lists):
            a, b = cells[i], cells[i + 1]
            if a == b:
                continue
            g = self._offset_vectors(i)
            sub = np.repeat(np.arange(L), np.diff(offsets[i * L:(i + 1) * L + 1]))
            for s in range(a, b, _CHUNK):
                e = min(b, s + _CHUNK)
                gr[s:e], db_norm2[s:e] = tables.subregion_item_terms(
                    self.centroids_[i], g[sub[s - a:e - a]], self.pqs_[self.list_pq_[i]].decode(codes[s:e]))
        return out

    def _check_state(self) -> None:
        """IVF's checks (K cells, the quantizer options, the coarse quantizer), then the
        grouping: neighbour table, alphas, sub-region offsets nested in the cells' offsets,
        per-item terms, pruning rule."""
        super()._check_state()
        K = self.n_lists
        L = _state.integer(self, "L", low=1, high=K - 1)
        _state.choice(self, "alpha_mode", {"cell", "global"})
        _state.choice(self, "residual", {"subcentroid", "centroid"})
        _check_prune(_state.attr(self, "_prune"))
        nb = _state.array(self, "neighbors_", np.int64, (K, L))
        _state.bounded(nb, "neighbors_", 0, K)
        _state.need(not (nb == np.arange(K)[:, None]).any(), "neighbors_ names a cell as its own neighbour")
        _state.finite(_state.array(self, "alpha_", np.float32, (K,)), "alpha_")
        _state.real(self, "alpha_global_")
        sub = _state.array(self, "sub_offsets_", np.int64, (K * L + 1,))
        _state.offsets(sub, "sub_offsets_", self.ntotal)
        _state.need(bool((sub[::L] == self.offsets_).all()),
                    "sub_offsets_ do not split the lists of offsets_ (sub_offsets_[i*L] != offsets_[i])")
        _state.finite(_state.array(self, "gr_", np.float32, (self.ntotal,)), "gr_")

    # ------------------------------------------------------------------ search
    def query_candidates(self, query: Query) -> np.ndarray:
        """Ids of the sub-regions that survive pruning for ``query`` (what :meth:`search` scans)."""
        self._check_built()
        kept = self._kept_subregions(self._validate_query(query))
        return np.concatenate([self.ids_[a:b] for _, _, a, b, _, _ in kept]) if kept else np.empty(0, np.int64)

    def _kept_subregions(self, query: Query) -> list:
        """The sub-regions of the head cells that survive pruning (see ``prune``), in scan order
        (head entry, then sub-region): ``(j, cell, a, b, g_l, r_q)`` per kept sub-region, rows
        ``a:b``, offset ``g_l`` and the query's reconstructed residual ``r_q`` in that cell."""
        L = self.L
        cand = []  # (j, cell, l, prune distance, r_q)
        for j, lab in enumerate(query.labels):
            lab = int(lab)
            if self.offsets_[lab] == self.offsets_[lab + 1]:
                continue
            if query.vector is not None:
                rq = np.asarray(query.vector, dtype=np.float32) - self.centroids_[lab]
            else:
                rq = self.pqs_[self.list_pq_[lab]].decode(np.asarray(query.codes[j])[None])[0]
            u = self._directions(lab)
            pd = ((rq[None].astype(np.float64) - self.alpha_[lab] * u.astype(np.float64)) ** 2).sum(1)
            sizes = np.diff(self.sub_offsets_[lab * L:(lab + 1) * L + 1])
            for l in np.flatnonzero(sizes):
                cand.append((j, lab, int(l), float(pd[l]), rq))
        keep = np.flatnonzero(self._kept(np.array([c[3] for c in cand]))) if cand else []
        return [(j, lab, int(self.sub_offsets_[lab * L + l]), int(self.sub_offsets_[lab * L + l + 1]),
                 self._offset_vectors(lab)[l], rq) for j, lab, l, _, rq in (cand[t] for t in keep)]

    def _segment_constant(self, lab: int, g: np.ndarray, rq: np.ndarray, metric: str) -> float:
        """What a kept sub-region adds to its cell's scores: eq. (14)'s per-sub-region constant
        (L2) or eq. (15)'s extra bias ``<q_hat, g_l>`` (cosine), in float64."""
        if metric == "l2":
            return tables.subregion_l2_const(g, rq)
        return float(np.dot((self.centroids_[lab] + rq).astype(np.float64), g))

    def _engine_segments(self, qs, qptr, plist, pcode, metric):
        """The kept sub-regions of every probe (pruning runs here, per query, in NumPy)."""
        sptr = np.zeros(plist.size + 1, dtype=np.int64)
        seg = [(0, 0, 0.0)]  # (lo, hi, constant); a dummy first row keeps the arrays' shapes
        for r, query in enumerate(qs):
            for j, lab, a, b, g, rq in self._kept_subregions(query):
                sptr[qptr[r] + j + 1] += 1
                seg.append((a, b, self._segment_constant(lab, g, rq, metric)))
        np.cumsum(sptr, out=sptr)
        lo, hi, add = (np.array(c[1:], dtype=t) for c, t in zip(zip(*seg), (np.int64, np.int64, np.float64)))
        return sptr, lo, hi, add, _engine.range_sums(hi - lo, sptr)

    def _scan(self, query: Query, metric: str):
        """Score the kept sub-regions of the head cells (see ``prune``): eqs. (14)-(15) with the
        sub-region terms of :mod:`dscref.index.tables` (the engine's NumPy twin)."""
        scores, ids = [], []
        rows = {}  # head entry j -> its table rows, computed once for all its kept sub-cells
        for j, lab, a, b, g, rq in self._kept_subregions(query):
            ids.append(self.ids_[a:b])
            if query.vector is not None:
                scores.append(self._raw_scores(query, a, b, metric))
                continue
            if j not in rows:
                rows[j] = self._probe_tables(query, j, lab)
            sdc, lut, bias, qn2 = rows[j]
            add = self._segment_constant(lab, g, rq, metric)
            if metric == "l2":
                scores.append(tables.subregion_l2_scores(sdc, self.codes_[a:b], self.gr_[a:b], add))
            else:
                scores.append(self._cosine(lut, bias + add, qn2, a, b, self.list_pq_[lab]))
        if not scores:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        return np.concatenate(scores).astype(np.float32), np.concatenate(ids)

    def _kept(self, dist: np.ndarray) -> np.ndarray:
        """Boolean mask of the sub-regions to scan, from their distances to the query."""
        if self.prune is None:
            return np.ones(dist.size, dtype=bool)
        if self.prune == "mean":
            # the reference code keeps dist < mean; we also always keep the nearest sub-region
            # (all distances equal would otherwise prune everything)
            keep = dist < dist.mean()
            keep[np.argmin(dist)] = True
            return keep
        n_keep = int(np.ceil(self.prune * dist.size))
        keep = np.zeros(dist.size, dtype=bool)
        keep[np.argsort(dist, kind="stable")[:n_keep]] = True
        return keep
