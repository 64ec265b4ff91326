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
