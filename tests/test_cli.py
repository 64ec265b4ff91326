"""The ``dscref`` command as a user meets it: every mistake is one line on stderr and exit status
2 (never a traceback); ``--scale`` sizes; ``query`` output (rank, id, score, name; JSON / CSV;
k capped); the demo's head display; PNGs on the main install."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dscref import cli
from dscref.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "models"))

N, D, K = 300, 16, 20


def visible_lines(err: str) -> list:
    """The non-empty lines a terminal shows for ``err`` (text after a line's last carriage
    return; progress bars that were erased leave nothing)."""
    out = []
    for raw in err.split("\n"):
        seg = raw.split("\r")[-1]
        if seg.strip():
            out.append(seg)
    return out


def assert_one_error_line(rc, err, command, *needles):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = visible_lines(err)
    assert len(lines) == 1, lines
    prefix = f"dscref {command}: error: " if command else "dscref: error: "
    assert lines[0].startswith(prefix), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny DSC index built through the CLI, query files, and broken files of every kind."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    feats = d / "feats"
    feats.mkdir()
    xb = rng.standard_normal((N, D)).astype(np.float32)
    labels = rng.integers(0, K, N).astype(np.int64)
    np.save(feats / "features.npy", xb)
    np.save(feats / "labels.npy", labels[:, None])
    (feats / "names.txt").write_text("".join(f"img{i:03d}.jpg\n" for i in range(N)))
    qdir = d / "q"
    qdir.mkdir()
    np.save(qdir / "xq.npy", xb[:3] + 0.01)
    heads = np.stack([rng.permutation(K)[:5] for _ in range(3)]).astype(np.int64)
    heads[:, 0] = labels[:3]
    np.save(qdir / "heads.npy", heads)
    idx = d / "ix.dscidx"
    assert main(["build", str(feats / "features.npy"), "--labels", str(feats / "labels.npy"),
                 "--lists", str(K), "--M", "4", "--nbits", "4", "--out", str(idx)]) == 0
    bad = d / "bad"
    bad.mkdir()
    raw = (feats / "features.npy").read_bytes()
    (bad / "truncated.npy").write_bytes(raw[:200])
    (bad / "text.npy").write_text("1 2 3\n")
    (bad / "empty.npy").write_bytes(b"")
    np.savez(bad / "arch.npz", a=np.arange(3))
    (bad / "arch.npy").write_bytes((bad / "arch.npz").read_bytes())
    np.save(bad / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(bad / "labels_float.npy", labels.astype(np.float64)[:, None] + 0.5)
    np.save(bad / "labels_short.npy", labels[:-1])
    np.save(bad / "heads_1d.npy", heads[:, 0])
    np.save(bad / "heads_float.npy", heads.astype(np.float32))
    np.save(bad / "heads_2rows.npy", heads[:2])
    np.save(bad / "heads_3cols.npy", heads[:, :3])
    np.save(bad / "heads_outside.npy", heads + K)
    np.save(bad / "xq_d8.npy", xb[:3, :8])
    (bad / "a_file").write_text("x")
    (bad / "a_dir").mkdir()
    return {"dir": d, "feats": feats, "xb": feats / "features.npy", "labels": feats / "labels.npy",
            "idx": idx, "xq": qdir / "xq.npy", "heads": qdir / "heads.npy", "bad": bad,
            "xb_arr": xb, "labels_arr": labels}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import make_tiny

    return make_tiny.make_all(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((40, 60, 3)) * 255).astype(np.uint8)).save(d / f"p{i}.png")
    broken = tmp_path_factory.mktemp("broken")
    for i in range(2):
        Image.fromarray((rng.random((40, 60, 3)) * 255).astype(np.uint8)).save(broken / f"p{i}.png")
    (broken / "zz_bad.jpg").write_bytes(b"\xff\xd8\xffnot really")
    return {"ok": d, "broken": broken}


# --------------------------------------------------------------------------- every mistake
def _build(f, features=None, labels=None, *extra, out=None):
    return ["build", str(features or f["xb"]), "--labels", str(labels or f["labels"]), "--lists", str(K),
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
                                str(cli._MIN_SYNTHETIC))
       for v in ("inf", "nan", "-5", "0", "1.5", "2.5555k", "lots", "1g")},
    "reproduce-scale-too-small-for-the-seed": (
        lambda f: ["reproduce", "fig2", "--scale", "50", "--dim", "16", "--labels", "200",
                   "--out", str(f["dir"] / "r")], str(cli._MIN_SYNTHETIC)),
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
    "demo-n-inf": (lambda f: ["demo", "--n", "inf"], str(cli._MIN_SYNTHETIC)),
    "demo-n-zero": (lambda f: ["demo", "--n", "0"], str(cli._MIN_SYNTHETIC)),
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
def test_every_mistake_is_one_line_and_status_2(case, files, capsys):
    make_argv, needle = MISTAKES[case]
    argv = make_argv(files)
    capsys.readouterr()
    rc = main(argv)
    # an unknown command is the top-level parser's error: "dscref: error: ..."
    command = None if case == "unknown-command" else argv[0]
    line = assert_one_error_line(rc, capsys.readouterr().err, command, needle)
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
def test_model_and_image_mistakes(case, models, images, files, tmp_path, capsys):
    make_argv, needle = MODEL_MISTAKES[case]
    argv = make_argv(models, images, tmp_path)
    if argv[0] == "query":
        argv[1] = str(files["idx"])
    capsys.readouterr()
    rc = main(argv)
    assert_one_error_line(rc, capsys.readouterr().err, argv[0], needle)


def test_unreadable_image_error_is_not_on_the_progress_bar_line(models, images, tmp_path, capsys):
    """A progress bar is running when the image fails: the error still starts on a fresh line,
    the bar is erased, and the file is named with the --skip-bad hint."""
    rc = main(["extract", str(images["broken"]), "--extractor", str(models["extractor"]), "--size", "32",
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "%|" in err  # a bar was drawn ...
    line = assert_one_error_line(rc, err, "extract", "zz_bad.jpg", "--skip-bad")  # ... and erased
    assert "%|" not in line


def test_mistakes_in_a_real_process(files, tmp_path):
    """The console entry point: status 2, one line, no traceback; -vv adds the traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for argv in (["reproduce", "fig2", "--scale", "inf"],
                 ["build", str(files["bad"] / "truncated.npy"), "--labels", str(files["labels"]),
                  "--out", str(tmp_path / "x")]):
        p = subprocess.run([sys.executable, "-m", "dscref", *argv], capture_output=True, text=True, env=env,
                           cwd=ROOT)
        assert_one_error_line(p.returncode, p.stderr, argv[0])
        assert p.stdout == ""
    p = subprocess.run([sys.executable, "-m", "dscref", "-vv", "build", str(tmp_path / "nope.npy"), "--out",
                        str(tmp_path / "x")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert p.returncode == 2 and "Traceback" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("dscref build: error: ")


# --------------------------------------------------------------------------- --scale
@pytest.mark.parametrize("text, n", [("105k", 105_000), ("1m", 1_000_000), ("1M", 1_000_000), ("2.5k", 2500),
                                     ("20000", 20000), (" 20K ", 20000), ("1e5", 100_000), (3036, 3036)])
def test_scale_accepts_sizes_with_suffixes(text, n):
    from dscref import experiments as E

    assert E.parse_scale(text) == n
    assert cli._synthetic_size(text, "--scale") == n


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "-5", "0", "1.5", "2.5555k", "", "k", "lots", "1g",
                                  "1e400", True])
def test_scale_refuses_non_sizes(text):
    from dscref import experiments as E

    with pytest.raises(ValueError, match="scale"):
        E.parse_scale(text)
    with pytest.raises(ValueError, match=str(cli._MIN_SYNTHETIC)):
        cli._synthetic_size(text, "--scale")


def test_smallest_scale_is_stated_and_is_the_generators_bound(capsys):
    """The help's minimum is the worst case of the generator's landmark images: no seed needs
    more (the generator's own too-small error names each seed's need)."""
    from dscref import experiments as E
    from dscref.synthetic import make_semantic_dataset

    assert E.min_synthetic_size() == cli._MIN_SYNTHETIC
    for seed in range(4):
        with pytest.raises(ValueError, match="too small") as info:
            make_semantic_dataset(1, d=16, n_classes=200, n_superclasses=20, seed=seed)
        need = int(re.search(r"have (\d+) database images", str(info.value)).group(1))
        assert 0 < need <= cli._MIN_SYNTHETIC
    assert main(["reproduce", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"works from {cli._MIN_SYNTHETIC}" in text and "2.5k" in text


# --------------------------------------------------------------------------- query output
def _rows(out: str) -> dict:
    """{query name: [(rank, id, score, name)]} from query's printed text."""
    res, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"query (\S+): ", line)
        if m:
            cur = res.setdefault(m.group(1), [])
        elif cur is not None and re.match(r"\s+\d+\s+\d+\s+\S+", line):
            parts = line.split()
            cur.append((int(parts[0]), int(parts[1]), float(parts[2]), parts[3] if len(parts) > 3 else None))
    return res


def test_query_prints_rank_id_score_and_names(files, capsys):
    capsys.readouterr()
    assert main(_query(files, None, None, "--k", "4")) == 0
    cap = capsys.readouterr()
    rows = _rows(cap.out)
    assert list(rows) == ["0", "1", "2"] and cap.err == ""
    for qi, r in enumerate(rows.values()):
        assert [x[0] for x in r] == list(range(1, len(r) + 1)) and 1 <= len(r) <= 4
        scores = [x[2] for x in r]
        assert scores == sorted(scores)  # l2: smaller first
        assert all(x[3] == f"img{x[1]:03d}.jpg" for x in r)  # names from build's names.txt
        assert r[0][1] == qi  # the query is a slightly moved copy of item qi
    assert re.search(r"query 0: \d+ bytes, head \[", cap.out)


def test_query_caps_k_with_a_note(files, capsys):
    capsys.readouterr()
    assert main(_query(files, None, None, "--k", "5000")) == 0
    cap = capsys.readouterr()
    note = visible_lines(cap.err)
    assert len(note) == 1 and "note" in note[0] and f"{N} items" in note[0] and "5000" in note[0]
    assert all(len(r) <= N for r in _rows(cap.out).values())


def test_query_writes_json_and_csv(files, tmp_path, capsys):
    js, cs = tmp_path / "sub" / "r.json", tmp_path / "r.csv"
    assert main(_query(files, None, None, "--k", "3", "--out", str(js))) == 0
    printed = _rows(capsys.readouterr().out)
    doc = json.loads(js.read_text())
    assert doc["k"] == 3 and doc["metric"] == "l2" and len(doc["queries"]) == 3
    q0 = doc["queries"][0]
    assert q0["query"] == "0" and q0["head_sent"] == q0["head_received"] and q0["bit_errors"] is None
    assert [(r["rank"], r["id"], r["name"]) for r in q0["results"]] == [(a, b, d) for a, b, _, d in printed["0"]]
    assert main(_query(files, None, None, "--k", "3", "--out", str(cs), "--snr", "30")) == 0
    with open(cs, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) >= {"query", "rank", "id", "score", "name", "bit_errors"}
    assert rows[0]["name"] == f"img{int(rows[0]['id']):03d}.jpg" and rows[0]["bit_errors"] == "0"
    assert [r["query"] for r in rows].count("0") == len(doc["queries"][0]["results"])


def test_build_names_sidecar_follows_the_index(files, tmp_path, capsys):
    """Names come from extract's names.txt beside the features; a rebuild without names removes
    the old sidecar instead of leaving wrong names."""
    other = tmp_path / "plain"
    other.mkdir()
    np.save(other / "x.npy", files["xb_arr"])
    np.save(other / "l.npy", files["labels_arr"])
    idx = tmp_path / "i.dscidx"
    base = ["build", "--labels", str(other / "l.npy"), "--lists", str(K), "--M", "4", "--nbits", "4",
            "--out", str(idx)]
    assert main(base[:1] + [str(files["xb"])] + base[1:]) == 0
    assert Path(f"{idx}.names.txt").read_text().splitlines()[5] == "img005.jpg"
    assert main(base[:1] + [str(other / "x.npy")] + base[1:]) == 0
    assert not Path(f"{idx}.names.txt").exists()
    capsys.readouterr()
    assert main(_query(files, None, None, "--k", "2", index=idx)) == 0
    assert all(x[3] is None for r in _rows(capsys.readouterr().out).values() for x in r)


def test_missing_output_folders_are_created(files, tmp_path):
    out = tmp_path / "a" / "b" / "ix.dscidx"
    assert main(_build(files, out=out)) == 0 and out.is_file()


# --------------------------------------------------------------------------- demo / plots
def test_demo_example_shows_head_sent_and_received():
    from dscref.demo import format_example

    ex = {"query": 4, "bit_errors": 9, "head_bit_errors": 3, "head_sent": [10, 20, 30, 40, 50],
          "head_received": [10, 21, 30, 1020, 10], "dropped_slots": [3, 4], "top5": [7, 8, 9, -1, -1]}
    line = format_example(ex, ok=[8], junk=[9])
    assert "9 bit errors (3 in the head)" in line
    assert "sent 10 20 30 40 50 -> received 10 [21] 30 [1020]x [10]x" in line
    assert line.endswith("top-5: 7 8* 9j")


def test_matplotlib_is_a_dependency_imported_only_when_plotting():
    # the [project] dependencies list (tomllib is Python >= 3.11; dscref supports 3.10)
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    assert re.search(r'^\s*"matplotlib[>=<]', deps, re.M)
    code = ("import sys, dscref.cli, dscref.experiments, dscref.demo; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_out_of_memory_and_a_closed_pipe_are_one_line_or_quiet(monkeypatch, capsys):
    """A size that does not fit (--n 1e12 asks for terabytes) is one line, exit 2; a reader that
    closes the pipe (`dscref query ... | head`) ends the command quietly."""
    def too_big(args):
        raise MemoryError("Unable to allocate 7.28 TiB for an array")

    monkeypatch.setattr(cli, "_cmd_selftest", too_big)
    assert main(["selftest"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not enough memory" in err[0] and "7.28 TiB" in err[0]

    def reader_left(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_cmd_selftest", reader_left)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # main replaces it with /dev/null
    assert main(["selftest"]) == 0
    assert capsys.readouterr().err == ""
