"""Fig. 2 of Wang & Qi: candidate recall vs code-head size, per index.

The smallest head size reaching the target recall is compared with the paper's
(:data:`dscref.experiments.paper.PAPER_FIG2`: 5 for DSC, 30 for DUC-IVF on Oxford5k).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..metrics import candidate_recall
from .data import RetrievalData
from .evaluate import build_index, head_labels
from .paper import PAPER_FIG2

__all__ = ["fig2"]

log = logging.getLogger(__name__)


def fig2(data: RetrievalData, *, head_sizes=(1, 2, 3, 5, 10, 20, 30, 50, 100, 200), seed: int = 0,
         kinds=("dsc", "ivf", "imi", "gp"), indexes: dict | None = None, target: float = 0.9) -> dict:
    """Fig. 2: candidate recall vs code-head size for each index, and the smallest head size
    reaching ``target`` recall (the paper: 5 for DSC, 30 for DUC-IVF on Oxford5k).

    Recall is measured on every item of the lists the head names. For IVF+G+P that is before
    its query-dependent pruning of sub-regions (so its curve equals IVF's, both having the same
    k-means cells); Table I reports G+P's recall after pruning.
    """
    t_start = time.perf_counter()
    indexes = {} if indexes is None else indexes
    head_sizes = sorted({int(h) for h in head_sizes})
    curves, needed = {}, {}
    for kind in kinds:
        if kind not in indexes:
            indexes[kind], _ = build_index(kind, data, seed=seed)
        index = indexes[kind]
        limit = data.ranking_q.shape[1] if kind == "dsc" else index.n_lists
        hs = [h for h in head_sizes if h <= limit]
        rec = []
        for h in hs:
            cands = [index.candidate_ids(head_labels(index, kind, data, qi, h)) for qi in range(len(data.xq))]
            rec.append(float(candidate_recall(cands, data.gnd)))
        curves[kind] = {"head_sizes": hs, "recall": rec}
        reach = [h for h, r in zip(hs, rec) if r >= target]
        needed[kind] = reach[0] if reach else None
        log.info("Fig. 2 %s: %s", kind, dict(zip(hs, np.round(rec, 3))))
    return {"experiment": "fig2", "curves": curves, "head_size_for_target": needed, "target": target,
            "paper_head_size_for_90pct": PAPER_FIG2, "total_s": time.perf_counter() - t_start}
