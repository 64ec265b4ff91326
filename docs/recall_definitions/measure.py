"""Both readings of Table I's "Recall" measured on the synthetic benchmark (<= 20k items).

For every Table I index (raw feature and PQ code, as ``dscref reproduce table1``): the candidate
list recall ("Recall", dscref's reading), the recall of the returned top k for k = 100, 1000,
5000 (R@k, |positives in the top k| / |positives|), and for the exhaustive PQ scan also the
ANN recall of Jégou et al. [15] (the share of queries whose exact nearest neighbour, by the raw
feature, is in the PQ scan's top R) and a "distractor-thinning" check of how R@k moves with the
database size: the same full PQ ranking with 9 of every 10 non-landmark images removed.

Run: python docs/recall_definitions/measure.py [--scale 20k] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dscref import experiments as E
from dscref.index.exact import ExactSearch
from dscref.metrics import candidate_recall, nn_recall_at_k, recall_at_k

KS = (100, 1000, 5000)


def ranks_recall(I: np.ndarray, gnd, keep: np.ndarray | None, ks) -> list[float]:
    """R@k of the rankings I with only the ids where ``keep`` is True (None: all)."""
    if keep is not None:
        I = np.stack([row[keep[row]][: I.shape[1]] for row in I])
    return [float(recall_at_k(I, gnd, k)) for k in ks if k <= I.shape[1]]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="20k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = E.load_data("synthetic", scale=args.scale, seed=args.seed)
    xq = np.asarray(data.xq, np.float32)
    rows = []
    for label, kind, raw in E.TABLE1_ROWS:
        extra = dict(M=64, nbits=5) if kind == "flat" else {}
        index, _ = E.build_index(kind, data, seed=args.seed, keep_vectors=kind != "flat", **extra)
        heads = [E.head_labels(index, kind, data, qi, 5) for qi in range(len(xq))]
        qs = [index.encode_query(xq[qi], top_labels=heads[qi], raw=raw) for qi in range(len(xq))]
        res = index.search(qs, k=max(KS))
        row = {"label": label, "Recall": float(candidate_recall([index.query_candidates(q) for q in qs], data.gnd)),
               **{f"R@{k}": float(recall_at_k(res.I, data.gnd, k)) for k in KS},
               "candidates": float(np.mean(res.n_candidates))}
        if kind == "flat":
            full = index.search(qs, k=data.n).I  # the whole PQ ranking
            exact = ExactSearch(data.xb).search(xq, k=10).I
            row["nn_recall"] = {f"1-R@{r}": float(nn_recall_at_k(full, exact[:, 0], r)) for r in (1, 10, 100, 1000)}
            row["nn_recall"]["10-R@100"] = float(np.mean([np.isin(exact[q], full[q, :100]).mean() for q in range(len(xq))]))
            landmark = np.zeros(data.n, bool)
            for g in data.gnd:
                landmark[g["ok"]] = landmark[g["junk"]] = True
            rng = np.random.default_rng(1)
            keep = landmark | (rng.random(data.n) < 0.1)
            row["thinned"] = {"kept": int(keep.sum()), "ks": [10, 100, 1000],
                              "R@k full": ranks_recall(full, data.gnd, None, (10, 100, 1000)),
                              "R@k thinned": ranks_recall(full, data.gnd, keep, (10, 100, 1000))}
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
        del index
    doc = {"scale": args.scale, "seed": args.seed, "n_db": int(data.n), "n_queries": int(len(xq)),
           "data": data.name, "rows": rows, "total_s": time.perf_counter() - t0}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return doc


if __name__ == "__main__":
    main()
