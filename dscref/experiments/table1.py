"""Table I of Wang & Qi: mAP, candidate recall and R@1/10/100 of every index, raw feature or PQ code,
and ablations of the residual quantizers' capacity (not in the paper).

Each row builds (or reuses) one index and measures it with :func:`~dscref.experiments.evaluate.evaluate`;
the paper's rows and values are in :mod:`dscref.experiments.paper`. Every row also reports the
bytes of the index's codebooks (``codebook_bytes``: coarse centroids + residual quantizers) and
how many lists have a quantizer of their own.

The ablation rows (:func:`ablation_rows`) make the PQ rows' comparison fair. DSC+PQ trains one
residual PQ per partition (988 PQs, ~2 GB of codebooks at 1M items), DUC-IVF+PQ one shared PQ
(2 MiB): "DUC-IVF+PQ (per-cell PQ)" gives the k-means cells DSC's rule, "DSC+PQ (shared PQ)"
gives DSC IVF's, and the threshold rows move the small-partition threshold ``min_partition_size``
(default ``2**nbits`` = 256: as many training rows as codewords) of both. Thresholds 1024 and
4096 (4 and 16 training rows per codeword): on the synthetic benchmark 60 / 1 / 0 of the 1000
partitions have 256 / 1024 / 4096 rows or more at 105k items and 988 / 301 / 14 at 1M, so the
two span the range from "almost every partition" down to "almost none" at 1M; below 256 a
quantizer has fewer training rows than codewords (its codewords are copies of training points).
"""

from __future__ import annotations

import logging
import time

from .._chunks import release_pages
from .data import RetrievalData
from .evaluate import build_index, evaluate
from .paper import TABLE1_ROWS

__all__ = ["table1", "ABLATION_THRESHOLDS", "ablation_rows", "variant_key"]

log = logging.getLogger(__name__)

#: the small-partition thresholds of the ablation rows (see the module docstring)
ABLATION_THRESHOLDS = (1024, 4096)


def ablation_rows(thresholds=ABLATION_THRESHOLDS) -> list:
    """Table I's ablation rows, not in the paper: ``(label, index kind, index options)``, the
    options passed to :func:`~dscref.index.make_index` (``pq_per_list``, ``min_partition_size``)."""
    rows = [("DUC-IVF+PQ (per-cell PQ)", "ivf", {"pq_per_list": True})]
    rows += [(f"DUC-IVF+PQ (per-cell PQ, min cell {t})", "ivf", {"pq_per_list": True, "min_partition_size": t})
             for t in thresholds]
    rows += [("DSC+PQ (shared PQ)", "dsc", {"pq_per_list": False})]
    rows += [(f"DSC+PQ (min partition {t})", "dsc", {"min_partition_size": t}) for t in thresholds]
    return rows


def variant_key(kind: str, options: dict) -> str:
    """The key of an index variant in a shared ``indexes`` dict, e.g. ``"dsc[pq_per_list=False]"``
    (the default indices are keyed by their kind alone)."""
    return f"{kind}[{','.join(f'{k}={v}' for k, v in sorted(options.items()))}]" if options else kind


def _capacity(index) -> dict:
    """The row's quantizer capacity: codebook bytes, quantizers, lists with a quantizer of their own."""
    return {"codebook_bytes": int(index.codebook_bytes), "n_quantizers": len(index.pqs_),
            "own_pq_lists": int(index.own_pq_lists.size)}


def table1(data: RetrievalData, *, seed: int = 0, M: int = 8, nbits: int = 8, head_size: int = 5,
           flat_M: int = 64, flat_nbits: int = 5, k: int = 1000, indexes: dict | None = None,
           kinds=("gp", "ivf", "imi", "dsc", "flat"), metric: str = "l2", ablations: bool = True,
           ablation_thresholds=ABLATION_THRESHOLDS) -> dict:
    """Table I: for each row (index, raw 2048-d feature or PQ code, 7-byte head) the mAP, Recall
    (share of the positives in the candidate list), Recall@k (share in the ``k`` returned items,
    ``k`` = the search depth, default 1000; key ``f"Recall@{k}"``, ``k`` in the result), R@1,
    R@10, R@100, plus candidates scanned, bytes sent, query time and codebook bytes.

    The "DUC+PQ" row sends one 40-byte PQ code and no head; 2048 is not divisible by 40, so the
    40 bytes are M=64 sub-codes of 5 bits (``flat_M``, ``flat_nbits``). Other PQ rows send 5 codes
    of M=8 bytes (40 bytes) after the head, as the paper does.

    With ``ablations`` (default) the rows of :func:`ablation_rows` follow the paper's, marked
    ``in_paper: False``, for the kinds in ``kinds``. Each variant is built, evaluated and dropped
    on its own; an index found in ``indexes`` under :func:`variant_key` is used instead, but the
    variants are never added to it (no other experiment uses them, and at 1M items each holds
    ~2 GB of codebooks).
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
                     head=r["head_bytes"] or "-", raw=raw, in_paper=True, **_capacity(idx))
            by_label[label] = r
            log.info("%s: mAP %.3f recall %.3f", label, r["mAP"], r["Recall"])
        if not keep:
            del indexes[kind], idx
            release_pages(data.xb)
    rows = [by_label[label] for label, _, _ in TABLE1_ROWS if label in by_label]
    variants = [v for v in ablation_rows(ablation_thresholds) if v[1] in kinds] if ablations else []
    for label, kind, options in variants:
        key = variant_key(kind, options)
        idx = indexes.get(key)
        if idx is None:
            idx, build_s[key] = build_index(kind, data, seed=seed, keep_vectors=False, M=M, nbits=nbits, **options)
        r = evaluate(idx, kind, data, head_size=head_size, raw=False, metric=metric, k=k)
        r.update(label=label, index=kind, variant=dict(options), M=head_size * idx.M * idx.nbits // 8,
                 head=r["head_bytes"] or "-", raw=False, in_paper=False, **_capacity(idx))
        rows.append(r)
        log.info("%s: mAP %.3f recall %.3f, %d lists with their own PQ, codebooks %.1f MiB", label,
                 r["mAP"], r["Recall"], r["own_pq_lists"], r["codebook_bytes"] / 2**20)
        del idx
        release_pages(data.xb)
    return {"experiment": "table1", "rows": rows, "k": k, "build_s": build_s,
            "ablation_thresholds": list(ablation_thresholds) if ablations else [],
            "total_s": time.perf_counter() - t_start}
