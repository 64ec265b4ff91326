"""The generator's plan: everything :func:`~dscref.synthetic.make_semantic_dataset` decides before
the database features (class popularity, shared directions, landmarks and their photos, the
classifier's labels, the queries and their ground truth), and the database rows, block by block.
"""

from __future__ import annotations

import math

import numpy as np

from ._linalg import matmul, matvec
from .classifier import calibrate, evidence, full_logits, predict_independent, topk_labels, visibility_sample
from .geometry import Directions, Hierarchy, component_weights, normalise_rows
from .landmarks import Landmarks, distractor_classes, landmark_counts, scene_classes
from .params import (STREAM_CLASSIFIER, STREAM_DB, STREAM_QUERIES, STREAM_STRUCT, STREAM_VIEWS, TOP_K,
                     check_params, stream_rng)

__all__ = ["SyntheticPlan"]

_BLOCK = 4096  # rows per random stream of database features: output never depends on chunk_size


class SyntheticPlan:
    """Everything of a synthetic benchmark but the database features, which :meth:`rows` generates.

    Built by :func:`~dscref.synthetic.make_semantic_dataset` and
    :func:`~dscref.synthetic.iter_database_chunks`, and returned (cached per process) by
    :func:`dscref.distributed.synthetic_plan`.

    Parameters
    ----------
    p : dict
        Every generation parameter, as :func:`~dscref.synthetic.params.checked_params` returns
        them (``n_db`` and the parameters of ``make_semantic_dataset``); checked again here.

    Attributes
    ----------
    p : dict
        The checked parameters.
    labels_b : ndarray of shape (n_db,), int64
        The simulated classifier's top-1 label of each database image.
    class_b, instance_b : ndarray of shape (n_db,), int64
        True class and object instance of each database image.
    xq : ndarray of shape (nq, d), float32
        L2-normalised query features.
    topk_q : ndarray of shape (nq, 5), int64
        The queries' top-5 labels; ``ranking_q`` (nq, query_ranking_depth) their longer ranking.
    class_q, instance_q : ndarray of shape (nq,), int64
        True class and object instance of each query.
    gnd_inst : list of dict
        Per landmark instance ``{"ok": int64 ids, "junk": int64 ids}``; query q's ground truth is
        ``gnd_inst[instance_q[q]]``.
    hier : Hierarchy
        The class hierarchy (``hier.sup_of`` is the superclass of each class).

    Notes
    -----
    The database features depend only on the parameters: block b of 4096 rows always draws from
    its own random stream, so :meth:`rows` returns the same rows whatever the chunking.
    """

    def __init__(self, p: dict):
        self.p = p = check_params(p)
        K, S, d = p["n_classes"], p["n_superclasses"], p["d"]
        self.hier = hier = Hierarchy(K, S)
        self.w = w = component_weights(p)
        rng = stream_rng(p["seed"], STREAM_STRUCT)

        # class frequencies of the photo collection: log-normal weights; the building/scene classes
        logw = p["class_size_spread"] * rng.standard_normal(K)
        self.class_p = np.exp(logw - logw.max())
        self.class_p /= self.class_p.sum()
        self.scene = scene_classes(rng, p, hier)

        # shared directions: global mean, superclasses, classes, landmark instances
        self.dirs = Directions(rng, d, p["latent_dim"], p["spectrum_decay"], p["isotropic_fraction"])
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

        # landmarks: buildings (a scene class, by popularity), Oxford5k's photo counts by default
        n_ok, n_junk = landmark_counts(rng, p)
        n_inst = n_ok.size
        scene_p = self.class_p[self.scene] / self.class_p[self.scene].sum()
        self.inst_class = self.scene[rng.choice(self.scene.size, size=n_inst, p=scene_p)]
        self.inst_vec = self._deviation(rng, n_inst).astype(np.float32)
        lm = Landmarks(stream_rng(p["seed"], STREAM_VIEWS), p, n_ok, n_junk)
        self.landmarks = lm
        self.view_vec = self._deviation(rng, int(lm.n_views.sum())).astype(np.float32)
        n_land = lm.n_land
        if p["n_db"] < n_land:
            raise ValueError(f"n_db={p['n_db']} is too small for the {n_inst} landmarks, which alone "
                             f"have {n_land} database images; raise n_db or lower positives")

        # database layout: landmark images at random positions (ties in a ranking must not favour them)
        n_db = p["n_db"]
        self.kind_b = np.zeros(n_db, dtype=np.int8)  # 0 distractor, 1 ok view, 2 junk view
        self.instance_b = np.empty(n_db, dtype=np.int64)
        self.class_b = np.empty(n_db, dtype=np.int64)
        self.land_rows = land_rows = rng.choice(n_db, size=n_land, replace=False)
        self.kind_b[land_rows] = np.where(lm.is_junk, 2, 1)
        self.instance_b[land_rows] = lm.inst_of_land
        self.class_b[land_rows] = self.inst_class[lm.inst_of_land]
        dist = np.flatnonzero(self.kind_b == 0)
        self.instance_b[dist] = n_inst + np.arange(dist.size)
        n_coll = min(max(0, p["collection_size"] - n_land), dist.size)
        self.class_b[dist] = distractor_classes(rng, p, self.class_p, self.scene, dist.size, n_coll)
        self.n_ok, self.n_junk = n_ok, n_junk

        # per-row weights. A landmark photo with visible share b from view v of landmark i:
        # class_vec + b s (sqrt(1 - om) u_i + sqrt(om) u_v) + sqrt(n^2 + (1 - b^2) s^2) e_image;
        # the hidden share of the instance energy is clutter (fresh per photo), so E|x|^2 = 1.
        # A distractor is its own object: class_vec + s u_fresh + n e_image.
        s, nz, om = w["instance"], w["noise"], p["viewpoint_share"]
        self.inst_w = np.zeros(n_db, dtype=np.float32)
        self.view_w = np.zeros(n_db, dtype=np.float32)
        self.view_b = np.full(n_db, -1, dtype=np.int64)
        self.noise_w = np.full(n_db, nz, dtype=np.float32)
        self.fresh_inst_w = np.full(n_db, s, dtype=np.float32)
        self.inst_w[land_rows] = lm.beta * s * math.sqrt(1.0 - om)
        self.view_w[land_rows] = lm.beta * s * math.sqrt(om)
        self.view_b[land_rows] = lm.view
        self.noise_w[land_rows] = np.sqrt(nz**2 + (1.0 - lm.beta**2) * s**2)
        self.fresh_inst_w[land_rows] = 0.0

        # classifier: logit noise shared by a landmark (share rho (1 - lam)) and by a viewpoint
        # (rho lam); the true class's peak scales with the photo's visible share
        self.cal = calibrate(p, hier, self.class_p)
        crng = stream_rng(p["seed"], STREAM_CLASSIFIER)
        rho, lam = p["label_consistency"], p["viewpoint_label_share"]
        inst_noise = math.sqrt(rho * (1.0 - lam)) * crng.standard_normal((n_inst, K))
        view_noise = math.sqrt(rho * lam) * crng.standard_normal((int(lm.n_views.sum()), K))
        self.labels_b = np.empty(n_db, dtype=np.int64)
        self.top1_ok_b = np.empty(n_db, dtype=bool)
        self.top5_ok_b = np.empty(n_db, dtype=bool)
        for a in range(0, dist.size, 1 << 18):
            rows = dist[a:a + (1 << 18)]
            beta = evidence(p, visibility_sample(crng, p, rows.size))
            lab, c1, c5 = predict_independent(crng, self.class_b[rows], hier, self.cal, beta)
            self.labels_b[rows], self.top1_ok_b[rows], self.top5_ok_b[rows] = lab, c1, c5
        shared = inst_noise[lm.inst_of_land] + view_noise[lm.view]
        lg = full_logits(self.class_b[land_rows], hier, self.cal, shared, crng, rho, evidence(p, lm.beta))
        self.top5_land = top5 = topk_labels(lg, TOP_K)
        self.labels_b[land_rows] = top5[:, 0]
        self.top1_ok_b[land_rows] = top5[:, 0] == self.class_b[land_rows]
        self.top5_ok_b[land_rows] = (top5 == self.class_b[land_rows][:, None]).any(axis=1)

        # queries: crops of each landmark, from one of its viewpoints
        self.instance_q = lm.instance_q
        self.class_q = self.inst_class[self.instance_q]
        qrng = stream_rng(p["seed"], STREAM_QUERIES)
        bq = lm.beta_q.astype(np.float32)[:, None]
        xq = (self.class_vec[self.class_q]
              + bq * np.float32(s) * (np.float32(math.sqrt(1.0 - om)) * self.inst_vec[self.instance_q]
                                      + np.float32(math.sqrt(om)) * self.view_vec[lm.view_q])
              + np.sqrt(nz**2 + (1.0 - bq**2) * s**2) * self.dirs.draw(qrng, self.instance_q.size))
        self.xq = normalise_rows(xq.astype(np.float32))
        depth = max(TOP_K, min(p["query_ranking_depth"], K))
        shared_q = inst_noise[self.instance_q] + view_noise[lm.view_q]
        self.ranking_q = topk_labels(full_logits(self.class_q, hier, self.cal, shared_q, crng, rho,
                                                   evidence(p, lm.beta_q)), depth)
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
        return normalise_rows(v)

    # database features, block by block; block b always uses the same random stream
    def rows(self, start: int, stop: int) -> np.ndarray:
        """Database features ``xb[start:stop]``, (stop - start, d) float32, L2-normalised rows
        (``0 <= start < stop <= n_db``, trusted)."""
        out = np.empty((stop - start, self.p["d"]), dtype=np.float32)
        b0, b1 = start // _BLOCK, (stop - 1) // _BLOCK
        for b in range(b0, b1 + 1):
            lo, hi = b * _BLOCK, min((b + 1) * _BLOCK, self.p["n_db"])
            blk = self._block(b, lo, hi)
            a, z = max(lo, start), min(hi, stop)
            out[a - start:z - start] = blk[a - lo:z - lo]
        return out

    def _block(self, b: int, lo: int, hi: int) -> np.ndarray:
        rng = stream_rng(self.p["seed"], STREAM_DB, b)
        n = hi - lo
        f = self.dirs.iso
        x = self.class_vec[self.class_b[lo:hi]]
        land = np.flatnonzero(self.kind_b[lo:hi] > 0)
        if land.size:
            r = lo + land
            x[land] += (self.inst_w[r, None] * self.inst_vec[self.instance_b[r]]
                        + self.view_w[r, None] * self.view_vec[self.view_b[r]])
        nw, sw = self.noise_w[lo:hi, None], self.fresh_inst_w[lo:hi, None]
        # fresh per-image energy: image noise (+ the distractor's own instance direction)
        z = nw * self.dirs.latent(rng, n) + sw * self.dirs.latent(rng, n)
        x += np.float32(math.sqrt(1.0 - f)) * matmul(z, self.dirs.basis)
        if f > 0:
            # two independent isotropic unit vectors with weights nw, sw have the energy of one
            # with weight sqrt(nw^2 + sw^2) (up to O(1/sqrt(d)) cross terms): draw one
            x += np.float32(math.sqrt(f)) * np.sqrt(nw**2 + sw**2) * self.dirs.isotropic(rng, n)
        return normalise_rows(x)
