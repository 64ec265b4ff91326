"""``dscref reproduce`` (:mod:`dscref.cli.reproduce`): ``--scale`` sizes and the stated minimum,
and the data it reads through ``experiments.load_data`` (image datasets through the call-site
adapter until ``load_data`` reads them)."""

import re
from types import SimpleNamespace

import pytest

from dscref.cli import main
from dscref.cli._common import MIN_SYNTHETIC, synthetic_size


# --------------------------------------------------------------------------- --scale
@pytest.mark.parametrize("text, n", [("105k", 105_000), ("1m", 1_000_000), ("1M", 1_000_000), ("2.5k", 2500),
                                     ("20000", 20000), (" 20K ", 20000), ("1e5", 100_000), (712, 712)])
def test_scale_accepts_sizes_with_suffixes(text, n):
    from dscref import experiments as E

    assert E.parse_scale(text) == n
    assert synthetic_size(text, "--scale") == n


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "-5", "0", "1.5", "2.5555k", "", "k", "lots", "1g",
                                  "1e400", True])
def test_scale_refuses_non_sizes(text):
    from dscref import experiments as E

    with pytest.raises(ValueError, match="scale"):
        E.parse_scale(text)
    with pytest.raises(ValueError, match=str(MIN_SYNTHETIC)):
        synthetic_size(text, "--scale")


def test_smallest_scale_is_stated_and_is_the_generators_bound(capsys):
    """The help's minimum is the worst case of the generator's landmark images: no seed needs
    more (the generator's own too-small error names each seed's need)."""
    from dscref import experiments as E
    from dscref.synthetic import make_semantic_dataset

    assert E.min_synthetic_size() == MIN_SYNTHETIC
    for seed in range(4):
        with pytest.raises(ValueError, match="too small") as info:
            make_semantic_dataset(1, d=16, n_classes=200, n_superclasses=20, seed=seed)
        need = int(re.search(r"have (\d+) database images", str(info.value)).group(1))
        assert 0 < need <= MIN_SYNTHETIC
    assert main(["reproduce", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"works from {MIN_SYNTHETIC}" in text and "2.5k" in text


# --------------------------------------------------------------------------- data
class _Stop(ValueError):
    pass


@pytest.fixture
def loads(monkeypatch):
    """Every ``experiments.load_data`` / ``image_data`` call of the command, recorded; the call
    then stops the command (a one-line error) before any experiment runs."""
    from dscref import experiments as E

    calls = []

    def record(name):
        def fake(*args, **kw):
            calls.append((name, args, kw))
            raise _Stop("stopped after loading")
        return fake

    monkeypatch.setattr(E, "load_data", record("load_data"))
    monkeypatch.setattr(E, "image_data", record("image_data"))
    return calls


def test_reproduce_reads_synthetic_data_through_load_data(loads, tmp_path, capsys):
    argv = ["reproduce", "fig2", "--scale", "5k", "--dim", "32", "--labels", "40", "--seed", "3",
            "--workdir", str(tmp_path / "w"), "--out", str(tmp_path / "r")]
    assert main(argv) == 2 and "stopped after loading" in capsys.readouterr().err
    assert loads == [("load_data", ("synthetic",), dict(scale=5000, seed=3, d=32, n_classes=40,
                                                       workdir=str(tmp_path / "w"), n_superclasses=4))]


def test_reproduce_reads_a_features_file_through_load_data(loads, tmp_path, capsys):
    path = tmp_path / "f.npz"
    path.write_bytes(b"")
    assert main(["reproduce", "table1", "--data", f"features:{path}", "--out", str(tmp_path / "r")]) == 2
    capsys.readouterr()
    (name, args, kw), = loads
    assert name == "load_data" and args == (f"features:{path}",) and kw["scale"] is None


def test_image_datasets_go_through_the_adapter_with_the_loaded_models():
    """Until ``experiments.load_data`` takes ``extractor=`` / ``classifier=``, the command's
    adapter sends image datasets to ``experiments.image_data`` and everything else to
    ``load_data`` (with the synthetic settings, which ``load_data`` ignores for a features file)."""
    from dscref.cli.reproduce import _load_data

    E = SimpleNamespace(load_data=lambda spec, **kw: ("load_data", spec, kw),
                        image_data=lambda spec, ext, clf: ("image_data", spec, ext, clf))
    assert _load_data(E, "holidays:/r", extractor="X", classifier="C", scale=None, d=8) == \
        ("image_data", "holidays:/r", "X", "C")
    assert _load_data(E, "synthetic", scale=4000, d=8) == ("load_data", "synthetic", {"scale": 4000, "d": 8})


# --------------------------------------------------------------------------- presets and --scale paper
def test_cli_preset_names_are_the_generators_and_the_papers():
    from dscref.cli.reproduce import _PAPER_SCALES, _PRESETS
    from dscref.experiments import PAPER_SCALES
    from dscref.synthetic.presets import PRESETS

    assert set(_PRESETS) == set(PRESETS) and _PAPER_SCALES == PAPER_SCALES


@pytest.mark.parametrize("scale", ["oxford5k", "Paris6k", "holidays"])
def test_reproduce_passes_a_preset_name_to_load_data(loads, tmp_path, capsys, scale):
    argv = ["reproduce", "table1", "--scale", scale, "--dim", "32", "--labels", "40", "--out", str(tmp_path / "r")]
    assert main(argv) == 2 and "stopped after loading" in capsys.readouterr().err
    (name, args, kw), = loads
    assert args == ("synthetic",) and kw["scale"] == scale.lower()


def test_scale_paper_loads_the_three_data_sets_first(loads, tmp_path, capsys):
    assert main(["reproduce", "fig2", "--scale", "paper", "--out", str(tmp_path / "r")]) == 2
    capsys.readouterr()
    assert [kw["scale"] for _, _, kw in loads] == ["oxford5k"]  # stopped at the first


def test_scale_paper_runs_fig2_per_data_set_then_the_rest_at_105k(monkeypatch, tmp_path, capsys):
    """``reproduce all --scale paper``: Fig. 2 on every data set (their runs under OUT/fig2_paper/,
    combined there into one JSON and one figure), Table I and Fig. 3 on the 105k data, which Fig. 2
    at 105k shares its indexes with (one run, as ``--scale 105k``)."""
    import json

    from dscref import experiments as E

    data = E.synthetic_data(3000, seed=3, d=16, n_classes=200, n_superclasses=20, ranking_depth=50)
    calls, ran = [], []
    monkeypatch.setattr(E, "load_data", lambda spec, **kw: calls.append(kw["scale"]) or data)
    real_fig2 = E.fig2

    def small_fig2(d, **kw):
        return real_fig2(d, kinds=("dsc", "ivf"), head_sizes=(1, 5), **kw)

    def fake(name):
        def run(d, **kw):
            ran.append((name, d is data, kw.get("indexes")))
            row = {"label": "DSC", "M": 2048, "head": 7, "mAP": 0.5, "Recall": 0.9, "R@1": 0.1, "R@10": 0.2,
                   "R@100": 0.3, "candidates": 10, "bytes": 47, "query_ms": 1.0}
            return {"experiment": name, "rows": [row], "k": 1000, "fading": False,
                    "curves": {"a": {"B": 4, "snr_db": [0.0], "mAP": [0.1], "mAP_std": [0.0]}}}
        return run

    monkeypatch.setattr(E, "fig2", small_fig2)
    monkeypatch.setattr(E, "table1", fake("table1"))
    monkeypatch.setattr(E, "fig3", fake("fig3"))
    monkeypatch.setattr(E, "format_fig3", lambda r: "fig3 text")
    out = tmp_path / "r"
    assert main(["reproduce", "all", "--scale", "paper", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert calls == ["oxford5k", "paris6k", "holidays", 105_000]
    assert [r[0] for r in ran] == ["table1", "fig3"] and all(r[1] for r in ran)
    assert set(ran[0][2]) == {"ivf"}  # the 105k index Fig. 2 built (DSC needs none), shared
    doc = json.loads((out / "fig2_paper" / "results.json").read_text())
    assert doc["experiment"] == "fig2_paper" and list(doc["datasets"]) == ["oxford5k", "paris6k", "holidays", "105k"]
    assert doc["meta"]["params"]["scale"] == "paper" and doc["seeds"] == [0]
    assert doc["paper_head_size_for_90pct"]["ivf"]["oxford5k"] == 30
    for preset in ("oxford5k", "paris6k", "holidays"):  # each data set's own run, resumable
        assert (out / "fig2_paper" / preset / "fig2" / "seeds" / "seed_0.json").is_file()
    assert json.loads((out / "fig2" / "results.json").read_text())["meta"]["params"]["scale"] == "105k"
    assert "head size for 90% recall, ours / paper" in text and "/ 30" in text
    if (out / "fig2" / "fig2.png").is_file():  # matplotlib installed
        assert (out / "fig2_paper" / "fig2_paper.png").stat().st_size > 0
    # a rerun reuses every seed's file, Fig. 2's of every data set included
    calls.clear()
    ran.clear()
    assert main(["reproduce", "all", "--scale", "paper", "--out", str(out)]) == 0
    assert calls == [] and ran == []
    capsys.readouterr()


# --------------------------------------------------------------------------- --no-ablations
@pytest.mark.parametrize("flag, ablations", [([], True), (["--no-ablations"], False)])
def test_table1_runs_its_ablation_rows_unless_told_not_to(flag, ablations, monkeypatch, tmp_path, capsys):
    from dscref import experiments as E

    calls = []

    def fake_table1(data, **kw):
        calls.append(kw)
        raise _Stop("stopped at table1")

    monkeypatch.setattr(E, "load_data", lambda spec, **kw: SimpleNamespace(name="features"))
    monkeypatch.setattr(E, "table1", fake_table1)
    path = tmp_path / "f.npz"
    path.write_bytes(b"")
    argv = ["reproduce", "table1", "--data", f"features:{path}", "--out", str(tmp_path / "r")] + flag
    assert main(argv) == 2 and "stopped at table1" in capsys.readouterr().err
    (kw,) = calls
    assert kw["ablations"] is ablations


def test_no_ablations_is_explained_in_the_help(capsys):
    assert main(["reproduce", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-ablations" in text and "not in the paper" in text and "shared PQ" in text
