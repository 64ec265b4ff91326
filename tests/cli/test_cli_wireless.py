"""``dscref reproduce wireless``: its options reach the experiment (--bandwidths, --snr, --trials,
--fading, --block), bad --bandwidths are one-line errors, the other experiments' seed files do not
record --bandwidths, and a small end-to-end run writes the JSON, the figure and the tables."""

import json

import pytest

from dscref import experiments as E
from dscref.cli import main

TINY = ["--scale", "3036", "--dim", "16", "--labels", "200"]


class _Stop(ValueError):
    pass


@pytest.fixture
def calls(monkeypatch):
    seen = []

    def fake(*args, **kw):
        seen.append((args, kw))
        raise _Stop("stopped")

    monkeypatch.setattr(E, "run_seeds", fake)
    return seen


def test_the_options_reach_the_experiment(calls, tmp_path, capsys):
    assert main(["reproduce", "wireless", "--out", str(tmp_path)]) == 2
    (args, kw), = calls
    assert list(args[0]) == ["wireless"] and args[0]["wireless"] is E.wireless
    opts = kw["options"]["wireless"]
    assert opts["bandwidths"] == [47, 94, 188, 376] and opts["fading"] is False and opts["trials"] == 5
    assert opts["snrs"] == [-10 + 2.5 * i for i in range(17)]
    assert kw["params"]["bandwidths"] == [47, 94, 188, 376]
    argv = ["reproduce", "wireless", "--bandwidths", "94, 47", "--snr=-3,7", "--trials", "2", "--fading",
            "--block", "8", "--out", str(tmp_path)]
    assert main(argv) == 2
    opts = calls[-1][1]["options"]["wireless"]
    assert (opts["bandwidths"], opts["snrs"], opts["trials"], opts["fading"], opts["block"]) == \
        ([94, 47], [-3.0, 7.0], 2, True, 8)
    # the other experiments do not record --bandwidths: their existing seed files stay valid
    assert main(["reproduce", "fig3", "--out", str(tmp_path)]) == 2
    assert "bandwidths" not in calls[-1][1]["params"]
    capsys.readouterr()


@pytest.mark.parametrize("argv, needle", [
    (["wireless", "--bandwidths", "47,x"], "'x' is not a whole number"),
    (["wireless", "--bandwidths", "0,47"], "0 must be >= 1"),
    (["wireless", "--bandwidths", "47,47"], "distinct"),
    (["wireless", "--bandwidths", ","], "distinct"),
    (["fig3", "--bandwidths", "47"], "--bandwidths is for the wireless experiment"),
])
def test_bad_bandwidths_are_one_line_errors(argv, needle, tmp_path, capsys, one_error_line):
    rc = main(["reproduce", *argv, "--out", str(tmp_path)])
    one_error_line(rc, capsys.readouterr().err, "reproduce", needle)
    assert not any(tmp_path.iterdir())


def test_a_small_run_writes_json_figure_and_tables(monkeypatch, tmp_path, capsys):
    real = E.run_seeds
    small = dict(k=100, robust_variants=("plain",), rates=("1/2",), gap_step=5.0, progress=False)

    def run_small(*a, **kw):  # the command's options, the experiment shrunk
        return real(*a, **{**kw, "options": {"wireless": {**kw["options"]["wireless"], **small}}})

    monkeypatch.setattr(E, "run_seeds", run_small)
    argv = ["reproduce", "wireless", *TINY, "--bandwidths", "47,188", "--snr=0,20", "--trials", "1",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "== wireless (synthetic" in out and "== AWGN, B = 188 complex uses" in out
    assert "gap of each digital curve" in out
    doc = json.loads((tmp_path / "wireless" / "results.json").read_text())
    assert doc["bandwidths"] == [47, 188] and doc["channels"] == ["awgn"]
    assert doc["meta"]["params"]["bandwidths"] == [47, 188]
    assert (tmp_path / "wireless" / "wireless.png").stat().st_size > 10_000
    assert main(argv + ["--markdown"]) == 0  # resumed: the seed's file reused
    out = capsys.readouterr().out
    assert "1 reused" in out and "#### AWGN, B = 47 complex uses" in out and "| digital conv 1/2 |" in out
