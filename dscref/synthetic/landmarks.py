"""The landmarks of the synthetic generator: how many photos each has, from which viewpoint each
photo was taken and how much of the landmark it shows, where the photos sit in the database, and
which classes the photos of the collection (landmarks and distractors) belong to.

Internal to :mod:`dscref.synthetic`: inputs come from checked parameters and are trusted.
"""

from __future__ import annotations

import math

import numpy as np

from .classifier import visibility_sample
from .geometry import Hierarchy

__all__ = ["scene_classes", "landmark_counts", "Landmarks", "distractor_classes"]

OK, JUNK = 1, 2  # kind codes of landmark rows (0 = distractor)


def scene_classes(rng: np.random.Generator, p: dict, hier: Hierarchy) -> np.ndarray:
    """The "building and scene" classes (``scene_classes`` of them, int64): a contiguous block of
    classes starting at a random superclass boundary, wrapping around, so they form whole
    superclasses like ImageNet's structures (church, palace, castle, ...) and geological scenes."""
    start = int(hier.start[rng.integers(hier.S)])
    return (start + np.arange(p["scene_classes"], dtype=np.int64)) % hier.K


def landmark_counts(rng: np.random.Generator, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Ok and junk photos per landmark (int64): ``positives`` as given (Oxford5k's by default) or
    drawn log-uniformly in ``positives_range``; junk = ok * junk_fraction / (1 - junk_fraction)."""
    if p["positives"] is not None:
        n_ok = np.asarray(p["positives"], dtype=np.int64)
    else:
        lo, hi = p["positives_range"]
        n_ok = np.floor(np.exp(rng.uniform(math.log(lo), math.log(hi + 1), size=p["n_instances"])))
        n_ok = np.clip(n_ok.astype(np.int64), lo, hi)
    jf = p["junk_fraction"]
    return n_ok, np.rint(n_ok * jf / (1.0 - jf)).astype(np.int64)


class Landmarks:
    """Viewpoints and visible shares of every landmark photo, queries included.

    Each landmark i has ``V_i = 1 + Poisson(n_viewpoints - 1)`` viewpoints (at most its photo
    count) with shares drawn from a flat Dirichlet; every photo and query picks its viewpoint with
    those shares. Ok photos show the share ``visibility_sample`` of the landmark, junk photos a
    share uniform in [0, junk_visibility) (Oxford's definition of junk: less than 25 % visible),
    queries ``query_visibility`` (a crop to the landmark's bounding box).

    Attributes
    ----------
    n_views : ndarray (n_inst,) int64; view_start : ndarray (n_inst,) int64, the first global view
        id of each landmark (global ids 0 .. n_views.sum() - 1)
    view, beta : ndarray (n_land,) -- global view id and visible share of each landmark photo, in
        the order of ``inst_of_land`` / ``is_junk``
    view_q, beta_q : ndarray (nq,) -- the same for the queries (``queries_per_instance`` per landmark)
    """

    def __init__(self, rng: np.random.Generator, p: dict, n_ok: np.ndarray, n_junk: np.ndarray):
        n_inst = n_ok.size
        self.inst_of_land = np.repeat(np.arange(n_inst, dtype=np.int64), n_ok + n_junk)
        self.is_junk = np.concatenate([np.r_[np.zeros(a, bool), np.ones(b, bool)] for a, b in zip(n_ok, n_junk)])
        extra = rng.poisson(p["n_viewpoints"] - 1.0, size=n_inst)
        self.n_views = np.minimum(1 + extra, n_ok + n_junk).astype(np.int64)
        self.view_start = np.r_[0, np.cumsum(self.n_views)[:-1]].astype(np.int64)
        shares = [rng.dirichlet(np.ones(v)) for v in self.n_views]
        nq_per = p["queries_per_instance"]
        self.instance_q = np.repeat(np.arange(n_inst, dtype=np.int64), nq_per)
        self.view = np.concatenate([self.view_start[i] + rng.choice(self.n_views[i], size=n_ok[i] + n_junk[i], p=shares[i])
                                    for i in range(n_inst)]).astype(np.int64)
        self.view_q = np.concatenate([self.view_start[i] + rng.choice(self.n_views[i], size=nq_per, p=shares[i])
                                      for i in range(n_inst)]).astype(np.int64)
        beta = visibility_sample(rng, p, self.is_junk.size)
        junk_beta = rng.uniform(0.0, p["junk_visibility"], size=self.is_junk.size)
        self.beta = np.where(self.is_junk, junk_beta, beta)
        self.beta_q = np.full(self.instance_q.size, p["query_visibility"])

    @property
    def n_land(self) -> int:
        return int(self.inst_of_land.size)


def distractor_classes(rng: np.random.Generator, p: dict, class_p: np.ndarray, scene: np.ndarray, n: int,
                       n_collection: int) -> np.ndarray:
    """Classes of ``n`` distractor photos (int64). ``n_collection`` of them, at random positions,
    belong to the landmarks' own photo collection (Oxford5k's other photos of the city): all a
    building or scene class, by popularity among those. The others (Flickr distractors): with
    probability ``scene_share`` a building or scene class, otherwise any class by popularity."""
    scene_p = class_p[scene] / class_p[scene].sum()
    from_scene = rng.random(n) < p["scene_share"]
    if n_collection:
        from_scene[rng.choice(n, size=n_collection, replace=False)] = True
    out = rng.choice(class_p.size, size=n, p=class_p)
    k = int(from_scene.sum())
    if k:
        out[from_scene] = scene[rng.choice(scene.size, size=k, p=scene_p)]
    return out.astype(np.int64)
