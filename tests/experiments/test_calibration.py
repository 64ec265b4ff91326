"""Tests of dscref.experiments.calibration: AP from full score vectors equals the metrics module's
mAP on the full ranking, streamed scores equal one pass, mean / CI, and the targets' table."""

import numpy as np
import pytest
from scipy import stats

from dscref.experiments.calibration import (TARGETS, calibration, exhaustive_aps, format_calibration, mean_ci,
                                            measure_size, ranked_aps)
from dscref.metrics import compute_map

SMALL = dict(d=32, n_classes=200, n_superclasses=20, scene_classes=20, calibration_samples=20_000,
             stats_pairs=100)


def _random_case(rng, n=300, nq=6):
    scores = rng.standard_normal((nq, n)).astype(np.float32)
    gnd = []
    for _ in range(nq):
        ids = rng.permutation(n)
        gnd.append({"ok": np.sort(ids[:rng.integers(1, 20)]), "junk": np.sort(ids[20:20 + rng.integers(0, 10)])})
    return scores, gnd


@pytest.mark.parametrize("seed", range(5))
def test_ranked_aps_equal_compute_map_on_the_full_ranking(seed):
    rng = np.random.default_rng(seed)
    scores, gnd = _random_case(rng)
    aps, sep = ranked_aps(scores, gnd)
    I = np.argsort(-scores, axis=1, kind="stable")
    ref = compute_map(I, gnd)[1]
    np.testing.assert_allclose(aps, ref, rtol=0, atol=1e-12)
    # separable: every positive above every non-junk negative
    for q, g in enumerate(gnd):
        neg = np.setdiff1d(np.arange(scores.shape[1]), np.r_[g["ok"], g["junk"]])
        assert sep[q] == (scores[q, g["ok"]].min() > scores[q, neg].max())


def test_ranked_aps_perfect_and_worst():
    scores = np.array([[3.0, 2.0, 1.0, 0.0]], np.float32)
    assert ranked_aps(scores, [{"ok": np.array([0, 1]), "junk": np.array([], np.int64)}])[0][0] == 1.0
    aps, sep = ranked_aps(scores, [{"ok": np.array([3]), "junk": np.array([0])}])
    assert aps[0] == pytest.approx(compute_map(np.array([[0, 1, 2, 3]]), [{"ok": [3], "junk": [0]}])[0])
    assert not sep[0]


def test_streamed_scores_equal_one_pass():
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((500, 16)).astype(np.float32)
    xq = rng.standard_normal((4, 16)).astype(np.float32)
    gnd = [{"ok": np.array([q, 100 + q]), "junk": np.array([200 + q])} for q in range(4)]
    one = exhaustive_aps([(0, 500, xb)], xq, gnd, 500)
    many = exhaustive_aps([(a, min(a + 77, 500), xb[a:a + 77]) for a in range(0, 500, 77)], xq, gnd, 500)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])


def test_mean_ci_matches_student_t():
    v = [0.8, 0.85, 0.9, 0.7]
    r = mean_ci(v)
    h = stats.t.ppf(0.975, 3) * np.std(v, ddof=1) / 2
    assert r["mean"] == pytest.approx(np.mean(v)) and r["ci95"] == pytest.approx(h)
    assert mean_ci([0.5])["ci95"] is None


def test_measure_size_is_deterministic_and_in_range():
    a = measure_size(3000, 0, SMALL)
    b = measure_size(3000, 0, SMALL, chunk=1000)
    assert a["map"] == b["map"] and 0.0 < a["map"] <= 1.0
    assert len(a["aps"]) == 55 and 0.0 <= a["separable_share"] <= 1.0
    # with the DUC-IVF row the database is generated whole, once: the same exhaustive numbers
    c = measure_size(3000, 0, SMALL, ivf=True)
    assert c["aps"] == a["aps"] and c["separable_share"] == a["separable_share"]
    assert 0.0 < c["ivf"]["ratio"] <= 1.0 and c["stats"]["sizes"]["n_db"] == 3000


def test_calibration_summary_and_table():
    res = calibration([0, 1], small=2000, medium=4000, large=None, ivf=False, **SMALL)
    s = res["summary"]
    assert set(s) == {"map_5k", "map_105k", "drop_5k_105k", "separable_share_105k"}
    assert s["map_5k"]["values"] == [r["small"]["map"] for r in res["per_seed"]]
    lo, hi, _ = TARGETS["map_5k"]
    assert s["map_5k"]["met"] == (lo <= s["map_5k"]["mean"] <= hi)
    text = format_calibration(res)
    assert "map_5k" in text and "±" in text and "[0.8, 0.92]" in text
    with pytest.raises(ValueError, match="seeds"):
        calibration([], large=None)
