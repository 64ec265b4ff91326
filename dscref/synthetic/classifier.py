"""The simulated ImageNet classifier of the synthetic generator: logit noise (exact order statistics
for the classes outside the superclass), competitors, the calibration of the peak and of the
same-superclass confusion to the target top-1 / top-5 accuracies, and top-k labels.

Internal to :mod:`dscref.synthetic`: inputs come from checked parameters and are trusted.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from .geometry import Hierarchy
from .params import STREAM_CALIBRATION, TOP_K, stream_rng

__all__ = ["order_stats_top", "visibility_sample", "evidence", "calibrate", "predict_independent", "full_logits",
           "topk_labels"]


def order_stats_top(rng: np.random.Generator, n_other: np.ndarray, k: int) -> np.ndarray:
    """The k largest of ``n_other[i]`` iid N(0, 1) values per row, descending (-inf if fewer).

    Exact sampling by the sequential order-statistic recursion on upper-tail probabilities:
    T_1 = 1 - U^(1/n), T_{j+1} = 1 - (1 - T_j) U^(1/(n-j)), value = -ndtri(T).
    """
    n = n_other.astype(np.float64)
    out = np.full((n.size, k), -np.inf)
    log1m_t = np.zeros(n.size)  # log(1 - T_j), T_0 = 0
    for j in range(k):
        remaining = n - j
        ok = remaining >= 1
        u = rng.random(n.size)
        log1m_t = np.where(ok, log1m_t + np.log(u) / np.maximum(remaining, 1.0), log1m_t)
        t = -np.expm1(log1m_t)
        out[ok, j] = -ndtri(t[ok])
    return out


def _classifier_noise(rng: np.random.Generator, classes: np.ndarray, hier: Hierarchy):
    """Noise of images whose logit noise is iid N(0, 1) over classes (independent instances).

    Returns the noise of the superclass members (n, gmax; -inf pads), the column of the true class,
    and the 5 largest noises of the classes outside the superclass (their labels are exchangeable).
    """
    sup = hier.sup_of[classes]
    n = classes.size
    members = rng.standard_normal((n, hier.gmax))
    members[np.arange(hier.gmax)[None, :] >= hier.size[sup][:, None]] = -np.inf
    true_col = classes - hier.start[sup]
    others = order_stats_top(rng, hier.K - hier.size[sup], TOP_K)
    return members, true_col, others


def _competitors(members, true_col, others, confusion: float):
    """Per image: the true-class noise and the competing logits (column 0 the largest, column 4 the
    5th largest; the columns between are not sorted)."""
    n = members.shape[0]
    rows = np.arange(n)
    t = members[rows, true_col].copy()
    sib = members + confusion  # same-superclass confusion mass
    sib[rows, true_col] = -np.inf
    comp = -np.concatenate([sib, others], axis=1)
    comp.partition([0, TOP_K - 1], axis=1)  # only the largest and the 5th largest are needed
    return t, -comp[:, :TOP_K]


def visibility_sample(rng: np.random.Generator, p: dict, n: int) -> np.ndarray:
    """Visible shares of ``n`` ordinary ("ok") photos: ``jv + (1 - jv) * Beta(k mu, k (1 - mu))``
    with ``jv = junk_visibility``, ``k = visibility_concentration`` and ``mu`` chosen so that the
    mean is ``visibility`` (float64, in [jv, 1])."""
    jv, k = p["junk_visibility"], p["visibility_concentration"]
    mu = (p["visibility"] - jv) / (1.0 - jv)
    return jv + (1.0 - jv) * rng.beta(k * mu, k * (1.0 - mu), size=n)


def evidence(p: dict, beta) -> np.ndarray:
    """The classifier's evidence factor of photos with visible shares ``beta``:
    ``1 - clutter_effect * (1 - beta)`` (float64); the true class's logit peak is h times it."""
    return 1.0 - p["clutter_effect"] * (1.0 - np.asarray(beta, dtype=np.float64))


def calibrate(p: dict, hier: Hierarchy, class_p: np.ndarray) -> dict:
    """Find peak h and same-superclass confusion m such that top-1 / top-5 accuracy hit the targets.

    Logits of an image of class c with visible share b: ``h f(b) [j == c] + m [sup(j) == sup(c),
    j != c] + N(0, 1)`` with ``f`` = :func:`evidence` and b drawn from the photos' visibility law
    (:func:`visibility_sample`): the accuracies are those of the photo population, whose
    cluttered photos are misclassified more.
    For a given m, h is the top5-quantile of (5th largest competitor - true noise) / b, which meets
    the top-5 target exactly on the sample; top-1 then decreases with m (stronger siblings steal
    the first place but rarely five places), so m is found by bisection. Common random numbers (one
    seeded sample) make both steps deterministic.
    """
    rng = stream_rng(p["seed"], STREAM_CALIBRATION)
    classes = rng.choice(hier.K, size=p["calibration_samples"], p=class_p)
    members, true_col, others = _classifier_noise(rng, classes, hier)
    beta = evidence(p, visibility_sample(rng, p, classes.size))

    def solve(m):
        t, comp = _competitors(members, true_col, others, m)
        h = float(np.quantile((comp[:, TOP_K - 1] - t) / beta, p["top5_acc"]))
        top1 = float(np.mean(h * beta + t > comp[:, 0]))
        top5 = float(np.mean(h * beta + t > comp[:, TOP_K - 1]))
        return h, top1, top5

    lo = 0.0
    h_lo, top1_lo, _ = solve(lo)
    if top1_lo < p["top1_acc"]:
        raise ValueError(f"top1_acc={p['top1_acc']} is unreachable with top5_acc={p['top5_acc']} and "
                         f"n_classes={hier.K}: even without confusions top-1 is only {top1_lo:.3f}; "
                         "lower top1_acc or raise top5_acc")
    # top-1 falls with m up to a minimum (siblings steal first places), then rises again (once the
    # siblings dominate, h grows to keep the top-5 target and wins first places back): bracket the
    # first crossing on a grid, then bisect on the falling branch
    best, hi = top1_lo, None
    for m in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 30.0):
        top1_m = solve(m)[1]
        if top1_m <= p["top1_acc"]:
            hi = m
            break
        best, lo = min(best, top1_m), m
    if hi is None:
        raise ValueError(f"top1_acc={p['top1_acc']} is unreachable with top5_acc={p['top5_acc']}: "
                         f"same-superclass confusions cannot lower top-1 below {best:.3f} with "
                         f"n_superclasses={hier.S} (superclasses of {hier.gmax} classes or fewer)")
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if solve(mid)[1] > p["top1_acc"]:
            lo = mid
        else:
            hi = mid
    m = 0.5 * (lo + hi)
    h, top1, top5 = solve(m)
    return {"peak": h, "confusion": m, "top1": top1, "top5": top5}


def predict_independent(rng, classes, hier: Hierarchy, cal: dict, beta: np.ndarray):
    """Top-1 label and top-1/top-5 correctness of images with independent logit noise and
    evidence factors ``beta`` (:func:`evidence`)."""
    members, true_col, others = _classifier_noise(rng, classes, hier)
    n = classes.size
    rows = np.arange(n)
    logits = members + cal["confusion"]
    logits[rows, true_col] += cal["peak"] * beta - cal["confusion"]
    best_col = np.argmax(logits, axis=1)
    best = logits[rows, best_col]
    sup = hier.sup_of[classes]
    label = hier.start[sup] + best_col
    other_wins = others[:, 0] > best
    if other_wins.any():
        n_other = hier.K - hier.size[sup[other_wins]]
        r = (rng.random(n_other.size) * n_other).astype(np.int64)
        start = hier.start[sup[other_wins]]
        label[other_wins] = np.where(r < start, r, r + hier.size[sup[other_wins]])
    t = logits[rows, true_col]
    n_above = np.sum(logits > t[:, None], axis=1) + np.sum(others > t[:, None], axis=1)
    return label.astype(np.int64), n_above == 0, n_above < TOP_K


def full_logits(classes, hier: Hierarchy, cal: dict, shared: np.ndarray, rng, rho: float, beta):
    """Full (n, K) logits: mean (peak scaled by the evidence factors ``beta``, :func:`evidence`)
    + ``shared`` (the noise shared with other photos, variance ``rho``) + sqrt(1 - rho) * fresh
    image noise."""
    n = classes.size
    logits = shared + math.sqrt(1.0 - rho) * rng.standard_normal((n, hier.K))
    logits += cal["confusion"] * (hier.sup_of[None, :] == hier.sup_of[classes][:, None])
    logits[np.arange(n), classes] += cal["peak"] * np.asarray(beta, dtype=np.float64) - cal["confusion"]
    return logits


def topk_labels(logits: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(logits, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)
