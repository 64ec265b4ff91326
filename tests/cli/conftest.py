"""Fixtures shared by the tests of the ``dscref`` command (``dscref.cli``): a tiny DSC index
built through the command with its query files and broken files of every kind, tiny ONNX models,
small image folders, and the one-line error checks (session-scoped helpers)."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
N, D, K = 300, 16, 20  # the index of ``files``: items, dimension, labels


def _visible_lines(err: str) -> list:
    """The non-empty lines a terminal shows for ``err`` (text after a line's last carriage
    return; progress bars that were erased leave nothing)."""
    out = []
    for raw in err.split("\n"):
        seg = raw.split("\r")[-1]
        if seg.strip():
            out.append(seg)
    return out


def _assert_one_error_line(rc, err, command, *needles):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = _visible_lines(err)
    assert len(lines) == 1, lines
    prefix = f"dscref {command}: error: " if command else "dscref: error: "
    assert lines[0].startswith(prefix), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def visible_lines():
    """``visible_lines(err)``: the lines a terminal shows of a stderr text."""
    return _visible_lines


@pytest.fixture(scope="session")
def one_error_line():
    """``one_error_line(rc, err, command, *needles)``: asserts status 2 and exactly one visible
    line ``dscref <command>: error: ...`` holding every needle; returns the line."""
    return _assert_one_error_line


@pytest.fixture(scope="session")
def repo_root():
    """The repository's root folder (pyproject.toml, models/, dscref/)."""
    return ROOT


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny DSC index built through the CLI, query files, and broken files of every kind."""
    from dscref.cli import main

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
            "xb_arr": xb, "labels_arr": labels, "heads_arr": heads, "N": N, "D": D, "K": K}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny ONNX models of ``models/make_tiny.py``."""
    sys.path.insert(0, str(ROOT / "models"))
    import make_tiny

    return make_tiny.make_all(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """``{"ok": 3 readable pictures, "broken": 2 pictures and an unreadable .jpg}``."""
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
