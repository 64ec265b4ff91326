"""Combining per-seed results (:mod:`dscref.experiments.combine`): means and Student-t 95 %
half-widths checked by hand and against scipy, and which leaves are combined, kept or listed."""

import math

import pytest
from scipy.stats import t

from dscref import experiments as E
from dscref.experiments.combine import ci95_halfwidth, combine, is_stats, mean_and_ci, per_seed_values


def test_halfwidth_by_hand_and_with_scipy():
    # 0.5, 0.7, 0.6: mean 0.6, sample std 0.1, t(0.975, 2 dof) = 4.302653 (any t table)
    assert ci95_halfwidth([0.5, 0.7, 0.6]) == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-6)
    vals = [0.61, 0.64, 0.58, 0.66, 0.60]
    m = sum(vals) / 5
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / 4)
    assert ci95_halfwidth(vals) == pytest.approx(t.ppf(0.975, 4) * sd / math.sqrt(5), rel=1e-12)
    assert ci95_halfwidth([0.3, 0.3]) == 0.0
    assert ci95_halfwidth([0.3]) is None and ci95_halfwidth([]) is None


def test_floats_become_mean_ci_and_values():
    doc = combine([{"mAP": 0.5}, {"mAP": 0.7}, {"mAP": 0.6}])
    assert doc["mAP"]["mean"] == pytest.approx(0.6)
    assert doc["mAP"]["ci95"] == pytest.approx(ci95_halfwidth([0.5, 0.7, 0.6]))
    assert doc["mAP"]["values"] == [0.5, 0.7, 0.6]
    # one seed: the same record, without a half-width
    assert combine([{"mAP": 0.5}]) == {"mAP": {"mean": 0.5, "ci95": None, "values": [0.5]}}
    # a float equal in every seed is still a measurement
    assert combine([{"r": 1.0}, {"r": 1.0}])["r"] == {"mean": 1.0, "ci95": 0.0, "values": [1.0, 1.0]}


def test_curves_are_combined_element_by_element_and_parameters_kept():
    seeds = [{"snr_db": [0.0, 5.0], "mAP": [0.2, 0.8], "B": 188, "name": "PQ"},
             {"snr_db": [0.0, 5.0], "mAP": [0.4, 0.6], "B": 188, "name": "PQ"}]
    doc = combine(seeds)
    assert doc["snr_db"] == [0.0, 5.0] and doc["B"] == 188 and doc["name"] == "PQ"
    assert doc["mAP"]["mean"] == pytest.approx([0.3, 0.7])
    h = t.ppf(0.975, 1) * math.sqrt(0.02) / math.sqrt(2)  # |0.2 - 0.4| / sqrt(2) is the sample std
    assert doc["mAP"]["ci95"] == pytest.approx([h, h])
    assert doc["mAP"]["values"] == [[0.2, 0.8], [0.4, 0.6]]
    # rows (a list of dicts) element by element; all-None entries stay None
    rows = combine([{"rows": [{"label": "DSC", "mAP": 0.5, "ber": None}]},
                    {"rows": [{"label": "DSC", "mAP": 0.7, "ber": None}]}])["rows"]
    assert rows[0]["label"] == "DSC" and rows[0]["ber"] is None and rows[0]["mAP"]["mean"] == pytest.approx(0.6)


def test_ints_strings_and_missing_values():
    doc = combine([{"bytes": 47, "count": 3, "mode": "a", "flag": True, "extra": 1},
                   {"bytes": 47, "count": 5, "mode": "b", "flag": True}])
    assert doc["bytes"] == 47 and doc["flag"] is True  # equal ints and booleans kept
    assert doc["count"] == {"mean": 4.0, "ci95": pytest.approx(t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2)),
                            "values": [3, 5]}
    assert doc["mode"] == ["a", "b"]  # differing strings: per seed
    assert doc["extra"] == [1, None]  # not in every seed: per seed
    # lists of different lengths are kept per seed
    assert combine([{"x": [1.0]}, {"x": [1.0, 2.0]}])["x"] == [[1.0], [1.0, 2.0]]


def test_head_size_for_target_counts_the_seeds_that_never_reach_it():
    seeds = [{"head_size_for_target": {"dsc": 5, "ivf": 30, "imi": None}},
             {"head_size_for_target": {"dsc": 5, "ivf": None, "imi": None}},
             {"head_size_for_target": {"dsc": 5, "ivf": 20, "imi": None}}]
    need = combine(seeds)["head_size_for_target"]
    assert need["dsc"] == {"mean": 5.0, "ci95": 0.0, "values": [5, 5, 5]}  # combined although equal
    assert need["ivf"]["values"] == [30, None, 20] and need["ivf"]["n_missing"] == 1
    assert need["ivf"]["mean"] == 25.0 and need["ivf"]["ci95"] == pytest.approx(ci95_halfwidth([30, 20]))
    assert need["imi"] == {"mean": None, "ci95": None, "values": [None] * 3, "n_missing": 3}  # never reached
    assert E.format_fig2({"curves": {}, "head_size_for_target": need, "target": 0.9}).count("never") == 1
    assert combine([{"x": None}, {"x": None}]) == {"x": None}  # elsewhere None stays None


def test_keep_equal_mode_for_the_meta_block():
    metas = [{"generator": {"sim_match": 0.8, "seed": 0}, "stats": {"cos": 0.79, "pairs": 10}},
             {"generator": {"sim_match": 0.8, "seed": 1}, "stats": {"cos": 0.81, "pairs": 12}}]
    m = combine(metas, keep_equal=True)
    assert m["generator"] == {"sim_match": 0.8, "seed": [0, 1]}
    assert m["stats"]["cos"]["mean"] == pytest.approx(0.8) and m["stats"]["pairs"] == [10, 12]


def test_readers_take_both_forms_and_bad_input_is_refused():
    rec = combine([{"v": 0.2}, {"v": 0.4}])["v"]
    assert is_stats(rec) and not is_stats(0.2) and not is_stats({"mean": 1})
    assert mean_and_ci(rec) == (pytest.approx(0.3), rec["ci95"]) and mean_and_ci(0.2) == (0.2, None)
    assert per_seed_values(rec) == [0.2, 0.4] and per_seed_values(0.2) == [0.2]
    assert E.format_value(rec) == f"0.300 ± {rec['ci95']:.3f}" and E.format_value(0.25) == "0.250"
    assert E.format_value(None, missing="n/a") == "n/a"
    part = combine([{"snr": 8.0}, {"snr": None}, {"snr": 9.0}])["snr"]
    assert E.format_value(part, ".1f", "n/a") == f"8.5 ± {part['ci95']:.1f} (1/3 n/a)"
    with pytest.raises(ValueError, match="non-empty"):
        combine([])
