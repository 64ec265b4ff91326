"""Experiments over several seeds (:mod:`dscref.experiments.seeds`): per-seed files written as each
seed finishes, resumed on a rerun (only missing seeds computed, the combination unchanged),
refused when computed with other parameters, and complete after an interrupted run.

Table I restricted to DSC with 4-bit codes keeps each seed to about a second."""

import json
import shutil

import pytest

from dscref import experiments as E

OPTIONS = {"table1": dict(kinds=("dsc",), M=4, nbits=4, k=100, ablations=False)}
PARAMS = {"data": "synthetic", "scale": 3036, "dim": 16, "seed": 0, "seeds": 2, "out": "ignored"}
TIMINGS = {"total_s", "build_s", "query_ms", "generation_s", "peak_rss_gib"}


class Loader:
    """The data of a seed, counting the calls; ``fail_on`` raises instead (an interrupted run)."""

    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def __call__(self, seed):
        self.calls.append(seed)
        if seed == self.fail_on:
            raise KeyboardInterrupt
        return E.synthetic_data(3036, seed=seed, d=16, n_classes=200, n_superclasses=20, ranking_depth=20,
                                calibration_samples=20000)


def _run(out, load, seeds=(0, 1), params=PARAMS, **kw):
    return E.run_seeds(["table1"], seeds, out, load=load, params=params, options=OPTIONS, **kw)


def _numbers(doc):
    """A document without timings (they differ between two computations of the same seed)."""
    if isinstance(doc, dict):
        return {k: _numbers(v) for k, v in doc.items() if k not in TIMINGS and k != "meta"}
    if isinstance(doc, list):
        return [_numbers(v) for v in doc]
    return doc


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """Two seeds computed once; each test works on a copy of the output folder."""
    out = tmp_path_factory.mktemp("seeds")
    load = Loader()
    run = _run(out, load)
    return out, run, load


@pytest.fixture
def copy(two_seeds, tmp_path):
    shutil.copytree(two_seeds[0], tmp_path / "r")
    return tmp_path / "r"


def test_each_seed_is_a_file_and_the_combination_holds_every_seed(two_seeds):
    out, run, load = two_seeds
    assert load.calls == [0, 1] and run.computed == {"table1": [0, 1]} and run.reused == {"table1": []}
    docs = [json.loads((out / "table1" / "seeds" / f"seed_{s}.json").read_text()) for s in (0, 1)]
    assert [d["meta"]["params"]["seed"] for d in docs] == [0, 1]
    assert [d["meta"]["data"]["generator"]["seed"] for d in docs] == [0, 1]  # independent data
    assert docs[0]["rows"][0]["mAP"] != docs[1]["rows"][0]["mAP"]
    combined = json.loads((out / "table1" / "results.json").read_text())
    assert combined == json.loads(json.dumps(run.results["table1"]))
    assert combined["seeds"] == [0, 1] and combined["meta"]["params"]["seeds"] == [0, 1]
    assert "seed" not in combined["meta"]["params"]
    dsc = combined["rows"][0]
    assert dsc["label"] == "DSC" and dsc["mAP"]["values"] == [d["rows"][0]["mAP"] for d in docs]
    assert dsc["mAP"]["ci95"] == pytest.approx(E.ci95_halfwidth(dsc["mAP"]["values"]))
    assert dsc["bytes"] == docs[0]["rows"][0]["bytes"]  # sizes stay plain numbers
    assert (out / "table1" / "table1.png").is_file()
    assert " ± " in E.format_table1(combined) and "| DSC | " in E.format_markdown(combined)


def test_a_rerun_reuses_the_files_and_recomputes_only_a_missing_seed(two_seeds, copy):
    _, first, _ = two_seeds
    load = Loader()
    run = _run(copy, load)
    assert load.calls == [] and run.reused == {"table1": [0, 1]} and run.computed == {"table1": []}
    assert run.results == json.loads(json.dumps(first.results))
    (copy / "table1" / "seeds" / "seed_1.json").unlink()
    run = _run(copy, load)
    assert load.calls == [1] and run.reused == {"table1": [0]} and run.computed == {"table1": [1]}
    assert _numbers(run.results) == _numbers(json.loads(json.dumps(first.results)))


def test_other_parameters_are_refused_unless_fresh(copy):
    load = Loader()
    with pytest.raises(ValueError, match=r"seed_0\.json was computed with dim=16, this run has dim=32.*--fresh"):
        _run(copy, load, params={**PARAMS, "dim": 32})
    assert load.calls == []
    # where files go, the seed list and the display are not parameters of a seed's numbers
    run = _run(copy, load, params={**PARAMS, "out": "elsewhere", "seeds": "0,1", "markdown": True, "seed": 7})
    assert run.reused == {"table1": [0, 1]}
    run = _run(copy, load, seeds=[1], params={**PARAMS, "dim": 32}, fresh=True)
    assert load.calls == [1] and run.computed == {"table1": [1]}
    assert json.loads((copy / "table1" / "seeds" / "seed_1.json").read_text())["meta"]["params"]["dim"] == 32


def test_a_file_of_another_seed_or_unreadable_is_refused(copy):
    folder = copy / "table1" / "seeds"
    shutil.copy(folder / "seed_0.json", folder / "seed_5.json")
    with pytest.raises(ValueError, match="seed=0, this run has seed=5"):
        _run(copy, Loader(), seeds=[5])
    (folder / "seed_5.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"seed_5\.json is not a per-seed result file"):
        _run(copy, Loader(), seeds=[5])


def test_an_interrupted_run_keeps_the_finished_seeds_and_a_rerun_completes(tmp_path, two_seeds):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, Loader(fail_on=1))
    folder = tmp_path / "table1"
    assert sorted(p.name for p in (folder / "seeds").iterdir()) == ["seed_0.json"]  # no temporary file left
    assert not (folder / "results.json").exists()
    load = Loader()
    run = _run(tmp_path, load)
    assert load.calls == [1] and run.reused == {"table1": [0]}
    assert _numbers(run.results) == _numbers(json.loads(json.dumps(two_seeds[1].results)))


def test_one_seed_keeps_the_layout_with_no_half_width(two_seeds, tmp_path):
    shutil.copytree(two_seeds[0] / "table1" / "seeds", tmp_path / "table1" / "seeds")
    run = _run(tmp_path, Loader(), seeds=[1])
    row = run.results["table1"]["rows"][0]
    assert run.results["table1"]["seeds"] == [1] and row["mAP"]["ci95"] is None and len(row["mAP"]["values"]) == 1
    assert " ± " not in E.format_table1(run.results["table1"])


def test_experiments_of_one_seed_share_its_data(tmp_path):
    load = Loader()
    run = E.run_seeds(["table1", "fig2"], [4], tmp_path, load=load, params=PARAMS,
                      options={**OPTIONS, "fig2": dict(kinds=("dsc",), head_sizes=(1, 5))})
    assert load.calls == [4] and set(run.results) == {"table1", "fig2"}
    need = run.results["fig2"]["head_size_for_target"]["dsc"]
    assert E.is_stats(need) and need["values"] == [json.loads((tmp_path / "fig2" / "seeds" / "seed_4.json")
                                                               .read_text())["head_size_for_target"]["dsc"]]


@pytest.mark.parametrize("seeds, err, match", [([], ValueError, "empty"), ([0, 1, 0], ValueError, "seed 0 more than once"),
                                               ([-1], ValueError, "seed=-1"), ("01", TypeError, "sequence"),
                                               ([1.5], TypeError, "seed must be an int")])
def test_bad_seeds_and_experiments_are_refused(tmp_path, seeds, err, match):
    with pytest.raises(err, match=match):
        _run(tmp_path, Loader(), seeds=seeds)
    with pytest.raises(ValueError, match="choose from"):
        E.run_seeds(["fig9"], [0], tmp_path, load=Loader(), params={})
