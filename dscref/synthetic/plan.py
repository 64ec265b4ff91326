"""The generator's plan: everything :func:`~dscref.synthetic.make_semantic_dataset` decides before
the database features (class popularity, shared directions, landmarks and their photos, the
classifier's labels, the queries and their ground truth), and the database rows, block by block.
"""

from __future__ import annotations

import math

import numpy as np

from ._linalg import matmul, matvec
from .classifier import calibrate, full_logits, predict_independent, topk_labels
from .geometry import Directions, Hierarchy, component_weights, normalise_rows
from .params import (STREAM_CLASSIFIER, STREAM_DB, STREAM_QUERIES, STREAM_STRUCT, TOP_K, check_params,
                     stream_rng)

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

        # class frequencies of the photo collection: log-normal weights
        logw = p["class_size_spread"] * rng.standard_normal(K)
        self.class_p = np.exp(logw - logw.max())
        self.class_p /= self.class_p.sum()

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
        self.cal = calibrate(p, hier, self.class_p)
        crng = stream_rng(p["seed"], STREAM_CLASSIFIER)
        rho = p["classifier_instance_corr"]
        inst_noise = crng.standard_normal((n_inst, K))  # one logit-noise vector per landmark
        self.labels_b = np.empty(n_db, dtype=np.int64)
        self.top1_ok_b = np.empty(n_db, dtype=bool)
        self.top5_ok_b = np.empty(n_db, dtype=bool)
        for a in range(0, dist.size, 1 << 18):
            rows = dist[a:a + (1 << 18)]
            lab, c1, c5 = predict_independent(crng, self.class_b[rows], hier, self.cal)
            self.labels_b[rows], self.top1_ok_b[rows], self.top5_ok_b[rows] = lab, c1, c5
        lg = full_logits(self.class_b[land_rows], hier, self.cal, inst_noise[inst_of_land], crng, rho)
        top5 = topk_labels(lg, TOP_K)
        self.labels_b[land_rows] = top5[:, 0]
        self.top1_ok_b[land_rows] = top5[:, 0] == self.class_b[land_rows]
        self.top5_ok_b[land_rows] = (top5 == self.class_b[land_rows][:, None]).any(axis=1)

        # queries: fresh ok-views of each landmark
        nq_per = p["queries_per_instance"]
        self.instance_q = np.repeat(np.arange(n_inst, dtype=np.int64), nq_per)
        self.class_q = self.inst_class[self.instance_q]
        qrng = stream_rng(p["seed"], STREAM_QUERIES)
        xq = self.class_vec[self.class_q] + self.inst_vec[self.instance_q] + w["noise"] * self.dirs.draw(qrng, self.instance_q.size)
        self.xq = normalise_rows(xq.astype(np.float32))
        depth = max(TOP_K, min(p["query_ranking_depth"], K))
        self.ranking_q = topk_labels(full_logits(self.class_q, hier, self.cal, inst_noise[self.instance_q], crng, rho), depth)
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
            x[land] += self.inst_scale[lo + land, None] * self.inst_vec[self.instance_b[lo + land]]
        nw, sw = self.noise_w[lo:hi, None], self.fresh_inst_w[lo:hi, None]
        # fresh per-image energy: image noise (+ the distractor's own instance direction)
        z = nw * self.dirs.latent(rng, n) + sw * self.dirs.latent(rng, n)
        x += np.float32(math.sqrt(1.0 - f)) * matmul(z, self.dirs.basis)
        if f > 0:
            # two independent isotropic unit vectors with weights nw, sw have the energy of one
            # with weight sqrt(nw^2 + sw^2) (up to O(1/sqrt(d)) cross terms): draw one
            x += np.float32(math.sqrt(f)) * np.sqrt(nw**2 + sw**2) * self.dirs.isotropic(rng, n)
        return normalise_rows(x)
