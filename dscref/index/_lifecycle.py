"""The faiss-style life cycle shared by every index: ``train``, ``add``, ``reset``, ``build``.

``train(x)`` fits the model (list centroids, residual quantizers, ...) and leaves an empty,
searchable index; ``add(x)`` appends items with ids ``ntotal .. ntotal + n - 1`` (as faiss
does); ``reset()`` removes every item and keeps the model; ``build(x)`` is
``reset() + train(x) + add(x)``. ``d``, ``ntotal``, ``is_trained``, ``codebook_bytes`` and
``own_pq_lists`` describe the state and ``repr`` shows it.

Inverted lists stay contiguous: the items of *group* ``g`` (a list; for IVF+G+P a sub-region of
a list) are rows ``offsets[g]:offsets[g + 1]`` of ``ids_``, ``codes_`` and the per-item tables,
ids ascending inside a group. Appending merges the new rows into every group after the old
ones (:func:`merge_groups`, one O(ntotal + n) pass), which is exactly the layout a single
build of the concatenated data produces: ``train(x); add(x[:a]); add(x[a:])`` stores the same
arrays as ``build(x)``.

Subclasses provide ``_fit`` (learn the model, return the assignment of the training rows),
``_prepare_rows`` (the assignment of new rows), if needed ``_check_fit_input`` and, for groups
finer than lists, ``_n_groups`` / ``_group_offsets`` / ``_store_groups`` / ``_item_tables`` /
``_residual_reference``. The helpers every builder shares (validated input, residual PQ
training, encoding rows in chunks) are here too.
"""

from __future__ import annotations

import numpy as np

from .._chunks import CHUNK_ROWS, gather_residuals, gather_rows
from .._validate import as_float_matrix
from ..errors import ReadOnlyIndexError
from ..pq import ProductQuantizer

__all__ = ["IndexLifecycle", "merge_groups"]


def merge_groups(old_offsets: np.ndarray, new_counts: np.ndarray, old_items: dict, new_items: dict):
    """Merge new rows into grouped rows, each group keeping its old rows first.

    Parameters
    ----------
    old_offsets : ndarray (G + 1,) int64
        Group ``g`` of the old rows is ``old_offsets[g]:old_offsets[g + 1]``.
    new_counts : ndarray (G,) int64
        Rows per group of the new rows, which are sorted by group.
    old_items, new_items : dict name -> ndarray
        Row-aligned arrays (first axis = rows) of the old and the new rows, same names.

    Returns
    -------
    (offsets (G + 1,) int64, dict name -> merged ndarray). With no old rows the new arrays are
    returned as they are.
    """
    old_offsets = np.asarray(old_offsets, dtype=np.int64)
    new_offsets = np.concatenate([[0], np.cumsum(new_counts)]).astype(np.int64)
    merged = old_offsets + new_offsets
    n_old, n_new = int(old_offsets[-1]), int(new_offsets[-1])
    if n_old == 0:
        return merged, dict(new_items)
    # old row t of group g moves up by the new rows of the groups before g; new row r (sorted)
    # of group g lands after all old rows of groups <= g
    pos_old = np.arange(n_old, dtype=np.int64) + np.repeat(new_offsets[:-1], np.diff(old_offsets))
    pos_new = np.arange(n_new, dtype=np.int64) + np.repeat(old_offsets[1:], new_counts)
    out = {}
    for name, b in new_items.items():
        m = np.empty((n_old + n_new,) + b.shape[1:], dtype=b.dtype)
        m[pos_old] = old_items[name]
        m[pos_new] = b
        out[name] = m
    return merged, out


class IndexLifecycle:
    """Mixin of :class:`~dscref.index.base.InvertedPQIndex`: train / add / reset / build."""

    _item_arrays = ("ids_", "codes_", "db_norm2_")  # row-aligned arrays, in list order

    # ------------------------------------------------------------------ state
    @property
    def d(self) -> int | None:
        """Vector dimension (None before training)."""
        return vars(self).get("d_")

    @property
    def is_trained(self) -> bool:
        """Whether the model (centroids and quantizers) is fitted: :meth:`add` may be called."""
        return "pqs_" in vars(self)

    @property
    def codebook_bytes(self) -> int:
        """Bytes of the trained tables a server holds to search, the database codes aside: the
        list centroids and every residual quantizer's codebooks (:meth:`_codebook_arrays`:
        IVF+G+P adds its neighbour table and alphas; the multi-index counts its two half
        codebooks, of which its K² cell centroids are the pairs; the flat PQ its codebooks only).
        The lookup tables derived from these at training time (``cr_``, ``cnorm2_``,
        ``sub_norm2_``: a few MiB at K = 1000) are not counted. ValueError before training."""
        self._check_trained()
        return int(sum(a.nbytes for a in self._codebook_arrays()))

    def _codebook_arrays(self) -> list:
        """The arrays :attr:`codebook_bytes` counts (default: ``centroids_`` and every
        quantizer's ``codebooks_``)."""
        return [self.centroids_] + [pq.codebooks_ for pq in self.pqs_]

    @property
    def own_pq_lists(self) -> np.ndarray:
        """The lists with a residual quantizer of their own, ascending int64 (``list_pq_[i] > 0``;
        the shared quantizer is ``pqs_[0]``, see :mod:`dscref.index._quantizers`). ValueError
        before training."""
        self._check_trained()
        return np.flatnonzero(self.list_pq_ > 0).astype(np.int64)

    def _read_only(self) -> bool:
        """Whether the model arrays are read-only (an index loaded with ``mmap=True``)."""
        c = vars(self).get("centroids_")
        return isinstance(c, np.ndarray) and not c.flags.writeable

    def __repr__(self) -> str:
        lists = self.n_lists if "centroids_" in vars(self) else self._planned_lists()
        state = f"d={self.d}, ntotal={getattr(self, 'ntotal', 0)}, trained" if self.is_trained \
            else "ntotal=0, not trained"
        mapped = ", memory-mapped" if self._read_only() else ""
        return f"{type(self).__name__}(n_lists={lists}, M={self.M}, nbits={self.nbits}, {state}{mapped})"

    def _planned_lists(self) -> int:
        """The list count of the constructor (the lists exist only after training)."""
        return vars(self).get("_n_lists", 1)

    def _check_trained(self) -> None:
        if not self.is_trained:
            raise ValueError(f"this {type(self).__name__} is not trained yet: call train(...) or build(...) first")

    def _check_trainable(self, items: bool = True) -> None:
        name = type(self).__name__
        if self._read_only():
            raise ReadOnlyIndexError(f"this {name} is memory-mapped (load_index(..., mmap=True)), its model is "
                             f"read-only: train or build a new index, or load it with mmap=False")
        n = getattr(self, "ntotal", 0)
        if items and n:
            raise ValueError(f"this {name} holds ntotal={n} items encoded with its current model: call "
                             f"reset() before train(...), or build(...), which resets")

    # ------------------------------------------------------------------ public API
    def train(self, x, labels=None):
        """Learn the model from ``x`` (n, d) float32 (and ``labels`` for DSC); the index is then
        empty (``ntotal = 0``), searchable, and :meth:`add` appends to it.

        Raises ValueError if the index holds items (call :meth:`reset` first) or is
        memory-mapped. A training that fails leaves the index untrained.
        """
        self._check_trainable()
        x, labels = self._check_fit_input(x, labels)
        self._train_checked(x, labels)
        return self

    def add(self, x, labels=None):
        """Encode the rows of ``x`` (n, d) float32 with the trained model and append them: their
        ids are ``ntotal .. ntotal + n - 1``. ``labels`` (n,) int: the partition of every row
        (DSC only; the unsupervised indices ignore it).

        On a memory-mapped index the per-item arrays (``ids_``, ``codes_``, ``db_norm2_``...)
        are rebuilt in memory (ntotal + n rows); the model stays mapped. With
        ``keep_vectors=True`` the first ``add`` keeps a reference to ``x``, later ones
        concatenate (a copy).
        """
        x, labels = self._check_add_input(x, labels)
        if x.shape[0]:
            self._append(x, self._prepare_rows(x, labels))
        return self

    def reset(self):
        """Remove every item (``ntotal = 0``); the trained model is kept."""
        if self.is_trained:
            self._store_groups(np.zeros(self._n_groups() + 1, dtype=np.int64), self._empty_items())
        else:
            for name in ("offsets_",) + self._item_arrays:
                vars(self).pop(name, None)
        self.ntotal = 0
        self._xb = None
        return self

    def build(self, x, labels=None):
        """``reset()``, ``train(x, labels)`` and ``add(x, labels)``: ids ``0 .. n - 1``."""
        x, labels = self._check_fit_input(x, labels)
        self._check_trainable(items=False)
        self.reset()
        self._append(x, self._train_checked(x, labels))
        return self

    # ------------------------------------------------------------------ machinery
    def _train_checked(self, x: np.ndarray, labels):
        """Fit on validated input, prepare the per-list tables, empty the lists. Returns what
        :meth:`_prepare_rows` would return for ``x`` (so :meth:`build` does not recompute it)."""
        self._forget_training()
        try:
            prep = self._fit(x, labels)
            self.d_ = int(x.shape[1])
            self._prepare_list_tables()
            self.reset()
        except BaseException:
            self._forget_training()
            raise
        return prep

    def _forget_training(self) -> None:
        """Drop every fitted attribute (names ending in ``_``) and every item."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        self.ntotal = 0
        self._xb = None

    def _check_add_input(self, x, labels):
        self._check_trained()
        x = as_float_matrix(x, "x", allow_empty=True)
        if x.shape[1] != self.d_:
            raise ValueError(f"x has d={x.shape[1]} columns but this {type(self).__name__} was trained "
                             f"with d={self.d_}")
        return x, labels

    def _empty_items(self) -> dict:
        codes = np.empty((0, self.M), dtype=self.pqs_[0].code_dtype)
        return {"ids_": np.empty(0, dtype=np.int64), "codes_": codes,
                **self._item_tables(codes, np.zeros(self._n_groups() + 1, dtype=np.int64))}

    def _append(self, x: np.ndarray, prep) -> None:
        """Encode rows ``x`` with assignment ``prep = (lists, groups)`` and merge them in."""
        assign, key = prep
        n_old = int(self.ntotal)
        if n_old and int(self.ids_.max()) >= n_old:
            raise ValueError(f"this {type(self).__name__} holds ids up to {int(self.ids_.max())} >= ntotal={n_old} "
                             f"(a shard of a sharded build?): the ids ntotal.. of an add would collide")
        order = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=self._n_groups())
        codes = self._encode_rows(x, order, assign, key)
        new = {"ids_": order.astype(np.int64) + n_old, "codes_": codes,
               **self._item_tables(codes, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))}
        offsets, items = merge_groups(self._group_offsets(), counts, {k: getattr(self, k) for k in new}, new)
        self._store_groups(offsets, items)
        self.ntotal = n_old + int(x.shape[0])
        if not self.keep_vectors:
            self._xb = None
        elif n_old == 0:
            self._xb = x
        elif self._xb is not None:
            self._xb = np.concatenate([self._xb, x])

    def _n_groups(self) -> int:
        return self.n_lists

    def _group_offsets(self) -> np.ndarray:
        return self.offsets_

    def _store_groups(self, offsets: np.ndarray, items: dict) -> None:
        self.offsets_ = offsets
        for name, a in items.items():
            setattr(self, name, a)

    def _prepare_tables(self) -> None:
        """Per-list tables, then the per-item ones of the stored items (see
        :meth:`_prepare_list_tables` and :meth:`_item_tables`)."""
        self._prepare_list_tables()
        for name, a in self._item_tables(self.codes_, self._group_offsets()).items():
            setattr(self, name, a)

    # ------------------------------------------------------------------ helpers for builders
    def _check_build_input(self, x) -> np.ndarray:
        x = as_float_matrix(x, "x")
        if x.shape[1] % self.M:
            raise ValueError(f"d={x.shape[1]} is not divisible by M={self.M}")
        return x

    def _check_fit_input(self, x, labels):
        """Validated ``(x, labels)`` for :meth:`train` / :meth:`build` (labels: DSC only)."""
        return self._check_build_input(x), None

    def _train_pq(self, residuals: np.ndarray, rng) -> ProductQuantizer:
        return ProductQuantizer(self.M, self.nbits, n_iter=self.n_iter, seed=rng).fit(residuals)

    def _train_pq_on_rows(self, x: np.ndarray, rows: np.ndarray, assign: np.ndarray, rng, key=None) -> ProductQuantizer:
        """:meth:`_train_pq` on the residuals of rows ``rows`` of ``x`` (:meth:`_gather_residuals`:
        ``x[rows] - centroids_[assign[rows]]`` by default), gathering only the rows the quantizer
        trains on. ``assign`` (and ``key``, the groups) hold the list of every row of ``x``.

        ProductQuantizer.fit keeps a random ``max_points_per_centroid * ksub`` of its input; the
        same draw, made here from the same generator before the gather, selects the same rows,
        so the result is identical to ``_train_pq(x[rows] - centroids_[assign[rows]], rng)``
        without a full-size temporary for a large list.
        """
        pq = ProductQuantizer(self.M, self.nbits, n_iter=self.n_iter, seed=rng)
        cap = None if pq.max_points_per_centroid is None else pq.max_points_per_centroid * pq.ksub
        if cap is not None and rows.size > cap:
            rows = rows[np.sort(rng.choice(rows.size, cap, replace=False))]
        return pq.fit(self._gather_residuals(x, rows, assign, key))

    def _gather_residuals(self, x: np.ndarray, rows: np.ndarray, assign: np.ndarray, key=None) -> np.ndarray:
        """Residuals (len(rows), d) float32 of rows ``rows`` of ``x`` to their
        :meth:`_residual_reference` (default: ``x[rows] - centroids_[assign[rows]]``, gathered
        chunk by chunk by :func:`dscref._chunks.gather_residuals`)."""
        return gather_residuals(x, rows, self.centroids_, assign[rows])

    def _encode_rows(self, x: np.ndarray, ids: np.ndarray, assign: np.ndarray, key=None) -> np.ndarray:
        """Codes (len(ids), M) of database rows ``ids``: the residual ``x[id] - ref`` (see
        :meth:`_residual_reference`) under the quantizer of the row's list ``assign[id]``
        (``key``: the rows' groups, as :meth:`_prepare_rows` returns them; None: the lists).

        Rows are grouped by quantizer and encoded in chunks of ``CHUNK_ROWS``, which keeps the
        gathered rows and their references small; ``gather_rows`` releases a memory-mapped
        database's pages as it goes. A row's code does not depend on its chunk.
        """
        codes = np.empty((ids.size, self.M), dtype=self.pqs_[0].code_dtype)
        row_pq = self.list_pq_[assign[ids]]
        for p in np.unique(row_pq):
            pos = np.flatnonzero(row_pq == p)
            for s in range(0, pos.size, CHUNK_ROWS):
                r = ids[pos[s:s + CHUNK_ROWS]]
                codes[pos[s:s + CHUNK_ROWS]] = self.pqs_[p].encode(
                    gather_rows(x, r) - self._residual_reference(r, assign, key))
        return codes

    def _residual_reference(self, ids: np.ndarray, assign: np.ndarray, key=None) -> np.ndarray:
        """Vectors (len(ids), d) float32 that database rows ``ids`` are encoded relative to
        (default: their list centroids; ``key`` as in :meth:`_encode_rows`)."""
        return self.centroids_[assign[ids]]
