"""dscref._files: every written file honours the umask; a SIGKILLed save leaves a temporary file
that the next save of the same path removes, while a live writer's temporary file is kept."""

import os
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dscref import _files
from dscref._files import atomic_open, atomic_write, remove_stale_temps
from dscref.index.flat import FlatPQIndex
from dscref.io import load_index, save_index

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(os.name != "posix", reason="umask and PIDs are POSIX")


@pytest.fixture(scope="module")
def small_index():
    x = np.random.default_rng(0).standard_normal((600, 16)).astype(np.float32)
    return FlatPQIndex(M=4, nbits=4, n_iter=3, seed=0).build(x)


@pytest.fixture()
def umask():
    """Run the test under a chosen umask; restore the old one afterwards."""
    old = os.umask(0o022)
    try:
        yield lambda m: os.umask(m)
    finally:
        os.umask(old)


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def _temps(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".tmp"))


@pytest.mark.parametrize("mask", [0o027, 0o002, 0o077])
def test_atomic_write_and_save_index_honour_the_umask(tmp_path, umask, small_index, mask):
    umask(mask)
    atomic_write(tmp_path / "a.txt", "text")
    atomic_write(tmp_path / "b.bin", b"bytes")
    save_index(small_index, tmp_path / "ix.dscidx")
    with atomic_open(tmp_path / "c.npy") as f:
        np.save(f, np.arange(3))
    for name in ("a.txt", "b.bin", "ix.dscidx", "c.npy"):
        assert _mode(tmp_path / name) == 0o666 & ~mask, name
    assert _temps(tmp_path) == []


def test_results_and_plot_honour_the_umask(tmp_path, umask):
    from dscref.experiments import RetrievalData, write_results

    umask(0o027)
    data = RetrievalData(name="t", xb=np.zeros((4, 2), np.float32), labels_b=np.zeros(4, np.int64),
                         xq=np.zeros((1, 2), np.float32), ranking_q=np.zeros((1, 5), np.int64),
                         gnd=[{"ok": np.array([0]), "junk": np.array([], np.int64)}], n_lists=5)
    result = {"experiment": "fig2", "target": 0.9, "head_size_for_target": {"dsc": 1},
              "curves": {"dsc": {"head_sizes": [1, 2], "recall": [0.5, 1.0]}}}
    write_results(tmp_path / "r", result, data, {"seed": 0})
    assert _mode(tmp_path / "r" / "results.json") == 0o640
    pytest.importorskip("matplotlib")
    assert _mode(tmp_path / "r" / "fig2.png") == 0o640


def test_extract_outputs_honour_the_umask(tmp_path, umask):
    sys.path.insert(0, os.path.join(ROOT, "models"))
    import make_tiny
    from PIL import Image

    from dscref.cli import main

    m = make_tiny.make_all(tmp_path / "m")
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(d / "p0.png")
    (d / "bad.jpg").write_bytes(b"\xff\xd8\xffnot an image")
    umask(0o027)
    assert main(["extract", str(d), "--extractor", str(m["extractor"]), "--classifier", str(m["classifier"]),
                 "--size", "64", "--classifier-size", "32", "--out", str(tmp_path / "o"), "--skip-bad"]) == 0
    written = sorted(os.listdir(tmp_path / "o"))
    assert written == ["bad.txt", "features.json", "features.npy", "labels.npy", "names.txt", "probs.npy"]
    assert {f: _mode(tmp_path / "o" / f) for f in written} == {f: 0o640 for f in written}


_SLOW_SAVER = textwrap.dedent("""
    import os, sys, time
    from dscref.io import load_index, save_index

    ix = load_index(sys.argv[1], mmap=False)
    def slow_fsync(fd):  # the whole index is written; stall before the rename
        print("writing", flush=True)
        time.sleep(120)
    os.fsync = slow_fsync
    save_index(ix, sys.argv[1])
""")


def test_sigkilled_save_leaves_a_temp_that_the_next_save_removes(tmp_path, small_index):
    path = tmp_path / "live.dscidx"
    save_index(small_index, path)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SAVER, str(path)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        temps = _temps(tmp_path)
        assert len(temps) == 1 and temps[0].startswith(".live.dscidx.") and f".{proc.pid}." in temps[0]
        # a concurrent save of the same path by a live writer: its temp file is not touched
        save_index(small_index, path)
        atomic_write(path.with_name("other.txt"), "x")
        assert _temps(tmp_path) == temps
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert _temps(tmp_path) == temps  # SIGKILL ran no cleanup
    save_index(small_index, path)  # the next save of the same path removes the dead writer's temp
    assert _temps(tmp_path) == []
    assert load_index(path, verify=True).ntotal == small_index.ntotal


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_only_dead_writers_temps_of_the_same_path_on_this_host_are_removed(tmp_path):
    target = tmp_path / "t.json"
    dead = _dead_pid()
    stale = _files._temp_path(target, pid=dead)
    live = _files._temp_path(target)                                  # this process: alive
    other_host = target.with_name(f".t.json.00000000.{dead}.abcdefghij.tmp")
    if _files._host_tag() == "00000000":  # pragma: no cover - 1 in 4 billion
        other_host = target.with_name(f".t.json.00000001.{dead}.abcdefghij.tmp")
    other_target = _files._temp_path(tmp_path / "t.json.bak", pid=dead)
    old_style = target.with_name(".t.json.k2j4_x9a.tmp")               # tempfile.mkstemp's names
    keep = [live, other_host, other_target, old_style, tmp_path / "t.json.tmp"]
    for p in [stale] + keep:
        p.write_text("partial")
    assert remove_stale_temps(target) == [stale]
    assert all(p.exists() for p in keep)
    atomic_write(target, "{}")
    assert target.read_text() == "{}" and all(p.exists() for p in keep)


def test_interrupted_save_removes_its_temp_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.bin"
    atomic_write(path, b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(path) as f:
            f.write(b"new, half written")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old" and _temps(tmp_path) == []
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(path, "ab"):
            pass
