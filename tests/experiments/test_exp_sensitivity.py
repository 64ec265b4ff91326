"""The generator-sensitivity sweep (:mod:`dscref.experiments.sensitivity`): verdicts from paired
per-seed margins, the sweep table's checks, and a tiny sweep (one parameter, two values, two
seeds) end to end: files per setting and seed, the combined JSON, the table, the plot, resume."""

import json

import pytest

from dscref import experiments as E
from dscref.index.exact import ExactSearch
from dscref.metrics import compute_map
from dscref.experiments.sensitivity import _across, _check_table

OPTIONS = {"table1": dict(M=4, nbits=4, k=100), "fig2": dict(head_sizes=(1, 3, 10, 30))}


@pytest.mark.parametrize("margins, expected", [
    ([0.10, 0.12, 0.11], "holds"), ([-0.10, -0.12, -0.11], "flips"), ([0.10, -0.05, 0.02], "within noise"),
    ([0.01, 0.30], "within noise"),  # both positive, but t(0.975, 1) = 12.7 makes the interval cross 0
    ([5.0, 5.0], "holds"), ([0.0, 0.0], "within noise"),
    ([0.2], "holds"), ([-0.2], "flips"), ([0.0], "within noise"),  # one seed: the sign
    ([float("inf"), 3.0], "holds"), ([float("-inf"), -2.0], "flips"), ([float("inf"), -2.0], "within noise"),
    ([float("nan"), 1.0], "within noise"), ([None, 1.0], "within noise"),
])
def test_verdict(margins, expected):
    assert E.verdict(margins) == expected


def test_the_verdict_across_the_sweep_names_the_settings():
    assert _across({"the defaults": ("holds", 0.2), "a=1": ("holds", 0.1)}) == "holds"
    assert _across({"the defaults": ("holds", 0.2), "a=1": ("flips", -0.1), "a=2": ("within noise", -0.01),
                    "b=3": ("within noise", 0.02)}) == \
        "holds at the defaults; flips at a=1; within noise at a=2, b=3 (mean reversed at 1 of them)"
    assert _across({"the defaults": ("within noise", 0.1), "a=1": ("within noise", 0.2)}) == \
        "within noise at every setting"
    assert _across({"the defaults": ("flips", -float("inf")), "a=1": ("flips", -1.0)}) == "flips at every setting"


def test_the_table_names_generator_parameters_and_passes_through_the_defaults():
    sweep = _check_table({"sim_match": [0.9, 0.7]})
    assert sweep == {"sim_match": {"default": 0.8, "values": [0.7, 0.8, 0.9]}}
    for p in E.SENSITIVITY:  # the built-in table is valid as it stands
        assert E.SENSITIVITY[p] and p in _check_table(E.SENSITIVITY)
    with pytest.raises(ValueError, match="'n_views' is not a generator parameter"):
        _check_table({"n_views": [1, 3]})
    with pytest.raises(ValueError, match="distinct"):
        _check_table({"sim_match": [0.7, 0.7]})


class Loader:
    def __init__(self):
        self.calls = []

    def __call__(self, seed, **overrides):
        self.calls.append((seed, overrides))
        return E.synthetic_data(3036, seed=seed, d=16, n_classes=200, n_superclasses=20, ranking_depth=40,
                                calibration_samples=20000, **overrides)


def test_a_tiny_sweep_end_to_end(tmp_path):
    load = Loader()
    params = {"scale": 3036, "dim": 16, "sweep": ["sim_match=0.7"]}
    run = E.sensitivity(load, [0, 1], tmp_path, params=params, table={"sim_match": [0.7, 0.8]}, options=OPTIONS)
    # the default value is computed once; seed s is the same data seed at every setting
    assert sorted(load.calls, key=str) == sorted([(0, {}), (1, {}), (0, {"sim_match": 0.7}),
                                                  (1, {"sim_match": 0.7})], key=str)
    folder = tmp_path / "sensitivity"
    files = sorted(str(p.relative_to(folder / "seeds")) for p in (folder / "seeds").rglob("*.json"))
    assert files == ["defaults/seed_0.json", "defaults/seed_1.json", "sim_match=0.7/seed_0.json",
                     "sim_match=0.7/seed_1.json"]
    one = json.loads((folder / "seeds" / "sim_match=0.7" / "seed_1.json").read_text())
    assert one["meta"]["data"]["generator"]["sim_match"] == 0.7 and one["meta"]["params"]["overrides"] == {"sim_match": 0.7}
    doc = json.loads((folder / "results.json").read_text())
    assert doc == json.loads(json.dumps(run.results["sensitivity"]))
    assert doc["experiment"] == "sensitivity" and doc["seeds"] == [0, 1] and doc["methods"] == list(E.METHODS)
    assert [(s["parameter"], s["value"], s["is_default"]) for s in doc["settings"]] == \
        [("sim_match", 0.7, False), ("sim_match", 0.8, True)]
    for s in doc["settings"]:
        for m in E.METHODS:
            assert len(s["mAP"][m]["values"]) == 2 and 0 <= s["mAP"][m]["mean"] <= 1
        assert set(s["head_size_for_target"]) == {"dsc", "ivf"}
    # the exhaustive mAP is the exact search of seed 0's raw features at the defaults
    data = load(0)
    exact = compute_map(ExactSearch(data.xb).search(data.xq, k=100).I, data.gnd)[0]
    assert doc["settings"][1]["mAP"]["exhaustive"]["values"][0] == pytest.approx(exact, abs=1e-12)
    # each verdict follows from the stored per-seed margins
    assert [c["claim"] for c in doc["conclusions"]] == [c[1] for c in E.CONCLUSIONS]
    for c in doc["conclusions"]:
        for s in c["settings"]:
            assert s["verdict"] in ("holds", "flips", "within noise")
        raw = c["settings"]
        if c["name"] == "pq":
            want = [E.verdict([a - b for a, b in zip(s["mAP"]["DSC+PQ"]["values"], s["mAP"]["DUC-IVF+PQ"]["values"])])
                    for s in doc["settings"]]
            assert [s["verdict"] for s in raw] == want
        if all(s["verdict"] == "holds" for s in raw):
            assert c["verdict"] == "holds"
        else:
            assert c["verdict"].startswith(("holds at", "flips at", "within noise at"))
    text = E.format_sensitivity(doc)
    assert "DSC+PQ > DUC-IVF+PQ" in text and "0.8 (default)" in text and " ± " in text
    assert "| sim_match | 0.7 |" in E.format_markdown(doc)
    assert (folder / "sensitivity.png").is_file()
    # a rerun reuses every setting's files
    run2 = E.sensitivity(load, [0, 1], tmp_path, params=params, table={"sim_match": [0.7]}, options=OPTIONS)
    assert len(load.calls) == 5 and not any(run2.computed.values())
    assert run2.results["sensitivity"]["settings"] == run.results["sensitivity"]["settings"]
