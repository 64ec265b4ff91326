"""Measured properties of a generated dataset beside their targets (``SemanticDataset.stats``):
mean cosines per pair type, classifier accuracies, sizes.
"""

from __future__ import annotations

import numpy as np

from .params import STREAM_STATS, stream_rng
from .plan import SyntheticPlan

__all__ = ["measure"]


def _pair_stats(plan: SyntheticPlan, qi, bi, measured: float, xq, xb) -> dict:
    """Query-photo pairs of one landmark: the model's expected cosine (``sim_same_class + b_q b
    ((1 - om) + om [same view]) s^2`` per pair, averaged), the measured mean, and the measured
    5 / 50 / 95 % quantiles (the "band" of matching similarities)."""
    out = {"target": float("nan"), "measured": measured, "pairs": len(qi)}
    if not len(qi):
        return out
    p, lm = plan.p, plan.landmarks
    qi, bi = np.asarray(qi, dtype=np.int64), np.asarray(bi, dtype=np.int64)
    where = np.full(p["n_db"], -1, dtype=np.int64)
    where[plan.land_rows] = np.arange(plan.land_rows.size)
    j = where[bi]
    om, s2 = p["viewpoint_share"], plan.w["instance"] ** 2
    share = (1.0 - om) + om * (lm.view_q[qi] == lm.view[j])
    out["target"] = float(np.mean(p["sim_same_class"] + lm.beta_q[qi] * lm.beta[j] * share * s2))
    o = np.argsort(bi, kind="stable")
    c = np.einsum("ij,ij->i", np.asarray(xq[qi[o]], dtype=np.float64), np.asarray(xb[bi[o]], dtype=np.float64))
    out["quantiles_5_50_95"] = [float(v) for v in np.quantile(c, [0.05, 0.5, 0.95])]
    return out


def measure(plan: SyntheticPlan, xb, xq, gnd) -> dict:
    """``SemanticDataset.stats``: mean cosines of sampled pairs of each type (from the stats
    stream, so measuring never shifts the data), classifier accuracies and sizes, each beside
    its target. ``xb`` may be a memory map (pairs are read in row order)."""
    p, hier = plan.p, plan.hier
    rng = stream_rng(p["seed"], STREAM_STATS)
    n_pairs = p["stats_pairs"]
    stats = {}

    def cos(i, j, left=None):
        left = xb if left is None else left
        if len(i) == 0:
            return float("nan")
        a = np.asarray(left[np.asarray(i)], dtype=np.float64)
        b = np.asarray(xb[np.asarray(j)], dtype=np.float64)
        return float(np.mean(np.sum(a * b, axis=1)))

    # matching pairs (query, ok) and (query, junk)
    qi, oi, qj, ji = [], [], [], []
    for q, g in enumerate(gnd):
        ok = rng.permutation(g["ok"])[:max(1, n_pairs // max(len(gnd), 1))]
        qi += [q] * ok.size
        oi += ok.tolist()
        jk = rng.permutation(g["junk"])[:max(1, n_pairs // max(len(gnd), 1))]
        qj += [q] * jk.size
        ji += jk.tolist()
    dist = np.flatnonzero(plan.kind_b == 0)
    pairs = {"same_class": ([], []), "same_superclass": ([], []), "unrelated": ([], [])}
    if dist.size >= 2 and n_pairs:
        by_class = dist[np.argsort(plan.class_b[dist], kind="stable")]
        cls_sorted = plan.class_b[by_class]
        sup_sorted = hier.sup_of[cls_sorted]
        by_sup = by_class  # classes are contiguous inside superclasses, so this is also sorted by sup
        for _ in range(n_pairs):
            i = dist[rng.integers(dist.size)]
            c, s = plan.class_b[i], hier.sup_of[plan.class_b[i]]
            a, z = np.searchsorted(cls_sorted, c), np.searchsorted(cls_sorted, c, side="right")
            if z - a >= 2:
                j = by_class[rng.integers(a, z)]
                if j != i:
                    pairs["same_class"][0].append(i)
                    pairs["same_class"][1].append(j)
            a2, z2 = np.searchsorted(sup_sorted, s), np.searchsorted(sup_sorted, s, side="right")
            if (z2 - a2) > (z - a):
                j = by_sup[rng.integers(a2, z2)]
                if plan.class_b[j] != c:
                    pairs["same_superclass"][0].append(i)
                    pairs["same_superclass"][1].append(j)
            j = dist[rng.integers(dist.size)]
            if hier.sup_of[plan.class_b[j]] != s:
                pairs["unrelated"][0].append(i)
                pairs["unrelated"][1].append(j)

    def sort_pairs(i, j):  # read memory maps in order
        o = np.argsort(i, kind="stable")
        return np.asarray(i, dtype=np.int64)[o], np.asarray(j, dtype=np.int64)[o]

    stats["cosine"] = {
        "match": _pair_stats(plan, qi, oi, cos(qi, oi, xq), xq, xb),
        "junk": _pair_stats(plan, qj, ji, cos(qj, ji, xq), xq, xb),
    }
    for key, target in (("same_class", "sim_same_class"), ("same_superclass", "sim_same_superclass"),
                        ("unrelated", "sim_unrelated")):
        i, j = sort_pairs(*pairs[key])
        stats["cosine"][key] = {"target": p[target], "measured": cos(i, j), "pairs": int(i.size)}

    class_q = plan.class_q
    lm = plan.landmarks
    t5 = plan.top5_land
    same_view = lm.view[:, None] == lm.view[None, :]
    np.fill_diagonal(same_view, False)
    a, b = np.nonzero(same_view)
    stats["landmarks"] = {
        "viewpoints_per_landmark": lm.n_views.tolist(),
        "visibility_ok_mean": float(lm.beta[~lm.is_junk].mean()),
        # label consistency of two photos from one viewpoint: the quantity fitted to the real
        # classifier's top-1 survival under view changes (docs/calibration/label_consistency.json)
        "same_view_top1_equal": float(np.mean(t5[a, 0] == t5[b, 0])) if a.size else float("nan"),
        "same_view_top1_in_top5": float(np.mean((t5[b] == t5[a, :1]).any(axis=1))) if a.size else float("nan"),
    }
    stats["classifier"] = {
        "top1_target": p["top1_acc"], "top5_target": p["top5_acc"],
        "top1_db": float(plan.top1_ok_b.mean()), "top5_db": float(plan.top5_ok_b.mean()),
        "top1_queries": float(np.mean(plan.topk_q[:, 0] == class_q)),
        "top5_queries": float(np.mean((plan.topk_q == class_q[:, None]).any(axis=1))),
        "calibrated_peak": plan.cal["peak"], "calibrated_confusion": plan.cal["confusion"],
        "calibration_top1": plan.cal["top1"], "calibration_top5": plan.cal["top5"],
        # diagnostic, not a target: share of positives whose own top-1 is in their query's top-5
        "positives_label_in_query_top5": float(np.mean(np.concatenate(
            [np.isin(plan.labels_b[g["ok"]], plan.topk_q[q]) for q, g in enumerate(gnd)]))),
    }
    wrong = plan.labels_b != plan.class_b
    stats["classifier"]["errors_within_superclass"] = float(np.mean(
        hier.sup_of[plan.labels_b[wrong]] == hier.sup_of[plan.class_b[wrong]])) if wrong.any() else float("nan")
    counts = np.bincount(plan.class_b[dist], minlength=hier.K) if dist.size else np.zeros(hier.K, int)
    stats["sizes"] = {
        "n_db": p["n_db"], "n_queries": int(xq.shape[0]), "n_distractors": int(dist.size),
        "positives_per_instance": plan.n_ok.tolist(), "junk_per_instance": plan.n_junk.tolist(),
        "distractors_per_class_min_median_max": [int(counts.min()), float(np.median(counts)), int(counts.max())],
        "distractors_in_scene_classes": float(np.isin(plan.class_b[dist], plan.scene).mean()) if dist.size else 0.0,
        "partition_sizes_max": int(np.bincount(plan.labels_b, minlength=hier.K).max()),
    }
    return stats
