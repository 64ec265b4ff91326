"""Build an index on the experiments' data and measure it: Table I's numbers for one index.

:func:`build_index` builds ``make_index(kind, ...)`` on a :class:`~dscref.experiments.data.RetrievalData`;
:func:`head_labels` is a query's code head (the classifier's ranking for DSC, the nearest lists
for the DUC indices); :func:`evaluate` sends every query through the error-free
:class:`~dscref.link.Link` (encode -> bytes -> decode) and searches, returning mAP, candidate
recall, the recall of the returned top k, R@1/10/100, candidates scanned, bytes sent and query
time. The two recalls are the two readings of the paper's "Recall" column
(``docs/recall_definitions.md``).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..codec import PayloadLayout
from ..index.factory import INDEX_NAMES, make_index
from ..link import Link
from ..metrics import candidate_recall, compute_map, recall_at_k
from .data import RetrievalData

__all__ = ["build_index", "head_labels", "evaluate"]

log = logging.getLogger(__name__)


def build_index(kind: str, data: RetrievalData, **kw):
    """Build ``make_index(kind, ...)`` on ``data``; returns (index, seconds)."""
    n_lists = kw.pop("n_lists", data.n_lists)
    index = make_index(kind, n_lists, **kw)
    t0 = time.perf_counter()
    index.build(data.xb, data.labels_b)
    dt = time.perf_counter() - t0
    log.info("built %s on %d items in %.1f s", INDEX_NAMES[kind], data.n, dt)
    return index, dt


def head_labels(index, kind: str, data: RetrievalData, qi: int, head_size: int) -> np.ndarray:
    """The code head of query ``qi``: DSC takes the classifier's ranked labels (eq. 11), DUC
    indices the lists nearest to the feature."""
    if kind == "dsc":
        return data.ranking_q[qi, :head_size]
    if kind == "flat":
        return np.zeros(1, np.int64)
    return index.head(np.asarray(data.xq[qi], dtype=np.float32), head_size)


def evaluate(index, kind: str, data: RetrievalData, *, head_size: int = 5, raw: bool = False,
             metric: str = "l2", k: int = 1000, through_codec: bool = True) -> dict:
    """Table I's numbers for one index: mAP, Recall, Recall@k, R@1/10/100, candidates, bytes,
    ms/query.

    "Recall" is the share of each query's positives inside its candidate list (the items the
    index scans: 1 for an exhaustive scan); ``f"Recall@{k}"`` the share inside the ``k`` items
    returned (:func:`dscref.metrics.recall_at_k` at the search depth ``k``, default 1000).
    Queries go through the payload codec (an error-free :class:`~dscref.link.Link`: encode ->
    bytes -> decode) unless ``raw``.
    """
    layout = PayloadLayout.for_index(index, head_size=head_size if kind != "flat" else 0)
    link = Link(layout)  # no channel: the codec round trip only
    I = np.full((len(data.xq), max(k, 100)), -1, dtype=np.int64)  # R@100 needs 100 columns
    cands, ncand = [], []
    t_search = 0.0
    for qi in range(len(data.xq)):
        labels = head_labels(index, kind, data, qi, head_size)
        q = index.encode_query(data.xq[qi], top_labels=labels, raw=raw)
        if not raw and through_codec:
            q = link.send(q).queries[0]
        t0 = time.perf_counter()
        res = index.search(q, k=k, metric=metric)
        t_search += time.perf_counter() - t0
        I[qi, :k] = res.I[0]
        ncand.append(int(res.n_candidates[0]))
        cands.append(index.query_candidates(q))
    mAP = compute_map(I, data.gnd)[0]
    head_bytes = layout.head_bytes if kind != "flat" else 0
    return {
        "mAP": float(mAP),
        "Recall": float(candidate_recall(cands, data.gnd)),
        f"Recall@{k}": float(recall_at_k(I, data.gnd, k)),
        "R@1": float(recall_at_k(I, data.gnd, 1)),
        "R@10": float(recall_at_k(I, data.gnd, 10)),
        "R@100": float(recall_at_k(I, data.gnd, 100)),
        "candidates": float(np.mean(ncand)),
        "bytes": int(head_bytes + (data.xb.shape[1] * 4 if raw else layout.nbytes - head_bytes)),
        "head_bytes": int(head_bytes),
        "query_ms": 1e3 * t_search / max(1, len(data.xq)),
    }
