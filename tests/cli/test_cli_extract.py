"""The ``dscref extract`` subcommand on tiny ONNX models."""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from dscref.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models"))
import make_tiny  # noqa: E402


def _folder(tmp_path, bad=False):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((40 + 10 * i, 60, 3)) * 255).astype(np.uint8)).save(d / f"p{i}.png")
    if bad:
        (d / "zz_bad.jpg").write_bytes(b"\xff\xd8\xffnot really")
    return d


def test_extract_writes_features_labels_names(tmp_path, capsys):
    m = make_tiny.make_all(tmp_path / "m")
    d = _folder(tmp_path)
    out = tmp_path / "out"
    rc = main(["extract", str(d), "--extractor", str(m["extractor"]), "--classifier", str(m["classifier"]),
               "--size", "64", "--classifier-size", "32", "--out", str(out)])
    assert rc == 0
    x, labels = np.load(out / "features.npy"), np.load(out / "labels.npy")
    assert x.shape == (3, 16) and x.dtype == np.float32 and labels.shape == (3, 5) and labels.dtype == np.int64
    assert (out / "names.txt").read_text().split() == ["p0.png", "p1.png", "p2.png"]
    assert (out / "features.json").is_file() and "images/s" in capsys.readouterr().out


def test_extract_bad_image_fails_unless_skip_bad(tmp_path, capsys):
    m = make_tiny.make_all(tmp_path / "m")
    d = _folder(tmp_path, bad=True)
    out = tmp_path / "out"
    args = ["extract", str(d), "--extractor", str(m["extractor"]), "--classifier", str(m["classifier"]),
            "--size", "64", "--out", str(out)]
    assert main(args) == 2
    assert "zz_bad.jpg" in capsys.readouterr().err
    assert main(args + ["--skip-bad"]) == 0
    assert np.load(out / "features.npy").shape == (3, 16) and np.load(out / "labels.npy").shape == (3, 5)
    assert "zz_bad.jpg" in (out / "bad.txt").read_text()
    assert "skipped 1" in capsys.readouterr().out


def test_extract_argument_errors(tmp_path, capsys):
    m = make_tiny.make_all(tmp_path / "m")
    assert main(["extract", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert main(["extract", str(tmp_path / "none"), "--classifier", str(m["classifier"]),
                 "--out", str(tmp_path / "o")]) == 2
    assert main(["extract", str(_folder(tmp_path)), "--classifier", str(m["bad_input_rank"]),
                 "--out", str(tmp_path / "o")]) == 2
    assert "rank of input" in capsys.readouterr().err
