"""Presets shaped like the paper's data sets (dscref.synthetic.presets): the published numbers
they carry, the data sets they generate, and Holidays' queries-in-the-database protocol."""

import numpy as np
import pytest

from dscref.synthetic import make_semantic_dataset
from dscref.synthetic.presets import (DATABASE_SIZE, HOLIDAYS_GROUP_SIZES, JUNK, LANDMARKS, PRESETS,
                                      QUERIES_IN_DATABASE, make_preset_dataset, preset_params,
                                      queries_into_database)

SMALL = dict(d=16, n_classes=200, n_superclasses=20, calibration_samples=20_000, stats_pairs=50)


def test_preset_numbers_are_the_published_ones():
    ox, pa, ho = PRESETS["oxford5k"], PRESETS["paris6k"], PRESETS["holidays"]
    # Oxford5k: 5,062 images, 11 landmarks x 5 queries, 6..221 positives; mean 1/|ok| = the paper's R@1
    assert ox["n_db"] == 5062 and len(ox["positives"]) == len(LANDMARKS["oxford5k"]) == 11
    assert (min(ox["positives"]), max(ox["positives"]), sum(ox["positives"]), sum(JUNK["oxford5k"])) == (6, 221, 568, 299)
    assert round(float(np.mean([1 / n for n in ox["positives"]])), 3) == 0.059
    # Paris6k: 6,392 readable images, 11 x 5 queries, 51..289 positives (the paper's range)
    assert pa["n_db"] == 6392 and len(pa["positives"]) == len(LANDMARKS["paris6k"]) == 11
    assert (min(pa["positives"]), max(pa["positives"]), sum(pa["positives"]), sum(JUNK["paris6k"])) == (51, 289, 1791, 1649)
    assert ox["queries_per_instance"] == pa["queries_per_instance"] == 5
    # junk share pooled over the landmarks
    assert ox["junk_fraction"] == pytest.approx(299 / 867) and pa["junk_fraction"] == pytest.approx(1649 / 3440)
    # Holidays: 500 groups of 2..13 images, 1,491 in all; one query per group, the rest positives
    assert sum(HOLIDAYS_GROUP_SIZES.values()) == 500 == len(ho["positives"])
    assert sum(s * n for s, n in HOLIDAYS_GROUP_SIZES.items()) == 1491 == DATABASE_SIZE["holidays"]
    assert (min(ho["positives"]), max(ho["positives"])) == (1, 12) and ho["queries_per_instance"] == 1
    assert ho["n_db"] == sum(ho["positives"]) == 991 and ho["junk_fraction"] == 0.0  # no distractors, no junk
    assert QUERIES_IN_DATABASE == {"holidays"}
    assert DATABASE_SIZE["oxford5k"] == ox["n_db"] and DATABASE_SIZE["paris6k"] == pa["n_db"]
    for p in (ox, pa, ho):  # each data set is its own photo collection
        assert p["collection_size"] == p["n_db"]


def test_preset_params_is_a_checked_copy():
    p = preset_params("oxford5k")
    p["n_db"] = 1
    assert PRESETS["oxford5k"]["n_db"] == 5062
    with pytest.raises(ValueError, match="preset='oxford105k'"):
        preset_params("oxford105k")


def _plain(seed=1):
    return make_semantic_dataset(3000, seed=seed, query_ranking_depth=8, **SMALL)


def test_queries_into_database_makes_each_query_its_own_junk():
    ds = _plain()
    out = queries_into_database(ds)
    n0, nq = ds.xb.shape[0], len(ds.xq)
    assert out.xb.shape == (n0 + nq, ds.xb.shape[1]) and out.labels_b.shape == (n0 + nq,)
    assert out.params["queries_in_database"] and out.stats["queries_in_database"] == nq
    assert out.xq is ds.xq and out.ranking_q is ds.ranking_q
    added = set()
    for q in range(nq):
        mine = [r for r in out.gnd[q]["junk"] if np.array_equal(out.xb[r], ds.xq[q])]
        assert len(mine) == 1, q  # its own image, once
        r = mine[0]
        added.add(int(r))
        assert out.labels_b[r] == ds.topk_q[q, 0] and out.class_b[r] == ds.class_q[q]
        assert out.instance_b[r] == ds.instance_q[q]
        assert np.all(np.diff(out.gnd[q]["junk"]) > 0) and out.gnd[q]["junk"].dtype == np.int64
        # the positives are the same images, renumbered
        assert np.array_equal(out.xb[out.gnd[q]["ok"]], ds.xb[ds.gnd[q]["ok"]])
        assert len(out.gnd[q]["junk"]) == len(ds.gnd[q]["junk"]) + 1
    assert len(added) == nq
    # every generated row keeps its order; the query rows are spread over the database
    rest = np.setdiff1d(np.arange(n0 + nq), sorted(added))
    assert np.array_equal(out.xb[rest], ds.xb) and np.array_equal(out.labels_b[rest], ds.labels_b)
    assert max(added) - min(added) > (n0 + nq) // 2
    # seeded: the same rows again; applying it twice is refused
    assert np.array_equal(queries_into_database(ds).xb, out.xb)
    with pytest.raises(ValueError, match="already"):
        queries_into_database(out)


def test_holidays_preset_matches_the_real_loaders_protocol():
    """1,491 database images, 500 queries, each query in the database as its own junk, its group's
    other images as positives (dscref.datasets.load_holidays' ground truth)."""
    ds = make_preset_dataset("holidays", seed=2, **SMALL)
    assert ds.xb.shape[0] == 1491 and len(ds.xq) == 500 and ds.params["preset"] == "holidays"
    sizes = sorted(len(g["ok"]) + 1 for g in ds.gnd)
    assert sizes == sorted(s for s, n in HOLIDAYS_GROUP_SIZES.items() for _ in range(n))
    for q, g in enumerate(ds.gnd):
        assert len(g["junk"]) == 1 and np.array_equal(ds.xb[g["junk"][0]], ds.xq[q])
    ok = np.concatenate([g["ok"] for g in ds.gnd])
    junk = np.concatenate([g["junk"] for g in ds.gnd])
    assert np.array_equal(np.sort(np.r_[ok, junk]), np.arange(1491))  # no distractors


@pytest.mark.parametrize("name", ["oxford5k", "paris6k"])
def test_landmark_presets_have_the_published_structure(name):
    ds = make_preset_dataset(name, seed=0, **SMALL)
    p = PRESETS[name]
    assert ds.xb.shape[0] == p["n_db"] and len(ds.xq) == 5 * len(p["positives"])
    per_landmark = [len(ds.gnd[5 * i]["ok"]) for i in range(len(p["positives"]))]
    assert per_landmark == list(p["positives"])
    for i in range(len(p["positives"])):  # the five queries of a landmark share one list
        for j in range(1, 5):
            assert np.array_equal(ds.gnd[5 * i]["ok"], ds.gnd[5 * i + j]["ok"])
    junk = sum(len(ds.gnd[5 * i]["junk"]) for i in range(len(p["positives"])))
    assert junk == pytest.approx(sum(JUNK[name]), rel=0.05)  # pooled share: per landmark approximate
    assert ds.params["preset"] == name
