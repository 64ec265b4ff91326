import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dscref import metrics
from dscref.metrics import (candidate_recall, compute_ap, compute_map, compute_map_revisited,
                            nn_recall_at_k, recall_at_k)


# ---------------------------------------------------------------------------------------------
# a slow, literal port of revisitop's evaluate.py (ranks transposed back to (n_db, nq)),
# extended only by "positives not in the ranking are missed"


def slow_ap(ranks, nres):
    ap = 0.0
    for j, rank in enumerate(ranks):
        precision_0 = 1.0 if rank == 0 else j / rank
        precision_1 = (j + 1) / (rank + 1)
        ap += (precision_0 + precision_1) / nres / 2.0
    return ap


def slow_map(I, gnd, kappas=()):
    aps, prs = [], []
    for q in range(len(gnd)):
        qgnd = set(int(i) for i in gnd[q]["ok"])
        qjunk = set(int(i) for i in gnd[q].get("junk", []))
        row = [int(i) for i in I[q] if i != -1]
        if not qgnd:
            aps.append(math.nan)
            prs.append([math.nan] * len(kappas))
            continue
        pos = [p for p, i in enumerate(row) if i in qgnd]
        junk = [p for p, i in enumerate(row) if i in qjunk]
        k = ij = 0
        for ip in range(len(pos)):
            while ij < len(junk) and pos[ip] > junk[ij]:
                k += 1
                ij += 1
            pos[ip] -= k
        aps.append(slow_ap(pos, len(qgnd)))
        pr = []
        for kap in kappas:
            if not pos:
                pr.append(0.0)
                continue
            p1 = [p + 1 for p in pos]
            kq = min(max(p1), kap)
            pr.append(sum(1 for p in p1 if p <= kq) / kq)
        prs.append(pr)
    aps = np.array(aps, dtype=float)
    valid = ~np.isnan(aps)
    prs = np.array(prs, dtype=float).reshape(len(gnd), len(kappas))
    if not valid.any():
        return math.nan, aps, np.full(len(kappas), math.nan), prs
    return aps[valid].mean(), aps, prs[valid].mean(axis=0), prs


# ---------------------------------------------------------------------------------------------
# hand-computed examples


def test_ap_hand_example_no_junk():
    # ranking 3 7 1 5 9, positives {7, 5} at ranks 1 and 3:
    #   j=0, r=1: p0 = 0/1 = 0,   p1 = 1/2       -> (0 + 1/2)/2   = 1/4
    #   j=1, r=3: p0 = 1/3,       p1 = 2/4       -> (1/3 + 1/2)/2 = 5/12
    #   AP = (1/4 + 5/12) / 2 = 1/3
    I = np.array([[3, 7, 1, 5, 9]])
    m, aps, _, _ = compute_map(I, [{"ok": [7, 5], "junk": []}])
    assert aps[0] == pytest.approx(1 / 3) and m == pytest.approx(1 / 3)
    assert compute_ap([1, 3], 2) == pytest.approx(1 / 3)


def test_ap_hand_example_with_junk():
    # junk {3} at rank 0 is removed: positives move to ranks 0 and 2
    #   j=0, r=0: p0 = 1, p1 = 1           -> 1
    #   j=1, r=2: p0 = 1/2, p1 = 2/3       -> 7/12
    #   AP = (1 + 7/12) / 2 = 19/24
    I = np.array([[3, 7, 1, 5, 9]])
    _, aps, _, _ = compute_map(I, [{"ok": [7, 5], "junk": [3]}])
    assert aps[0] == pytest.approx(19 / 24)
    # junk after every positive changes nothing
    _, aps, _, _ = compute_map(I, [{"ok": [7, 5], "junk": [9]}])
    assert aps[0] == pytest.approx(1 / 3)


def test_truncated_ranking_counts_missing_positives_as_missed():
    # positive 42 is not in the ranking: same area as before, divided by 3 -> (1/4 + 5/12)/3 = 2/9
    I = np.array([[3, 7, 1, 5, 9]])
    _, aps, mpk, _ = compute_map(I, [{"ok": [7, 5, 42]}], kappas=[5])
    assert aps[0] == pytest.approx(2 / 9)
    # no positive retrieved at all: AP 0 and P@k 0
    _, aps, mpk, _ = compute_map(np.array([[1, 2, 3]]), [{"ok": [4]}], kappas=[1, 3])
    assert aps[0] == 0.0 and mpk.tolist() == [0.0, 0.0]


def test_padding_minus_one_is_ignored():
    # [7, -1, -1] with positives {7, 8}: one hit at rank 0 -> (1 + 1)/2 / 2 = 1/2
    _, aps, _, _ = compute_map(np.array([[7, -1, -1]]), [{"ok": [7, 8], "junk": []}])
    assert aps[0] == pytest.approx(0.5)
    # padding is not a rank: two padded rows with different padding give the same AP
    a = compute_map(np.array([[2, 7, -1, -1]]), [{"ok": [7]}])[0]
    b = compute_map(np.array([[2, 7]]), [{"ok": [7]}])[0]
    assert a == b == pytest.approx(0.25)


def test_queries_without_positives_are_excluded():
    I = np.array([[7, 1, 2], [1, 2, 3], [2, 7, 1]])
    gnd = [{"ok": [7]}, {"ok": [], "junk": [1]}, {"ok": [7]}]
    m, aps, mpk, pks = compute_map(I, gnd, kappas=[1])
    # query 0: AP 1; query 2: positive at rank 1 -> (0 + 1/2)/2 = 1/4; query 1 excluded
    assert aps[0] == 1.0 and math.isnan(aps[1]) and aps[2] == pytest.approx(0.25)
    assert m == pytest.approx((1 + 0.25) / 2)
    assert np.isnan(pks[1]).all()
    assert mpk[0] == pytest.approx((1 + 0) / 2)
    # no query with positives at all: NaN, not a crash
    m, aps, mpk, _ = compute_map(I[:1], [{"ok": []}], kappas=[1])
    assert math.isnan(m) and math.isnan(mpk[0])


def test_mpk_quirk_uses_min_of_last_positive_rank_and_k():
    # positives {7, 5} at 1-based ranks 1 and 2; P@10 divides by min(2, 10) = 2 -> 1 (not 2/10)
    I = np.array([[7, 5, 1, 2, 3, 4, 6, 8, 9, 10]])
    _, _, mpk, _ = compute_map(I, [{"ok": [7, 5]}], kappas=[1, 10])
    assert mpk.tolist() == [1.0, 1.0]
    # single positive at 1-based rank 3: P@1 = 0/1, P@5 = 1/min(3, 5) = 1/3
    _, _, mpk, _ = compute_map(np.array([[3, 1, 5, 2, 4]]), [{"ok": [5]}], kappas=[1, 5])
    assert mpk[0] == 0.0 and mpk[1] == pytest.approx(1 / 3)
    # junk also shifts the ranks used by P@k: junk {3} before 5 -> rank 2 -> P@5 = 1/2
    _, _, mpk, _ = compute_map(np.array([[3, 1, 5, 2, 4]]), [{"ok": [5], "junk": [3]}], kappas=[5])
    assert mpk[0] == pytest.approx(1 / 2)


def test_revisited_settings_hand_example():
    # ranking 5 1 7 3 with easy {7}, hard {5}, junk {3}
    #  Easy:   ok {7}, junk {3, 5}: 7 at 2, one junk before -> rank 1 -> AP (0 + 1/2)/2 = 1/4
    #  Medium: ok {5, 7}, junk {3}: ranks 0, 2 -> (1 + (1/2 + 2/3)/2)/2 = 19/24
    #  Hard:   ok {5}, junk {3, 7}: rank 0 -> AP 1
    I = np.array([[5, 1, 7, 3]])
    res = compute_map_revisited(I, [{"easy": [7], "hard": [5], "junk": [3]}], kappas=[1])
    assert res["easy"]["map"] == pytest.approx(0.25)
    assert res["medium"]["map"] == pytest.approx(19 / 24)
    assert res["hard"]["map"] == pytest.approx(1.0)
    assert set(res) == {"easy", "medium", "hard"}
    assert set(res["easy"]) == {"map", "aps", "mpk", "pks"}


def test_revisited_query_without_hard_is_excluded_from_hard_only():
    I = np.array([[7, 1], [8, 1]])
    gnd = [{"easy": [7], "hard": [], "junk": []}, {"easy": [], "hard": [8], "junk": []}]
    res = compute_map_revisited(I, gnd, kappas=[1])
    assert math.isnan(res["hard"]["aps"][0]) and res["hard"]["map"] == 1.0
    assert math.isnan(res["easy"]["aps"][1]) and res["easy"]["map"] == 1.0
    assert res["medium"]["map"] == 1.0


def test_candidate_recall_and_recall_at_k_hand_example():
    gnd = [{"ok": [1, 2, 3, 4], "junk": [9]}, {"ok": [5]}, {"ok": []}]
    cands = [np.array([1, 2, 9, 0]), np.array([6, 7]), np.array([1])]
    # query 0: 2 of 4 = 0.5; query 1: 0 of 1; query 2 excluded
    assert candidate_recall(cands, gnd) == pytest.approx(0.25)
    mean, per = candidate_recall(cands, gnd, return_per_query=True)
    assert per[0] == 0.5 and per[1] == 0.0 and math.isnan(per[2])
    # padded 2-D candidates
    padded = np.array([[1, 2, 9, 0], [6, 7, -1, -1], [1, -1, -1, -1]])
    assert candidate_recall(padded, gnd) == pytest.approx(0.25)

    I = np.array([[9, 1, 7, 2], [5, 0, -1, -1], [0, 1, 2, 3]])
    # R@1: q0 top-1 is junk -> 0/4; q1 -> 1/1 => 0.5. R@3: q0 -> 1/4; q1 -> 1 => 0.625
    assert recall_at_k(I, gnd, 1) == pytest.approx(0.5)
    assert recall_at_k(I, gnd, 3) == pytest.approx(0.625)
    assert recall_at_k(I, gnd, 4) == pytest.approx((2 / 4 + 1) / 2)


def test_nn_recall_is_faiss_definition():
    I = np.array([[3, 1, 2], [0, 4, 5], [7, 8, 9]])
    gt = np.array([[1, 3], [4, 0], [6, 7]])  # column 0 is the true NN
    assert nn_recall_at_k(I, gt, 1) == 0.0
    assert nn_recall_at_k(I, gt, 2) == pytest.approx(2 / 3)
    assert nn_recall_at_k(I, gt[:, 0], 3) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------
# properties


@st.composite
def ranking_problem(draw):
    n_db = draw(st.integers(1, 40))
    nq = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_ranked = draw(st.integers(1, n_db))
    I = np.stack([rng.permutation(n_db)[:n_ranked] for _ in range(nq)])
    # random -1 padding at the end of some rows
    for q in range(nq):
        cut = rng.integers(0, n_ranked + 1)
        if rng.random() < 0.3:
            I[q, cut:] = -1
    gnd = []
    for _ in range(nq):
        lab = rng.integers(0, 3, size=n_db + 3)  # 0 neg, 1 ok, 2 junk (ids up to n_db+2: some never ranked)
        gnd.append({"ok": np.flatnonzero(lab == 1), "junk": np.flatnonzero(lab == 2)})
    kappas = draw(st.lists(st.integers(1, 50), max_size=3))
    return I, gnd, kappas


@given(ranking_problem())
def test_compute_map_equals_slow_reimplementation(problem):
    I, gnd, kappas = problem
    m, aps, mpk, pks = compute_map(I, gnd, kappas)
    m2, aps2, mpk2, pks2 = slow_map(I, gnd, kappas)
    np.testing.assert_allclose(aps, aps2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pks, pks2, rtol=1e-12, atol=1e-12)
    if np.isnan(aps).all():
        assert math.isnan(m)
    else:
        assert m == pytest.approx(m2, abs=1e-12)
        np.testing.assert_allclose(mpk, mpk2, atol=1e-12)


@given(st.integers(1, 50))
def test_perfect_ranking_has_ap_one(n):
    assert compute_ap(np.arange(n), n) == pytest.approx(1.0)
    I = np.arange(n + 5)[None, ::-1].copy()  # positives are the last n ids, ranked first
    assert compute_map(I, [{"ok": np.arange(5, n + 5)}])[0] == pytest.approx(1.0)


@given(st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_ap_in_unit_interval_and_moving_a_positive_up_never_lowers_it(n_db, seed):
    rng = np.random.default_rng(seed)
    row = rng.permutation(n_db)
    lab = rng.integers(0, 3, size=n_db)
    if not (lab == 1).any():
        lab[rng.integers(n_db)] = 1
    gnd = [{"ok": np.flatnonzero(lab == 1), "junk": np.flatnonzero(lab == 2)}]
    ap = compute_map(row[None], gnd)[1][0]
    assert 0.0 <= ap <= 1.0 + 1e-12
    # swap one positive with the item just above it (a negative or junk)
    pos = [p for p in range(1, n_db) if lab[row[p]] == 1 and lab[row[p - 1]] != 1]
    if pos:
        p = pos[rng.integers(len(pos))]
        better = row.copy()
        better[p - 1], better[p] = better[p], better[p - 1]
        assert compute_map(better[None], gnd)[1][0] >= ap - 1e-12


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_input_names_the_value():
    I = np.array([[1, 2, 3]])
    with pytest.raises(ValueError, match="nq=1"):
        compute_map(I, [{"ok": [1]}, {"ok": [2]}])
    with pytest.raises(ValueError, match="k=0"):
        compute_map(I, [{"ok": [1]}], kappas=[0])
    with pytest.raises(ValueError, match="2-D"):
        compute_map(np.array([1, 2, 3]), [{"ok": [1]}])
    with pytest.raises(TypeError, match="whole numbers"):
        compute_map(np.array([[1.5, 2.0]]), [{"ok": [1]}])
    with pytest.raises(ValueError, match="-3"):
        compute_map(np.array([[1, -3]]), [{"ok": [1]}])
    with pytest.raises(ValueError, match="more than once"):
        compute_map(np.array([[1, 2, 1]]), [{"ok": [1]}])
    with pytest.raises(ValueError, match="both 'ok' and 'junk'"):
        compute_map(I, [{"ok": [1], "junk": [1]}])
    with pytest.raises(ValueError, match="'ok'"):
        compute_map(I, [{"junk": [1]}])
    with pytest.raises(TypeError, match="gnd"):
        compute_map(I, {"ok": [1]})
    with pytest.raises(ValueError, match="k=0"):
        recall_at_k(I, [{"ok": [1]}], 0)
    with pytest.raises(ValueError, match="k=4"):
        recall_at_k(I, [{"ok": [1]}], 4)
    with pytest.raises(ValueError, match="2 queries"):
        candidate_recall([[1], [2]], [{"ok": [1]}])
    with pytest.raises(ValueError, match="nq=1"):
        nn_recall_at_k(I, [1, 2], 1)
    with pytest.raises(ValueError, match="k=5"):
        nn_recall_at_k(I, [1], 5)
    with pytest.raises(ValueError, match="n_positives"):
        compute_ap([0, 1, 2], 2)
    with pytest.raises(ValueError, match="strictly increasing"):
        compute_ap([3, 1], 2)
    with pytest.raises(ValueError, match="n_positives=0"):
        compute_ap([], 0)
    with pytest.raises(ValueError, match="'hard'"):
        compute_map_revisited(I, [{"easy": [1], "junk": []}])


def test_public_names():
    assert set(metrics.__all__) >= {"compute_ap", "compute_map", "compute_map_revisited",
                                    "candidate_recall", "recall_at_k", "nn_recall_at_k"}
