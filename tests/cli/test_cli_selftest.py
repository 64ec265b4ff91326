"""``dscref selftest`` prints what :func:`dscref.selftest.selftest` returns."""

from dscref.cli import main
from dscref.cli.selftest import format_selftest
from dscref.selftest import selftest


def test_selftest_prints_the_librarys_result(capsys):
    argv = ["selftest", "--n", "500", "--d", "16", "--M", "4", "--nq", "10", "--seed", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    want = format_selftest(selftest(n=500, d=16, M=4, nq=10, seed=2))
    assert len(out) == len(want) == 5
    assert out[0] == "selftest: n=500 d=16 M=4 nbits=8 nq=10 seed=2"
    timing = 1  # the line of seconds differs between runs
    assert [line for i, line in enumerate(out) if i != timing] == [line for i, line in enumerate(want) if i != timing]
    assert "recall@10 (ADC top-10 vs exact top-10)" in out[3]


def test_selftest_arguments_are_checked(capsys, one_error_line):
    assert main(["selftest", "--d", "10", "--M", "4"]) == 2
    one_error_line(2, capsys.readouterr().err, "selftest", "--d 10", "--M 4")
    assert main(["selftest", "--n", "100"]) == 2
    assert "--n" in capsys.readouterr().err
