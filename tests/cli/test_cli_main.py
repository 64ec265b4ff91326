"""The ``dscref`` command as a user meets it: every mistake is one line on stderr and exit status
2 (never a traceback), out of memory and a closed pipe; the entry points (``dscref.cli.main``,
``build_parser``, ``python -m dscref``, the console script) and the layer rule that no library
module imports the CLI; PNGs on the main install."""

import ast
import os
import re
import subprocess
import sys

import pytest

from dscref.cli import main
from dscref.cli import selftest as cli_selftest
from dscref.cli._common import MIN_SYNTHETIC


# --------------------------------------------------------------------------- every mistake
def _build(f, features=None, labels=None, *extra, out=None):
    return ["build", str(features or f["xb"]), "--labels", str(labels or f["labels"]), "--lists", str(f["K"]),
            "--M", "4", "--nbits", "4", "--out", str(out or f["dir"] / "new.dscidx"), *extra]


def _query(f, queries=None, labels=None, *extra, index=None):
    return ["query", str(index or f["idx"]), str(queries or f["xq"]), "--labels", str(labels or f["heads"]),
            *extra]


B = "bad"
MISTAKES = {
    # build: the features file
    "build-features-missing": (lambda f: _build(f, f["dir"] / "nope.npy"), "nope.npy"),
    "build-features-is-folder": (lambda f: _build(f, f[B] / "a_dir"), "is a folder"),
    "build-features-truncated": (lambda f: _build(f, f[B] / "truncated.npy"), "truncated.npy"),
    "build-features-empty-file": (lambda f: _build(f, f[B] / "empty.npy"), "empty.npy"),
    "build-features-not-numpy": (lambda f: _build(f, f[B] / "text.npy"), "text.npy"),
    "build-features-npz-archive": (lambda f: _build(f, f[B] / "arch.npy"), ".npz"),
    "build-features-pickled": (lambda f: _build(f, f[B] / "pickled.npy"), "pickled.npy"),
    "build-features-1d-labels-file": (lambda f: _build(f, f[B] / "labels_short.npy"), "labels_short.npy"),
    "build-M-not-dividing-d": (lambda f: _build(f, None, None, "--M", "5"), "--M 5"),
    # build: the labels file
    "build-labels-float": (lambda f: _build(f, None, f[B] / "labels_float.npy"), "labels_float.npy"),
    "build-labels-outside-lists": (lambda f: _build(f)[:-4] + ["--lists", "10", "--out", str(f["dir"] / "n")],
                                   "--lists 10"),
    "build-rows-mismatch": (lambda f: _build(f, None, f[B] / "labels_short.npy"), "299 rows"),
    "build-labels-is-folder": (lambda f: _build(f, None, f[B] / "a_dir"), "a_dir"),
    "build-labels-truncated": (lambda f: _build(f, None, f[B] / "truncated.npy"), "truncated.npy"),
    "build-dsc-without-labels": (lambda f: ["build", str(f["xb"]), "--out", str(f["dir"] / "x")], "--labels"),
    # build: the output path
    "build-out-is-folder": (lambda f: _build(f, out=f[B] / "a_dir"), "a_dir"),
    "build-out-under-a-file": (lambda f: _build(f, out=f[B] / "a_file" / "x.dscidx"), "a_file"),
    "build-names-wrong-length": (lambda f: _build(f, None, None, "--names", str(f[B] / "a_file")), "--names"),
    "build-lists-zero": (lambda f: _build(f)[:-4] + ["--lists", "0", "--out", str(f["dir"] / "n")], "--lists"),
    # query
    "query-labels-1d": (lambda f: _query(f, None, f[B] / "heads_1d.npy"), "heads_1d.npy"),
    "query-labels-float": (lambda f: _query(f, None, f[B] / "heads_float.npy"), "heads_float.npy"),
    "query-rows-mismatch": (lambda f: _query(f, None, f[B] / "heads_2rows.npy"), "2 rows"),
    "query-labels-too-few-columns": (lambda f: _query(f, None, f[B] / "heads_3cols.npy"), "heads_3cols.npy"),
    "query-labels-outside-index": (lambda f: _query(f, None, f[B] / "heads_outside.npy"), "heads_outside.npy"),
    "query-labels-missing": (lambda f: _query(f, None, f["dir"] / "nope.npy"), "nope.npy"),
    "query-dsc-without-labels": (lambda f: ["query", str(f["idx"]), str(f["xq"])], "--labels"),
    "query-index-missing": (lambda f: _query(f, index=f["dir"] / "nope.dscidx"), "nope.dscidx"),
    "query-index-is-folder": (lambda f: _query(f, index=f[B] / "a_dir"), "a_dir"),
    "query-index-not-an-index": (lambda f: _query(f, index=f["xb"]), "features.npy"),
    "query-queries-missing": (lambda f: _query(f, f["dir"] / "nope.npy"), "nope.npy"),
    "query-queries-truncated": (lambda f: _query(f, f[B] / "truncated.npy"), "truncated.npy"),
    "query-queries-not-numpy": (lambda f: _query(f, f[B] / "text.npy"), "text.npy"),
    "query-queries-wrong-d": (lambda f: _query(f, f[B] / "xq_d8.npy"), "d=8"),
    "query-folder-without-extractor": (lambda f: _query(f, f[B] / "a_dir"), "--extractor"),
    "query-snr-inf": (lambda f: _query(f, None, None, "--snr", "inf"), "--snr"),
    "query-snr-nan": (lambda f: _query(f, None, None, "--snr", "nan"), "--snr"),
    "query-snr-huge": (lambda f: _query(f, None, None, "--snr", "1e6"), "--snr"),
    "query-snr-very-negative": (lambda f: _query(f, None, None, "--snr=-1000"), "--snr"),
    "query-snr-not-a-number": (lambda f: _query(f, None, None, "--snr", "loud"), "--snr"),
    "query-k-zero": (lambda f: _query(f, None, None, "--k", "0"), "--k"),
    "query-out-is-folder": (lambda f: _query(f, None, None, "--out", str(f[B] / "a_dir")), "a_dir"),
    "query-out-unknown-format": (lambda f: _query(f, None, None, "--out", str(f["dir"] / "r.txt")), ".json"),
    "query-out-under-a-file": (lambda f: _query(f, None, None, "--out", str(f[B] / "a_file" / "r.json")),
                               "a_file"),
    # reproduce
    **{f"reproduce-scale-{v}": (lambda f, v=v: ["reproduce", "fig2", "--scale", v, "--out", str(f["dir"] / "r")],
                                str(MIN_SYNTHETIC))
       for v in ("inf", "nan", "-5", "0", "1.5", "2.5555k", "lots", "1g")},
    "reproduce-scale-too-small-for-the-seed": (
        lambda f: ["reproduce", "fig2", "--scale", "50", "--dim", "16", "--labels", "200",
                   "--out", str(f["dir"] / "r")], str(MIN_SYNTHETIC)),
    "reproduce-data-unknown": (lambda f: ["reproduce", "fig2", "--data", "nonsense"], "features:PATH"),
    "reproduce-data-features-empty": (lambda f: ["reproduce", "fig2", "--data", "features:"], "features:PATH"),
    "reproduce-data-features-missing": (lambda f: ["reproduce", "fig2", "--data", "features:/no/such.npz"],
                                        "/no/such.npz"),
    "reproduce-data-revisited-no-name": (lambda f: ["reproduce", "fig2", "--data", f"revisited:{f['dir']}"],
                                         "revisited:ROOT:NAME"),
    "reproduce-data-holidays-missing-root": (lambda f: ["reproduce", "fig2", "--data", "holidays:/no/root"],
                                             "/no/root"),
    "reproduce-data-images-without-models": (lambda f: ["reproduce", "fig2", "--data", f"holidays:{f['dir']}"],
                                             "--extractor"),
    "reproduce-snr-extreme": (lambda f: ["reproduce", "fig3", "--snr=-1000,0", "--scale", "3k"], "-1000"),
    "reproduce-snr-inf": (lambda f: ["reproduce", "robust", "--snr", "0,inf", "--scale", "3k"], "inf"),
    "reproduce-snr-empty": (lambda f: ["reproduce", "fig3", "--snr", ",", "--scale", "3k"], "--snr"),
    "reproduce-out-is-a-file": (lambda f: ["reproduce", "fig2", "--out", str(f[B] / "a_file")], "a_file"),
    "reproduce-trials-zero": (lambda f: ["reproduce", "fig3", "--trials", "0"], "--trials"),
    "reproduce-unknown-experiment": (lambda f: ["reproduce", "fig9"], "fig9"),
    # demo
    "demo-snr-nan": (lambda f: ["demo", "--snr", "nan"], "--snr"),
    "demo-snr-overflow": (lambda f: ["demo", "--snr", "1e400"], "--snr"),
    "demo-snr-extreme": (lambda f: ["demo", "--snr=-300"], "--snr"),
    "demo-n-inf": (lambda f: ["demo", "--n", "inf"], str(MIN_SYNTHETIC)),
    "demo-n-zero": (lambda f: ["demo", "--n", "0"], str(MIN_SYNTHETIC)),
    "demo-images-missing": (lambda f: ["demo", "--images", str(f["dir"] / "none"), "--extractor", "a.onnx",
                                       "--classifier", "b.onnx"], "none"),
    "demo-models-without-images": (lambda f: ["demo", "--extractor", "a.onnx"], "--images"),
    # extract (paths)
    "extract-images-missing": (lambda f: ["extract", str(f["dir"] / "none"), "--classifier", "c.onnx",
                                          "--out", str(f["dir"] / "o")], "none"),
    "extract-images-is-a-file": (lambda f: ["extract", str(f["xb"]), "--classifier", "c.onnx",
                                            "--out", str(f["dir"] / "o")], "features.npy"),
    "extract-out-is-a-file": (lambda f: ["extract", str(f[B]), "--classifier", "c.onnx",
                                         "--out", str(f[B] / "a_file")], "a_file"),
    "extract-no-model": (lambda f: ["extract", str(f[B]), "--out", str(f["dir"] / "o")], "--classifier"),
    "extract-no-images-in-folder": (lambda f: ["extract", str(f[B] / "a_dir"), "--classifier", "c.onnx",
                                               "--out", str(f["dir"] / "o")], "no images"),
    "unknown-command": (lambda f: ["frobnicate"], "frobnicate"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_every_mistake_is_one_line_and_status_2(case, files, capsys, one_error_line):
    make_argv, needle = MISTAKES[case]
    argv = make_argv(files)
    capsys.readouterr()
    rc = main(argv)
    # an unknown command is the top-level parser's error: "dscref: error: ..."
    command = None if case == "unknown-command" else argv[0]
    line = one_error_line(rc, capsys.readouterr().err, command, needle)
    assert len(line) < 600


MODEL_MISTAKES = {
    "extract-models-swapped": (lambda m, i, d: ["extract", str(i["ok"]), "--extractor", str(m["classifier"]),
                                                "--classifier", str(m["extractor"]), "--out", str(d / "o")],
                               "swapped"),
    "extract-same-model-twice": (lambda m, i, d: ["extract", str(i["ok"]), "--extractor", str(m["classifier"]),
                                                  "--classifier", str(m["classifier"]), "--out", str(d / "o")],
                                 "same file"),
    "extract-classifier-is-an-extractor": (lambda m, i, d: ["extract", str(i["ok"]), "--classifier",
                                                            str(m["extractor"]), "--out", str(d / "o")],
                                           "--classifier"),
    "extract-model-missing": (lambda m, i, d: ["extract", str(i["ok"]), "--extractor", str(d / "none.onnx"),
                                               "--out", str(d / "o")], "none.onnx"),
    "extract-model-is-folder": (lambda m, i, d: ["extract", str(i["ok"]), "--extractor", str(d),
                                                 "--out", str(d / "o")], "--extractor"),
    "extract-manifest-missing": (lambda m, i, d: ["extract", str(i["ok"]), "--extractor", str(m["extractor"]),
                                                  "--manifest", str(d / "none.json"), "--out", str(d / "o")],
                                 "none.json"),
    "extract-unreadable-image": (lambda m, i, d: ["extract", str(i["broken"]), "--extractor", str(m["extractor"]),
                                                  "--size", "32", "--out", str(d / "o")], "--skip-bad"),
    "extract-k-above-classes": (lambda m, i, d: ["extract", str(i["ok"]), "--classifier", str(m["classifier"]),
                                                 "--k", "2000", "--out", str(d / "o")], "--k 2000"),
    "query-image-models-swapped": (lambda m, i, d: ["query", str(d / "ix"), str(i["ok"]), "--extractor",
                                                    str(m["classifier"]), "--classifier", str(m["extractor"])],
                                   "swapped"),
}


@pytest.mark.parametrize("case", sorted(MODEL_MISTAKES))
def test_model_and_image_mistakes(case, models, images, files, tmp_path, capsys, one_error_line):
    make_argv, needle = MODEL_MISTAKES[case]
    argv = make_argv(models, images, tmp_path)
    if argv[0] == "query":
        argv[1] = str(files["idx"])
    capsys.readouterr()
    rc = main(argv)
    one_error_line(rc, capsys.readouterr().err, argv[0], needle)


def test_unreadable_image_error_is_not_on_the_progress_bar_line(models, images, tmp_path, capsys, one_error_line):
    """A progress bar is running when the image fails: the error still starts on a fresh line,
    the bar is erased, and the file is named with the --skip-bad hint."""
    rc = main(["extract", str(images["broken"]), "--extractor", str(models["extractor"]), "--size", "32",
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "%|" in err  # a bar was drawn ...
    line = one_error_line(rc, err, "extract", "zz_bad.jpg", "--skip-bad")  # ... and erased
    assert "%|" not in line


def test_mistakes_in_a_real_process(files, tmp_path, one_error_line, repo_root):
    """The console entry point: status 2, one line, no traceback; -vv adds the traceback."""
    env = {**os.environ, "PYTHONPATH": str(repo_root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for argv in (["reproduce", "fig2", "--scale", "inf"],
                 ["build", str(files["bad"] / "truncated.npy"), "--labels", str(files["labels"]),
                  "--out", str(tmp_path / "x")]):
        p = subprocess.run([sys.executable, "-m", "dscref", *argv], capture_output=True, text=True, env=env,
                           cwd=repo_root)
        one_error_line(p.returncode, p.stderr, argv[0])
        assert p.stdout == ""
    p = subprocess.run([sys.executable, "-m", "dscref", "-vv", "build", str(tmp_path / "nope.npy"), "--out",
                        str(tmp_path / "x")], capture_output=True, text=True, env=env, cwd=repo_root)
    assert p.returncode == 2 and "Traceback" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("dscref build: error: ")


def test_matplotlib_is_a_dependency_imported_only_when_plotting(repo_root):
    # the [project] dependencies list (tomllib is Python >= 3.11; dscref supports 3.10)
    text = (repo_root / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    assert re.search(r'^\s*"matplotlib[>=<]', deps, re.M)
    code = ("import sys, dscref.cli, dscref.experiments, dscref.demo; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)


def test_out_of_memory_and_a_closed_pipe_are_one_line_or_quiet(monkeypatch, capsys):
    """A size that does not fit (--n 1e12 asks for terabytes) is one line, exit 2; a reader that
    closes the pipe (`dscref query ... | head`) ends the command quietly."""
    def too_big(args):
        raise MemoryError("Unable to allocate 7.28 TiB for an array")

    monkeypatch.setattr(cli_selftest, "cmd_selftest", too_big)
    assert main(["selftest"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not enough memory" in err[0] and "7.28 TiB" in err[0]

    def reader_left(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_selftest, "cmd_selftest", reader_left)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # main replaces it with /dev/null
    assert main(["selftest"]) == 0
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- entry points and layers
def test_main_and_build_parser_keep_their_import_path(capsys):
    from dscref import __version__
    from dscref.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == {"demo", "reproduce", "claims", "build", "query", "extract", "features", "selftest"}
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dscref {__version__}"
    assert main([]) == 2  # no command: the help, status 2
    assert "COMMAND" in capsys.readouterr().out


def test_demo_modem_choices_are_the_channel_modems():
    from dscref.channel import MODEM_NAMES
    from dscref.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    demo = sub.choices["demo"]
    modem = next(a for a in demo._actions if a.dest == "modem")
    assert tuple(modem.choices) == MODEM_NAMES


def test_python_m_dscref_and_the_console_script(repo_root):
    from dscref import __version__

    env = {**os.environ, "PYTHONPATH": str(repo_root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "dscref", "--version"], capture_output=True, text=True, env=env,
                       cwd=repo_root)
    assert p.returncode == 0 and p.stdout.strip() == f"dscref {__version__}", p.stderr
    # the console script of pyproject.toml names dscref.cli:main
    text = (repo_root / "pyproject.toml").read_text()
    assert re.search(r'^dscref = "dscref\.cli:main"$', text, re.M)


def test_importing_the_cli_is_light(repo_root):
    """``dscref --help`` is instant: the CLI imports neither NumPy nor the library's modules."""
    code = ("import sys, dscref.cli; heavy = [m for m in ('numpy', 'tqdm', 'dscref.link', 'dscref.demo', "
            "'dscref.experiments', 'dscref.selftest', 'dscref._userinput') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)


def _imported_modules(path, package: str) -> set:
    """Every module ``path`` imports (inside functions too), relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from dscref import cli`
    return out


def test_no_library_module_imports_the_cli(repo_root):
    """The layer rule: the CLI sits on top; only ``python -m dscref`` (dscref/__main__.py) enters it."""
    pkg = repo_root / "dscref"
    offenders = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(repo_root)
        if rel.parts[:2] == ("dscref", "cli") or rel == pkg.relative_to(repo_root) / "__main__.py":
            continue
        package = ".".join(rel.parts[:-1])  # dscref/a/b.py and dscref/a/__init__.py: dscref.a
        bad = sorted(m for m in _imported_modules(path, package) if m == "dscref.cli" or m.startswith("dscref.cli."))
        if bad:
            offenders.append((str(rel), bad))
    assert not offenders, offenders
    # the check sees an import of the CLI when there is one
    assert "dscref.cli" in _imported_modules(pkg / "__main__.py", "dscref")
