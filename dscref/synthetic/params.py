"""Parameters of the synthetic generator: defaults, checks, and the seeded random streams.

The meaning and the source of every default are documented with the parameters of
:func:`dscref.synthetic.make_semantic_dataset`; :data:`DEFAULTS` holds the same values for the
callers that build a :class:`~dscref.synthetic.plan.SyntheticPlan` themselves
(:func:`~dscref.synthetic.iter_database_chunks`, :mod:`dscref.distributed`). Every random draw of
the generator comes from one of the independent streams below (``numpy.random.SeedSequence``
with a fixed spawn key), so adding draws to one part never shifts another.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validate import check_int

__all__ = ["TOP_K", "OXFORD5K_POSITIVES", "DEFAULTS", "check_params", "checked_params", "stream_params", "stream_rng",
           "STREAM_STRUCT", "STREAM_CLASSIFIER", "STREAM_QUERIES", "STREAM_CALIBRATION", "STREAM_STATS",
           "STREAM_VIEWS", "STREAM_DB"]

TOP_K = 5  # the paper's head size (eq. 11): the queries' top-5 labels

# SeedSequence spawn keys of the independent random streams
STREAM_STRUCT, STREAM_CLASSIFIER, STREAM_QUERIES, STREAM_CALIBRATION, STREAM_STATS, STREAM_DB = 1, 2, 3, 4, 5, 100
STREAM_VIEWS = 6  # viewpoints and visible shares of the landmark photos

# Oxford5k's positives (good + ok images) per landmark, in the order all_souls, ashmolean, balliol,
# bodleian, christ_church, cornmarket, hertford, keble, magdalen, pitt_rivers, radcliffe_camera
# (Philbin et al., CVPR 2007 ground truth, as tabulated in ../shared/REFERENCES.md; consistent
# with Wang & Qi's range 6-221 and their R@1 of 0.059 = mean over queries of 1 / |positives|)
OXFORD5K_POSITIVES = (78, 25, 12, 24, 78, 9, 54, 7, 54, 6, 221)


DEFAULTS = dict(
    d=2048, n_classes=1000, n_superclasses=100, n_instances=None, queries_per_instance=5,
    positives=None, positives_range=None, junk_fraction=0.2, junk_visibility=0.25,
    sim_unrelated=0.2, sim_same_superclass=0.35, sim_same_class=0.45, sim_match=0.8,
    n_viewpoints=3.0, viewpoint_share=0.5, visibility=0.9, visibility_concentration=2.0,
    query_visibility=1.0, clutter_effect=0.2,
    latent_dim=None, spectrum_decay=1.0, isotropic_fraction=0.1, class_size_spread=1.0,
    scene_classes=60, scene_share=0.3, collection_size=5062,
    top1_acc=0.77, top5_acc=0.94, label_consistency=0.45, viewpoint_label_share=0.5,
    calibration_samples=100_000, stats_pairs=2000, query_ranking_depth=TOP_K,
)


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


def check_params(p: dict) -> dict:
    """A checked copy of the generation parameters ``p`` (every key of :data:`DEFAULTS`, ``n_db``
    and ``seed``): types and ranges, orders between them, ``latent_dim=None`` resolved and
    ``seed=None`` replaced by fresh entropy. ValueError / TypeError name the offending value."""
    p = dict(p)
    p["n_db"] = check_int(p["n_db"], "n_db", low=1)
    p["d"] = check_int(p["d"], "d", low=2)
    p["n_classes"] = check_int(p["n_classes"], "n_classes", low=TOP_K + 1)
    p["n_superclasses"] = check_int(p["n_superclasses"], "n_superclasses", low=1, high=p["n_classes"])
    p["queries_per_instance"] = check_int(p["queries_per_instance"], "queries_per_instance", low=1)
    p["query_ranking_depth"] = check_int(p.get("query_ranking_depth", TOP_K), "query_ranking_depth", low=1)
    _check_landmarks(p)
    p["junk_fraction"] = _check_float(p["junk_fraction"], "junk_fraction", 0.0, 1.0, high_open=True)
    p["junk_visibility"] = _check_float(p["junk_visibility"], "junk_visibility", 0.0, 1.0, high_open=True)
    _check_views(p)
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
    p["label_consistency"] = _check_float(p["label_consistency"], "label_consistency", 0.0, 1.0)
    p["viewpoint_label_share"] = _check_float(p["viewpoint_label_share"], "viewpoint_label_share", 0.0, 1.0)
    p["scene_classes"] = check_int(p["scene_classes"], "scene_classes", low=1, high=p["n_classes"])
    p["scene_share"] = _check_float(p["scene_share"], "scene_share", 0.0, 1.0)
    p["collection_size"] = check_int(p["collection_size"], "collection_size", low=0)
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


def _check_landmarks(p: dict) -> None:
    """``positives`` (per-landmark counts; default Oxford5k's) or ``positives_range`` (log-uniform
    draws, ``n_instances`` landmarks, 11 by default); ``n_instances`` resolved."""
    pos, pr = p.get("positives"), p.get("positives_range")
    if pos is not None and pr is not None:
        raise ValueError(f"give positives={pos!r} or positives_range={pr!r}, not both")
    if pr is not None:
        if not (isinstance(pr, (tuple, list)) and len(pr) == 2):
            raise ValueError(f"positives_range={pr!r} must be a pair (low, high)")
        lo = check_int(pr[0], "positives_range[0]", low=1)
        hi = check_int(pr[1], "positives_range[1]", low=lo)
        p["positives_range"] = (lo, hi)
        n_inst = p.get("n_instances")
        p["n_instances"] = 11 if n_inst is None else check_int(n_inst, "n_instances", low=1)
        p["positives"] = None
        return
    pos = OXFORD5K_POSITIVES if pos is None else pos
    if isinstance(pos, (str, bytes)) or not hasattr(pos, "__len__") or len(pos) == 0:
        raise ValueError(f"positives={pos!r} must be a non-empty sequence of per-landmark counts")
    pos = tuple(check_int(v, f"positives[{i}]", low=1) for i, v in enumerate(pos))
    n_inst = p.get("n_instances")
    if n_inst is not None and check_int(n_inst, "n_instances", low=1) != len(pos):
        raise ValueError(f"n_instances={n_inst} differs from the {len(pos)} landmarks of positives={pos!r}")
    p["positives"], p["n_instances"] = pos, len(pos)


def _check_views(p: dict) -> None:
    """Viewpoints and visible shares of the landmark photos."""
    p["n_viewpoints"] = _check_float(p["n_viewpoints"], "n_viewpoints", 1.0, 1000.0)
    p["viewpoint_share"] = _check_float(p["viewpoint_share"], "viewpoint_share", 0.0, 1.0)
    jv = p["junk_visibility"]
    p["visibility"] = _check_float(p["visibility"], "visibility", jv, 1.0, low_open=True, high_open=True)
    p["visibility_concentration"] = _check_float(p["visibility_concentration"], "visibility_concentration",
                                                 0.0, 1e6, low_open=True)
    p["query_visibility"] = _check_float(p["query_visibility"], "query_visibility", 0.0, 1.0, low_open=True)
    p["clutter_effect"] = _check_float(p["clutter_effect"], "clutter_effect", 0.0, 1.0, high_open=True)


def checked_params(**kw) -> dict:
    """:func:`check_params` of the keyword arguments."""
    return check_params(kw)


def stream_params(caller: str, kwargs: dict) -> dict:
    """The generator's parameters (all but ``n_db``) from ``kwargs`` over the defaults (seed 0),
    for callers that build a :class:`~dscref.synthetic.plan.SyntheticPlan` themselves; unknown names raise TypeError."""
    unknown = set(kwargs) - set(DEFAULTS) - {"seed"}
    if unknown:
        raise TypeError(f"{caller}() got unexpected parameters {sorted(unknown)}")
    kw = dict(DEFAULTS, seed=0)
    kw.update(kwargs)
    for key in ("positives_range", "positives"):
        if isinstance(kw[key], list):
            kw[key] = tuple(kw[key])
    return kw


def stream_rng(seed: int, *key: int) -> np.random.Generator:
    """The generator of the random stream ``key`` (one of the ``STREAM_*`` keys, then e.g. a block)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
