"""Fig. 2 of Wang & Qi: candidate recall vs code-head size, per index, on one data set or on the
paper's three (Oxford5k, Paris6k, Holidays) plus Oxford105k.

The smallest head size reaching the target recall is compared with the paper's
(:data:`dscref.experiments.paper.PAPER_FIG2`: 5 for DSC, 30 for DUC-IVF on Oxford5k).

The curve is computed from list membership, not from candidate id arrays: every database item
sits in exactly one list, so the positives a head of ``h`` lists finds are the positives whose
list is among the head's first ``h`` entries. One head per query at the largest size serves
every smaller size (heads are nested prefixes: the classifier's ranking, the nearest centroids,
the multi-sequence order), so the curve costs one head and one lookup per query and index,
whatever the number of head sizes. The numbers equal those of
:func:`dscref.metrics.candidate_recall` on the lists' items (tested).

Only the lists are needed, so Fig. 2 builds no index it can do without: DSC's lists are the
classifier's top-1 labels of the items (eq. 2: ``labels_b``), and IVF+G+P's cells are IVF's
(:class:`~dscref.index.gp.GPIndex` clusters with IVF's k-means and seed, then splits each cell;
its head is IVF's), so only DUC-IVF and DUC-IMI are built (an index already in ``indexes`` is
used as it is).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from .data import RetrievalData
from .evaluate import build_index, head_labels
from .paper import PAPER_FIG2, PAPER_FIG2_DATASETS, PAPER_SCALES

__all__ = ["fig2", "fig2_paper", "fig2_datasets", "list_of_items", "recall_curve"]

log = logging.getLogger(__name__)

_HEAD_SIZES = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200)
_KINDS = ("dsc", "ivf", "imi", "gp")


def list_of_items(index) -> np.ndarray:
    """The list holding each database id of a built inverted index: ``out[id]`` (int64, ``-1``
    for ids the index does not hold), from its contiguous lists ``ids_`` / ``offsets_``."""
    ids = np.asarray(index.ids_, dtype=np.int64)
    sizes = np.diff(np.asarray(index.offsets_, dtype=np.int64))
    out = np.full(int(ids.max(initial=-1)) + 1, -1, dtype=np.int64)
    out[ids] = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)
    return out


def recall_curve(heads: Sequence[np.ndarray], list_of: np.ndarray, gnd, head_sizes) -> list[float]:
    """Candidate recall (Table I's "Recall") for every head size, from list membership.

    Parameters
    ----------
    heads : sequence of ndarray of int
        Per query, the head at the largest size, best first (distinct list ids).
    list_of : ndarray (n,) int64
        The list of each database id (:func:`list_of_items`); ``-1`` for ids in no list.
    gnd : list of {"ok": ids, ...}
        Ground truth; only ``ok`` counts.
    head_sizes : sequence of int
        The sizes ``h``: the candidate list of size ``h`` is the items of ``heads[q][:h]``.

    Returns
    -------
    list of float
        ``mean_q |ok_q ∩ items(heads[q][:h])| / |ok_q|`` per size, over queries with positives
        (the float arithmetic of :func:`dscref.metrics.candidate_recall`, so the numbers are equal).
    """
    if len(heads) != len(gnd):
        raise ValueError(f"{len(heads)} heads but gnd has {len(gnd)} queries")
    sizes = [int(h) for h in head_sizes]
    per = np.full((len(sizes), len(gnd)), np.nan)
    for q, (head, entry) in enumerate(zip(heads, gnd)):
        ok = np.unique(np.asarray(entry["ok"], dtype=np.int64))
        if not ok.size:
            continue
        head = np.asarray(head, dtype=np.int64)
        # position in the head of each positive's list (len(head): not named, or not indexed)
        lists = np.where(ok < list_of.size, list_of[np.minimum(ok, list_of.size - 1)], -1)
        rank = np.full(ok.size, head.size, dtype=np.int64)
        where = np.full(int(max(head.max(initial=-1), lists.max(initial=-1))) + 1, head.size, np.int64)
        where[head] = np.arange(head.size)
        rank[lists >= 0] = where[lists[lists >= 0]]
        found = np.bincount(rank, minlength=head.size + 1).cumsum()  # positives in the first h lists
        for i, h in enumerate(sizes):
            per[i, q] = (int(found[min(h, head.size) - 1]) if head.size else 0) / ok.size
    valid = ~np.isnan(per[0]) if sizes else np.zeros(0, bool)
    return [float(row[valid].mean()) if valid.any() else float("nan") for row in per]


def fig2(data: RetrievalData, *, head_sizes=_HEAD_SIZES, seed: int = 0, kinds=_KINDS,
         indexes: dict | None = None, target: float = 0.9) -> dict:
    """Fig. 2: candidate recall vs code-head size for each index, and the smallest head size
    reaching ``target`` recall (the paper: 5 for DSC, 30 for DUC-IVF on Oxford5k).

    Recall is measured on every item of the lists the head names. For IVF+G+P that is before
    its query-dependent pruning of sub-regions (so its curve equals IVF's, both having the same
    k-means cells); Table I reports G+P's recall after pruning. Indexes built here are kept in
    ``indexes`` (only DUC-IVF and DUC-IMI are: see the module's docstring).

    Returns a dict with ``curves`` (per kind: ``head_sizes``, ``recall``),
    ``head_size_for_target``, the paper's values, ``data`` (name, size, queries) and timings
    (``build_s`` per index built here, ``recall_s``, ``total_s``).
    """
    t_start = time.perf_counter()
    indexes = {} if indexes is None else indexes
    head_sizes = sorted({int(h) for h in head_sizes})
    curves, needed, build_s = {}, {}, {}
    recall_s = 0.0
    for kind in kinds:
        # the lists: DSC's are the items' labels (eq. 2), G+P's cells are IVF's
        source = "ivf" if kind == "gp" and "gp" not in indexes else kind
        if source not in indexes and kind != "dsc":
            indexes[source], build_s[source] = build_index(source, data, seed=seed)
        index = indexes.get(source)
        t0 = time.perf_counter()
        limit = data.ranking_q.shape[1] if kind == "dsc" else index.n_lists
        hs = [h for h in head_sizes if h <= limit]
        heads = [head_labels(index, source, data, qi, hs[-1]) for qi in range(len(data.xq))] if hs else []
        lists = np.asarray(data.labels_b, dtype=np.int64) if index is None else list_of_items(index)
        rec = recall_curve(heads, lists, data.gnd, hs) if hs else []
        recall_s += time.perf_counter() - t0
        curves[kind] = {"head_sizes": hs, "recall": rec}
        reach = [h for h, r in zip(hs, rec) if r >= target]
        needed[kind] = reach[0] if reach else None
        log.info("Fig. 2 %s: %s", kind, dict(zip(hs, np.round(rec, 3))))
    return {"experiment": "fig2", "curves": curves, "head_size_for_target": needed, "target": target,
            "paper_head_size_for_90pct": PAPER_FIG2,
            "data": {"name": data.name, "n_db": int(data.n), "n_queries": int(len(data.xq))},
            "build_s": build_s, "recall_s": recall_s, "total_s": time.perf_counter() - t_start}


def fig2_paper(load: Callable[[str], RetrievalData], scales: Sequence[str] = PAPER_SCALES, *,
               indexes_of: Callable[[str], dict | None] | None = None, **kw) -> dict:
    """Fig. 2 on each of ``scales`` (default the paper's Oxford5k-, Paris6k- and Holidays-like
    data, then 105k), one data set at a time (each is loaded by ``load(scale)``, measured by
    :func:`fig2` with ``kw``, and dropped before the next). ``indexes_of(scale)`` may return a
    dict in which :func:`fig2` keeps that data set's indexes (to share them with another
    experiment on the same data); by default every index is dropped with its data.

    Returns :func:`fig2_datasets` of the results (one seed; ``dscref reproduce fig2 --scale
    paper`` runs each data set over its seeds and combines them the same way).
    """
    t_start = time.perf_counter()
    if "indexes" in kw:
        raise TypeError("fig2_paper builds the indexes of each data set itself; it takes no indexes=")
    scales = list(scales)
    if not scales:
        raise ValueError("scales is empty: name at least one data set (e.g. 'oxford5k')")
    per = {}
    for scale in scales:
        data = load(scale)
        log.info("Fig. 2 on %s (%s, %d items, %d queries)", scale, data.name, data.n, len(data.xq))
        per[scale] = fig2(data, indexes=indexes_of(scale) if indexes_of else None, **kw)
        del data
    return {**fig2_datasets(per), "total_s": time.perf_counter() - t_start}


def fig2_datasets(per: dict) -> dict:
    """One result of Fig. 2 over several data sets: ``per`` maps a data set (``oxford5k``,
    ``paris6k``, ``holidays``, ``105k`` ...) to its :func:`fig2` result (one seed, or combined
    over seeds). Returns ``{"experiment": "fig2_paper", "datasets": per, "head_size_for_target":
    {kind: {data set: head size}}, "paper_head_size_for_90pct": {kind: {data set: the paper's}},
    "target"}``; the paper's values are :data:`~dscref.experiments.paper.PAPER_FIG2` (None where
    the paper has none)."""
    if not per:
        raise ValueError("per is empty: give the Fig. 2 result of at least one data set")
    first = next(iter(per.values()))
    kinds = list(first["curves"])
    table = {k: {s: r["head_size_for_target"].get(k) for s, r in per.items()} for k in kinds}
    paper = {k: dict(zip(PAPER_FIG2_DATASETS, v)) for k, v in PAPER_FIG2.items()}
    return {"experiment": "fig2_paper", "datasets": dict(per), "head_size_for_target": table,
            "paper_head_size_for_90pct": paper, "target": first["target"]}
