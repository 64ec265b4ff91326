"""Which "Recall" can give the paper's DUC+PQ numbers (0.989 at Oxford105k, 0.798 at Oxford1M)?

A rank model of Table I's exhaustive PQ scan, fitted to the paper's own R@1 / R@10 / R@100 at
105k, then asked: for a returned list of k items, what recall at 105k and at 1M?

Model. Oxford5k's 55 queries, 11 landmarks with their published positive counts. Each positive p
of a query outscores a random non-positive database image with probability 1 - u_p, so
D_p ~ Binomial(N, u_p) non-positive images rank above it (N = 105,000 - 568 or 1,005,000 - 568);
log10 u_p ~ Normal(m, s), one draw per (query, positive); rank of p = D_p + the positives above
it. (m, s) are fitted to the paper's R@1, R@10, R@100 (least squares): once at 105k, with the
1M curve predicted from it (the same u_p, 9.6x as many images: exchangeable distractors), and
once at each scale separately. Then: the k at which each curve reaches the paper's "Recall".
Run: python docs/recall_definitions/rank_model.py [out.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

OK = (78, 25, 12, 24, 78, 9, 54, 7, 54, 6, 221)  # Oxford5k positives per landmark (5 queries each)
PAPER = {"105k": {"R@1": 0.054, "R@10": 0.256, "R@100": 0.646, "Recall": 0.989},
         "1m": {"R@1": 0.030, "R@10": 0.078, "R@100": 0.198, "Recall": 0.798}}
SIZE = {"105k": 105_000, "1m": 1_005_000}
KS = (1, 10, 100, 300, 1000, 2000, 3000, 5000, 10_000, 20_000, 50_000)


def recall_curve(m: float, s: float, n_db: int, ks, seed: int = 0, reps: int = 20) -> np.ndarray:
    """Mean over queries (and ``reps`` draws) of |positives in the top k| / |positives|, per k."""
    rng = np.random.default_rng(seed)
    ks = np.asarray(ks)
    n_neg = n_db - sum(OK)
    out = np.zeros(ks.size)
    for _ in range(reps):
        per_q = []
        for n in OK:
            for _q in range(5):
                u = np.minimum(10.0 ** rng.normal(m, s, n), 1.0)
                d = np.sort(rng.binomial(n_neg, u))
                rank = d + np.arange(n) + 1  # 1-based: the positives above it and the negatives
                per_q.append(np.searchsorted(rank, ks, side="right") / n)
        out += np.mean(per_q, axis=0)
    return out / reps


def fit(scale: str) -> tuple[float, float, float]:
    """(m, s, squared error) fitted to the paper's R@1 / R@10 / R@100 at ``scale``."""
    want = [PAPER[scale][c] for c in ("R@1", "R@10", "R@100")]
    best = (np.inf, 0.0, 0.0)
    for m in np.arange(-7.0, -0.5, 0.1):
        for s in np.arange(0.2, 3.01, 0.1):
            r = recall_curve(m, s, SIZE[scale], (1, 10, 100), reps=2)
            err = float(np.sum((r - want) ** 2))
            if err < best[0]:
                best = (err, float(m), float(s))
    err, m0, s0 = best
    for m in np.arange(m0 - 0.1, m0 + 0.101, 0.02):  # refine
        for s in np.arange(max(0.05, s0 - 0.1), s0 + 0.101, 0.02):
            e = float(np.sum((recall_curve(m, s, SIZE[scale], (1, 10, 100), reps=5) - want) ** 2))
            if e < best[0]:
                best = (e, float(m), float(s))
    return best[1], best[2], best[0]


def k_reaching(m, s, n_db, target) -> int:
    """Smallest k (on a log grid) with modelled recall >= target."""
    grid = np.unique(np.round(np.logspace(0, 6, 400)).astype(int))
    r = recall_curve(m, s, n_db, grid, reps=10)
    hit = np.flatnonzero(r >= target)
    return int(grid[hit[0]]) if hit.size else -1


def main(out=None) -> dict:
    doc = {"paper": PAPER, "k": list(KS), "fits": {}}
    fits = {"105k": fit("105k"), "1m": fit("1m")}
    # curves: fitted at each scale; and the 1M curve predicted from the 105k fit
    curves = {"105k": (fits["105k"], "105k"), "1m (fit at 1m)": (fits["1m"], "1m"),
              "1m (from the 105k fit)": (fits["105k"], "1m")}
    for name, ((m, s, err), scale) in curves.items():
        r = recall_curve(m, s, SIZE[scale], KS)
        doc["fits"][name] = {"log10_u_mean": m, "log10_u_std": s, "fit_sq_error": err if "from" not in name else None,
                             "recall_at_k": [round(float(v), 4) for v in r],
                             "R@1/10/100": [round(float(v), 3) for v in r[:3]],
                             "k_for_paper_recall": k_reaching(m, s, SIZE[scale], PAPER[scale]["Recall"])}
    for name, f in doc["fits"].items():
        print(f"{name:<24} log10 u ~ N({f['log10_u_mean']:.2f}, {f['log10_u_std']:.2f}^2): R@1/10/100 "
              f"{f['R@1/10/100']}, reaches the paper's 'Recall' at k = {f['k_for_paper_recall']}")
    print(f"{'k':>7} " + " ".join(f"{n:>24}" for n in doc["fits"]))
    for i, k in enumerate(KS):
        print(f"{k:>7} " + " ".join(f"{f['recall_at_k'][i]:>24.3f}" for f in doc["fits"].values()))
    for sc in SIZE:
        print(f"paper {sc}: R@1/10/100 {PAPER[sc]['R@1']}/{PAPER[sc]['R@10']}/{PAPER[sc]['R@100']}, 'Recall' {PAPER[sc]['Recall']}")
    if out:
        Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    return doc


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
