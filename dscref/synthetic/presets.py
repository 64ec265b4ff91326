"""Generator presets shaped like the paper's data sets: Oxford5k, Paris6k and INRIA Holidays.

:data:`PRESETS` maps a name to the arguments of :func:`~dscref.synthetic.make_semantic_dataset`
that give a synthetic benchmark with that data set's structure (database size, landmarks or
groups, positives per landmark, queries, share of junk views); :func:`make_preset_dataset` builds
it, including the one step of the Holidays protocol the generator does not take as an argument
(the queries are database images, see :func:`queries_into_database`).

Sources of every number
-----------------------
**Oxford5k** (Philbin et al., CVPR 2007): 5,062 images (the paper, Sec. IV-A: "5062 building
images ... 55 query images"), 11 landmarks x 5 queries; the five queries of a landmark share one
ground-truth list. Positives ("good" + "ok") and junk per landmark, counted in the ground truth
``gnd_oxford5k.pkl`` of cnnimageretrieval (cmp.felk.cvut.cz/cnnimageretrieval/data/test/oxford5k/,
read from a copy at github.com/luanvu2307/diffusion, ``data/gnd_oxford5k.pkl``, branch master;
the same ok counts as tabulated in REFERENCES.md)::

    all_souls 78/33, ashmolean 25/6, balliol 12/6, bodleian 24/6, christ_church 78/55,
    cornmarket 9/4, hertford 54/7, keble 7/4, magdalen 54/49, pitt_rivers 6/2,
    radcliffe_camera 221/127                 (ok / junk; 568 ok, 299 junk)

The range 6-221 is the paper's ("Each query has 6 to 221 target images"), and
``mean_q 1 / |ok_q|`` = 0.0593 is the paper's R@1 of 0.059.

**Paris6k** (Philbin et al., CVPR 2008): 6,412 images of which 6,392 are readable (the
``imlist`` of ``gnd_paris6k.pkl`` holds 6,392), 11 landmarks x 5 queries. Positives and junk
per landmark from cnnimageretrieval's ``gnd_paris6k.pkl`` (same copy, ``data/gnd_paris6k.pkl``)::

    defense 117/116, eiffel 289/473, invalides 198/99, louvre 152/147, moulinrouge 237/103,
    museedorsay 72/15, notredame 119/112, pantheon 126/191, pompidou 51/77,
    sacrecoeur 149/152, triomphe 281/164     (ok / junk; 1,791 ok, 1,649 junk)

The range 51-289 is the paper's ("The ground-truth amount of each query counts 51 to 289").

**Holidays** (Jégou, Douze & Schmid, ECCV 2008): 1,491 images in 500 groups; the first image of
each group is its query, the others its positives. Group sizes from the evaluation package's
image list ``eval_holidays/holidays_images.dat`` (lear.inrialpes.fr/~jegou/code/eval_holidays.tgz;
read from a copy at github.com/joyce-peng/CBIR, ``holidays_images.dat``, commit d260921)::

    size   2   3   4   5   6   7   8   9  10  11  12  13
    groups 267 111  64  27  15   4   4   3   2   1   1   1   (500 groups, 1,491 images)

so 1 to 12 positives per query (the paper: "Each query has 2 to 13 target images", counting the
query). Holidays has no distractors and no junk views. Its queries are in the database: dscref's
real loader (:func:`dscref.datasets.load_holidays`) keeps every image in the database and makes
each query its own junk, so the synthetic Holidays is generated with the 991 positives and then
gets its 500 queries inserted as database images, each junk for itself
(:func:`queries_into_database`): 1,491 database images, 500 queries, as the real protocol.

Each data set is its own photo collection (``collection_size`` = its database size): the
images beside the landmarks are the collection's other photos (Oxford's and Paris' other
buildings and streets), not general Flickr distractors; Holidays has none.

Junk views: the generator takes one junk share for all landmarks (``junk_fraction``); the
presets pass the data set's pooled share (Oxford 299 / 867 = 0.345, Paris 1,649 / 3,440 =
0.479), so per-landmark junk counts are approximate (``round(ok * share / (1 - share))``);
:data:`JUNK` keeps the published per-landmark counts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validate import check_choice
from .dataset import SemanticDataset, make_semantic_dataset

__all__ = ["PRESETS", "LANDMARKS", "JUNK", "QUERIES_IN_DATABASE", "DATABASE_SIZE", "HOLIDAYS_GROUP_SIZES",
           "preset_params", "make_preset_dataset", "queries_into_database"]

# landmark names and published per-landmark positives ("good" + "ok") and junk counts
LANDMARKS = {
    "oxford5k": ("all_souls", "ashmolean", "balliol", "bodleian", "christ_church", "cornmarket", "hertford",
                 "keble", "magdalen", "pitt_rivers", "radcliffe_camera"),
    "paris6k": ("defense", "eiffel", "invalides", "louvre", "moulinrouge", "museedorsay", "notredame",
                "pantheon", "pompidou", "sacrecoeur", "triomphe"),
}
_OK = {"oxford5k": (78, 25, 12, 24, 78, 9, 54, 7, 54, 6, 221),
       "paris6k": (117, 289, 198, 152, 237, 72, 119, 126, 51, 149, 281)}
JUNK = {"oxford5k": (33, 6, 6, 6, 55, 4, 7, 4, 49, 2, 127),
        "paris6k": (116, 473, 99, 147, 103, 15, 112, 191, 77, 152, 164)}
# INRIA Holidays: group size (query + positives) -> number of groups
HOLIDAYS_GROUP_SIZES = {2: 267, 3: 111, 4: 64, 5: 27, 6: 15, 7: 4, 8: 4, 9: 3, 10: 2, 11: 1, 12: 1, 13: 1}
_HOLIDAYS_OK = tuple(s - 1 for s, n in sorted(HOLIDAYS_GROUP_SIZES.items()) for _ in range(n))


def _share(name: str) -> float:
    ok, junk = sum(_OK[name]), sum(JUNK[name])
    return junk / (ok + junk)


PRESETS = {
    "oxford5k": {"n_db": 5062, "positives": _OK["oxford5k"], "queries_per_instance": 5,
                 "junk_fraction": _share("oxford5k"), "collection_size": 5062},
    "paris6k": {"n_db": 6392, "positives": _OK["paris6k"], "queries_per_instance": 5,
                "junk_fraction": _share("paris6k"), "collection_size": 6392},
    # 991 generated positives, no distractors, no junk views; + 500 queries put into the database
    "holidays": {"n_db": sum(_HOLIDAYS_OK), "positives": _HOLIDAYS_OK, "queries_per_instance": 1,
                 "junk_fraction": 0.0, "collection_size": sum(_HOLIDAYS_OK)},
}
# presets whose queries are database images (each junk for itself), as in the real protocol
QUERIES_IN_DATABASE = frozenset({"holidays"})
# database images of each data set as evaluated (Holidays: the generated 991 + its 500 queries)
DATABASE_SIZE = {"oxford5k": 5062, "paris6k": 6392, "holidays": 1491}

# random stream of the query positions (a SeedSequence entropy pair, apart from the generator's spawn keys)
_QUERY_ROWS_KEY = 0x51524F57


def preset_params(name: str) -> dict:
    """A copy of ``PRESETS[name]`` (ValueError naming the known presets for another name)."""
    check_choice(name, "preset", set(PRESETS))
    return {k: (tuple(v) if isinstance(v, tuple) else v) for k, v in PRESETS[name].items()}


def make_preset_dataset(name: str, *, seed: int | None = 0, **kw) -> SemanticDataset:
    """The synthetic benchmark shaped like data set ``name`` (a key of :data:`PRESETS`).

    ``kw`` are further arguments of :func:`~dscref.synthetic.make_semantic_dataset` (e.g. ``d``,
    ``n_classes``, ``query_ranking_depth``); they may override the preset's own. For presets in
    :data:`QUERIES_IN_DATABASE` (Holidays) the queries are then inserted into the database as
    their own junk (:func:`queries_into_database`). ``params["preset"]`` names the preset.
    """
    args = preset_params(name)
    args.update(kw)
    ds = make_semantic_dataset(seed=seed, **args)
    if name in QUERIES_IN_DATABASE:
        ds = queries_into_database(ds)
    params = dict(ds.params, preset=name)
    return dataclasses.replace(ds, params=params)


def queries_into_database(ds: SemanticDataset) -> SemanticDataset:
    """``ds`` with every query also a database image, junk for its own query (Holidays' protocol).

    The queries go to seeded random rows among the ``n_db + nq`` new rows (their positions carry
    no information, like the generator's landmark rows); the other rows keep their order.
    A query's database copy has the query's feature, its top-1 label as partition (what the
    classifier gives that image), its class and instance; ``gnd[q]["junk"]`` gains its id, and
    every id of the ground truth is renumbered. ``stats`` stay those of the generated images.

    Raises
    ------
    ValueError
        ``ds`` already has queries in its database (``params["queries_in_database"]``).
    """
    if ds.params.get("queries_in_database"):
        raise ValueError("the queries of this dataset are already in its database")
    n0, nq = ds.xb.shape[0], ds.xq.shape[0]
    n = n0 + nq
    rng = np.random.default_rng(np.random.SeedSequence([int(ds.params["seed"]), _QUERY_ROWS_KEY]))
    qrows = np.sort(rng.choice(n, size=nq, replace=False)).astype(np.int64)
    keep = np.ones(n, dtype=bool)
    keep[qrows] = False
    new_id = np.flatnonzero(keep).astype(np.int64)  # new id of generated item i

    def merged(b: np.ndarray, q: np.ndarray) -> np.ndarray:
        out = np.empty((n,) + b.shape[1:], dtype=b.dtype)
        out[new_id], out[qrows] = b, q
        return out

    twins = {"xb": ds.xq, "labels_b": ds.topk_q[:, 0]}
    fields = {}
    for f in dataclasses.fields(ds):
        v = getattr(ds, f.name)
        per_row = isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n0
        if not (f.name == "xb" or (per_row and f.name.endswith("_b"))):
            continue
        q = twins.get(f.name, getattr(ds, f.name[:-2] + "_q", None))
        if q is None:  # a per-database-row field without a per-query twin: cannot be extended
            raise NotImplementedError(f"queries_into_database cannot extend the field {f.name!r}")
        fields[f.name] = merged(v, np.asarray(q, dtype=v.dtype))
    gnd = [{"ok": new_id[np.asarray(g["ok"], np.int64)],
            "junk": np.sort(np.r_[new_id[np.asarray(g["junk"], np.int64)], qrows[q]]).astype(np.int64)}
           for q, g in enumerate(ds.gnd)]
    params = dict(ds.params, queries_in_database=True)
    stats = dict(ds.stats, queries_in_database=int(nq))
    return dataclasses.replace(ds, gnd=gnd, params=params, stats=stats, **fields)
