"""dscref.features.file: the features:PATH format loads without pickle; crafted files never run code."""

import json
import os
import pickle

import numpy as np
import pytest

from dscref.errors import UnsafeFileError
from dscref.experiments import load_data
from dscref.features.file import load_features_file, pack_gnd, save_features_file, unpack_gnd


class _RunsCode:
    """Unpickling this calls os.system: what a crafted file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _arrays(n=30, nq=3, d=8, seed=0):
    rng = np.random.default_rng(seed)
    gnd = [{"ok": rng.choice(n, 3, replace=False), "junk": np.arange(q, dtype=np.int64)} for q in range(nq)]
    return (rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, 10, n),
            rng.standard_normal((nq, d)).astype(np.float32), rng.integers(0, 10, (nq, 5)), gnd)


def test_round_trip_npz_and_folder(tmp_path):
    xb, lb, xq, rq, gnd = _arrays()
    p = save_features_file(tmp_path / "f.npz", xb, lb, xq, rq, gnd)
    with np.load(p, allow_pickle=False) as z:  # plain arrays only
        assert sorted(z.files) == sorted(["xb", "labels_b", "xq", "ranking_q", "gnd_ok", "gnd_ok_offsets",
                                          "gnd_junk", "gnd_junk_offsets"])
        arrays = {k: z[k] for k in z.files}
    got = load_features_file(p)
    np.testing.assert_array_equal(got["xb"], xb)
    assert got["xb"].dtype == np.float32 and got["labels_b"].dtype == np.int64
    for g, w in zip(got["gnd"], gnd):
        np.testing.assert_array_equal(g["ok"], w["ok"])
        np.testing.assert_array_equal(g["junk"], w["junk"])
    # a folder of .npy files, ground truth as arrays or as gnd.json
    folder = tmp_path / "dir"
    folder.mkdir()
    for k, a in arrays.items():
        np.save(folder / f"{k}.npy", a)
    assert len(load_data(f"features:{folder}").gnd) == 3
    for k in ("gnd_ok", "gnd_ok_offsets", "gnd_junk", "gnd_junk_offsets"):
        (folder / f"{k}.npy").unlink()
    (folder / "gnd.json").write_text(json.dumps([{k: v.tolist() for k, v in g.items()} for g in gnd]))
    assert [g["ok"].tolist() for g in load_data(f"features:{folder}").gnd] == [g["ok"].tolist() for g in gnd]


def test_pack_unpack_and_inconsistent_ground_truth(tmp_path):
    gnd = [{"ok": [1, 2]}, {"ok": [], "junk": [0]}]
    packed = pack_gnd(gnd)
    assert packed["gnd_ok_offsets"].tolist() == [0, 2, 2] and packed["gnd_junk"].tolist() == [0]
    assert [g["ok"].tolist() for g in unpack_gnd(**packed)] == [[1, 2], []]
    with pytest.raises(ValueError, match="gnd_ok_offsets must rise"):
        unpack_gnd(packed["gnd_ok"], np.array([0, 3, 2]), packed["gnd_junk"], packed["gnd_junk_offsets"])
    xb, lb, xq, rq, g = _arrays()
    g[1]["ok"] = np.array([99])
    save_features_file(tmp_path / "f.npz", xb, lb, xq, rq, g)
    with pytest.raises(ValueError, match=r"query 1 'ok' holds ids outside \[0, 30\)"):
        load_features_file(tmp_path / "f.npz")
    save_features_file(tmp_path / "f.npz", xb, lb, xq, rq[:2], _arrays()[4])
    with pytest.raises(ValueError, match="ranking_q"):
        load_features_file(tmp_path / "f.npz")


def test_npz_with_an_object_array_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    xb, lb, xq, rq, gnd = _arrays()
    evil = np.empty(1, dtype=object)
    evil[0] = _RunsCode(marker)
    p = tmp_path / "old.npz"
    np.savez(p, xb=xb, labels_b=lb, xq=xq, ranking_q=rq, gnd=evil)  # the format dscref used to accept
    with pytest.raises(UnsafeFileError, match=r"old\.npz.*'gnd' is an object array.*never unpickles"):
        load_data(f"features:{p}")
    assert not marker.exists()
    # an object .npy in a folder, and a bare pickle under an .npz name
    folder = tmp_path / "dir"
    folder.mkdir()
    np.save(folder / "gnd.npy", evil, allow_pickle=True)
    with pytest.raises(UnsafeFileError, match="gnd"):
        load_data(f"features:{folder}")
    with open(tmp_path / "raw.npz", "wb") as fh:
        pickle.dump(_RunsCode(marker), fh)
    with pytest.raises(UnsafeFileError, match=r"raw\.npz.*pickle"):
        load_data(f"features:{tmp_path / 'raw.npz'}")
    assert not marker.exists()


# ------------------------------------------------------------------ from dscref extract's output
def _extract_folder(folder, x, labels, names):
    folder.mkdir()
    np.save(folder / "features.npy", x.astype(np.float32))
    np.save(folder / "labels.npy", labels.astype(np.int64))
    np.save(folder / "probs.npy", np.ones(labels.shape, np.float32) / labels.shape[1])
    (folder / "names.txt").write_text("".join(n + "\n" for n in names))


def test_dscref_features_turns_extract_output_into_a_features_file(tmp_path, capsys):
    from dscref.cli import main

    rng = np.random.default_rng(0)
    xb, xq = rng.standard_normal((30, 16)), rng.standard_normal((3, 16))
    lab_b, lab_q = rng.integers(0, 1000, (30, 5)), rng.integers(0, 1000, (3, 5))
    names_b, names_q = [f"db/{i:03d}.jpg" for i in range(30)], ["q/a.jpg", "q/b.jpg", "q/c.jpg"]
    _extract_folder(tmp_path / "db", xb, lab_b, names_b)
    _extract_folder(tmp_path / "q", xq, lab_q, names_q)
    gnd = {"q/b.jpg": {"ok": ["db/004.jpg", 7]}, "q/a.jpg": {"ok": ["db/001.jpg"], "junk": ["db/029.jpg"]},
           "q/c.jpg": {"ok": []}}
    (tmp_path / "gnd.json").write_text(json.dumps(gnd))
    out = tmp_path / "data.npz"
    assert main(["features", str(tmp_path / "db"), str(tmp_path / "q"), "--gnd", str(tmp_path / "gnd.json"),
                 "--out", str(out)]) == 0
    assert f"features:{out}" in capsys.readouterr().out
    f = load_features_file(out)
    np.testing.assert_array_equal(f["xb"], xb.astype(np.float32))
    np.testing.assert_array_equal(f["labels_b"], lab_b[:, 0])  # partition = top-1 label
    np.testing.assert_array_equal(f["ranking_q"], lab_q)
    assert [g["ok"].tolist() for g in f["gnd"]] == [[1], [4, 7], []]
    assert [g["junk"].tolist() for g in f["gnd"]] == [[29], [], []]
    # a ground truth naming an image that is not in the database: one line, exit 2
    gnd["q/c.jpg"] = {"ok": ["db/nope.jpg"]}
    (tmp_path / "gnd.json").write_text(json.dumps(gnd))
    assert main(["features", str(tmp_path / "db"), str(tmp_path / "q"), "--gnd", str(tmp_path / "gnd.json"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "db/nope.jpg" in err[0] and "Traceback" not in err[0]
