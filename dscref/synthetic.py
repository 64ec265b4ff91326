"""A seeded synthetic stand-in for Oxford105k / Oxford1M: GeM-like features plus a simulated classifier.

The generator is a *model of real data*: every parameter is a measurable property of real GeM
descriptors or of a real ImageNet classifier, and its default is taken from a stated source. Nothing
in it was tuned to make the paper's method (DSC: partitions by classifier label) or a baseline
(k-means IVF, IMI, ...) win; whatever ranking of methods comes out of it is a consequence of those
properties, and should be re-checked by sweeping them (see :func:`make_semantic_dataset`, Notes).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtri

from ._chunks import release_pages
from ._linalg import matmul, matvec, orthonormal_rows
from ._validate import check_int

__all__ = ["SemanticDataset", "make_semantic_dataset", "iter_database_chunks"]

TOP_K = 5  # the paper's head size (eq. 11): the queries' top-5 labels
_BLOCK = 4096  # rows per random stream of database features: output never depends on chunk_size

# SeedSequence spawn keys of the independent random streams
_S_STRUCT, _S_CLASSIFIER, _S_QUERIES, _S_CALIB, _S_STATS, _S_DB = 1, 2, 3, 4, 5, 100


@dataclass
class SemanticDataset:
    """A synthetic retrieval benchmark (see :func:`make_semantic_dataset`).

    Attributes
    ----------
    xb : ndarray of shape (n_db, d), float32
        L2-normalised database features (possibly a memory map, see ``out=``).
    labels_b : ndarray of shape (n_db,), int64
        The simulated classifier's top-1 label of each database image: its DSC partition (eq. 2).
    xq : ndarray of shape (nq, d), float32
        L2-normalised query features.
    topk_q : ndarray of shape (nq, 5), int64
        The simulated classifier's top-5 labels of each query, best first (eq. 11).
    ranking_q : ndarray of shape (nq, query_ranking_depth), int64
        The queries' labels ranked by the simulated classifier, best first (``topk_q`` is its
        first 5 columns); Fig. 2 probes heads of up to 200 labels.
    gnd : list of dict
        Per query ``{"ok": int64 ids, "junk": int64 ids}`` (sorted database ids).
    class_b, class_q : ndarray of int64
        True semantic class of each database image / query.
    instance_b, instance_q : ndarray of int64
        Object instance of each image. Landmarks are ``0 .. n_instances-1``; every distractor is its
        own instance (ids from ``n_instances`` on).
    superclass_of : ndarray of shape (n_classes,), int64
        The superclass of each class.
    params : dict
        Every generation parameter, including the seed (the entropy actually used when seed=None).
    stats : dict
        Measured properties beside their targets: classifier accuracies, mean cosines, sizes.
    """

    xb: np.ndarray
    labels_b: np.ndarray
    xq: np.ndarray
    topk_q: np.ndarray
    gnd: list
    class_b: np.ndarray
    class_q: np.ndarray
    instance_b: np.ndarray
    instance_q: np.ndarray
    superclass_of: np.ndarray
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    ranking_q: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------
# parameters


def _check_float(value, name: str, low: float, high: float, *, low_open=False, high_open=False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    bad_low = v <= low if low_open else v < low
    bad_high = v >= high if high_open else v > high
    if not math.isfinite(v) or bad_low or bad_high:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        raise ValueError(f"{name}={value!r} must lie in {lo}{low}, {high}{hi}")
    return v


def _check_params(p: dict) -> dict:
    p = dict(p)
    p["n_db"] = check_int(p["n_db"], "n_db", low=1)
    p["d"] = check_int(p["d"], "d", low=2)
    p["n_classes"] = check_int(p["n_classes"], "n_classes", low=TOP_K + 1)
    p["n_superclasses"] = check_int(p["n_superclasses"], "n_superclasses", low=1, high=p["n_classes"])
    p["n_instances"] = check_int(p["n_instances"], "n_instances", low=1)
    p["queries_per_instance"] = check_int(p["queries_per_instance"], "queries_per_instance", low=1)
    p["query_ranking_depth"] = check_int(p.get("query_ranking_depth", TOP_K), "query_ranking_depth", low=1)
    pr = p["positives_range"]
    if not (isinstance(pr, (tuple, list)) and len(pr) == 2):
        raise ValueError(f"positives_range={pr!r} must be a pair (low, high)")
    lo = check_int(pr[0], "positives_range[0]", low=1)
    hi = check_int(pr[1], "positives_range[1]", low=lo)
    p["positives_range"] = (lo, hi)
    p["junk_fraction"] = _check_float(p["junk_fraction"], "junk_fraction", 0.0, 1.0, high_open=True)
    p["junk_visibility"] = _check_float(p["junk_visibility"], "junk_visibility", 0.0, 1.0)
    names = ["sim_unrelated", "sim_same_superclass", "sim_same_class", "sim_match"]
    for name in names:
        p[name] = _check_float(p[name], name, 0.0, 1.0, high_open=(name == "sim_match"))
    for lower, upper in zip(names, names[1:]):
        if p[upper] < p[lower]:
            raise ValueError(f"{upper}={p[upper]} must be >= {lower}={p[lower]} "
                             "(images that share more must be more similar)")
    if p["sim_match"] <= p["sim_same_class"]:
        raise ValueError(f"sim_match={p['sim_match']} must be > sim_same_class={p['sim_same_class']}: "
                         "matching photos must be closer than other objects of their class")
    if p["latent_dim"] is None:
        p["latent_dim"] = min(256, p["d"])
    p["latent_dim"] = check_int(p["latent_dim"], "latent_dim", low=1, high=p["d"])
    p["spectrum_decay"] = _check_float(p["spectrum_decay"], "spectrum_decay", 0.0, 10.0)
    p["isotropic_fraction"] = _check_float(p["isotropic_fraction"], "isotropic_fraction", 0.0, 1.0)
    p["class_size_spread"] = _check_float(p["class_size_spread"], "class_size_spread", 0.0, 5.0)
    p["top1_acc"] = _check_float(p["top1_acc"], "top1_acc", 0.0, 1.0, low_open=True, high_open=True)
    p["top5_acc"] = _check_float(p["top5_acc"], "top5_acc", 0.0, 1.0, low_open=True, high_open=True)
    if p["top5_acc"] <= p["top1_acc"]:
        raise ValueError(f"top5_acc={p['top5_acc']} must be > top1_acc={p['top1_acc']}")
    p["classifier_instance_corr"] = _check_float(p["classifier_instance_corr"], "classifier_instance_corr", 0.0, 1.0)
    p["calibration_samples"] = check_int(p["calibration_samples"], "calibration_samples", low=1000)
    p["stats_pairs"] = check_int(p["stats_pairs"], "stats_pairs", low=0)
    seed = p["seed"]
    if seed is None:
        p["seed"] = int(np.random.SeedSequence().entropy)
    elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be None or a non-negative int, got {seed!r}")
    else:
        p["seed"] = int(seed)
    return p


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


# ---------------------------------------------------------------------------------------------
# feature geometry


def _component_weights(p: dict) -> dict:
    """Squared weights in closed form so that E[cos] of each pair type equals its target."""
    su, ss, sc, sm = p["sim_unrelated"], p["sim_same_superclass"], p["sim_same_class"], p["sim_match"]
    return {
        "global": math.sqrt(su),
        "superclass": math.sqrt(ss - su),
        "class": math.sqrt(sc - ss),
        "instance": math.sqrt(sm - sc),
        "noise": math.sqrt(1.0 - sm),
    }


class _Directions:
    """Random unit-energy directions drawn from a power-law latent spectrum plus an isotropic part.

    ``v = sqrt(1-f) * (z / |z|) @ B + sqrt(f) * w / |w|`` with ``z ~ N(0, diag(lambda))``,
    ``lambda_i ∝ i^-decay`` (i = 1..latent_dim), ``B`` a fixed random orthonormal
    (latent_dim, d) matrix and ``w ~ N(0, I_d)``. Both parts have unit norm, so E|v|^2 = 1 exactly.
    """

    def __init__(self, rng: np.random.Generator, d: int, latent_dim: int, decay: float, iso: float):
        lam = np.arange(1, latent_dim + 1, dtype=np.float64) ** (-decay)
        self.sqrt_lam = np.sqrt(lam / lam.sum())
        # (latent_dim, d), orthonormal rows: the Q factor of a Gaussian matrix, by Gram-Schmidt in a
        # kernel of fixed summation order (LAPACK's QR changes bits with BLAS threads)
        self.basis = orthonormal_rows(rng.standard_normal((d, latent_dim)).T).astype(np.float32)
        self.d, self.latent_dim, self.iso = d, latent_dim, iso

    def latent(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.latent_dim)) * self.sqrt_lam
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        return z.astype(np.float32)

    def isotropic(self, rng: np.random.Generator, n: int) -> np.ndarray:
        w = rng.standard_normal((n, self.d), dtype=np.float32)
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        return w

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        v = math.sqrt(1.0 - self.iso) * matmul(self.latent(rng, n), self.basis)
        if self.iso > 0:
            v += math.sqrt(self.iso) * self.isotropic(rng, n)
        return v


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.float32(1e-12))
    return x


# ---------------------------------------------------------------------------------------------
# simulated classifier


class _Hierarchy:
    """Classes 0..K-1 in contiguous superclass blocks (like ImageNet's ordering of WordNet groups)."""

    def __init__(self, n_classes: int, n_superclasses: int):
        self.K, self.S = n_classes, n_superclasses
        self.sup_of = (np.arange(n_classes, dtype=np.int64) * n_superclasses) // n_classes
        self.start = np.searchsorted(self.sup_of, np.arange(n_superclasses)).astype(np.int64)
        self.size = np.bincount(self.sup_of, minlength=n_superclasses).astype(np.int64)
        self.gmax = int(self.size.max())


def _order_stats_top(rng: np.random.Generator, n_other: np.ndarray, k: int) -> np.ndarray:
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


def _classifier_noise(rng: np.random.Generator, classes: np.ndarray, hier: _Hierarchy):
    """Noise of images whose logit noise is iid N(0, 1) over classes (independent instances).

    Returns the noise of the superclass members (n, gmax; -inf pads), the column of the true class,
    and the 5 largest noises of the classes outside the superclass (their labels are exchangeable).
    """
    sup = hier.sup_of[classes]
    n = classes.size
    members = rng.standard_normal((n, hier.gmax))
    members[np.arange(hier.gmax)[None, :] >= hier.size[sup][:, None]] = -np.inf
    true_col = classes - hier.start[sup]
    others = _order_stats_top(rng, hier.K - hier.size[sup], TOP_K)
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


def _calibrate(p: dict, hier: _Hierarchy, class_p: np.ndarray) -> dict:
    """Find peak h and same-superclass confusion m such that top-1 / top-5 accuracy hit the targets.

    Logits of an image of class c: ``h * [j == c] + m * [sup(j) == sup(c), j != c] + N(0, 1)``.
    For a given m, h is the top5-quantile of (5th largest competitor - true noise), which meets the
    top-5 target exactly on the sample; top-1 then decreases with m (stronger siblings steal the
    first place but rarely five places), so m is found by bisection. Common random numbers (one
    seeded sample) make both steps deterministic.
    """
    rng = _rng(p["seed"], _S_CALIB)
    classes = rng.choice(hier.K, size=p["calibration_samples"], p=class_p)
    members, true_col, others = _classifier_noise(rng, classes, hier)

    def solve(m):
        t, comp = _competitors(members, true_col, others, m)
        h = float(np.quantile(comp[:, TOP_K - 1] - t, p["top5_acc"]))
        top1 = float(np.mean(h + t > comp[:, 0]))
        top5 = float(np.mean(h + t > comp[:, TOP_K - 1]))
        return h, top1, top5

    lo, hi = 0.0, 30.0
    h_lo, top1_lo, _ = solve(lo)
    if top1_lo < p["top1_acc"]:
        raise ValueError(f"top1_acc={p['top1_acc']} is unreachable with top5_acc={p['top5_acc']} and "
                         f"n_classes={hier.K}: even without confusions top-1 is only {top1_lo:.3f}; "
                         "lower top1_acc or raise top5_acc")
    _, top1_hi, _ = solve(hi)
    if top1_hi > p["top1_acc"]:
        raise ValueError(f"top1_acc={p['top1_acc']} is unreachable with top5_acc={p['top5_acc']}: "
                         f"same-superclass confusions cannot lower top-1 below {top1_hi:.3f} with "
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


def _predict_independent(rng, classes, hier: _Hierarchy, cal: dict):
    """Top-1 label and top-1/top-5 correctness of images with independent logit noise."""
    members, true_col, others = _classifier_noise(rng, classes, hier)
    n = classes.size
    rows = np.arange(n)
    logits = members + cal["confusion"]
    logits[rows, true_col] += cal["peak"] - cal["confusion"]
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


def _full_logits(classes, hier: _Hierarchy, cal: dict, shared: np.ndarray, rng, rho: float):
    """Full (n, K) logits: mean + sqrt(rho) * instance noise + sqrt(1 - rho) * image noise."""
    n = classes.size
    logits = math.sqrt(rho) * shared + math.sqrt(1.0 - rho) * rng.standard_normal((n, hier.K))
    logits += cal["confusion"] * (hier.sup_of[None, :] == hier.sup_of[classes][:, None])
    logits[np.arange(n), classes] += cal["peak"] - cal["confusion"]
    return logits


def _topk_labels(logits: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(logits, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# the plan: everything but the database features


class _Plan:
    def __init__(self, p: dict):
        self.p = p
        K, S, d = p["n_classes"], p["n_superclasses"], p["d"]
        self.hier = hier = _Hierarchy(K, S)
        self.w = w = _component_weights(p)
        rng = _rng(p["seed"], _S_STRUCT)

        # class frequencies of the photo collection: log-normal weights
        logw = p["class_size_spread"] * rng.standard_normal(K)
        self.class_p = np.exp(logw - logw.max())
        self.class_p /= self.class_p.sum()

        # shared directions: global mean, superclasses, classes, landmark instances
        self.dirs = _Directions(rng, d, p["latent_dim"], p["spectrum_decay"], p["isotropic_fraction"])
        g = self.dirs.draw(rng, 1)[0]
        g /= np.float32(math.sqrt(np.sum(np.square(g, dtype=np.float64))))  # no BLAS dot
        self.g = g
        # g is *the* mean direction, so the shared deviations from it carry no g component; without
        # this projection a superclass direction leaning on g (cosine ~0.2 at the defaults) would
        # shift all of its images' similarities and the realised mean cosines would miss the targets
        u_sup = self._deviation(rng, S)
        u_cls = self._deviation(rng, K)
        self.class_vec = (w["global"] * g[None, :] + w["superclass"] * u_sup[hier.sup_of]
                          + w["class"] * u_cls).astype(np.float32)

        # landmarks: class by popularity, number of positives log-uniform in positives_range
        n_inst = p["n_instances"]
        self.inst_class = rng.choice(K, size=n_inst, p=self.class_p).astype(np.int64)
        lo, hi = p["positives_range"]
        n_ok = np.floor(np.exp(rng.uniform(math.log(lo), math.log(hi + 1), size=n_inst))).astype(np.int64)
        n_ok = np.clip(n_ok, lo, hi)
        jf = p["junk_fraction"]
        n_junk = np.rint(n_ok * jf / (1.0 - jf)).astype(np.int64)
        self.inst_vec = (w["instance"] * self._deviation(rng, n_inst)).astype(np.float32)
        n_land = int(n_ok.sum() + n_junk.sum())
        if p["n_db"] < n_land:
            raise ValueError(f"n_db={p['n_db']} is too small for the {n_inst} instances, which alone "
                             f"have {n_land} database images; raise n_db or lower positives_range")

        # database layout: landmark images at random positions (ties in a ranking must not favour them)
        n_db = p["n_db"]
        self.kind_b = np.zeros(n_db, dtype=np.int8)  # 0 distractor, 1 ok view, 2 junk view
        self.instance_b = np.empty(n_db, dtype=np.int64)
        self.class_b = np.empty(n_db, dtype=np.int64)
        land_rows = rng.choice(n_db, size=n_land, replace=False)
        inst_of_land = np.repeat(np.arange(n_inst), n_ok + n_junk)
        is_junk = np.concatenate([np.r_[np.zeros(a, bool), np.ones(b, bool)] for a, b in zip(n_ok, n_junk)])
        self.kind_b[land_rows] = np.where(is_junk, 2, 1)
        self.instance_b[land_rows] = inst_of_land
        self.class_b[land_rows] = self.inst_class[inst_of_land]
        dist = np.flatnonzero(self.kind_b == 0)
        self.instance_b[dist] = n_inst + np.arange(dist.size)
        self.class_b[dist] = rng.choice(K, size=dist.size, p=self.class_p)
        self.n_ok, self.n_junk = n_ok, n_junk

        # per-row weights: instance part of landmark views, fresh per-image energy
        s, nz, jv = w["instance"], w["noise"], p["junk_visibility"]
        # a junk view keeps instance weight jv * s, i.e. the share jv of the instance similarity
        # s^2 with the other photos of its object; the removed energy (1 - jv^2) s^2 becomes noise
        self.inst_scale = np.array([0.0, 1.0, jv], dtype=np.float32)[self.kind_b]
        noise_w = np.array([nz, nz, math.sqrt(nz**2 + (1.0 - jv**2) * s**2)], dtype=np.float32)
        fresh_inst_w = np.array([s, 0.0, 0.0], dtype=np.float32)
        self.noise_w = noise_w[self.kind_b]
        self.fresh_inst_w = fresh_inst_w[self.kind_b]

        # classifier
        self.cal = _calibrate(p, hier, self.class_p)
        crng = _rng(p["seed"], _S_CLASSIFIER)
        rho = p["classifier_instance_corr"]
        inst_noise = crng.standard_normal((n_inst, K))  # one logit-noise vector per landmark
        self.labels_b = np.empty(n_db, dtype=np.int64)
        self.top1_ok_b = np.empty(n_db, dtype=bool)
        self.top5_ok_b = np.empty(n_db, dtype=bool)
        for a in range(0, dist.size, 1 << 18):
            rows = dist[a:a + (1 << 18)]
            lab, c1, c5 = _predict_independent(crng, self.class_b[rows], hier, self.cal)
            self.labels_b[rows], self.top1_ok_b[rows], self.top5_ok_b[rows] = lab, c1, c5
        lg = _full_logits(self.class_b[land_rows], hier, self.cal, inst_noise[inst_of_land], crng, rho)
        top5 = _topk_labels(lg, TOP_K)
        self.labels_b[land_rows] = top5[:, 0]
        self.top1_ok_b[land_rows] = top5[:, 0] == self.class_b[land_rows]
        self.top5_ok_b[land_rows] = (top5 == self.class_b[land_rows][:, None]).any(axis=1)

        # queries: fresh ok-views of each landmark
        nq_per = p["queries_per_instance"]
        self.instance_q = np.repeat(np.arange(n_inst, dtype=np.int64), nq_per)
        self.class_q = self.inst_class[self.instance_q]
        qrng = _rng(p["seed"], _S_QUERIES)
        xq = self.class_vec[self.class_q] + self.inst_vec[self.instance_q] + w["noise"] * self.dirs.draw(qrng, self.instance_q.size)
        self.xq = _normalise_rows(xq.astype(np.float32))
        depth = max(TOP_K, min(p["query_ranking_depth"], K))
        self.ranking_q = _topk_labels(_full_logits(self.class_q, hier, self.cal, inst_noise[self.instance_q], crng, rho), depth)
        self.topk_q = np.ascontiguousarray(self.ranking_q[:, :TOP_K])

        order = np.argsort(self.instance_b[land_rows], kind="stable")
        land_sorted, kind_sorted = land_rows[order], self.kind_b[land_rows][order]
        bounds = np.r_[0, np.cumsum(n_ok + n_junk)]
        self.gnd_inst = []
        for i in range(n_inst):
            rows, kinds = land_sorted[bounds[i]:bounds[i + 1]], kind_sorted[bounds[i]:bounds[i + 1]]
            self.gnd_inst.append({"ok": np.sort(rows[kinds == 1]).astype(np.int64),
                                  "junk": np.sort(rows[kinds == 2]).astype(np.int64)})

    def _deviation(self, rng, n: int) -> np.ndarray:
        """Unit directions orthogonal to the mean direction g."""
        v = self.dirs.draw(rng, n)
        v -= matvec(v, self.g)[:, None] * self.g[None, :]
        return _normalise_rows(v)

    # database features, block by block; block b always uses the same random stream
    def rows(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.p["d"]), dtype=np.float32)
        b0, b1 = start // _BLOCK, (stop - 1) // _BLOCK
        for b in range(b0, b1 + 1):
            lo, hi = b * _BLOCK, min((b + 1) * _BLOCK, self.p["n_db"])
            blk = self._block(b, lo, hi)
            a, z = max(lo, start), min(hi, stop)
            out[a - start:z - start] = blk[a - lo:z - lo]
        return out

    def _block(self, b: int, lo: int, hi: int) -> np.ndarray:
        rng = _rng(self.p["seed"], _S_DB, b)
        n = hi - lo
        f = self.dirs.iso
        x = self.class_vec[self.class_b[lo:hi]]
        land = np.flatnonzero(self.kind_b[lo:hi] > 0)
        if land.size:
            x[land] += self.inst_scale[lo + land, None] * self.inst_vec[self.instance_b[lo + land]]
        nw, sw = self.noise_w[lo:hi, None], self.fresh_inst_w[lo:hi, None]
        # fresh per-image energy: image noise (+ the distractor's own instance direction)
        z = nw * self.dirs.latent(rng, n) + sw * self.dirs.latent(rng, n)
        x += np.float32(math.sqrt(1.0 - f)) * matmul(z, self.dirs.basis)
        if f > 0:
            # two independent isotropic unit vectors with weights nw, sw have the energy of one
            # with weight sqrt(nw^2 + sw^2) (up to O(1/sqrt(d)) cross terms): draw one
            x += np.float32(math.sqrt(f)) * np.sqrt(nw**2 + sw**2) * self.dirs.isotropic(rng, n)
        return _normalise_rows(x)


# ---------------------------------------------------------------------------------------------
# measured statistics


def _measure(plan: _Plan, xb, xq, gnd) -> dict:
    p, hier = plan.p, plan.hier
    rng = _rng(p["seed"], _S_STATS)
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

    w = plan.w
    stats["cosine"] = {
        "match": {"target": p["sim_match"], "measured": cos(qi, oi, xq), "pairs": len(qi)},
        "junk": {"target": p["sim_same_class"] + p["junk_visibility"] * w["instance"] ** 2,
                 "measured": cos(qj, ji, xq), "pairs": len(qj)},
    }
    for key, target in (("same_class", "sim_same_class"), ("same_superclass", "sim_same_superclass"),
                        ("unrelated", "sim_unrelated")):
        i, j = sort_pairs(*pairs[key])
        stats["cosine"][key] = {"target": p[target], "measured": cos(i, j), "pairs": int(i.size)}

    class_q = plan.class_q
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
        "partition_sizes_max": int(np.bincount(plan.labels_b, minlength=hier.K).max()),
    }
    return stats


# ---------------------------------------------------------------------------------------------
# public API


def _params(**kw) -> dict:
    return _check_params(kw)


_DEFAULTS = dict(
    d=2048, n_classes=1000, n_superclasses=100, n_instances=11, queries_per_instance=5,
    positives_range=(6, 221), junk_fraction=0.2, junk_visibility=0.25,
    sim_unrelated=0.2, sim_same_superclass=0.35, sim_same_class=0.45, sim_match=0.8,
    latent_dim=None, spectrum_decay=1.0, isotropic_fraction=0.1, class_size_spread=1.0,
    top1_acc=0.77, top5_acc=0.94, classifier_instance_corr=0.7,
    calibration_samples=100_000, stats_pairs=2000, query_ranking_depth=TOP_K,
)


def make_semantic_dataset(
    n_db: int = 100_000, *, d: int = 2048, n_classes: int = 1000, n_superclasses: int = 100,
    n_instances: int = 11, queries_per_instance: int = 5, positives_range=(6, 221),
    junk_fraction: float = 0.2, junk_visibility: float = 0.25,
    sim_unrelated: float = 0.2, sim_same_superclass: float = 0.35, sim_same_class: float = 0.45,
    sim_match: float = 0.8, latent_dim: int | None = None, spectrum_decay: float = 1.0,
    isotropic_fraction: float = 0.1, class_size_spread: float = 1.0,
    top1_acc: float = 0.77, top5_acc: float = 0.94, classifier_instance_corr: float = 0.7,
    calibration_samples: int = 100_000, stats_pairs: int = 2000, query_ranking_depth: int = 5,
    seed: int | None = 0,
    out: np.ndarray | None = None, chunk_size: int = 65536,
) -> SemanticDataset:
    """Generate a seeded synthetic image-retrieval benchmark with semantic labels.

    A stand-in for Oxford105k / Oxford1M when no images are at hand: GeM-like database and query
    features with a class hierarchy, landmark instances with positives and junk views, distractors,
    and a simulated ImageNet classifier giving each database image its DSC partition (top-1, eq. 2)
    and each query its code head (top-5, eq. 11).

    Parameters
    ----------
    n_db : int
        Database size. Default 100 000 (Oxford105k = 5 062 Oxford images + 100 k Flickr
        distractors); any size from about 1 000 (it must hold the landmark images) to 1 M and more.
    d : int
        Feature dimension. Default 2048: ResNet101-GeM, the paper's extractor (Sec. III-A).
    n_classes : int
        Classifier labels K. Default 1000: ImageNet-1k, the paper's 10-bit labels.
    n_superclasses : int
        Groups of semantically close classes. Default 100: ImageNet's WordNet hierarchy groups the
        1000 leaves into roughly a hundred mid-level groups (dogs, birds, vehicles, buildings ...);
        classes of one group share feature directions and are the classifier's usual confusions.
    n_instances : int
        Landmarks (object instances with matching photos). Default 11, Oxford5k's 11 landmarks.
    queries_per_instance : int
        Queries per landmark. Default 5, Oxford5k's 5 queries per landmark (55 queries).
    positives_range : (int, int)
        The number of "ok" database photos of each landmark is drawn log-uniformly in this range.
        Default (6, 221): Oxford5k's range of targets per query (paper Sec. IV-A); a log-uniform
        law gives a mean near Oxford's (about 50 per landmark).
    junk_fraction : float in [0, 1)
        Share of a landmark's database photos that are "junk" views (in ``gnd["junk"]``, ignored by
        the AP). Default 0.2: Oxford's junk lists hold roughly a fifth to a third of each landmark's
        photos (e.g. all_souls: 78 ok, 33 junk).
    junk_visibility : float in [0, 1]
        Share of the instance-specific similarity (``sim_match - sim_same_class``) that a junk view
        keeps with the other photos of its object; the lost feature energy becomes image noise.
        Default 0.25: Oxford labels a photo junk when less than 25 % of the object is visible.
    sim_unrelated, sim_same_superclass, sim_same_class, sim_match : float
        Target mean cosine similarities of unrelated images, of images of different classes in one
        superclass, of different objects of one class, and of two photos of one object. Defaults
        0.2, 0.35, 0.45, 0.8. Sources (REFERENCES.md): off-the-shelf ImageNet backbone + GeM on
        real photos gives matching 0.79-0.92 and unrelated 0.17-0.53; retrieval-fine-tuned
        ResNet101-GeM pushes unrelated pairs to 0-0.3. 0.8 is the low end of matching (real
        matching pairs include viewpoint and lighting changes, harder than a crop/flip copy); 0.2
        is a fine-tuned network's unrelated level; the two semantic levels sit in between in the
        order a classification-pretrained backbone produces. Must be non-decreasing in that order
        (and sim_match > sim_same_class).
    latent_dim : int or None
        Dimension of the subspace holding the structured variance. Default None = min(256, d): real CNN
        descriptors keep most of their variance in a few hundred PCA dimensions (PCA-whitening
        GeM/R-MAC to 256-512 dimensions loses little mAP).
    spectrum_decay : float
        Eigenvalue i of the latent covariance is proportional to i**-decay. Default 1.0, a
        power law of the kind measured on CNN activations; an assumption to sweep (0 = isotropic).
    isotropic_fraction : float in [0, 1]
        Share of each random direction's energy spread isotropically over all d dimensions, so the
        features are full-rank like real ones. Default 0.1.
    class_size_spread : float
        Sigma of the log-normal class popularity: distractors and landmarks draw their class with
        probability proportional to exp(sigma * N(0, 1)). Default 1.0: Flickr photos are far from
        uniform over ImageNet classes; sigma = 1 gives a ratio of about 13 between the 90th and
        10th percentile class sizes. 0 = uniform.
    top1_acc, top5_acc : float in (0, 1)
        Target top-1 / top-5 accuracy of the simulated classifier. Defaults 0.77 / 0.94, the
        ResNet101 figures the paper relies on (Sec. III-B). Not every pair is reachable: without
        confusions the gap between top-5 and top-1 is smallest, so e.g. 0.77 / 0.94 needs more than
        about 150 classes; an unreachable pair raises ValueError.
    classifier_instance_corr : float in [0, 1]
        Share rho of the logit-noise variance that all photos of one object share (the same
        landmark looks like "palace" in most of its photos). Default 0.7: an assumption, not a
        measurement; it sets how consistently the photos of one landmark are labelled and
        therefore how far the paper's Recall can sit from the per-image top-5 accuracy. Sweep it.
    calibration_samples : int
        Monte-Carlo sample size of the classifier calibration (std of the calibrated accuracies
        about 0.0015 at the default 100 000).
    stats_pairs : int
        Pairs per type sampled for the measured cosines in ``stats``.
    query_ranking_depth : int
        Labels of each query's ranking kept in ``ranking_q`` (default 5 = the head; Fig. 2 of the
        paper probes up to 200). Ranking deeper draws no extra randomness.
    seed : int or None
        Seed of every random stream (``numpy.random.SeedSequence`` with fixed spawn keys). None
        draws fresh entropy, recorded in ``params["seed"]``.
    out : ndarray of shape (n_db, d), float32, optional
        Where to write ``xb`` (e.g. ``numpy.lib.format.open_memmap``) for 1 M-scale databases;
        rows are written chunk by chunk so peak memory is about one chunk beyond the metadata.
    chunk_size : int
        Rows generated per step. The output does not depend on it (every block of 4096 rows has its
        own random stream).

    Returns
    -------
    SemanticDataset

    Raises
    ------
    ValueError
        A parameter out of range (named with its value), similarities out of order, top5_acc <=
        top1_acc, unreachable accuracy targets, n_db too small for the landmark images, or ``out``
        of the wrong shape.
    TypeError
        A parameter of the wrong type, or ``out`` not a float32 array.

    Notes
    -----
    **Features.** Each image's feature is
    ``x = normalise(a g + b_s u_sup + b_c u_class + s u_instance + n e_image)``: ``g`` is a mean
    direction shared by every image (real GeM features are non-negative after the ReLU, so they
    all share a mean direction); ``u_sup``, ``u_class``, ``u_instance`` are drawn once per
    superclass, class and object, ``e_image`` per photo. Every direction has unit norm and comes
    from the power-law latent spectrum (see ``latent_dim``) plus an isotropic part. Independent
    directions are uncorrelated on average, so the expected inner product of two images is the sum
    of the squared weights they share; solving ``a^2 = sim_unrelated``,
    ``b_s^2 = sim_same_superclass - sim_unrelated``, ``b_c^2 = sim_same_class - sim_same_superclass``,
    ``s^2 = sim_match - sim_same_class``, ``n^2 = 1 - sim_match`` makes those the targets. Because
    the latent spectrum is concentrated, independent directions are *not* nearly orthogonal (two of
    them have cosine std around 0.2 at the defaults): some classes are much closer than others, as
    in real data. The measured mean cosines are reported in ``stats["cosine"]``. Junk views keep
    instance weight ``junk_visibility * s`` (so their expected cosine with a photo of their object is
``sim_same_class + junk_visibility * s^2``); the lost energy is image noise. Distractors are each
    their own object: their instance direction is fresh per photo.

    **Classifier.** Logits of a photo of class c:
    ``h [j = c] + m [sup(j) = sup(c), j != c] + sqrt(rho) eps_instance + sqrt(1 - rho) eps_image``
    with standard normal noises, ``eps_instance`` drawn once per object. Confusions therefore go
    mostly to classes of the same superclass (as ImageNet errors do) and are shared by the photos
    of one object. The peak h and the confusion mass m are calibrated by a seeded Monte-Carlo
    search (h solves top-5 exactly for each m; m by bisection on top-1) so that the per-image
    accuracies equal ``top1_acc`` / ``top5_acc``; the marginal noise is N(0, 1) whatever rho, so
    the calibration does not depend on rho. Distractor logits (independent instances, so iid noise)
    are sampled exactly without drawing all K values: the superclass members explicitly, the other
    classes through their top order statistics. Measured accuracies are in ``stats["classifier"]``.

    **What the model can show.** The recall of the candidate list against head size for label
    partitions versus k-means cells; how partition sizes and class imbalance affect the scanned
    fraction; the cost of PQ compression of 2048-d features with a realistic spectrum; the effect of
    channel noise and bit errors on the head and the codes; scaling from 100 k to 1 M distractors.

    **What it cannot show.** Real visual appearance; the relative quality of GeM features and
    classifier labels on real photos (here they are independent given class and object, whereas
    a real classifier errs on exactly the photos whose features are ambiguous); anything relying
    on real image statistics. The numbers are not Oxford's numbers.

    Examples
    --------
    >>> ds = make_semantic_dataset(5000, d=64, n_classes=200, n_superclasses=20, seed=0)
    >>> ds.xb.shape, ds.topk_q.shape
    ((5000, 64), (55, 5))
    """
    p = _params(n_db=n_db, d=d, n_classes=n_classes, n_superclasses=n_superclasses,
                n_instances=n_instances, queries_per_instance=queries_per_instance,
                positives_range=tuple(positives_range) if isinstance(positives_range, (list, tuple)) else positives_range,
                junk_fraction=junk_fraction, junk_visibility=junk_visibility,
                sim_unrelated=sim_unrelated, sim_same_superclass=sim_same_superclass,
                sim_same_class=sim_same_class, sim_match=sim_match, latent_dim=latent_dim,
                spectrum_decay=spectrum_decay, isotropic_fraction=isotropic_fraction,
                class_size_spread=class_size_spread, top1_acc=top1_acc, top5_acc=top5_acc,
                query_ranking_depth=query_ranking_depth,
                classifier_instance_corr=classifier_instance_corr,
                calibration_samples=calibration_samples, stats_pairs=stats_pairs, seed=seed)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array or memmap, got {type(out).__name__}")
        if out.dtype != np.float32:
            raise TypeError(f"out must have dtype float32, got {out.dtype}")
        if out.shape != (p["n_db"], p["d"]):
            raise ValueError(f"out has shape {out.shape}, expected (n_db, d) = {(p['n_db'], p['d'])}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
    plan = _Plan(p)
    xb = np.empty((p["n_db"], p["d"]), dtype=np.float32) if out is None else out
    for start in range(0, p["n_db"], chunk_size):
        stop = min(start + chunk_size, p["n_db"])
        xb[start:stop] = plan.rows(start, stop)
        if hasattr(xb, "flush"):  # a memory map: write the chunk back and unmap its pages, so
            xb.flush()             # 1M x 2048 rows never sit in this process's resident set
            release_pages(xb)
    gnd = [{"ok": plan.gnd_inst[i]["ok"].copy(), "junk": plan.gnd_inst[i]["junk"].copy()}
           for i in plan.instance_q]
    stats = _measure(plan, xb, plan.xq, gnd)
    return SemanticDataset(
        xb=xb, labels_b=plan.labels_b, xq=plan.xq, topk_q=plan.topk_q, gnd=gnd,
        class_b=plan.class_b, class_q=plan.class_q, instance_b=plan.instance_b,
        instance_q=plan.instance_q, superclass_of=plan.hier.sup_of.copy(), params=p, stats=stats,
        ranking_q=plan.ranking_q,
    )


def _stream_params(caller: str, kwargs: dict) -> dict:
    """The generator's parameters (all but ``n_db``) from ``kwargs`` over the defaults (seed 0),
    for callers that build a :class:`_Plan` themselves; unknown names raise TypeError."""
    unknown = set(kwargs) - set(_DEFAULTS) - {"seed"}
    if unknown:
        raise TypeError(f"{caller}() got unexpected parameters {sorted(unknown)}")
    kw = dict(_DEFAULTS, seed=0)
    kw.update(kwargs)
    if isinstance(kw["positives_range"], list):
        kw["positives_range"] = tuple(kw["positives_range"])
    return kw


def iter_database_chunks(n_db: int = 100_000, *, chunk_size: int = 65536, **kwargs):
    """Yield ``(start, stop, xb_chunk)`` of the database features without holding all of ``xb``.

    Takes the parameters of :func:`make_semantic_dataset` (same defaults); the concatenated chunks
    equal ``make_semantic_dataset(n_db, **kwargs).xb`` exactly, whatever ``chunk_size``. Use it to
    stream a 1 M-row database into an index builder; the metadata (labels, gnd) comes from
    :func:`make_semantic_dataset` with the same parameters (cheap apart from ``xb``).

    Yields
    ------
    start, stop : int
    xb_chunk : ndarray of shape (stop - start, d), float32
    """
    kw = _stream_params("iter_database_chunks", kwargs)
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    plan = _Plan(_params(n_db=n_db, **kw))
    for start in range(0, plan.p["n_db"], chunk_size):
        stop = min(start + chunk_size, plan.p["n_db"])
        yield start, stop, plan.rows(start, stop)
