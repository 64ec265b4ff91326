"""The experiments' output: JSON conversion, the meta block, text tables."""

import json
import math

import numpy as np
import pytest

from dscref import experiments as E
from dscref.experiments.report import _jsonable, _meta


def test_jsonable_turns_numpy_into_json_and_non_finite_into_null():
    doc = _jsonable({1: np.arange(3), "f": np.float32(0.5), "n": np.int64(7), "t": (math.nan, math.inf, 2.0),
                     "nested": [{"x": np.array([[1.5]])}]})
    assert doc == {"1": [0, 1, 2], "f": 0.5, "n": 7, "t": [None, None, 2.0], "nested": [{"x": [[1.5]]}]}
    json.dumps(doc, allow_nan=False)


def test_meta_names_the_data_and_the_number_of_lists(tiny):
    m = _meta({"seed": 3}, tiny)
    assert m["params"] == {"seed": 3} and m["data"]["n_lists"] == 200 and "n_labels" not in m["data"]
    assert m["data"]["n_db"] == 3000 and m["data"]["n_queries"] == len(tiny.xq) and "generator" in m["data"]


def test_text_tables():
    fig3 = {"curves": {"analog": {"B": 1024, "snr_db": [0.0, 5.0], "mAP": [0.1, 0.5], "mAP_std": [0.01, 0.02]}}}
    text = E.format_fig3(fig3)
    assert "1024" in text and "0.500 ± 0.020" in text
    fig2 = {"curves": {"dsc": {"head_sizes": [1, 5], "recall": [0.5, 0.95]}, "ivf": {"head_sizes": [1], "recall": [0.3]}},
            "head_size_for_target": {"dsc": 5, "ivf": None}, "target": 0.9}
    text = E.format_fig2(fig2)
    assert "DSC: 5" in text and ">max" in text and "0.950" in text
    robust = {"fraction": 0.9, "variants": {"plain": {"channel_uses": 188, "mAP_clean": 0.5, "snr_at_fraction": None,
                                                      "snr_at_equal_uses": None, "gain_db_vs_plain": None}}}
    assert "n/a" in E.format_robust(robust) and "SNR@90%" in E.format_robust(robust)


@pytest.mark.parametrize("exp", ["fig3", "robust", "table1"])
def test_plot_results_draws_every_experiment(tmp_path, exp):
    pytest.importorskip("matplotlib")
    result = {
        "fig3": {"experiment": "fig3", "fading": False, "curves": {"a": {"B": 4, "snr_db": [0, 1], "mAP": [0.1, 0.2],
                                                                         "mAP_std": [0.0, 0.1]}}},
        "robust": {"experiment": "robust", "modem": "qpsk", "snr_db": [0, 1],
                   "variants": {"plain": {"mAP": [0.1, 0.2], "mAP_std": [0, 0], "channel_uses": 188}}},
        "table1": {"experiment": "table1", "rows": [{"label": "DSC", "mAP": 0.5, "Recall": 0.9}]},
    }[exp]
    path = E.plot_results(result, tmp_path)
    assert path == tmp_path / f"{exp}.png" and path.stat().st_size > 0


def test_plot_titles_say_synthetic_calibrated_and_the_scale():
    from dscref.experiments import data_title

    doc = {"meta": {"data": {"name": "synthetic", "n_db": 105_000}}, "seeds": [0, 1, 2, 3, 4]}
    assert data_title(doc) == "synthetic (calibrated), 105k items, 5 seeds"
    doc = {"meta": {"data": {"name": "synthetic oxford5k-like", "n_db": 5062}}, "seeds": [0]}
    assert data_title(doc).startswith("synthetic (calibrated) oxford5k-like, ")
    assert data_title({"meta": {"data": {"name": "roxford5k", "n_db": 4993}}}).startswith("roxford5k, ")
