"""Table I of Wang & Qi: mAP, candidate recall and R@1/10/100 of every index, raw feature or PQ code.

Each row builds (or reuses) one index and measures it with :func:`~dscref.experiments.evaluate.evaluate`;
the rows and the paper's values are in :mod:`dscref.experiments.paper`.
"""

from __future__ import annotations

import logging
import time

from .._chunks import release_pages
from .data import RetrievalData
from .evaluate import build_index, evaluate
from .paper import TABLE1_ROWS

__all__ = ["table1"]

log = logging.getLogger(__name__)


def table1(data: RetrievalData, *, seed: int = 0, M: int = 8, nbits: int = 8, head_size: int = 5,
           flat_M: int = 64, flat_nbits: int = 5, k: int = 1000, indexes: dict | None = None,
           kinds=("gp", "ivf", "imi", "dsc", "flat"), metric: str = "l2") -> dict:
    """Table I: for each row (index, raw 2048-d feature or PQ code, 7-byte head) the mAP, Recall
    (share of the positives in the candidate list), Recall@k (share in the ``k`` returned items,
    ``k`` = the search depth, default 1000; key ``f"Recall@{k}"``, ``k`` in the result), R@1,
    R@10, R@100, plus candidates scanned, bytes sent and query time.

    The "DUC+PQ" row sends one 40-byte PQ code and no head; 2048 is not divisible by 40, so the
    40 bytes are M=64 sub-codes of 5 bits (``flat_M``, ``flat_nbits``). Other PQ rows send 5 codes
    of M=8 bytes (40 bytes) after the head, as the paper does.
    """
    t_start = time.perf_counter()
    # Without a shared cache, each index is built, evaluated and dropped before the next one, so
    # peak memory is that of the largest index, not of all five (this matters at 1M items).
    keep = indexes is not None
    indexes = {} if indexes is None else indexes
    build_s, by_label = {}, {}
    for kind in kinds:
        if kind not in indexes:
            extra = dict(M=flat_M, nbits=flat_nbits) if kind == "flat" else dict(M=M, nbits=nbits)
            indexes[kind], build_s[kind] = build_index(kind, data, seed=seed, keep_vectors=kind != "flat", **extra)
        idx = indexes[kind]
        for label, row_kind, raw in TABLE1_ROWS:
            if row_kind != kind:
                continue
            r = evaluate(idx, kind, data, head_size=head_size, raw=raw, metric=metric, k=k)
            r.update(label=label, index=kind, M=data.xb.shape[1] if raw else (
                flat_M * flat_nbits // 8 if kind == "flat" else head_size * idx.M * idx.nbits // 8),
                     head=r["head_bytes"] or "-")
            by_label[label] = r
            log.info("%s: mAP %.3f recall %.3f", label, r["mAP"], r["Recall"])
        if not keep:
            del indexes[kind], idx
            release_pages(data.xb)
    rows = [by_label[label] for label, _, _ in TABLE1_ROWS if label in by_label]
    return {"experiment": "table1", "rows": rows, "k": k, "build_s": build_s,
            "total_s": time.perf_counter() - t_start}
