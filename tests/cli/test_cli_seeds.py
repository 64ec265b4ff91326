"""``dscref reproduce --seeds / --fresh / --markdown / --sweep``: the seeds a command runs, one-line
errors for bad values, and a two-seed run resumed and refused with other parameters.

The end-to-end run shrinks Table I to DSC with 4-bit codes (the experiment's own options; the
command's seeds, files, resume and printing are the real ones)."""

import json

import pytest

from dscref import experiments as E
from dscref.cli import main

TINY = ["--scale", "3036", "--dim", "16", "--labels", "200"]


class _Stop(ValueError):
    pass


@pytest.mark.parametrize("argv, needle", [
    (["--seeds", "0"], "count of seeds must be >= 1"),
    (["--seeds", "a,b"], "'a' is not a whole number"),
    (["--seeds", "x"], "'x' is not a whole number"),
    (["--seeds", "0,3,0"], "names seed 0 twice"),
    (["--seeds=-1,2"], "seed -1 must be >= 0"),
    (["--seeds", "1,,2"], "'' is not a whole number"),
    (["--seed", "2", "--seeds", "1,2"], "--seed 2 with --seeds 1,2"),
    (["--sweep", "sim_match=0.7"], "--sweep is for the sensitivity experiment"),
])
def test_bad_seeds_are_one_line_errors(argv, needle, tmp_path, capsys, one_error_line):
    rc = main(["reproduce", "fig2", *argv, "--out", str(tmp_path)])
    one_error_line(rc, capsys.readouterr().err, "reproduce", needle)
    assert not any(tmp_path.iterdir())  # refused before any work


@pytest.mark.parametrize("argv, needle", [
    (["--sweep", "sim_match"], "expected PARAM=V1,V2"),
    (["--sweep", "sim_match=a"], "expected PARAM=V1,V2"),
    (["--sweep", "sim_match=0.7", "--sweep", "sim_match=0.9"], "names 'sim_match' twice"),
    (["--data", "features:{tmp}/f.npz"], "sensitivity sweeps the synthetic generator"),
])
def test_bad_sweeps_are_one_line_errors(argv, needle, tmp_path, capsys, one_error_line):
    (tmp_path / "f.npz").write_bytes(b"")
    argv = [a.format(tmp=tmp_path) for a in argv]
    rc = main(["reproduce", "sensitivity", *argv, "--out", str(tmp_path / "r")])
    one_error_line(rc, capsys.readouterr().err, "reproduce", needle)


@pytest.fixture
def calls(monkeypatch):
    """The arguments ``run_seeds`` / ``sensitivity`` receive; the command then stops."""
    seen = []

    def record(name):
        def fake(*args, **kw):
            seen.append((name, args, kw))
            raise _Stop("stopped")
        return fake

    monkeypatch.setattr(E, "run_seeds", record("run_seeds"))
    monkeypatch.setattr(E, "sensitivity", record("sensitivity"))
    return seen


@pytest.mark.parametrize("argv, seeds", [([], [0]), (["--seed", "5"], [5]), (["--seeds", "3", "--seed", "5"], [5, 6, 7]),
                                         (["--seeds", "3"], [0, 1, 2]), (["--seeds", "0,3"], [0, 3]),
                                         (["--seeds", " 7, 2 "], [7, 2])])
def test_the_seeds_a_command_runs(argv, seeds, calls, tmp_path, capsys):
    assert main(["reproduce", "all", *argv, "--out", str(tmp_path)]) == 2
    (name, args, kw), = calls
    assert name == "run_seeds" and list(args[0]) == ["fig2", "table1", "fig3"] and args[1] == seeds
    assert args[0]["fig2"] is E.fig2  # the package's functions
    assert kw["fresh"] is False and kw["options"]["fig3"]["trials"] == 5
    capsys.readouterr()


def test_the_sweep_table_and_fresh_reach_the_sweep(calls, tmp_path, capsys):
    argv = ["reproduce", "sensitivity", "--seeds", "2", "--fresh", "--sweep", "sim_match=0.7,0.9",
            "--sweep", "class_size_spread=1,2", "--out", str(tmp_path)]
    assert main(argv) == 2
    (name, args, kw), = calls
    assert name == "sensitivity" and args[1] == [0, 1] and kw["fresh"] is True
    assert kw["table"] == {"sim_match": [0.7, 0.9], "class_size_spread": [1, 2]}
    assert main(["reproduce", "sensitivity", "--out", str(tmp_path)]) == 2
    assert calls[-1][2]["table"] is None  # the built-in SENSITIVITY table
    capsys.readouterr()


def test_two_seeds_resumed_and_refused_with_other_parameters(monkeypatch, tmp_path, capsys, one_error_line):
    real = E.run_seeds
    small = {"kinds": ("dsc",), "M": 4, "nbits": 4, "k": 100}

    def run_small(*a, **kw):  # the command's options (ablations) and Table I shrunk to DSC
        assert kw["options"]["table1"] == {"ablations": True}
        return real(*a, **{**kw, "options": {"table1": {**kw["options"]["table1"], **small, "ablations": False}}})

    monkeypatch.setattr(E, "run_seeds", run_small)
    argv = ["reproduce", "table1", *TINY, "--seeds", "0,3", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "seeds 0,3: 2 computed" in out and " ± " in out
    folder = tmp_path / "table1"
    assert sorted(p.name for p in (folder / "seeds").iterdir()) == ["seed_0.json", "seed_3.json"]
    first = json.loads((folder / "results.json").read_text())
    assert first["seeds"] == [0, 3] and len(first["rows"][0]["mAP"]["values"]) == 2
    # a rerun reuses both seeds: the same file, printed as markdown
    assert main(argv + ["--markdown"]) == 0
    out = capsys.readouterr().out
    assert "seeds 0,3: 2 reused" in out and "| DSC | 16 | 5 | " in out and " ± " in out
    again = json.loads((folder / "results.json").read_text())
    assert again["meta"]["params"]["markdown"] is True  # the combination records the run that wrote it
    assert {**again, "meta": None} == {**first, "meta": None} and again["meta"]["data"] == first["meta"]["data"]
    # other parameters: one line naming the parameter, nothing recomputed
    rc = main(["reproduce", "table1", "--scale", "3036", "--dim", "16", "--labels", "300", "--seeds", "0,3",
               "--out", str(tmp_path)])
    one_error_line(rc, capsys.readouterr().err, "reproduce", "labels=200, this run has labels=300", "--fresh")


def test_reproduce_calibration_two_seeds_resumes_and_prints_targets(tmp_path, capsys):
    import json

    args = ["reproduce", "calibration", "--scale", "3000", "--dim", "32", "--labels", "200", "--seeds", "2",
            "--out", str(tmp_path)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "map_5k" in text and "ivf_map_over_recall" in text and "2 computed" in text
    doc = json.loads((tmp_path / "calibration" / "results.json").read_text())
    assert doc["seeds"] == [0, 1] and len(doc["summary"]["map_5k"]["values"]) == 2
    assert (tmp_path / "calibration" / "calibration.png").is_file()
    (tmp_path / "calibration" / "seeds" / "seed_1.json").unlink()
    assert main(args) == 0
    assert "1 computed, 1 reused" in capsys.readouterr().out
    again = json.loads((tmp_path / "calibration" / "results.json").read_text())
    assert again["summary"] == doc["summary"]
    assert main(["reproduce", "calibration", "--data", "features:x.npz", "--out", str(tmp_path)]) == 2
